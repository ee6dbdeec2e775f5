"""Schema migrations on real SQLite files and a real PostgreSQL: every versioned service's
migrations produce exactly its models' schema, go back down to nothing, are enforced at start
in check mode, run once when many processes start at once, and drive ``ml2 db``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from services import launcher, migrations
from services.cli import stack
from services.migrations import compare, scripts

VERSIONED = scripts.versioned_services()
MECHMGR_HEAD = migrations.heads("mechmgr")[0]
NEXT = f"{int(MECHMGR_HEAD) + 1:04d}"

NEXT_REVISION = f'''
"""A revision after mechmgr's head, for tests: an index on agents.heartbeat_at."""
from alembic import op

revision = "{NEXT}"
down_revision = "{MECHMGR_HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_agents_heartbeat_at", "agents", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_agents_heartbeat_at", table_name="agents")
'''


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment without the ML2_* settings of the developer's shell, but
    with the tests' ``ML2_AUTH_DISABLED`` (tests/conftest.py): a service refused for its
    authentication settings stops before it looks at its database."""
    base = {
        k: v for k, v in os.environ.items() if not k.startswith("ML2_") or k == "ML2_AUTH_DISABLED"
    }
    return launcher.python_path_env({**base, **extra})


@pytest.fixture
def mechmgr_with_a_next_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """mechmgr's revisions plus NEXT_REVISION, in this process only."""
    directory = tmp_path / "versions"
    directory.mkdir()
    original = scripts.versions_dir("mechmgr")
    for source in original.glob("*.py"):
        (directory / source.name).write_text(source.read_text())
    (directory / f"{NEXT}_heartbeat_index.py").write_text(NEXT_REVISION)
    real = scripts.versions_dir
    monkeypatch.setattr(scripts, "versions_dir", lambda s: directory if s == "mechmgr" else real(s))
    yield


def test_the_stateful_services_are_known() -> None:
    assert set(VERSIONED) >= {"mechmgr", "portapi"}
    assert set(VERSIONED) <= set(migrations.SERVICES)


@pytest.mark.parametrize("service", VERSIONED)
def test_upgrading_an_empty_database_gives_exactly_the_models(
    database_url: str, service: str
) -> None:
    change = migrations.upgrade(database_url, service)
    assert (change.before, change.after) == (None, migrations.heads(service)[0])
    assert compare.differences(database_url, service) == []
    assert scripts.version_table(service) in tables(database_url)
    assert migrations.current(database_url, service) == migrations.heads(service)[0]
    again = migrations.upgrade(database_url, service)
    assert not again.changed


@pytest.mark.parametrize("service", VERSIONED)
def test_downgrading_to_base_leaves_no_tables(database_url: str, service: str) -> None:
    migrations.upgrade(database_url, service)
    change = migrations.downgrade(database_url, service, "base")
    assert change.after is None
    assert tables(database_url) == set()
    migrations.upgrade(database_url, service)
    assert compare.differences(database_url, service) == []


def test_every_service_can_share_one_database(database_url: str) -> None:
    for service in VERSIONED:
        migrations.upgrade(database_url, service)
    for service in VERSIONED:
        assert compare.differences(database_url, service) == [], service
        assert migrations.status(database_url, service).at_head
    migrations.downgrade(database_url, "mechmgr", "base")
    assert "agents" not in tables(database_url)
    assert migrations.status(database_url, "portapi").at_head


def test_the_comparison_sees_a_model_the_migrations_do_not_have(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import CheckConstraint, Column, Integer, MetaData

    migrations.upgrade(database_url, "portapi")
    changed = MetaData(naming_convention=scripts.metadata("portapi").naming_convention)
    for table in scripts.metadata("portapi").sorted_tables:
        table.to_metadata(changed)
    changed.tables["ports"].append_column(Column("extra", Integer, nullable=True))
    changed.tables["networks"].append_constraint(CheckConstraint("mtu >= 0", name="ck_mtu"))
    monkeypatch.setattr(scripts, "metadata", lambda _service: changed)
    found = compare.differences(database_url, "portapi")
    assert any("extra" in line for line in found), found
    assert any("ck_mtu" in line for line in found), found


def test_check_mode_refuses_an_empty_database_with_one_line(database_url: str) -> None:
    with pytest.raises(migrations.SchemaError) as refused:
        migrations.ensure_current(database_url, "mechmgr", "check")
    message = str(refused.value)
    assert "\n" not in message
    assert "revision none" in message and f"needs {MECHMGR_HEAD}" in message
    assert "ml2 db upgrade --service mechmgr" in message
    assert tables(database_url) == set()


def test_check_mode_accepts_a_current_database(database_url: str) -> None:
    migrations.upgrade(database_url, "portapi")
    found = migrations.ensure_current(database_url, "portapi", "check")
    assert isinstance(found, migrations.Status) and found.at_head


@pytest.mark.usefixtures("mechmgr_with_a_next_revision")
def test_an_outdated_database_is_refused_in_check_mode_and_upgraded_in_auto(
    database_url: str,
) -> None:
    migrations.upgrade(database_url, "mechmgr", MECHMGR_HEAD)
    with pytest.raises(
        migrations.SchemaError, match=rf"at revision {MECHMGR_HEAD}, this version needs {NEXT}"
    ):
        migrations.ensure_current(database_url, "mechmgr", "check")
    change = migrations.ensure_current(database_url, "mechmgr", "auto")
    assert isinstance(change, migrations.Change)
    assert (change.before, change.after) == (MECHMGR_HEAD, NEXT)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        indexes = {i["name"] for i in inspect(connection).get_indexes("agents")}
    engine.dispose()
    assert "ix_agents_heartbeat_at" in indexes
    assert migrations.downgrade(database_url, "mechmgr", MECHMGR_HEAD).after == MECHMGR_HEAD


def test_a_database_from_a_newer_version_is_refused(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as newer:
        directory = tmp_path / "newer"
        directory.mkdir()
        for source in scripts.versions_dir("mechmgr").glob("*.py"):
            (directory / source.name).write_text(source.read_text())
        (directory / f"{NEXT}_heartbeat_index.py").write_text(NEXT_REVISION)
        real = scripts.versions_dir
        newer.setattr(scripts, "versions_dir", lambda s: directory if s == "mechmgr" else real(s))
        migrations.upgrade(database_url, "mechmgr")
    for mode in ("check", "auto"):
        with pytest.raises(migrations.SchemaError, match=rf"revision {NEXT}, which this version"):
            migrations.ensure_current(database_url, "mechmgr", mode)
    assert migrations.status(database_url, "mechmgr").state.startswith(f"unknown revision {NEXT}")


def test_tables_created_before_migrations_are_adopted(database_url: str) -> None:
    """portapi's tables as the models created them before migrations (revision 0001's) are
    recorded as 0001, then upgraded to the head."""
    migrations.upgrade(database_url, "portapi", revision="0001")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version_portapi"))
    engine.dispose()
    assert migrations.status(database_url, "portapi").state.startswith("unversioned tables")
    with pytest.raises(migrations.SchemaError, match="no recorded revision"):
        migrations.ensure_current(database_url, "portapi", "check")
    change = migrations.upgrade(database_url, "portapi")
    assert change.adopted and change.after == migrations.heads("portapi")[0] != "0001"
    assert compare.differences(database_url, "portapi") == []


def test_some_tables_in_another_shape_are_not_adopted(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE agents (id VARCHAR(36) PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(migrations.SchemaError, match="table agents is not as revision 0001"):
        migrations.upgrade(database_url, "mechmgr")
    assert tables(database_url) == {"agents"}


UPGRADER = """
import os, sys, time
from services import migrations
url, ready, go = sys.argv[1:4]
open(ready, "w").close()
while not os.path.exists(go):  # all start together, once every one is ready
    time.sleep(0.01)
for service in migrations.versioned_services():
    migrations.prepare_at_start(service, url, "auto")
"""


def test_concurrent_auto_upgrades_all_succeed_and_leave_one_schema(
    database_url: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(8)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADER, database_url, str(path), str(go)],
            env=child_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in ready
    ]
    deadline = time.monotonic() + 60
    while not all(path.exists() for path in ready):
        exited = [p.stderr.read() for p in procs if p.poll() is not None and p.stderr]
        assert not exited and time.monotonic() < deadline, exited
        time.sleep(0.05)
    go.touch()
    results = [(p.wait(60), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0] * 8, [err for _, err in results]
    engine = create_engine(database_url)
    with engine.connect() as connection:
        for service in VERSIONED:
            rows = connection.execute(
                text(f"SELECT version_num FROM {scripts.version_table(service)}")
            ).all()
            assert [r[0] for r in rows] == list(migrations.heads(service))
    engine.dispose()
    for service in VERSIONED:
        assert compare.differences(database_url, service) == []


@pytest.mark.parametrize("service", ["mechmgr", "portapi"])
def test_a_service_in_check_mode_exits_2_until_ml2_db_upgrade_ran(
    database_url: str, service: str, log_dir: Path
) -> None:
    prefix = service.upper()
    env = {
        f"{prefix}_DATABASE_URL": database_url,
        f"{prefix}_LISTEN": "127.0.0.1:0",
        f"{prefix}_METRICS_PORT": "0",
        "ML2_DB_MIGRATE": "check",
    }
    refused = subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        env=child_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"{service}: configuration error: ML2_DB_MIGRATE=check")
    assert f"ml2 db upgrade --service {service}" in refused.stderr

    upgraded = ml2("db", "upgrade", "--service", service, "--database-url", database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    process = launcher.start(service, f"services.{service}", env, log_dir=log_dir)
    try:
        assert process.alive()
    finally:
        process.stop()


def ml2(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ml2_db_upgrade_and_current_on_a_data_dir(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    before = ml2("db", "current", "--data-dir", data, "--json")
    assert before.returncode == 0, before.stderr
    states = {row["service"]: row for row in json.loads(before.stdout)}
    assert set(states) == set(migrations.SERVICES)
    for service in migrations.SERVICES:
        versioned = service in VERSIONED
        assert states[service]["versioned"] is versioned
        assert states[service]["state"] == ("empty" if versioned else states[service]["state"])
        assert states[service]["at_head"] is not versioned

    upgraded = ml2("db", "upgrade", "--data-dir", data)
    assert upgraded.returncode == 0, upgraded.stderr
    for service in VERSIONED:
        assert f"{service}: empty -> {migrations.heads(service)[0]}" in upgraded.stdout
    after = ml2("db", "current", "--data-dir", data)
    assert after.returncode == 0
    lines = {line.split()[0]: line for line in after.stdout.splitlines()[1:]}
    for service in VERSIONED:
        head = migrations.heads(service)[0]
        assert lines[service].split()[1:4] == [head, head, "at"], lines[service]
    again = ml2("db", "upgrade", "--data-dir", data, "--service", "portapi")
    assert again.stdout.startswith(f"portapi: already at {migrations.heads('portapi')[0]}")


def test_ml2_db_on_one_postgresql_database_for_every_service(postgres_url: str) -> None:
    upgraded = ml2("db", "upgrade", "--database-url", postgres_url, "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    assert {r["service"] for r in json.loads(upgraded.stdout) if r["changed"]} == set(VERSIONED)
    current = ml2("db", "current", "--database-url", postgres_url, "--json")
    assert all(row["at_head"] for row in json.loads(current.stdout))
    down = ml2("db", "downgrade", "base", "--service", "mechmgr", "--database-url", postgres_url)
    assert down.returncode == 0, down.stderr
    assert f"mechmgr: {MECHMGR_HEAD} -> base" in down.stdout
    assert "agents" not in tables(postgres_url)


def test_ml2_db_names_the_service_and_exits_1_when_the_database_is_unreachable() -> None:
    result = ml2(
        "db",
        "upgrade",
        "--service",
        "mechmgr",
        "--database-url",
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
    )
    assert result.returncode == 1
    assert result.stderr.startswith("ml2 db upgrade: mechmgr: OperationalError")
    assert result.stderr.count("\n") == 1


def test_ml2_up_upgrades_before_it_starts_the_services(tmp_path: Path) -> None:
    cfg = stack.StackConfig(data_dir=tmp_path / "data")
    changes = {c.service: c for c in stack.upgrade_databases(cfg)}
    assert set(changes) == set(stack.CORE_SERVICES)
    for service in VERSIONED:
        assert changes[service].after == migrations.heads(service)[0]
        assert migrations.status(cfg.database_url(service), service).at_head
    env = stack.mechmgr_env(cfg, "t:1", {"openvswitch": "o:1", "linuxbridge": "l:1"})
    assert env["ML2_DB_MIGRATE"] == "check"


@pytest.mark.parametrize("service", migrations.SERVICES)
def test_a_first_revision_written_from_the_models_gives_exactly_the_models(
    database_url: str, service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``ml2 db revision`` writes for a service without migrations (in a scratch
    directory here) creates exactly its models' schema, on both databases."""
    from services.migrations import authoring

    directory = tmp_path / "versions"
    real = scripts.versions_dir
    monkeypatch.setattr(scripts, "versions_dir", lambda s: directory if s == service else real(s))
    path = authoring.new_revision(service, "initial")
    assert path == directory / "0001_initial.py"
    assert migrations.heads(service) == ("0001",)
    migrations.upgrade(database_url, service)
    assert compare.differences(database_url, service) == []
    migrations.downgrade(database_url, service, "base")
    assert tables(database_url) == set()


def test_networks_from_before_the_requested_mtu_keep_their_mtu_as_requested(
    database_url: str,
) -> None:
    migrations.upgrade(database_url, "portapi", "0006")
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO networks (id, name, project_id, shared, admin_state_up, mtu, "
                "segments, status, create_time) VALUES ('n1', '', 'p', false, true, 1400, '[]', "
                "'ACTIVE', CURRENT_TIMESTAMP)"
            )
        )
    migrations.upgrade(database_url, "portapi", "0007")
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT mtu, mtu_requested, segments_pending_since FROM networks")
        ).one()
        indexes = {i["name"] for i in inspect(connection).get_indexes("port_binding_levels")}
    engine.dispose()
    assert tuple(row) == (1400, 1400, None)
    assert "ix_port_binding_levels_segment_id" in indexes
    assert migrations.downgrade(database_url, "portapi", "0006").after == "0006"
