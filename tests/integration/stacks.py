"""Shared by the integration tests that start stacks of service processes: starting independent
processes at once, databases per backend for a stack that lives for a whole module, and unique
names for what each test of such a stack creates."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from services import launcher

Start = Callable[[str, str, dict[str, str]], launcher.ServiceProcess]
T = TypeVar("T")


def at_once(*calls: Callable[[], T]) -> list[T]:
    """Runs every call at once (each in a thread of its own) and returns their results in
    order, once all have ended; the first failure is raised then."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
    return [future.result() for future in futures]


def start_together(
    start: Start, *specs: tuple[str, str, dict[str, str]]
) -> list[launcher.ServiceProcess]:
    """Calls ``start(name, module, env)`` for every spec at once and returns the processes in
    the specs' order, once all of them serve. The first failure is raised after every start
    has ended (the ones that started are the caller's to stop, as ``start`` recorded them)."""
    return at_once(*(functools.partial(start, *spec) for spec in specs))


def databases(
    backend: str, tmp: Path, request: pytest.FixtureRequest, names: tuple[str, ...]
) -> Iterator[dict[str, str]]:
    """Yields one new database URL per name, on SQLite files under ``tmp`` or on PostgreSQL;
    the PostgreSQL ones are dropped when the generator is resumed."""
    if backend == "sqlite":
        yield {name: f"sqlite:///{tmp / f'{name}.db'}" for name in names}
        return
    server = request.getfixturevalue("postgres_server")
    made = {name: server.create_database() for name in names}
    try:
        yield made
    finally:
        for url in made.values():
            server.drop_database(url)


def unique(prefix: str) -> str:
    """``prefix`` and a random suffix: a host, project or physical network no other test of a
    shared stack uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stop_together(processes: list[launcher.ServiceProcess]) -> list[int]:
    """Stops every process at once (``ServiceProcess.stop``) and returns their exit statuses
    in the list's order."""
    if not processes:
        return []
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        return list(pool.map(lambda process: process.stop(), processes))
