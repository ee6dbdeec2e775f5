"""StreamHeartbeats in the servicer: answers from memory encoded once per stream, the agent
checked once per agent id."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from ml2.v1 import agent_service_pb2 as pb
from ml2_contract import convert, values

from services import sql
from services.mechmgr import agent_servicer, agents
from services.mechmgr.db import models

CAPS = values.HostCapabilities(
    bridge_mappings={"physnet1": "br-eth1"}, tunnel_types=("vxlan",), local_ip="192.0.2.7"
)


def expected(agent: values.Agent, beat: dt.datetime) -> pb.StreamHeartbeatsResponse:
    """What HeartbeatAgent answers for ``agent`` after a heartbeat at ``beat``."""
    after = dataclasses.replace(agent, alive=True, heartbeat_at=beat.replace(tzinfo=dt.UTC))
    return pb.StreamHeartbeatsResponse(agent=convert.agent_to_proto(after))


@pytest.mark.parametrize("micros", [0, 1, 123456, 999999])
def test_an_encoded_answer_decodes_as_the_message_of_the_agent_after_its_heartbeat(micros):
    agent = values.Agent(
        "agent-1",
        "openvswitch",
        "compute-1",
        "neutron-openvswitch-agent",
        CAPS,
        admin_state_up=False,
        alive=False,
        heartbeat_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        created_at=dt.datetime(2025, 12, 31, 23, 59, 59, 500000, tzinfo=dt.UTC),
        revision=300,
    )
    beat = dt.datetime(2026, 3, 1, 12, 0, 5, micros)

    data = agent_servicer.beat_answer(agent_servicer.agent_without_beat(agent), beat)

    assert pb.StreamHeartbeatsResponse.FromString(data) == expected(agent, beat)


class Requests:
    """The requests of one stream."""

    def __init__(self, agent_ids: list[str]) -> None:
        self._ids = iter(agent_ids)

    def __aiter__(self) -> Requests:
        return self

    async def __anext__(self) -> pb.StreamHeartbeatsRequest:
        try:
            return pb.StreamHeartbeatsRequest(agent_id=next(self._ids))
        except StopIteration:
            raise StopAsyncIteration from None


def test_a_stream_answers_from_memory_and_checks_each_agent_once_until_it_changes(sqlite_url):
    engine = sql.make_engine(sqlite_url)
    models.metadata.create_all(engine)
    registry = agents.AgentRegistry(sql.session_factory(engine), 75, flush_interval=5)
    a, _ = registry.register(agents.AgentRegistration("openvswitch", "compute-1", CAPS))
    b, _ = registry.register(agents.AgentRegistration("linuxbridge", "compute-1", CAPS))
    checked: list[str] = []
    servicer = agent_servicer.AgentServicer(
        registry, 30, beat_check=lambda agent_id, _context: checked.append(agent_id)
    )
    ids = [a.id, a.id, a.id, b.id, b.id, a.id]

    async def stream() -> list[pb.StreamHeartbeatsResponse]:
        answers = []
        async for data in servicer.StreamHeartbeats(Requests(ids), object()):
            assert isinstance(data, bytes)  # encoded from memory, nothing written
            answers.append(pb.StreamHeartbeatsResponse.FromString(data))
        return answers

    answers = asyncio.run(stream())

    assert checked == [a.id, b.id, a.id]
    assert [r.agent.id for r in answers] == ids
    for answer in answers:
        agent = a if answer.agent.id == a.id else b
        assert answer == expected(agent, answer.agent.heartbeat_time.ToDatetime())
    beats = [r.agent.heartbeat_time.ToDatetime() for r in answers]
    assert beats == sorted(beats) and beats[0] >= a.heartbeat_at.replace(tzinfo=None)
    assert registry.flush() == 2  # each agent's latest heartbeat, held for the next write
    engine.dispose()


def test_a_bad_agent_id_later_in_a_stream_is_still_refused(sqlite_url):
    engine = sql.make_engine(sqlite_url)
    models.metadata.create_all(engine)
    registry = agents.AgentRegistry(sql.session_factory(engine), 75, flush_interval=5)
    a, _ = registry.register(agents.AgentRegistration("openvswitch", "compute-1", CAPS))
    servicer = agent_servicer.AgentServicer(registry, 30)

    async def stream() -> int:
        answered = 0
        async for _ in servicer.StreamHeartbeats(Requests([a.id, a.id, ""]), object()):
            answered += 1
        return answered

    with pytest.raises(Exception, match="agent_id"):
        asyncio.run(stream())
    engine.dispose()


class HoldRequests:
    """One hold request for each id given, then the client's side stays open."""

    def __init__(self, agent_ids: list[str]) -> None:
        self._ids = iter(agent_ids)
        self.more = asyncio.Event()

    def __aiter__(self) -> HoldRequests:
        return self

    async def __anext__(self) -> pb.StreamHeartbeatsRequest:
        for agent_id in self._ids:
            return pb.StreamHeartbeatsRequest(agent_id=agent_id, hold=True)
        await self.more.wait()
        raise StopAsyncIteration


class Refused(Exception):
    pass


def test_a_hold_is_checked_as_a_heartbeat_and_a_refused_one_holds_nothing(sqlite_url):
    engine = sql.make_engine(sqlite_url)
    models.metadata.create_all(engine)
    registry = agents.AgentRegistry(sql.session_factory(engine), 75, flush_interval=5)
    own, _ = registry.register(agents.AgentRegistration("openvswitch", "compute-1", CAPS))
    other, _ = registry.register(agents.AgentRegistration("openvswitch", "compute-2", CAPS))

    def check(agent_id: str, _context: object) -> None:
        if agent_id != own.id:
            raise Refused(agent_id)

    servicer = agent_servicer.AgentServicer(registry, 30, beat_check=check)

    async def stream(ids: list[str]) -> list[pb.StreamHeartbeatsResponse]:
        answers = []
        async for data in servicer.StreamHeartbeats(HoldRequests(ids), object()):
            answers.append(data if isinstance(data, pb.StreamHeartbeatsResponse) else None)
            if len(answers) == len(ids):
                assert registry.held(own.id)
                return answers
        return answers

    # The caller's own agent is held; another host's is refused, first or later in the stream.
    answers = asyncio.run(stream([own.id]))
    assert answers[0] is not None and answers[0].held and answers[0].agent.id == own.id
    assert not registry.held(own.id)  # released when the stream ended
    with pytest.raises(Refused):
        asyncio.run(stream([other.id]))
    with pytest.raises(Refused):
        asyncio.run(stream([own.id, other.id]))
    assert not registry.held(other.id) and not registry.held(own.id)
    engine.dispose()
