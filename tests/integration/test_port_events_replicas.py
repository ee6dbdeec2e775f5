"""Two portapi replicas on one PostgreSQL database: a watcher on one replica sees every event
written through the other, in revision order, each once. The watched replica reads the log
only every 60 s without a notification, so the events reach it through NOTIFY."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from ml2.v1 import port_service_pb2

from tests.integration.test_port_events import Watch, events_of, network, wait_for
from tests.integration.test_portapi import PortApi, Stack, start_stack

R = port_service_pb2


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """typemgr, mechmgr and the driver processes on PostgreSQL."""
    yield from start_stack("postgres", tmp_path_factory.mktemp("postgres"), request)


@pytest.fixture(scope="module")
def portapi(stack: Stack) -> PortApi:
    return stack.start_portapi("portapi", stack.urls["portapi"], PORTAPI_EVENT_POLL_SECONDS="60")


@pytest.fixture
def project() -> str:
    import uuid

    return f"proj-{uuid.uuid4().hex[:8]}"


def test_a_watcher_on_one_replica_sees_every_event_written_through_another(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    name = f"portapi-b-{project}"
    other = stack.start_portapi(name, stack.urls["portapi"], PORTAPI_EVENT_POLL_SECONDS="60")
    try:
        net = network(other, project)
        watch = Watch(portapi.ports, network_ids=[net.id])
        # Let the watcher join before writing, by a write whose event it must see.
        probe = other.create_port(net.id, name="probe")
        watch.events_until(lambda got: probe.id in {e.port.id for e in events_of(got)})
        ids: list[str] = []

        def write(n: int) -> None:
            for i in range(n):
                ids.append(other.create_port(net.id, name=f"w{i}").id)

        writers = [threading.Thread(target=write, args=(10,)) for _ in range(3)]
        for writer in writers:
            writer.start()
        for i in range(10):
            ids.append(portapi.create_port(net.id, name=f"a{i}").id)
        for writer in writers:
            writer.join()
        got = events_of(
            watch.events_until(lambda got: set(ids) <= {e.port.id for e in events_of(got)})
        )
        revisions = [e.revision for e in got]
        assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)
        created = [e.port.id for e in got if e.type == R.PORT_EVENT_TYPE_CREATED]
        assert sorted(created) == sorted(ids)  # each once, from either replica
        assert watch.quiet(0.3) == []
        watch.cancel()
    finally:
        assert other.process.stop() == 0
        del stack.processes[name]


def listeners(url: str) -> list[int]:
    """The backends LISTENing for port events on the database at ``url``."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(row[0]) for row in rows]


def test_a_replica_that_loses_its_notification_connection_listens_again(
    stack: Stack, portapi: PortApi, project: str
) -> None:
    url = stack.urls["portapi"]
    net = network(portapi, project)
    watch = Watch(portapi.ports, network_ids=[net.id])
    first = portapi.create_port(net.id)
    watch.events_until(lambda got: first.id in {e.port.id for e in events_of(got)})
    before = wait_for(lambda: listeners(url), bool)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for pid in before:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_for(lambda: listeners(url), lambda pids: bool(pids) and not set(pids) & set(before))
    # Written through another process, so only a notification wakes the watched replica
    # before its 60 s poll.
    name = f"portapi-n-{project}"
    other = stack.start_portapi(name, url, PORTAPI_EVENT_POLL_SECONDS="60")
    try:
        second = other.create_port(net.id)
        watch.events_until(lambda got: second.id in {e.port.id for e in events_of(got)})
    finally:
        assert other.process.stop() == 0
        del stack.processes[name]
    watch.cancel()
