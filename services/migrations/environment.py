"""What env.py does: configure Alembic for one service on the caller's connection, then run.

Only the service's own tables are considered (``include_name``), so autogenerate and the model
comparison ignore other services' tables and version tables in a shared database.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.config import Config
from sqlalchemy import MetaData

from services.migrations import scripts


def configure_options(service: str, target: MetaData) -> dict[str, Any]:
    """The options every Alembic context of ``service`` uses, online and in comparisons."""
    tables = set(target.tables)

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in tables

    return {
        "target_metadata": target,
        "version_table": scripts.version_table(service),
        "include_name": include_name,
        "compare_type": True,
        "compare_server_default": True,
        # SQLite alters tables by copying them; Alembic's batch mode does that for us.
        "render_as_batch": True,
    }


def run_migrations(cfg: Config) -> None:
    """Runs the migrations Alembic planned on ``cfg.attributes["connection"]``."""
    service = cfg.attributes["service"]
    connection = cfg.attributes["connection"]
    if connection is None:
        raise RuntimeError(
            f"{service}: migrations run through services.migrations, on an open connection"
        )
    context.configure(
        connection=connection, **configure_options(service, scripts.metadata(service))
    )
    with context.begin_transaction():
        context.run_migrations()
