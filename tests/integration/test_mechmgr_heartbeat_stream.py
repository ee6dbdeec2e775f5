"""StreamHeartbeats against real mechmgr processes: a heartbeat on the stream keeps an agent alive
exactly as a HeartbeatAgent call does (the same lease, on two replicas of one PostgreSQL
database alike), bad messages end the stream with HeartbeatAgent's status, and a stopping
mechmgr ends its streams at once."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc, binding_pb2

from services import launcher
from services.rpc import channels
from tests.integration.test_mechmgr import error_info, failure
from tests.integration.test_mechmgr_heartbeat_replicas import (  # noqa: F401 - a fixture
    Replica,
    start_replicas,
)

AS = agent_service_pb2
STREAMED = 'ml2_mechmgr_heartbeat_messages_total{rpc="StreamHeartbeats"}'
STREAMS = "ml2_mechmgr_heartbeat_streams"


class Stream:
    """One StreamHeartbeats stream: ``beat`` sends a heartbeat and returns its answer."""

    def __init__(self, stub: agent_service_pb2_grpc.AgentServiceStub) -> None:
        self.outbox: queue.Queue[AS.StreamHeartbeatsRequest | None] = queue.Queue()
        self.call = stub.StreamHeartbeats(iter(self.outbox.get, None))

    def beat(self, agent_id: str) -> agent_pb2.Agent:
        self.outbox.put(AS.StreamHeartbeatsRequest(agent_id=agent_id))
        return next(self.call).agent

    def close(self) -> None:
        self.outbox.put(None)
        self.call.cancel()


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_stream_keeps_an_agent_alive_on_both_replicas_as_heartbeat_calls_do(
    start_replicas,  # noqa: F811 - the fixture imported above
):
    down, interval = 6, 3
    a, b = start_replicas(down, interval, 1.0)
    agent = a.register("compute-1")
    stream = Stream(a.agents)
    last = None
    try:
        for _ in range(3):
            time.sleep(interval)  # the agent's own pace, not a wait for a condition
            last = stream.beat(agent.id)
            assert last.alive and last.id == agent.id
            assert b.listed("compute-1").alive
            reply = b.resolve("compute-1")
            assert (reply.state, reply.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "ovs")
        assert a.metric(STREAMED) == 3 and a.metric(STREAMS) == 1
        assert a.metric('ml2_mechmgr_heartbeats_total{write="batched"}') >= 2
    finally:
        stream.close()
    wait_until(lambda: a.metric(STREAMS) == 0)
    assert last is not None
    last_beat = last.heartbeat_time.ToDatetime().timestamp()

    # The stream stopped: both replicas call the agent dead down seconds after its last
    # heartbeat, as when HeartbeatAgent calls stop.
    dead_at: dict[str, float] = {}
    deadline = last_beat + down + 5
    while len(dead_at) < 2 and time.time() < deadline:
        for name, replica in (("a", a), ("b", b)):
            if name not in dead_at and not replica.listed("compute-1").alive:
                dead_at[name] = time.time()
        time.sleep(0.02)
    assert set(dead_at) == {"a", "b"}, dead_at
    for name, at in dead_at.items():
        assert last_beat + down <= at <= last_beat + down + 0.5, (name, at - last_beat)
    assert b.resolve("compute-1").state == binding_pb2.BINDING_STATE_FAILED

    # A new stream, to the other replica, revives it on both at once.
    again = Stream(b.agents)
    try:
        revived = again.beat(agent.id)
        assert revived.alive
        assert a.listed("compute-1").alive and b.listed("compute-1").alive
        assert a.resolve("compute-1").state == binding_pb2.BINDING_STATE_BOUND
        assert b.metric('ml2_mechmgr_heartbeats_total{write="immediate"}') >= 1
    finally:
        again.close()


@pytest.fixture
def mechmgr(tmp_path: Path) -> Iterator[Replica]:
    env = {
        "MECHMGR_LISTEN": "127.0.0.1:0",
        "MECHMGR_METRICS_PORT": "0",
        "MECHMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'mechmgr.db'}",
        "MECHMGR_TYPEMGR_ADDRESS": "",
        # No driver process is needed to keep agents alive; the address only has to parse.
        "MECHMGR_MECHANISM_DRIVERS": "openvswitch=127.0.0.1:9",
    }
    process = launcher.start("mechmgr", "services.mechmgr", env, log_dir=tmp_path / "logs")
    replica = Replica(process)
    yield replica
    replica.close()
    process.stop()


@pytest.mark.parametrize(
    ("agent_id", "rule"),
    [("", "agent_id: is required"), ("a b", "agent_id: must be at most 255 characters")],
)
def test_a_bad_heartbeat_ends_the_stream_invalid_argument_and_changes_nothing(
    mechmgr, agent_id, rule
):
    agent = mechmgr.register("compute-1")
    stream = Stream(mechmgr.agents)
    try:
        first = stream.beat(agent.id)
        err = failure(lambda: stream.beat(agent_id))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rule in err.details()
        assert error_info(err).reason
        assert mechmgr.listed("compute-1").heartbeat_time == first.heartbeat_time
    finally:
        stream.close()
    wait_until(lambda: mechmgr.metric(STREAMS) == 0)


def test_undecodable_bytes_end_the_stream_invalid_argument(mechmgr):
    channel = channels.make_channel(mechmgr.process.address)
    try:
        method = channel.stream_stream(
            "/ml2.v1.AgentService/StreamHeartbeats",
            request_serializer=None,
            response_deserializer=None,
        )
        err = failure(lambda: list(method(iter([b"\xff\xff\xff\xff"]), timeout=10)))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(err).reason
    finally:
        channel.close()


def test_an_unknown_agent_ends_the_stream_as_heartbeat_agent_answers_it(mechmgr):
    unary = failure(lambda: mechmgr.heartbeat("no-such-agent"))
    stream = Stream(mechmgr.agents)
    try:
        streamed = failure(lambda: stream.beat("no-such-agent"))
    finally:
        stream.close()
    assert streamed.code() == unary.code() == grpc.StatusCode.NOT_FOUND
    assert streamed.details() == unary.details()
    assert error_info(streamed).reason == error_info(unary).reason


def test_a_stopping_mechmgr_ends_its_streams_unavailable_at_once(mechmgr):
    agent = mechmgr.register("compute-1")
    stream = Stream(mechmgr.agents)
    assert stream.beat(agent.id).alive
    started = time.monotonic()
    assert mechmgr.process.stop() == 0
    # The stop does not wait out its grace period (5 s) for a stream that never ends.
    assert time.monotonic() - started < 4.0
    err = failure(lambda: stream.beat(agent.id))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    stream.close()
