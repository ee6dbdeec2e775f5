"""The stack every hostile-input test shares."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import stack as fuzz_stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fuzz_stack.Stack]:
    """typemgr, mechmgr, portapi and the driver processes on SQLite files, seeded; every
    process must still run, and stop cleanly, at the end."""
    running = fuzz_stack.start(tmp_path_factory.mktemp("fuzz"))
    try:
        yield running
    finally:
        dead = running.dead()
        codes = running.stop()
    assert not dead, dead
    assert all(code == 0 for code in codes.values()), codes
