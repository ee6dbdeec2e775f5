"""Fixtures shared by every test: databases (SQLite files and PostgreSQL), process logs, and a
lab of network namespaces with their own Open vSwitch (``lab``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.lab import Lab
from tests import postgres

# Every process a test starts by hand (in-process servers, launcher.start, bench scripts) runs
# without authentication unless its environment gives the ML2_AUTH_* settings, which win; a
# stack that tests authentication (``ml2 up`` without --no-auth) gets them. Without this opt-out
# a process without settings refuses to start.
os.environ.setdefault("ML2_AUTH_DISABLED", "1")


def in_ci() -> bool:
    """Whether this run is CI's (``CI=true``, as CI services and .ci/run set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """The PostgreSQL server of the run (the machine's, or a throwaway cluster).

    Without one the PostgreSQL tests are skipped, except in CI, where they fail: CI must not
    pass with the PostgreSQL half of the tests quietly left out."""
    try:
        server = postgres.start_postgres()
    except (RuntimeError, OSError) as exc:
        reason = (
            f"PostgreSQL unavailable: no server at {postgres.DEFAULT_DSN} and no throwaway"
            f" cluster can start: {exc}"
        )
        if in_ci():
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests may not be skipped)")
        pytest.skip(reason)
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: postgres.PostgresServer) -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLAlchemy URL of a new SQLite file."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using it runs twice: on a SQLite file and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    """Where the processes a test starts write their logs."""
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A lab (``services.lab``) whose namespaces and Open vSwitch processes are all removed
    after the test, however it ends."""
    with Lab() as built:
        yield built
