"""Failed bindings are retried without any port update when an agent of their host may now bind
them, for every agent type: an agent that registers, one that dies and comes back, one that
registers again with the mapping the network needs, one an operator enables again. Real
processes: ``ml2 up`` and simulated agents; ports that were not failed are left alone."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from ml2.v1 import binding_pb2, port_pb2, port_service_pb2, port_service_pb2_grpc

from services.rpc import channels
from tests.e2e.conftest import (
    AgentProcess,
    UpProcess,
    bind_port,
    create_vlan_network,
    decline_codes,
    running_up,
    start_live_agent,
    wait_for,
)

DRIVERS = ("--mechanism-drivers", "openvswitch,linuxbridge,sriov,hyperv")
FAST = ("--agent-check-interval", "0.2")
KINDS = [
    ("openvswitch", "compute-ovs", ("--bridge-mappings", "physnet1:br-eth1"), "ovs"),
    ("linuxbridge", "compute-lb", ("--interface-mappings", "physnet1:eth1"), "bridge"),
    ("sriov", "compute-sriov", ("--device-mappings", "physnet1:ens1f0"), "hw_veb"),
    ("hyperv", "compute-hyperv", ("--vswitch-mappings", "physnet1:external"), "hyperv"),
]


def get(ports: port_service_pb2_grpc.PortServiceStub, port_id: str) -> port_pb2.Port:
    return ports.GetPort(port_service_pb2.GetPortRequest(port_id=port_id), timeout=5).port


def wait_bound(
    ports: port_service_pb2_grpc.PortServiceStub, port: port_pb2.Port, vif_type: str
) -> port_pb2.Port:
    """Waits until the port is bound with ``vif_type``, with no update of ours; returns it."""
    found = wait_for(
        lambda: (p := get(ports, port.id)).binding.vif_type == vif_type and p, timeout=30
    )
    assert found, get(ports, port.id)
    assert found.binding.generation == port.binding.generation  # no new inputs: a retry
    return found


def metric(up: UpProcess, sample: str) -> float:
    """The value of one sample of portapi's /metrics."""
    [url] = re.findall(r"^portapi\s+\S+\s+(http://\S+)", up.out(), re.M)
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    found = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def agent_alive(up: UpProcess, host: str) -> bool | None:
    listed = up.ml2("agent", "list", "--host", host, "--json")
    if listed.code != 0 or not listed.json():
        return None
    return bool(listed.json()[0]["alive"])


def test_an_agent_of_each_type_registering_binds_the_failed_ports_of_its_host(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    with running_up(tmp_path, *DRIVERS, *FAST) as up, channels.make_channel(up.portapi) as ch:
        ports = port_service_pb2_grpc.PortServiceStub(ch)
        network = create_vlan_network(ch, "rebind")
        start_live_agent(
            up, agents, tmp_path, "openvswitch", "compute-up", "--bridge-mappings", "physnet1:br"
        )
        untouched = bind_port(ports, network.id, "compute-up")
        assert untouched.binding.vif_type == "ovs"
        nothing = bind_port(ports, network.id, "compute-nothing")
        failed = {}
        for kind, host, _, _ in KINDS:
            vnic = binding_pb2.VNIC_TYPE_DIRECT if kind == "sriov" else binding_pb2.VNIC_TYPE_NORMAL
            port = bind_port(ports, network.id, host, vnic)
            assert port.binding.vif_type == "binding_failed"
            assert (kind, "NO_AGENT") in decline_codes(port)
            failed[kind] = port

        for kind, host, options, _ in KINDS:
            agents.append(AgentProcess(up.mechmgr, kind, host, *options, log=tmp_path / host))
        for kind, _, _, vif_type in KINDS:
            bound = wait_bound(ports, failed[kind], vif_type)
            assert [level.driver for level in bound.binding.levels] == [kind]

        assert get(ports, untouched.id).binding == untouched.binding  # bound: never retried
        still = get(ports, nothing.id)  # no agent came: still failed, as it was
        assert still.binding.vif_type == "binding_failed" and still == nothing
        counted = metric(up, 'ml2_portapi_failed_port_rebinds_total{result="bound"}')
        assert counted == len(KINDS)


def test_an_agent_that_dies_and_comes_back_binds_what_failed_meanwhile(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    down = ("--agent-down-time", "3", "--heartbeat-interval", "1")
    with (
        running_up(tmp_path, *DRIVERS, *FAST, *down) as up,
        channels.make_channel(up.portapi) as ch,
    ):
        ports = port_service_pb2_grpc.PortServiceStub(ch)
        network = create_vlan_network(ch, "revive")
        mappings = ("--interface-mappings", "physnet1:eth1")
        agent = start_live_agent(up, agents, tmp_path, "linuxbridge", "compute-lb", *mappings)
        assert agent.stop() == 0
        assert wait_for(lambda: agent_alive(up, "compute-lb") is False, 30)
        port = bind_port(ports, network.id, "compute-lb")
        assert port.binding.vif_type == "binding_failed"
        assert ("linuxbridge", "AGENT_DEAD") in decline_codes(port)

        start_live_agent(up, agents, tmp_path, "linuxbridge", "compute-lb", *mappings)
        wait_bound(ports, port, "bridge")


def test_new_capabilities_or_enabling_an_agent_binds_what_failed(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    # A long down time: the agent restarted with new mappings stays alive throughout.
    slow = ("--agent-down-time", "60", "--heartbeat-interval", "1")
    with (
        running_up(tmp_path, *DRIVERS, *FAST, *slow) as up,
        channels.make_channel(up.portapi) as ch,
    ):
        ports = port_service_pb2_grpc.PortServiceStub(ch)
        network = create_vlan_network(ch, "capabilities")
        agent = start_live_agent(
            up, agents, tmp_path, "openvswitch", "compute-c", "--bridge-mappings", "physnet2:br-2"
        )
        port = bind_port(ports, network.id, "compute-c")
        assert port.binding.vif_type == "binding_failed"
        assert agent.stop() == 0
        agents.append(
            AgentProcess(
                up.mechmgr,
                "openvswitch",
                "compute-c",
                "--bridge-mappings",
                "physnet2:br-2,physnet1:br-eth1",
                log=tmp_path / "agent-c2.log",
            )
        )

        def mapped() -> bool:
            listed = up.ml2("agent", "list", "--host", "compute-c", "--json").json()
            return "physnet1" in listed[0]["capabilities"]["bridge_mappings"]

        assert wait_for(mapped, 30)
        assert agent_alive(up, "compute-c")  # it never died: the new mapping did it
        wait_bound(ports, port, "ovs")

        disabled = up.ml2("agent", "set", "--host", "compute-c", "--disable")
        assert disabled.code == 0, disabled.err
        second = bind_port(ports, network.id, "compute-c")
        assert ("openvswitch", "AGENT_ADMIN_DOWN") in decline_codes(second), second
        enabled = up.ml2("agent", "set", "--host", "compute-c", "--enable")
        assert enabled.code == 0, enabled.err
        wait_bound(ports, second, "ovs")
