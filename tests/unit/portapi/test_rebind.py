"""Retrying failed bindings after agent changes: which agents count as changed, and the
rebinder over a SQLite file with fakes of typemgr and mechmgr behind real gRPC (what it binds,
what it leaves alone, that two replicas retry each change once, and that a claim whose retries
were interrupted is finished by the reconciler)."""

from __future__ import annotations

import threading
from datetime import timedelta

from ml2.v1 import port_service_pb2
from ml2_contract import values
from sqlalchemy.orm import Session

from services import migrations, sql
from services.portapi import rebind
from services.portapi import resources as r
from services.portapi.clients import AgentState
from services.portapi.db import bindings, codec, rebinds
from services.portapi.db import repository as repo
from services.portapi.reconciler import Reconciler

from .conftest import Peers, Stack, close, make_stack
from .test_services import create_network, create_port, update_port


def agent(
    agent_id: str = "a1",
    host: str = "compute-1",
    *,
    alive: bool = True,
    up: bool = True,
    revision: int = 1,
    agent_type: str = "openvswitch",
) -> AgentState:
    return AgentState(agent_id, agent_type, host, alive, up, revision)


# ------------------------------------------------------------------ change detection


def test_an_agent_never_handled_is_new() -> None:
    [change] = rebind.changes({}, [agent()])
    assert change.kind == rebind.NEW and change.previous is None


def test_a_newer_revision_is_a_change_and_the_same_one_is_not() -> None:
    [change] = rebind.changes({"a1": 3}, [agent(revision=4)])
    assert change.kind == rebind.CHANGED and change.previous == 3
    assert rebind.changes({"a1": 4}, [agent(revision=4)]) == []
    assert rebind.changes({"a1": 5}, [agent(revision=4)]) == []  # another replica is ahead


def test_dead_or_disabled_agents_are_left_until_they_are_usable() -> None:
    assert rebind.changes({}, [agent(alive=False), agent("a2", up=False)]) == []
    # Whatever makes them usable again moves their revision: then they are changes.
    assert [c.agent.id for c in rebind.changes({"a1": 1}, [agent(revision=2)])] == ["a1"]


def test_an_agent_without_a_revision_is_never_a_change() -> None:
    assert rebind.changes({}, [agent(revision=0)]) == []


def test_changes_come_in_host_then_type_order_and_every_agent_type_counts() -> None:
    listed = [
        agent("s", "h2", agent_type="sriov"),
        agent("l", "h1", agent_type="linuxbridge"),
        agent("h", "h1", agent_type="hyperv"),
        agent("m", "h3", agent_type="macvtap"),
    ]
    assert [c.agent.id for c in rebind.changes({}, listed)] == ["h", "l", "s", "m"]


def test_agents_no_longer_listed_are_gone() -> None:
    assert rebind.gone({"a1": 1, "a2": 2, "a3": 1}, [agent("a2")]) == ["a1", "a3"]


# ------------------------------------------------------------------ the rebinder


class Agents:
    """The agents mechmgr lists, settable by the test."""

    def __init__(self, *listed: AgentState) -> None:
        self.listed = list(listed)

    def agent_states(self) -> list[AgentState]:
        return list(self.listed)


def rebinder(stack: Stack, agents: Agents, batch: int = rebind.BATCH) -> rebind.FailedPortRebinder:
    return rebind.FailedPortRebinder(
        stack.factory, stack.app.binder, agents, interval=60.0, batch=batch
    )


def state(stack: Stack, port_id: str) -> str:
    reply = stack.ports.GetPort(port_service_pb2.GetPortRequest(port_id=port_id))
    return str(reply.port.binding.vif_type)


def resolved_for(stack: Stack, port_id: str) -> int:
    return sum(1 for r in stack.peers.mechmgr.requests if r.port_id == port_id)


def test_a_new_agent_binds_the_failed_ports_of_its_host_only(stack: Stack) -> None:
    network = create_network(stack)
    failed = create_port(stack, network.id, host="compute-1")
    elsewhere = create_port(stack, network.id, host="compute-2")
    bound = create_port(stack, network.id, host="ovs-1")
    unbound = create_port(stack, network.id)
    assert failed.binding.vif_type == elsewhere.binding.vif_type == "binding_failed"
    stack.peers.mechmgr.ovs_hosts.add("compute-1")
    before = {p.id: resolved_for(stack, p.id) for p in (elsewhere, bound, unbound)}

    done = rebinder(stack, Agents(agent("a1", "compute-1"))).run_once()

    assert done == {"bound": 1, "failed": 0, "superseded": 0, "error": 0}
    assert state(stack, failed.id) == "ovs"
    assert state(stack, elsewhere.id) == "binding_failed"
    assert state(stack, bound.id) == "ovs" and state(stack, unbound.id) == "unbound"
    assert {p.id: resolved_for(stack, p.id) for p in (elsewhere, bound, unbound)} == before


def test_a_change_is_retried_once_and_a_newer_revision_again(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="compute-1")
    agents = Agents(agent("a1", "compute-1"))
    worker = rebinder(stack, agents)

    assert worker.run_once()["failed"] == 1  # still nothing binds there
    assert worker.run_once()["failed"] == 0
    assert resolved_for(stack, port.id) == 2  # the create, then one retry

    stack.peers.mechmgr.ovs_hosts.add("compute-1")
    agents.listed = [agent("a1", "compute-1", revision=2)]  # e.g. it gained the mapping
    assert worker.run_once()["bound"] == 1
    assert state(stack, port.id) == "ovs"


def test_two_replicas_retry_each_change_once(stack: Stack) -> None:
    network = create_network(stack)
    ports = [create_port(stack, network.id, host="compute-1") for _ in range(10)]
    agents = Agents(agent("a1", "compute-1"))
    first, second = rebinder(stack, agents), rebinder(stack, agents)
    results: list[dict[str, int]] = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(w.run_once())) for w in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(r["failed"] for r in results) == [0, 10]
    assert all(resolved_for(stack, p.id) == 2 for p in ports)


def test_a_pass_claims_changes_up_to_its_batch_and_the_next_pass_the_rest(stack: Stack) -> None:
    network = create_network(stack)
    for host in ("h1", "h1", "h2", "h3"):
        create_port(stack, network.id, host=host)
    agents = Agents(agent("a1", "h1"), agent("a2", "h2"), agent("a3", "h3"))
    worker = rebinder(stack, agents, batch=2)

    assert worker.run_once()["failed"] == 2  # h1's two ports: a host is never split
    assert worker.run_once()["failed"] == 2  # h2, then h3
    assert worker.run_once()["failed"] == 0


def test_retries_a_stopped_replica_claimed_are_finished_by_the_reconciler(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="compute-1")
    stack.peers.mechmgr.ovs_hosts.add("compute-1")

    def claim_only(session: object) -> list[str]:
        now = codec.now()
        assert rebinds.claim(session, "a1", "compute-1", 1, now)  # type: ignore[arg-type]
        return rebinds.mark_failed_pending(session, "compute-1", now)  # type: ignore[arg-type]

    assert repo.run_write(stack.factory, claim_only) == [port.id]  # then the replica stopped
    assert rebinder(stack, Agents(agent("a1", "compute-1"))).run_once()["bound"] == 0
    later = Reconciler(
        stack.factory,
        stack.app.binder,
        stack.app.networks,
        interval=60.0,
        grace=60.0,
        clock=lambda: codec.now() + timedelta(seconds=120),
    )
    assert later.run_once()["binding"] == 1
    assert state(stack, port.id) == "ovs"


def test_an_update_during_the_retry_wins(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="compute-1")
    stack.peers.mechmgr.ovs_hosts.add("compute-1")
    moved = threading.Event()

    def move_once(request: object) -> None:
        if moved.is_set():
            return
        moved.set()
        # A compute node moves the port while the rebinder's resolution is in flight.
        port.binding.host_id = "ovs-9"
        update_port(stack, port, "binding.host_id")

    stack.peers.mechmgr.hook = move_once
    done = rebinder(stack, Agents(agent("a1", "compute-1"))).run_once()

    assert done["superseded"] + done["bound"] == 1 and done["failed"] == 0
    reply = stack.ports.GetPort(port_service_pb2.GetPortRequest(port_id=port.id)).port
    assert (
        reply.binding.host_id == "ovs-9" and reply.binding.generation == port.binding.generation + 1
    )
    assert reply.binding.vif_type == "ovs"


def test_agents_no_longer_listed_lose_their_row(stack: Stack) -> None:
    agents = Agents(agent("a1"), agent("a2", "compute-2"))
    worker = rebinder(stack, agents)
    worker.run_once()
    agents.listed = [agent("a2", "compute-2")]
    worker.run_once()
    with sql.read_session(stack.factory) as session:
        assert rebinds.handled(session) == {"a2": 1}


def test_a_binding_in_flight_at_the_claim_that_fails_afterwards_is_retried(stack: Stack) -> None:
    network = create_network(stack)
    failed = create_port(stack, network.id, host="compute-1")
    flying = create_port(stack, network.id)

    def start_binding(session: Session) -> None:  # a request recorded its inputs...
        bindings.write_inputs(session, flying.id, r.BindingInputs("compute-1"), had_levels=False)

    repo.run_write(stack.factory, start_binding)
    stack.peers.mechmgr.ovs_hosts.add("compute-1")
    late = values.BindingResult(
        state="FAILED", vif_type="binding_failed", failure_message="asked before the change"
    )

    def commit_late(request: object) -> None:  # ...and commits what it heard before the change
        if getattr(request, "port_id", "") == failed.id:
            repo.run_write(
                stack.factory,
                lambda s: bindings.commit_result(s, flying.id, flying.binding.generation + 1, late),
            )

    stack.peers.mechmgr.hook = commit_late
    done = rebinder(stack, Agents(agent("a1", "compute-1"))).run_once()

    assert done["bound"] == 2
    assert state(stack, failed.id) == state(stack, flying.id) == "ovs"


def test_a_claim_wins_only_a_revision_newer_than_the_one_handled(database_url: str) -> None:
    migrations.upgrade(database_url, "portapi")
    engine = sql.make_engine(database_url)
    factory = sql.session_factory(engine)

    def claim(revision: int) -> bool:
        return bool(
            repo.run_write(
                factory, lambda s: rebinds.claim(s, "a1", "compute-1", revision, codec.now())
            )
        )

    try:
        assert claim(2)  # never seen
        assert not claim(2) and not claim(1)
        assert claim(5)
        with sql.read_session(factory) as session:
            assert rebinds.handled(session) == {"a1": 5}
        repo.run_write(factory, lambda s: rebinds.forget(s, ["a1"]))
        with sql.read_session(factory) as session:
            assert rebinds.handled(session) == {}
    finally:
        engine.dispose()


def test_two_replicas_on_one_database_bind_each_failed_port_once(
    database_url: str, peers: Peers
) -> None:
    built, resources = make_stack(database_url, peers.address, peers)
    try:
        network = create_network(built)
        ports = [create_port(built, network.id, host="compute-1") for _ in range(5)]
        peers.mechmgr.ovs_hosts.add("compute-1")
        agents = Agents(agent("a1", "compute-1"))
        results: list[dict[str, int]] = []
        workers = [rebinder(built, agents), rebinder(built, agents)]
        threads = [
            threading.Thread(target=lambda w=w: results.append(w.run_once())) for w in workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(r["bound"] for r in results) == [0, 5]
        assert all(state(built, p.id) == "ovs" and resolved_for(built, p.id) == 2 for p in ports)
    finally:
        close(resources)


def test_agents_of_one_host_changing_together_retry_its_ports_once(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="compute-1")
    listed = [
        agent("o", "compute-1"),
        agent("s", "compute-1", agent_type="sriov"),
        agent("h", "compute-1", agent_type="hyperv"),
    ]
    done = rebinder(stack, Agents(*listed)).run_once()
    assert done["failed"] == 1 and resolved_for(stack, port.id) == 2
    with sql.read_session(stack.factory) as session:
        assert rebinds.handled(session) == {"o": 1, "s": 1, "h": 1}
