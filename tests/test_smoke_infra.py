from sqlalchemy import text

from services import sql


def test_database_url_is_usable(database_url: str) -> None:
    engine = sql.make_engine(database_url)
    factory = sql.session_factory(engine)
    with sql.write_session(factory) as session:
        session.execute(text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
    with sql.read_session(factory) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 0
    engine.dispose()
