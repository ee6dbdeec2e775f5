"""Shared by the integration tests that start stacks of service processes: starting independent
processes at once, databases per backend for a stack that lives for a whole module, unique
names for what each test of such a stack creates, and the calls the dynamic segment hold tests
make."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    binding_pb2,
    network_pb2,
    network_service_pb2,
    port_pb2,
    port_service_pb2,
)
from ml2.v1 import segment_service_pb2 as ss

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


CALL_TIMEOUT = 15.0


class HoldCalls:
    """Networks, ports, binds, OVS agents and dynamic segment holds, through the stubs a
    test's clients hold: ``networks``, ``ports`` (portapi), ``segments`` (typemgr) and
    ``agents`` (mechmgr)."""

    networks: Any
    ports: Any
    segments: Any
    agents: Any

    def register_ovs_agent(self, host: str) -> None:
        agent = agent_pb2.Agent(
            agent_type="openvswitch",
            host=host,
            binary="ml2-openvswitch-agent",
            admin_state_up=True,
            capabilities=agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
        )
        self.agents.RegisterAgent(agent_service_pb2.RegisterAgentRequest(agent=agent))

    def network(self) -> str:
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="n", project_id="p", admin_state_up=True)
        )
        return str(self.networks.CreateNetwork(request, timeout=CALL_TIMEOUT).network.id)

    def port(self, network_id: str) -> str:
        request = port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(network_id=network_id, admin_state_up=True)
        )
        return str(self.ports.CreatePort(request, timeout=CALL_TIMEOUT).port.id)

    def bind(self, port_id: str, host: str, timeout: float = CALL_TIMEOUT) -> Any:
        request = port_service_pb2.UpdatePortRequest(
            port=port_pb2.Port(id=port_id, binding=binding_pb2.PortBinding(host_id=host)),
            update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"]),
        )
        return self.ports.UpdatePort(request, timeout=timeout).port

    def delete(self, port_id: str) -> None:
        request = port_service_pb2.DeletePortRequest(port_id=port_id)
        self.ports.DeletePort(request, timeout=CALL_TIMEOUT)

    def dynamic(self, network_id: str) -> list[str]:
        """The ids of the network's dynamic segments."""
        request = ss.ListNetworkSegmentsRequest(network_id=network_id, include_dynamic=True)
        reply = self.segments.ListNetworkSegments(request, timeout=CALL_TIMEOUT)
        return [s.id for s in reply.segments if s.is_dynamic]

    def holds(self, segment_id: str = "", holder: str = "") -> dict[tuple[str, str], int]:
        """(segment id, holder) -> generation of the holds on ``segment_id`` and/or of
        ``holder``."""
        request = ss.ListDynamicSegmentHoldsRequest(
            segment_id=segment_id, holder=holder, page_size=1000
        )
        reply = self.segments.ListDynamicSegmentHolds(request, timeout=CALL_TIMEOUT)
        return {(h.segment_id, h.holder): h.generation for h in reply.holds}
