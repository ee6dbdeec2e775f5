"""Concurrent clients against two real portapi processes sharing one database (PostgreSQL, and a
SQLite file in WAL mode), with real typemgr, mechmgr and driver processes.

Whatever order the updates of a port's host interleave in, the port ends bound for its final
host: ``ovs`` on the host with an Open vSwitch agent, ``bridge`` on the Linux bridge host,
``binding_failed`` naming the bare host, ``unbound`` with no host. A stale result committed over
newer inputs would show up as the wrong vif type or driver.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from ml2.v1 import binding_pb2

from tests.integration.test_portapi import PortApi, Stack, register_hosts, start_stack

EXPECTED = {"ovs": ("ovs", "openvswitch"), "lb": ("bridge", "linuxbridge")}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    yield from start_stack(request.param, tmp_path_factory.mktemp(request.param), request)


@pytest.fixture(scope="module")
def replicas(stack: Stack) -> tuple[PortApi, PortApi]:
    """Two portapi processes on the same database."""
    url = stack.urls["portapi"]
    return stack.start_portapi("portapi-a", url), stack.start_portapi("portapi-b", url)


def check_final_binding(port: object, hosts: dict[str, str]) -> None:
    binding = port.binding  # type: ignore[attr-defined]
    kind = next((k for k, name in hosts.items() if name == binding.host_id), "")
    if kind in EXPECTED:
        vif_type, driver = EXPECTED[kind]
        assert binding.state == binding_pb2.BINDING_STATE_BOUND, port
        assert binding.vif_type == vif_type, port
        assert [lv.driver for lv in binding.levels] == [driver], port
    elif kind == "bare":
        assert binding.state == binding_pb2.BINDING_STATE_FAILED, port
        assert binding.host_id in binding.failure_message, port
        assert {r.code for v in binding.trace for r in v.reasons} == {"NO_AGENT"}, port
        assert not binding.levels, port
    else:
        assert binding.host_id == "", port
        assert binding.state == binding_pb2.BINDING_STATE_UNBOUND, port
        assert binding.vif_type == "unbound" and not binding.levels and not binding.trace, port


def test_concurrent_host_changes_through_two_replicas_end_with_the_final_binding(
    stack: Stack, replicas: tuple[PortApi, PortApi]
) -> None:
    project = f"proj-{uuid.uuid4().hex[:8]}"
    hosts = register_hosts(stack, project)
    network = replicas[0].create_network(project)
    ports = [replicas[i % 2].create_port(network.id).id for i in range(4)]
    choices = [*hosts.values(), ""]
    aborted: list[str] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        replica = replicas[seed % 2]
        for _ in range(20):
            port_id, host = rng.choice(ports), rng.choice(choices)
            try:
                updated = replica.set_host(port_id, host)
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.ABORTED:
                    raise
                with lock:
                    aborted.append(port_id)
                continue
            # What a request returns may already be newer than its own inputs, never older.
            assert updated.binding.generation >= 1

    with futures.ThreadPoolExecutor(max_workers=6) as pool:
        for done in [pool.submit(client, seed) for seed in range(6)]:
            done.result()

    for port_id in ports:
        seen = [replica.get_port(port_id) for replica in replicas]
        assert seen[0] == seen[1]
        check_final_binding(seen[0], hosts)
    listed = replicas[1].list_ports(network_id=network.id)
    assert sorted(p.id for p in listed) == sorted(ports)


def test_concurrent_creation_through_two_replicas_allocates_nothing_twice(
    stack: Stack, replicas: tuple[PortApi, PortApi]
) -> None:
    project = f"proj-{uuid.uuid4().hex[:8]}"
    hosts = register_hosts(stack, project)

    def network(i: int) -> object:
        return replicas[i % 2].create_network(project)

    with futures.ThreadPoolExecutor(max_workers=6) as pool:
        networks = list(pool.map(network, range(12)))
        vnis = [n.segments[0].segmentation_id for n in networks]  # type: ignore[attr-defined]
        assert len(set(vnis)) == len(vnis)
        target = networks[0].id  # type: ignore[attr-defined]

        def port(i: int) -> object:
            host = hosts["ovs"] if i % 2 else hosts["lb"]
            return replicas[i % 2].create_port(target, host=host)

        ports = list(pool.map(port, range(24)))
    macs = [p.mac_address for p in ports]  # type: ignore[attr-defined]
    assert len(set(macs)) == len(macs)
    for created in ports:
        check_final_binding(created, hosts)
    assert len(replicas[0].list_networks(project)) == 12
