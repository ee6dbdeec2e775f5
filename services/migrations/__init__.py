"""Schema migrations of the services that store data (typemgr, mechmgr, portapi), with Alembic.

Used in code, without an ini file: ``upgrade``, ``downgrade``, ``current``, ``heads``, ``status``
and, at a service's start, ``ensure_current`` (through ``prepare_at_start``):

* ``auto`` (``ML2_DB_MIGRATE=auto``, the default): upgrade to head at start. Safe when several
  replicas start at once: the upgrade runs under a per-service lock (see ``locking``), so one
  replica migrates and the others find the schema current.
* ``check``: refuse to start unless the database is at head, with one line naming the current
  and the needed revision and ``ml2 db upgrade`` (exit status 2). ``ml2 up`` and the Kubernetes
  manifests upgrade first and run the services in this mode.

A service without revisions (see ``scripts.is_versioned``) is *not versioned*: ``upgrade``
leaves it alone and ``ensure_current`` creates its missing tables from the models. A database
whose tables were created that way before the service had migrations is *adopted* by
``upgrade``: if it holds exactly the tables and columns of the first revision, that revision is
recorded and later ones run; anything else is refused rather than guessed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from ml2_driver_sdk.runtime import config as rpc_config
from sqlalchemy import Connection, MetaData, Table, create_engine, inspect, pool
from sqlalchemy.engine import make_url

from services.migrations import locking, scripts
from services.migrations.scripts import SERVICES, heads, is_versioned, versioned_services

__all__ = [
    "MODES",
    "SERVICES",
    "Change",
    "SchemaError",
    "Status",
    "current",
    "downgrade",
    "ensure_current",
    "heads",
    "is_versioned",
    "prepare_at_start",
    "status",
    "upgrade",
    "versioned_services",
]

logger = logging.getLogger(__name__)

MODES = rpc_config.MIGRATE_MODES
"""What a service does with its schema at start: ``auto`` (upgrade) or ``check`` (refuse)."""


class _QuietContext(logging.Filter):
    """Drops Alembic's per-connection chatter ("Context impl ...", "Will assume ..."), which
    every status read would log; the revisions it runs are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Context impl", "Will assume"))


logging.getLogger("alembic.runtime.migration").addFilter(_QuietContext())


class SchemaError(rpc_config.ConfigError):
    """The database's schema cannot be used or migrated as asked. One line for the operator."""


@dataclass(frozen=True)
class Change:
    """What ``upgrade`` or ``downgrade`` did to one service's schema."""

    service: str
    versioned: bool
    before: str | None = None
    after: str | None = None
    adopted: bool = False
    """True when an unversioned database was recognised as the first revision."""

    @property
    def changed(self) -> bool:
        """True when the revision recorded in the database moved."""
        return self.adopted or self.before != self.after


@dataclass(frozen=True)
class Status:
    """Where one service's schema stands in one database."""

    service: str
    versioned: bool
    current: str | None
    head: str | None
    has_tables: bool
    """Whether any of the service's tables exist (tells empty from unversioned)."""
    known: bool = True
    """False when the database is at a revision this code does not have (a newer version)."""

    @property
    def at_head(self) -> bool:
        """True when the schema is current (an unversioned service counts as current)."""
        return not self.versioned or (self.current is not None and self.current == self.head)

    @property
    def state(self) -> str:
        """A short description for people: at head, behind, empty, ..."""
        if not self.versioned:
            return "not versioned (the service creates its tables at start)"
        if self.current is None:
            return "unversioned tables (upgrade adopts them)" if self.has_tables else "empty"
        if not self.known:
            return f"unknown revision {self.current} (migrated by a newer version?)"
        return "at head" if self.at_head else "behind"


def current(url: str, service: str) -> str | None:
    """The revision recorded in ``url`` for ``service``, or None (empty, or not versioned)."""
    return status(url, service).current


def status(url: str, service: str) -> Status:
    """Reads ``service``'s recorded revision and whether its tables exist, changing nothing."""
    versioned = scripts.is_versioned(service)
    head = _single_head(service) if versioned else None
    if _missing_sqlite_file(url):
        return Status(service, versioned, None, head, has_tables=False)
    with locking.read_connection(url) as connection:
        revision = _recorded(connection, service)
        names = set(inspect(connection).get_table_names())
    has_tables = bool(names & set(scripts.metadata(service).tables))
    known = revision is None or _is_known(service, revision)
    return Status(service, versioned, revision, head, has_tables, known)


def upgrade(url: str, service: str, revision: str = "head") -> Change:
    """Upgrades ``service``'s schema in ``url`` to ``revision`` under the migration lock,
    adopting a database created before migrations. A service that is not versioned is left
    alone. Raises SchemaError when the database cannot be upgraded as it is."""
    if not scripts.is_versioned(service):
        return Change(service, versioned=False)
    _single_head(service)
    with locking.migration_transaction(url, service) as connection:
        before = _recorded(connection, service)
        adopted = before is None and _adopt_unversioned(connection, service)
        if before is not None and not _is_known(service, before):
            raise SchemaError(_unknown_message(service, before))
        _run(command.upgrade, service, connection, revision)
        after = _recorded(connection, service)
    change = Change(service, True, before, after, adopted)
    if change.changed:
        logger.info(
            "%s schema upgraded from %s to %s%s",
            service,
            before or "nothing",
            after,
            " (adopted tables created before migrations)" if adopted else "",
        )
    return change


def downgrade(url: str, service: str, revision: str) -> Change:
    """Downgrades ``service``'s schema in ``url`` to ``revision`` under the migration lock;
    ``base`` drops every table of the service, its version table included."""
    if not scripts.is_versioned(service):
        return Change(service, versioned=False)
    with locking.migration_transaction(url, service) as connection:
        before = _recorded(connection, service)
        if before is not None and not _is_known(service, before):
            raise SchemaError(_unknown_message(service, before))
        _run(command.downgrade, service, connection, revision)
        after = _recorded(connection, service)
        if after is None:
            Table(scripts.version_table(service), MetaData()).drop(connection, checkfirst=True)
    if before != after:
        logger.warning("%s schema downgraded from %s to %s", service, before, after or "base")
    return Change(service, True, before, after)


def ensure_current(url: str, service: str, mode: str) -> Change | Status:
    """Makes sure ``service`` may run on ``url``: ``auto`` upgrades to head (returns the
    Change), ``check`` raises SchemaError unless the schema is at head (returns the Status).
    A service that is not versioned gets its missing tables created from its models."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if not scripts.is_versioned(service):
        with locking.migration_transaction(url, service) as connection:
            scripts.metadata(service).create_all(connection)
        return Change(service, versioned=False)
    if mode == "auto":
        return upgrade(url, service)
    found = status(url, service)
    if not found.at_head:
        raise SchemaError(_check_message(found))
    return found


def prepare_at_start(service: str, url: str, mode: str | None = None) -> None:
    """``ensure_current`` for a service's composition root, with ``mode`` from
    ``ML2_DB_MIGRATE`` when not given. Exits with status 2 and one line when the schema or the
    setting is wrong, and with status 1 when the database cannot be reached."""
    try:
        chosen = mode or rpc_config.get_migrate_mode(rpc_config.env())
        ensure_current(url, service, chosen)
    except rpc_config.ConfigError as err:
        rpc_config.exit_on_config_error(service, err)
    except Exception as exc:  # a database that cannot be reached or set up is fatal at start
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"{service}: cannot prepare the database: {reason}", file=sys.stderr)
        raise SystemExit(1) from None


def _run(
    step: Callable[[Config, str], None], service: str, connection: Connection, revision: str
) -> None:
    try:
        step(scripts.config(service, connection), revision)
    except CommandError as err:
        raise SchemaError(f"{service}: {err}".splitlines()[0]) from None


def _recorded(connection: Connection, service: str) -> str | None:
    context = MigrationContext.configure(
        connection, opts={"version_table": scripts.version_table(service)}
    )
    return context.get_current_revision()


def _single_head(service: str) -> str:
    found = scripts.heads(service)
    if len(found) != 1:
        raise SchemaError(
            f"{service} has {len(found)} head revisions ({', '.join(found)}); "
            "its migrations must form one line"
        )
    return found[0]


def _is_known(service: str, revision: str) -> bool:
    try:
        return scripts.script_directory(service).get_revision(revision) is not None
    except CommandError:
        return False


def _unknown_message(service: str, revision: str) -> str:
    return (
        f"the {service} database is at revision {revision}, which this version does not know "
        f"(its newest is {_single_head(service)}): run a version of {service} that has it"
    )


def _check_message(found: Status) -> str:
    svc = found.service
    if not found.known and found.current is not None:
        return f"ML2_DB_MIGRATE=check: {_unknown_message(svc, found.current)}"
    if found.current is None and found.has_tables:
        where = "holds tables but no recorded revision"
    else:
        where = f"is at revision {found.current or 'none (empty)'}"
    return (
        f"ML2_DB_MIGRATE=check: the {svc} database {where}, this version needs {found.head}; "
        f"run `ml2 db upgrade --service {svc}` first"
    )


def _missing_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    return not Path(parsed.database or "").expanduser().exists()


def _adopt_unversioned(connection: Connection, service: str) -> bool:
    """Records the first revision on a database whose tables were created before migrations,
    if they are exactly that revision's. Returns False for a database without the service's
    tables; raises SchemaError for one that holds some of them in another shape."""
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    first = _first_revision_tables(service)
    ours = existing & (set(first) | set(scripts.metadata(service).tables))
    if not ours:
        return False
    for table, columns in sorted(first.items()):
        found = {c["name"] for c in inspector.get_columns(table)} if table in existing else set()
        if found != columns:
            raise SchemaError(
                f"the {service} database holds tables ({', '.join(sorted(ours))}) but no "
                f"recorded revision, and table {table} is not as revision "
                f"{scripts.base(service)} creates it; it cannot be adopted"
            )
    _run(command.stamp, service, connection, scripts.base(service))
    logger.warning(
        "%s: tables created before migrations recorded as revision %s",
        service,
        scripts.base(service),
    )
    return True


def _first_revision_tables(service: str) -> dict[str, set[str]]:
    """The tables and columns the first revision creates, found by running it on an in-memory
    SQLite database."""
    engine = create_engine("sqlite://", poolclass=pool.StaticPool)
    try:
        with engine.begin() as connection:
            _run(command.upgrade, service, connection, scripts.base(service))
            inspector = inspect(connection)
            return {
                name: {c["name"] for c in inspector.get_columns(name)}
                for name in inspector.get_table_names()
                if name != scripts.version_table(service)
            }
    finally:
        engine.dispose()
