"""The stack every hostile-input test shares: on SQLite files, or on PostgreSQL databases when
``ML2_FUZZ_DATABASE=postgres``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from . import stack as fuzz_stack


@pytest.fixture(scope="package")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[fuzz_stack.Stack]:
    """typemgr, mechmgr, portapi and the driver processes, seeded; every process must still
    run, and stop cleanly, at the end."""
    urls: dict[str, str] = {}
    server = None
    if os.environ.get("ML2_FUZZ_DATABASE", "sqlite") == "postgres":
        server = request.getfixturevalue("postgres_server")
        urls = {name: server.create_database() for name in fuzz_stack.DATABASES}
    running = fuzz_stack.start(tmp_path_factory.mktemp("fuzz"), urls)
    try:
        yield running
    finally:
        dead = running.dead()
        codes = running.stop()
        if server is not None:
            for url in urls.values():
                server.drop_database(url)
    assert not dead, dead
    assert all(code == 0 for code in codes.values()), codes
