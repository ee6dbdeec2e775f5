"""The agent registry against a real database: a SQLite file and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from ml2_contract import values

from services import sql
from services.mechmgr import agents, errors
from services.mechmgr.db import models

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry(database_url: str, clock: Clock) -> Iterator[agents.AgentRegistry]:
    engine = sql.make_engine(database_url)
    models.metadata.create_all(engine)
    yield agents.AgentRegistry(sql.session_factory(engine), down_time=75, clock=clock)
    engine.dispose()


def reg(host="compute-1", agent_type="openvswitch", **caps) -> agents.AgentRegistration:
    return agents.AgentRegistration(
        agent_type, host, values.HostCapabilities(**caps), binary="ml2-agent"
    )


def test_register_creates_an_alive_enabled_agent(registry):
    agent, created = registry.register(reg(bridge_mappings={"physnet1": "br-eth1"}))

    assert created
    assert (agent.agent_type, agent.host, agent.binary) == ("openvswitch", "compute-1", "ml2-agent")
    assert agent.alive and agent.admin_state_up
    assert agent.capabilities.bridge_mappings == {"physnet1": "br-eth1"}
    assert agent.heartbeat_at == agent.created_at == T0.replace(tzinfo=dt.UTC)
    assert registry.get(agent.id) == agent


def test_registering_again_keeps_id_creation_time_and_admin_state_and_replaces_capabilities(
    registry, clock
):
    first, _ = registry.register(reg(bridge_mappings={"physnet1": "br-eth1"}))
    registry.set_admin_state(first.id, False)
    clock.advance(10)

    again, created = registry.register(reg(bridge_mappings={"physnet2": "br-eth2"}))

    assert not created
    assert again.id == first.id
    assert again.created_at == first.created_at
    assert again.heartbeat_at == clock.now.replace(tzinfo=dt.UTC)
    assert again.admin_state_up is False
    assert again.capabilities.bridge_mappings == {"physnet2": "br-eth2"}


def test_an_agent_is_dead_once_the_down_time_passes_without_a_heartbeat(registry, clock):
    agent, _ = registry.register(reg())

    clock.advance(75)
    assert registry.get(agent.id).alive
    clock.advance(1)
    assert not registry.get(agent.id).alive

    registry.heartbeat(agent.id)
    assert registry.get(agent.id).alive


def test_a_heartbeat_of_an_unknown_agent_is_not_found(registry):
    with pytest.raises(errors.AgentNotFound, match="agent nope not found"):
        registry.heartbeat("nope")


def test_host_agents_returns_every_type_on_the_host_with_liveness(registry, clock):
    registry.register(reg("compute-1", "openvswitch"))
    clock.advance(100)
    registry.register(reg("compute-1", "linuxbridge"))
    registry.register(reg("compute-2", "openvswitch"))

    found = {a.agent_type: a.alive for a in registry.host_agents("compute-1")}

    assert found == {"openvswitch": False, "linuxbridge": True}
    assert registry.host_agents("compute-9") == ()


def test_list_filters_and_pages_in_host_then_type_order(registry):
    for host in ("c", "a", "b"):
        for agent_type in ("openvswitch", "linuxbridge"):
            registry.register(reg(host, agent_type))

    pages, after = [], None
    while True:
        page = registry.list_agents(limit=4, after=after)
        pages.append([(a.host, a.agent_type) for a in page.agents])
        if page.next_after is None:
            break
        after = page.next_after

    assert pages == [
        [("a", "linuxbridge"), ("a", "openvswitch"), ("b", "linuxbridge"), ("b", "openvswitch")],
        [("c", "linuxbridge"), ("c", "openvswitch")],
    ]
    assert [a.host for a in registry.list_agents(agent_type="linuxbridge").agents] == [
        "a",
        "b",
        "c",
    ]
    assert [a.agent_type for a in registry.list_agents(host="b").agents] == [
        "linuxbridge",
        "openvswitch",
    ]


def test_the_states_listing_pages_alike_with_liveness_admin_state_and_revision(registry, clock):
    for host in ("c", "a", "b"):
        for agent_type in ("openvswitch", "linuxbridge"):
            registry.register(reg(host, agent_type, bridge_mappings={"physnet1": "br-eth1"}))
    clock.advance(60)
    fresh, _ = registry.register(reg("b", "linuxbridge"))  # a heartbeat: the others die first
    disabled = registry.list_agents(host="c", agent_type="openvswitch").agents[0]
    registry.set_admin_state(disabled.id, False)
    clock.advance(30)

    def pages(listing):
        found, after = [], None
        while True:
            page = listing(limit=4, after=after)
            found.append(page.agents)
            if page.next_after is None:
                return found
            after = page.next_after

    full = pages(registry.list_agents)
    states = pages(registry.list_agent_states)
    assert [
        [(a.id, a.host, a.agent_type, a.alive, a.admin_state_up, a.revision) for a in p]
        for p in full
    ] == [
        [(a.id, a.host, a.agent_type, a.alive, a.admin_state_up, a.revision) for a in p]
        for p in states
    ]
    alive = {a.id for p in states for a in p if a.alive}
    assert alive == {fresh.id}
    assert [a.admin_state_up for p in states for a in p if a.id == disabled.id] == [False]
    assert [a.host for a in registry.list_agent_states(agent_type="linuxbridge").agents] == [
        "a",
        "b",
        "c",
    ]


def test_delete_removes_the_agent(registry):
    agent, _ = registry.register(reg())

    assert registry.delete(agent.id).id == agent.id
    with pytest.raises(errors.AgentNotFound):
        registry.get(agent.id)
    with pytest.raises(errors.AgentNotFound):
        registry.delete(agent.id)


def test_count_by_type_counts_alive_and_dead_agents(registry, clock):
    registry.register(reg("a", "openvswitch"))
    clock.advance(80)
    registry.register(reg("b", "openvswitch"))
    registry.register(reg("c", "linuxbridge"))

    assert registry.count_by_type() == {
        ("openvswitch", False): 1,
        ("openvswitch", True): 1,
        ("linuxbridge", True): 1,
    }


def test_concurrent_registrations_of_one_agent_converge_on_one_row(registry):
    results: list[str] = []
    failures: list[BaseException] = []

    def register() -> None:
        try:
            results.append(registry.register(reg("race-host"))[0].id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert len(set(results)) == 1
    assert len(registry.host_agents("race-host")) == 1


def test_the_network_types_an_agent_realises_are_stored_and_replaced(registry):
    first, _ = registry.register(reg(network_types=("flat", "vxlan")))
    assert registry.get(first.id).capabilities.network_types == ("flat", "vxlan")

    again, _ = registry.register(reg())

    assert registry.get(again.id).capabilities.network_types == ()


def test_raw_rows_of_a_check_convert_to_the_agents_and_change_with_every_column(registry, clock):
    ovs, _ = registry.register(reg("h1", bridge_mappings={"physnet1": "br-eth1"}))
    registry.register(reg("h1", "linuxbridge", interface_mappings={"physnet1": "eth1"}))
    clock.advance(50)
    registry.register(reg("h2", bridge_mappings={"physnet2": "br-eth2"}))
    clock.advance(30)  # the agents of h1 are dead now, h2's is alive

    raw = registry.raw_agents_by_host(["h1", "h2", "h3"])

    assert raw["h3"] == ()
    converted = {h: sorted(map(agents.agent_from_raw, rows), key=str) for h, rows in raw.items()}
    expected = {
        h: sorted(a, key=str) for h, a in registry.agents_by_host(["h1", "h2", "h3"]).items()
    }
    assert converted == expected
    assert [a.alive for a in converted["h1"]] == [False, False]
    assert converted["h2"][0].alive
    before = dict(raw)

    registry.set_admin_state(ovs.id, False)
    after_disable = registry.raw_agents_by_host(["h1", "h2"])
    registry.register(reg("h2", bridge_mappings={"physnet3": "br-eth3"}))
    after_mappings = registry.raw_agents_by_host(["h2"])

    assert after_disable["h1"] != before["h1"] and after_disable["h2"] == before["h2"]
    assert after_mappings["h2"] != before["h2"]
    clock.advance(76)
    assert registry.raw_agents_by_host(["h2"])["h2"] != after_mappings["h2"]  # it died


def test_the_revision_moves_only_when_the_agent_may_bind_more_than_before(registry, clock):
    first, _ = registry.register(reg(bridge_mappings={"physnet1": "br-eth1"}))
    assert first.revision == 1

    clock.advance(10)
    same = registry.register(reg(bridge_mappings={"physnet1": "br-eth1"}))[0]
    beat = registry.heartbeat(first.id)
    registry.set_admin_state(first.id, True)  # already allowed: nothing changes
    assert same.revision == beat.revision == registry.get(first.id).revision == 1

    caps = registry.register(reg(bridge_mappings={"physnet1": "br-eth1", "physnet2": "br-2"}))[0]
    assert caps.revision == 2

    registry.set_admin_state(first.id, False)
    assert registry.get(first.id).revision == 2  # forbidding binding opens nothing
    assert registry.set_admin_state(first.id, True).revision == 3

    clock.advance(76)
    assert not registry.get(first.id).alive
    revived = registry.heartbeat(first.id)
    assert revived.alive and revived.revision == 4
    assert registry.heartbeat(first.id).revision == 4

    clock.advance(76)
    back = registry.register(reg(bridge_mappings={"physnet1": "br-eth1", "physnet2": "br-2"}))[0]
    assert back.revision == 5  # the same capabilities, but it was dead


def test_a_flush_that_finds_an_agent_dead_moves_its_revision(database_url, clock):
    engine = sql.make_engine(database_url)
    models.metadata.create_all(engine)
    registry = agents.AgentRegistry(
        sql.session_factory(engine), down_time=75, clock=clock, flush_interval=5
    )
    try:
        agent, _ = registry.register(reg())
        clock.advance(30)
        registry.heartbeat(agent.id)  # held in memory
        assert registry.flush() == 1
        assert registry.get(agent.id).revision == 1  # alive all along
        clock.advance(30)
        registry.heartbeat(agent.id)
        clock.advance(80)  # the flush comes late: the agent lapsed in the database meanwhile
        assert registry.flush() == 1
        assert registry.get(agent.id).revision == 2
    finally:
        engine.dispose()
