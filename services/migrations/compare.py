"""Does a migrated database match the service's models? Every difference, as text.

Alembic's ``compare_metadata`` covers tables, columns, types, nullability, server defaults,
indexes, unique constraints and foreign keys (with their ON DELETE rules). It does not look at
CHECK constraints or at foreign key names, so ``differences`` adds those: the CHECK constraints
of every table must be the same in number and names (and, on SQLite, which keeps the text as
written, the same text), and every foreign key the models name must exist under that name.
"""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, ForeignKeyConstraint, Table, inspect
from sqlalchemy.engine import Inspector

from services.migrations import environment, locking, scripts


def differences(url: str, service: str) -> list[str]:
    """Every way ``service``'s tables in ``url`` differ from its models; empty when none."""
    target = scripts.metadata(service)
    with locking.read_connection(url) as connection:
        context = MigrationContext.configure(
            connection, opts=environment.configure_options(service, target)
        )
        found = [_describe(diff) for diff in compare_metadata(context, target)]
        inspector = inspect(connection)
        for table in target.sorted_tables:
            if inspector.has_table(table.name):
                found += _check_constraints(inspector, table, connection)
                found += _foreign_key_names(inspector, table)
    return found


def _describe(diff: Any) -> str:
    """One line for one Alembic difference (a tuple, or a list of column modifications)."""
    if isinstance(diff, list):
        return "; ".join(_describe(item) for item in diff)
    kind, *rest = diff
    if kind.startswith("modify_"):
        _schema, table, column, _existing, old, new = rest
        return f"{kind} {table}.{column}: database {old!r}, models {new!r}"
    # ("add_table", table), ("add_index", index), ("add_column", schema, table_name, column), ...
    obj = rest[-1]
    table = rest[1] if len(rest) == 3 else getattr(getattr(obj, "table", None), "name", None)
    name = getattr(obj, "name", None) or repr(obj)
    return f"{kind} {name}" + (f" on {table}" if table and table != name else "")


def _normalized(sql: str) -> str:
    return re.sub(r"[\s()\"`]", "", sql).lower()


def _check_constraints(inspector: Inspector, table: Table, connection: Connection) -> list[str]:
    wanted = [c for c in table.constraints if isinstance(c, CheckConstraint)]
    reflected = inspector.get_check_constraints(table.name)
    problems = []
    if len(wanted) != len(reflected):
        problems.append(
            f"check constraints on {table.name}: database has {len(reflected)}, "
            f"models have {len(wanted)}"
        )
    names = {r["name"] for r in reflected}
    sqlite = connection.dialect.name == "sqlite"
    texts = {r["name"]: _normalized(str(r["sqltext"])) for r in reflected}
    for constraint in wanted:
        name = _name(constraint.name)
        if name is None:
            continue
        if name not in names:
            problems.append(f"check constraint {name} on {table.name}: missing in the database")
        elif sqlite and texts[name] != _normalized(str(constraint.sqltext)):
            problems.append(f"check constraint {name} on {table.name}: different condition")
    return problems


def _foreign_key_names(inspector: Inspector, table: Table) -> list[str]:
    reflected = {
        (tuple(fk["constrained_columns"]), fk["referred_table"]): fk.get("name")
        for fk in inspector.get_foreign_keys(table.name)
    }
    problems = []
    for constraint in table.constraints:
        if not isinstance(constraint, ForeignKeyConstraint):
            continue
        name = _name(constraint.name)
        key = (tuple(constraint.column_keys), constraint.referred_table.name)
        if name is not None and key in reflected and reflected[key] != name:
            problems.append(
                f"foreign key {name} on {table.name}: named {reflected[key]!r} in the database"
            )
    return problems


def _name(name: object) -> str | None:
    """The constraint's name, or None when the models leave it to the database."""
    return None if name is None or str(name) == "_NONE_NAME" else str(name)
