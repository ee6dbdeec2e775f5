"""Where each service's migrations live and how Alembic is configured for them, without an ini file.

Every stateful service keeps its revisions in ``services/<svc>/db/migrations/versions/``,
numbered ``0001``, ``0002``, ...; they share one environment (``env.py`` beside this module) and
one template (``script.py.mako``). A service whose versions directory holds no revision is *not
versioned*: its tables are still created by the service itself at start. Each service records its
revision in its own table, ``alembic_version_<svc>``, so several services may share a database.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData

SERVICES = ("typemgr", "mechmgr", "portapi")
"""Every service that stores data, in the order the stack starts them."""

_HERE = Path(__file__).resolve().parent
_SERVICES_ROOT = _HERE.parent


class UnknownService(ValueError):
    """A name that is not one of SERVICES."""


def _check(service: str) -> str:
    if service not in SERVICES:
        raise UnknownService(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
    return service


def versions_dir(service: str) -> Path:
    """The directory of ``service``'s revision files."""
    return _SERVICES_ROOT / _check(service) / "db" / "migrations" / "versions"


def version_table(service: str) -> str:
    """The table that records ``service``'s revision: ``alembic_version_<svc>``."""
    return f"alembic_version_{_check(service)}"


def is_versioned(service: str) -> bool:
    """True when ``service`` has at least one revision file."""
    directory = versions_dir(service)
    return directory.is_dir() and any(
        p.suffix == ".py" and not p.name.startswith("__") for p in directory.iterdir()
    )


def versioned_services() -> tuple[str, ...]:
    """The services that have migrations, in SERVICES order."""
    return tuple(s for s in SERVICES if is_versioned(s))


def metadata(service: str) -> MetaData:
    """The SQLAlchemy metadata of ``service``'s models (``services.<svc>.db.models.Base``)."""
    models = importlib.import_module(f"services.{_check(service)}.db.models")
    result: MetaData = models.Base.metadata
    return result


def config(service: str, connection: Connection | None = None, **attributes: Any) -> Config:
    """An Alembic configuration for ``service``; ``connection`` is the one env.py migrates on."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("version_locations", str(versions_dir(service)))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes.update(attributes, service=service, connection=connection)
    return cfg


def script_directory(service: str) -> ScriptDirectory:
    """The Alembic script directory of ``service``'s revisions."""
    return ScriptDirectory.from_config(config(service))


def heads(service: str) -> tuple[str, ...]:
    """The head revision(s) of ``service``; empty when it is not versioned. More than one head
    means two revisions share a parent, which ``upgrade`` refuses."""
    if not is_versioned(service):
        return ()
    return tuple(script_directory(service).get_heads())


def base(service: str) -> str:
    """The first revision of a versioned service (the one that creates its tables)."""
    bases = script_directory(service).get_bases()
    if len(bases) != 1:
        raise ValueError(f"{service}: expected one base revision, found {len(bases)}")
    return bases[0]


def next_revision_id(service: str) -> str:
    """The id a new revision of ``service`` gets: one more than the highest, four digits."""
    numbers = (
        [
            int(rev.revision)
            for rev in script_directory(service).walk_revisions()
            if rev.revision.isdigit()
        ]
        if is_versioned(service)
        else []
    )
    return f"{max(numbers, default=0) + 1:04d}"
