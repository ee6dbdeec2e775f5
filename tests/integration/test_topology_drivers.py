"""The drivers that bind without an L2 agent, across real processes: typemgr (VXLAN tenant
networks, VLANs 100-199 on physnet1), mechmgr with the sdn-controller, openvswitch and baremetal
drivers, portapi, a simulated Open vSwitch agent, and the topology set with ``ml2 topology``.

- a port on a VXLAN network, on a host whose link the topology records, binds in two levels:
  sdn-controller on the VXLAN segment, openvswitch on the dynamic VLAN typemgr allocated on the
  link's physical network;
- on a host without a link (or once its link is deleted) the port fails to bind, the trace
  saying HOST_NOT_LINKED and naming the host;
- a bare-metal port with local_link_information binds with vif_type other.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from ml2.v1 import (
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
    mechanism_manager_service_pb2,
    mechanism_manager_service_pb2_grpc,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
    topology_pb2,
    topology_service_pb2,
    topology_service_pb2_grpc,
)

from services import launcher
from services.rpc import channels
from tests.integration.stacks import databases, start_together, stop_together, unique

TIMEOUT = 15.0
ML2 = [sys.executable, "-m", "services.cli"]
DRIVERS = ("sdn-controller", "openvswitch", "baremetal")


@dataclass
class Stack:
    log_dir: Path
    processes: list[launcher.ServiceProcess] = field(default_factory=list)
    opened: list[grpc.Channel] = field(default_factory=list)
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)
    mechmgr: str = ""
    networks: Any = None
    ports: Any = None
    registry: Any = None
    topology: Any = None
    manager: Any = None

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=self.log_dir, timeout=30)
        self.processes.append(process)
        return process

    def channel(self, process: launcher.ServiceProcess) -> grpc.Channel:
        self.opened.append(channels.make_channel(process.address))
        return self.opened[-1]

    def ml2(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = launcher.python_path_env({"PATH": "/usr/bin:/bin"})
        return subprocess.run(
            [*ML2, *args, "--mechmgr", self.mechmgr],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    def simulated_ovs_agents(self, *hosts: str) -> None:
        """Runs ``ml2 agent run --type openvswitch --simulate`` mapping physnet1 for each host,
        all at once; returns once every one has registered."""
        started = {}
        for host in hosts:
            log = open(self.log_dir / f"agent-{host}.log", "wb")  # noqa: SIM115 (closed below)
            started[host] = subprocess.Popen(
                [
                    *ML2,
                    "agent",
                    "run",
                    "--type",
                    "openvswitch",
                    "--host",
                    host,
                    "--bridge-mappings",
                    "physnet1:br-eth1",
                    "--simulate",
                    "--mechmgr",
                    self.mechmgr,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=launcher.python_path_env({"PATH": "/usr/bin:/bin"}),
            )
            self.agents.append(started[host])
            log.close()
        deadline = time.monotonic() + 30
        for host, agent in started.items():
            request = agent_service_pb2.ListAgentsRequest(host=host)
            while not self.registry.ListAgents(request, timeout=TIMEOUT).agents:
                assert agent.poll() is None, (self.log_dir / f"agent-{host}.log").read_text()
                assert time.monotonic() < deadline, f"the agent of {host} did not register"
                time.sleep(0.1)

    def network(self, *segments: segment_pb2.SegmentSpec) -> network_pb2.Network:
        request = network_service_pb2.CreateNetworkRequest(
            network=network_pb2.Network(name="n", project_id="p", admin_state_up=True),
            segments=list(segments),
        )
        return self.networks.CreateNetwork(request, timeout=TIMEOUT).network

    def bind(
        self,
        network_id: str,
        host: str,
        vnic_type: int = binding_pb2.VNIC_TYPE_NORMAL,
        profile: dict[str, Any] | None = None,
    ) -> port_pb2.Port:
        binding = binding_pb2.PortBinding(host_id=host, vnic_type=vnic_type)
        if profile is not None:
            binding.profile.CopyFrom(struct(profile))
        request = port_service_pb2.CreatePortRequest(
            port=port_pb2.Port(network_id=network_id, project_id="p", binding=binding)
        )
        return self.ports.CreatePort(request, timeout=TIMEOUT).port

    def rebind(self, port: port_pb2.Port, host: str) -> port_pb2.Port:
        request = port_service_pb2.UpdatePortRequest(
            port=port_pb2.Port(id=port.id, binding=binding_pb2.PortBinding(host_id=host)),
            update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"]),
        )
        return self.ports.UpdatePort(request, timeout=TIMEOUT).port


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    msg = struct_pb2.Struct()
    msg.update(value)
    return msg


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One stack per backend for the whole module: each test uses hosts of its own."""
    tmp = tmp_path_factory.mktemp(request.param)
    s = Stack(tmp / "logs")
    database = databases(request.param, tmp, request, ("typemgr", "mechmgr", "portapi"))
    db = next(database)
    listen = {"LISTEN": "127.0.0.1:0", "METRICS_PORT": "0"}
    drv = {f"MECHDRIVER_{k}": v for k, v in listen.items()}
    try:
        typemgr, *started = start_together(
            s.start,
            (
                "typemgr",
                "services.typemgr",
                {
                    **{f"TYPEMGR_{k}": v for k, v in listen.items()},
                    "TYPEMGR_DATABASE_URL": db["typemgr"],
                    "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
                    "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:199",
                },
            ),
            *((name, f"services.drivers.{name.replace('-', '_')}", drv) for name in DRIVERS),
        )
        drivers = dict(zip(DRIVERS, started, strict=True))
        mechmgr = s.start(
            "mechmgr",
            "services.mechmgr",
            {
                **{f"MECHMGR_{k}": v for k, v in listen.items()},
                "MECHMGR_DATABASE_URL": db["mechmgr"],
                "MECHMGR_TYPEMGR_ADDRESS": typemgr.address,
                "MECHMGR_MECHANISM_DRIVERS": ",".join(
                    f"{name}={drivers[name].address}" for name in DRIVERS
                ),
            },
        )
        portapi = s.start(
            "portapi",
            "services.portapi",
            {
                **{f"PORTAPI_{k}": v for k, v in listen.items()},
                "PORTAPI_DATABASE_URL": db["portapi"],
                "PORTAPI_TYPEMGR_ADDRESS": typemgr.address,
                "PORTAPI_MECHMGR_ADDRESS": mechmgr.address,
            },
        )
        s.mechmgr = mechmgr.address
        s.networks = network_service_pb2_grpc.NetworkServiceStub(s.channel(portapi))
        s.ports = port_service_pb2_grpc.PortServiceStub(s.channel(portapi))
        mechmgr_channel = s.channel(mechmgr)
        s.registry = agent_service_pb2_grpc.AgentServiceStub(mechmgr_channel)
        s.topology = topology_service_pb2_grpc.TopologyServiceStub(mechmgr_channel)
        s.manager = mechanism_manager_service_pb2_grpc.MechanismManagerServiceStub(mechmgr_channel)
        yield s
    finally:
        for agent in s.agents:
            agent.send_signal(signal.SIGTERM)
        for agent in s.agents:
            agent.wait(10)
        for channel in s.opened:
            channel.close()
        codes = stop_together(s.processes)
        next(database, None)
    assert codes == [0] * len(codes), [p.log_tail() for p in s.processes]


def verdicts(port: port_pb2.Port) -> list[tuple[int, str, int]]:
    return [(v.level, v.driver, v.outcome) for v in port.binding.trace]


def reason_of(port: port_pb2.Port, driver: str) -> binding_pb2.DeclineReason:
    [verdict] = [v for v in port.binding.trace if v.driver == driver and v.level == 0]
    [reason] = verdict.reasons
    return reason


def test_a_vxlan_port_on_a_linked_host_binds_through_the_sdn_controller_and_openvswitch(
    stack: Stack,
) -> None:
    linked_host, unlinked_host = unique("compute-1"), unique("compute-2")
    set_link = stack.ml2(
        "topology",
        "set",
        linked_host,
        "--switch-id",
        "52:54:00:aa:bb:cc",
        "--port-id",
        "Ethernet1/7",
        "--switch-info",
        "tor-1",
        "--physical-network",
        "physnet1",
    )
    assert set_link.returncode == 0, set_link.stderr
    listed = stack.ml2("topology", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [link] = [x for x in json.loads(listed.stdout) if x["host"] == linked_host]
    assert (link["host"], link["switch_id"], link["port_id"], link["physical_network"]) == (
        linked_host,
        "52:54:00:aa:bb:cc",
        "Ethernet1/7",
        "physnet1",
    )
    stack.simulated_ovs_agents(linked_host, unlinked_host)
    network = stack.network()
    [vxlan] = network.segments

    # Bound first, while the network has no dynamic segment: only its VXLAN is offered.
    unlinked = stack.bind(network.id, unlinked_host)
    port = stack.bind(network.id, linked_host)

    assert vxlan.network_type == "vxlan"
    assert (port.binding.state, port.binding.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "ovs")
    top, bottom = port.binding.levels
    assert (top.level, top.driver, top.segment.id) == (0, "sdn-controller", vxlan.id)
    assert (bottom.level, bottom.driver) == (1, "openvswitch")
    assert (bottom.segment.network_type, bottom.segment.physical_network) == ("vlan", "physnet1")
    assert bottom.segment.is_dynamic and 100 <= bottom.segment.segmentation_id <= 199
    assert verdicts(port) == [
        (0, "sdn-controller", binding_pb2.OUTCOME_CONTINUE),
        (1, "sdn-controller", binding_pb2.OUTCOME_DECLINE),
        (1, "openvswitch", binding_pb2.OUTCOME_COMPLETE),
    ]
    # Level 0 offers the network's dynamic VLAN too, after its VXLAN (as Neutron's since
    # LP#2144501): the unlinked host's agent maps physnet1, so it binds that VLAN directly.
    direct = stack.bind(network.id, unlinked_host)
    assert [(lv.level, lv.driver, lv.segment.id) for lv in direct.binding.levels] == [
        (0, "openvswitch", bottom.segment.id)
    ]
    assert stack.rebind(direct, "").binding.state == binding_pb2.BINDING_STATE_UNBOUND

    assert (unlinked.binding.state, unlinked.binding.vif_type) == (
        binding_pb2.BINDING_STATE_FAILED,
        "binding_failed",
    )
    reason = reason_of(unlinked, "sdn-controller")
    assert reason.code == "HOST_NOT_LINKED"
    assert dict(reason.details) == {"host": unlinked_host}
    assert f"ml2 topology set {unlinked_host}" in reason.message
    assert "HOST_NOT_LINKED" in unlinked.binding.failure_message
    checked = stack.manager.ResolveBindability(
        mechanism_manager_service_pb2.ResolveBindabilityRequest(
            network_id=network.id, hosts=[linked_host, unlinked_host], segments=[vxlan]
        ),
        timeout=TIMEOUT,
    )
    linked_check, unlinked_check = checked.hosts
    assert (linked_check.host_id, linked_check.bindable, linked_check.vif_type) == (
        linked_host,
        True,
        "ovs",
    )
    [need] = linked_check.dynamic_segments
    assert (need.driver, need.segment.network_type, need.segment.physical_network) == (
        "sdn-controller",
        "vlan",
        "physnet1",
    )
    assert not unlinked_check.bindable and "HOST_NOT_LINKED" in unlinked_check.reason

    deleted = stack.ml2("topology", "delete", linked_host)
    assert deleted.returncode == 0, deleted.stderr
    assert f"deleted the link of host {linked_host}" in deleted.stdout
    # Unbound, the first port releases the dynamic VLAN, which level 0 would offer otherwise.
    assert stack.rebind(port, "").binding.state == binding_pb2.BINDING_STATE_UNBOUND
    again = stack.rebind(stack.bind(network.id, ""), linked_host)

    assert again.binding.state == binding_pb2.BINDING_STATE_FAILED
    assert reason_of(again, "sdn-controller").code == "HOST_NOT_LINKED"
    # mechmgr keeps each host's check answer for a few seconds, keyed by its agents and its
    # links: the deleted link shows in the very next check.
    rechecked = stack.manager.ResolveBindability(
        mechanism_manager_service_pb2.ResolveBindabilityRequest(
            network_id=network.id, hosts=[linked_host], segments=[vxlan]
        ),
        timeout=TIMEOUT,
    )
    assert not rechecked.hosts[0].bindable and "HOST_NOT_LINKED" in rechecked.hosts[0].reason


def test_a_bare_metal_port_with_local_link_information_binds_with_vif_type_other(
    stack: Stack,
) -> None:
    node = unique("node-1")
    vlan = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
    network = stack.network(vlan)
    links = [{"switch_id": "52:54:00:aa:bb:cc", "port_id": "Ethernet1/9", "switch_info": "tor-1"}]

    port = stack.bind(
        network.id, node, binding_pb2.VNIC_TYPE_BAREMETAL, {"local_link_information": links}
    )
    missing = stack.bind(network.id, unique("node-2"), binding_pb2.VNIC_TYPE_BAREMETAL)

    assert (port.binding.state, port.binding.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "other")
    assert dict(port.binding.vif_details)["connectivity"] == "l2"
    [level] = port.binding.levels
    assert (level.driver, level.segment.id) == ("baremetal", network.segments[0].id)
    assert missing.binding.state == binding_pb2.BINDING_STATE_FAILED
    assert reason_of(missing, "baremetal").code == "HOST_NOT_LINKED"


def test_a_bare_metal_node_on_a_vxlan_network_binds_the_vlan_of_its_switch_link(
    stack: Stack,
) -> None:
    node = unique("node-1")
    link = topology_pb2.HostLink(
        host=node, switch_id="sw-9", port_id="Ethernet1/9", physical_network="physnet1"
    )
    stack.topology.SetHostLink(topology_service_pb2.SetHostLinkRequest(link=link), timeout=TIMEOUT)
    network = stack.network()

    port = stack.bind(network.id, node, binding_pb2.VNIC_TYPE_BAREMETAL)

    assert (port.binding.state, port.binding.vif_type) == (binding_pb2.BINDING_STATE_BOUND, "other")
    top, bottom = port.binding.levels
    assert (top.driver, bottom.driver) == ("sdn-controller", "baremetal")
    assert (bottom.segment.network_type, bottom.segment.physical_network) == ("vlan", "physnet1")


def test_a_bad_link_is_refused_naming_the_field_and_stores_nothing(stack: Stack) -> None:
    host = unique("compute-1")
    bad = stack.ml2("topology", "set", host, "--switch-id", "a b", "--port-id", "Ethernet1/7")
    missing = stack.ml2("topology", "delete", host)
    listed = stack.ml2("topology", "list", "--json")

    assert bad.returncode == 1
    assert "INVALID_ARGUMENT: link.switch_id: must not contain spaces" in bad.stderr
    assert missing.returncode == 1 and "NOT_FOUND" in missing.stderr
    assert listed.returncode == 0, listed.stderr
    assert [x for x in json.loads(listed.stdout) if x["host"] == host] == []
    with pytest.raises(grpc.RpcError) as refused:
        stack.topology.SetHostLink(
            topology_service_pb2.SetHostLinkRequest(
                link=topology_pb2.HostLink(host=host, switch_id="sw", port_id="")
            ),
            timeout=TIMEOUT,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "link.port_id" in (refused.value.details() or "")


def test_list_host_links_pages_in_host_order_and_refuses_bad_input_naming_the_field(
    stack: Stack,
) -> None:
    """The stack is shared with other tests' links: pages of two are read to the end, in host
    order, and this test's three hosts come in their order among them."""
    prefix = unique("host")
    mine = [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    for host in (mine[2], mine[0], mine[1]):
        link = topology_pb2.HostLink(host=host, switch_id="sw-1", port_id=f"Ethernet1/{host}")
        stack.topology.SetHostLink(
            topology_service_pb2.SetHostLinkRequest(link=link), timeout=TIMEOUT
        )
    pages = [
        stack.topology.ListHostLinks(
            topology_service_pb2.ListHostLinksRequest(page_size=2), timeout=TIMEOUT
        )
    ]
    while pages[-1].next_page_token:
        assert len(pages) < 1000, "ListHostLinks pages do not end"
        pages.append(
            stack.topology.ListHostLinks(
                topology_service_pb2.ListHostLinksRequest(
                    page_size=2, page_token=pages[-1].next_page_token
                ),
                timeout=TIMEOUT,
            )
        )
    first = pages[0]
    paged = [x.host for page in pages for x in page.links]

    assert len(pages) >= 2 and first.next_page_token
    assert all(len(page.links) == 2 for page in pages[:-1]), [len(p.links) for p in pages]
    assert 1 <= len(pages[-1].links) <= 2 and not pages[-1].next_page_token
    assert paged == sorted(set(paged))
    assert [host for host in paged if host.startswith(prefix)] == mine
    refusals = [
        (
            stack.topology.ListHostLinks,
            topology_service_pb2.ListHostLinksRequest(host="a b"),
            "host",
        ),
        (
            stack.topology.ListHostLinks,
            topology_service_pb2.ListHostLinksRequest(page_size=-1),
            "page_size",
        ),
        (
            stack.topology.ListHostLinks,
            topology_service_pb2.ListHostLinksRequest(
                host=mine[0], page_token=first.next_page_token
            ),
            "page_token",
        ),
        (stack.topology.DeleteHostLink, topology_service_pb2.DeleteHostLinkRequest(), "host"),
        (stack.topology.SetHostLink, topology_service_pb2.SetHostLinkRequest(), "link"),
    ]
    for method, request, field_name in refusals:
        with pytest.raises(grpc.RpcError) as refused:
            method(request, timeout=TIMEOUT)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert (refused.value.details() or "").startswith(f"{field_name}:"), request
    listed = stack.topology.ListHostLinks(
        topology_service_pb2.ListHostLinksRequest(page_size=len(paged) + 10), timeout=5
    )
    assert [x.host for x in listed.links] == paged
    assert [x.host for x in listed.links if x.host.startswith(prefix)] == mine
