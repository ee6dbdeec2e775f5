"""``ml2 db upgrade|current|downgrade|revision``: the schemas of the services that store data.

By default every stateful service (typemgr, mechmgr, portapi) and the SQLite files ``ml2 up``
uses (``./data/<svc>.db``); ``--data-dir`` points at another data dir and ``--database-url`` at
one database (PostgreSQL, or a SQLite file) that holds the chosen services' tables. A failure
prints ``ml2 db <action>: <service>: <reason>`` and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from services.cli import render, stack
from services.cli.deferred import DeferredParser

if TYPE_CHECKING:
    from services import migrations


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds the ``db`` command group."""
    group = sub.add_parser(
        "db",
        help="upgrade and inspect the services' database schemas",
        description="Schema migrations of typemgr, mechmgr and portapi. `ml2 up` upgrades its "
        "databases itself; deployments run `ml2 db upgrade` before the services, which then "
        "run with ML2_DB_MIGRATE=check.",
    )
    # The options name the services that have migrations, which only these commands import.
    cmds = group.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=DeferredParser
    )

    upgrade = cmds.add_parser(
        "upgrade",
        setup=_upgrade_options,
        help="upgrade schemas to the newest revision",
        description="Upgrades each service's schema to its newest revision (or --revision), one "
        "process at a time per database. Safe to run again: a current schema is left alone.",
    )
    upgrade.set_defaults(func=run_upgrade, needs_client=False)

    current = cmds.add_parser(
        "current",
        setup=partial(_add_targets, all_services=True),
        help="show each service's revision and whether it is at head",
    )
    current.set_defaults(func=run_current, needs_client=False)

    downgrade = cmds.add_parser(
        "downgrade",
        setup=_downgrade_options,
        help="downgrade one service's schema (base drops its tables and their data)",
    )
    downgrade.set_defaults(func=run_downgrade, needs_client=False)

    revision = cmds.add_parser(
        "revision",
        setup=_revision_options,
        help="for developers: write a service's next revision from its models",
        description="Compares the service's models with its newest revision and writes the "
        "difference as services/<svc>/db/migrations/versions/<NNNN>_<slug>.py, a draft to "
        "review (renames and data changes are written by hand).",
    )
    revision.set_defaults(func=run_revision, needs_client=False)


def _upgrade_options(parser: argparse.ArgumentParser) -> None:
    _add_targets(parser, all_services=True)
    parser.add_argument("--revision", default="head", help="target revision (default head)")


def _downgrade_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revision", help="target revision, or base")
    _add_targets(parser, all_services=False)


def _revision_options(parser: argparse.ArgumentParser) -> None:
    from services import migrations

    parser.add_argument("--service", required=True, choices=migrations.SERVICES)
    parser.add_argument("-m", "--message", required=True, help="what the revision does")


def _add_targets(parser: argparse.ArgumentParser, *, all_services: bool) -> None:
    from services import migrations  # alembic and SQLAlchemy: only for ``ml2 db``

    if all_services:
        parser.add_argument(
            "--service",
            default="all",
            choices=(*migrations.SERVICES, "all"),
            help="which service's schema (default all)",
        )
    else:
        parser.add_argument("--service", required=True, choices=migrations.SERVICES)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="SQLite files DATA_DIR/<service>.db, as `ml2 up` uses them (default ./data)",
    )
    where.add_argument(
        "--database-url",
        default="",
        metavar="URL",
        help="one database for the chosen services, e.g. postgresql+psycopg://user@host/db",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(service, database URL) for every chosen service."""
    from services import migrations

    services = migrations.SERVICES if args.service == "all" else (args.service,)
    data = stack.StackConfig(data_dir=args.data_dir)
    return [(s, args.database_url or data.database_url(s)) for s in services]


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _each(
    args: argparse.Namespace, work: Callable[[str, str], dict[str, object]]
) -> tuple[list[dict[str, object]], int]:
    """Runs ``work`` for every target; a failure is reported and the others still run."""
    from services import migrations

    results, status = [], 0
    for service, url in _targets(args):
        try:
            results.append({"service": service, "database": _shown(url), **work(service, url)})
        except Exception as exc:  # one line per failed service; the exit status says it failed
            reason = (
                str(exc)
                if isinstance(exc, migrations.SchemaError)
                else (f"{type(exc).__name__}: {exc}")
            )
            print(f"ml2 db {args.action}: {service}: {reason.splitlines()[0]}", file=sys.stderr)
            status = 1
    return results, status


def _change(change: migrations.Change) -> dict[str, object]:
    if not change.versioned:
        return {"versioned": False, "before": None, "after": None, "changed": False}
    return {
        "versioned": True,
        "before": change.before,
        "after": change.after,
        "changed": change.changed,
        "adopted": change.adopted,
    }


def _change_text(row: dict[str, object]) -> str:
    if not row["versioned"]:
        return "not versioned: the service creates its tables at start"
    if not row["changed"]:
        return f"already at {row['after'] or 'base'}"
    adopted = " (adopted tables created before migrations)" if row.get("adopted") else ""
    return f"{row['before'] or 'empty'} -> {row['after'] or 'base'}{adopted}"


def _print_changes(args: argparse.Namespace, rows: list[dict[str, object]]) -> None:
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        print(f"{row['service']}: {_change_text(row)}  ({row['database']})")


def run_upgrade(args: argparse.Namespace) -> int:
    """Upgrades every chosen service; exits 1 if any failed."""
    from services import migrations

    rows, status = _each(
        args, lambda service, url: _change(migrations.upgrade(url, service, args.revision))
    )
    _print_changes(args, rows)
    return status


def run_downgrade(args: argparse.Namespace) -> int:
    """Downgrades one service."""
    from services import migrations

    rows, status = _each(
        args, lambda service, url: _change(migrations.downgrade(url, service, args.revision))
    )
    _print_changes(args, rows)
    return status


def _status(service: str, url: str) -> dict[str, object]:
    from services import migrations

    found = migrations.status(url, service)
    return {
        "versioned": found.versioned,
        "current": found.current,
        "head": found.head,
        "at_head": found.at_head,
        "state": found.state,
    }


def run_current(args: argparse.Namespace) -> int:
    """Shows every chosen service's revision, head and state."""
    rows, status = _each(args, _status)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        print(
            render.table(
                ("service", "revision", "head", "state", "database"),
                [
                    (r["service"], r["current"] or "-", r["head"] or "-", r["state"], r["database"])
                    for r in rows
                ],
            )
        )
    return status


def run_revision(args: argparse.Namespace) -> int:
    """Writes the next revision of one service and prints its path."""
    from services.migrations import authoring  # only developers need autogenerate

    print(authoring.new_revision(args.service, args.message))
    return 0
