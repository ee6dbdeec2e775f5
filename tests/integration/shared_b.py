"""Helpers for integration tests whose processes serve a whole module: a database per module and
backend, counters read as the change a test made, and processes started side by side."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import pytest

from services import launcher
from tests.integration import test_portapi as portapi_tests

T = TypeVar("T")

BACKENDS = ["sqlite", "postgres"]
"""The params of a module-scoped database fixture: the ids ``database_url`` gives its tests."""

_SAMPLE = re.compile(r"^(?P<key>[a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (?P<value>\S+)$")


def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str = "test"
) -> Iterator[str]:
    """Yields a SQLAlchemy URL of a new database of the backend ``request.param`` names (a SQLite
    file, or a fresh PostgreSQL database dropped afterwards): the body of a module-scoped
    fixture parametrized with BACKENDS."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / f'{name}.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield str(url)
    finally:
        server.drop_database(url)


def scrape(metrics_port: int) -> dict[str, float]:
    """The samples a process's /metrics page shows, by ``name{labels}`` as the page spells it."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and (match := _SAMPLE.match(line)):
            found[match["key"]] = float(match["value"])
    return found


def changes(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """How much each sample changed from ``before`` to ``after`` (a new one counts from 0);
    samples that did not change are left out."""
    return {
        key: value - before.get(key, 0.0)
        for key, value in after.items()
        if value != before.get(key, 0.0)
    }


def side_by_side(*starts: Callable[[], T], undo: Callable[[T], object] | None = None) -> list[T]:
    """Runs independent starts at once and returns their results in order. If one fails, the
    others' results are handed to ``undo`` (a process stopped) and the first failure raised."""
    with futures.ThreadPoolExecutor(len(starts)) as pool:
        running = [pool.submit(start) for start in starts]
        futures.wait(running)
    failed = [f.exception() for f in running if f.exception() is not None]
    if failed:
        for f in running:
            if f.exception() is None and undo is not None:
                undo(f.result())
        raise failed[0]  # type: ignore[misc]
    return [f.result() for f in running]


def stop_all(processes: Iterable[launcher.ServiceProcess]) -> None:
    """Stops the processes all at once; fails, with its log's tail, for each that did not exit
    cleanly."""
    stopping = list(processes)
    if not stopping:
        return
    codes = side_by_side(*(lambda p=p: p.stop() for p in stopping))
    unclean = [
        f"{p.name} exited {code}:\n{p.log_tail()}"
        for p, code in zip(stopping, codes, strict=True)
        if code
    ]
    assert not unclean, "\n".join(unclean)


def start_stack_side_by_side(
    backend: str, tmp: Path, request: pytest.FixtureRequest
) -> Iterator[portapi_tests.Stack]:
    """What ``test_portapi.start_stack`` starts (typemgr, the openvswitch and linuxbridge
    drivers, mechmgr, on ``backend``), with typemgr and the drivers started at once and every
    process stopped at once: the body of a module-scoped fixture."""
    urls, to_drop = portapi_tests.database_urls(
        backend, tmp, request, ("typemgr", "mechmgr", "portapi", "portapi_b")
    )
    stack = portapi_tests.Stack(backend, tmp / "logs", urls=urls)
    listen = {"LISTEN": "127.0.0.1:0", "METRICS_PORT": "0"}
    specs: dict[str, tuple[str, dict[str, str]]] = {
        "typemgr": (
            "services.typemgr",
            {
                **portapi_tests.TYPEMGR_CONFIG,
                **{f"TYPEMGR_{k}": v for k, v in listen.items()},
                "TYPEMGR_DATABASE_URL": urls["typemgr"],
            },
        ),
        **{
            name: (f"services.drivers.{name}", {f"MECHDRIVER_{k}": v for k, v in listen.items()})
            for name in ("openvswitch", "linuxbridge")
        },
    }
    codes: dict[str, int] = {}
    try:
        started = side_by_side(
            *(
                lambda n=name, m=module, e=env: launcher.start(
                    n, m, e, log_dir=stack.log_dir, timeout=30
                )
                for name, (module, env) in specs.items()
            ),
            undo=lambda p: p.stop(),
        )
        stack.processes.update(zip(specs, started, strict=True))
        drivers = [f"{n}={stack.processes[n].address}" for n in ("openvswitch", "linuxbridge")]
        stack.start(
            "mechmgr",
            "services.mechmgr",
            {
                **{f"MECHMGR_{k}": v for k, v in listen.items()},
                "MECHMGR_DATABASE_URL": urls["mechmgr"],
                "MECHMGR_MECHANISM_DRIVERS": ",".join(drivers),
                "MECHMGR_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
            },
        )
        yield stack
    finally:
        for channel in stack.channels:
            channel.close()
        running = list(stack.processes.items())
        if running:
            stopped = side_by_side(*(lambda p=p: p.stop() for _, p in running))
            codes = {name: code for (name, _), code in zip(running, stopped, strict=True)}
        if to_drop:
            server = request.getfixturevalue("postgres_server")
            for url in to_drop:
                server.drop_database(url)
    assert all(code == 0 for code in codes.values()), codes
