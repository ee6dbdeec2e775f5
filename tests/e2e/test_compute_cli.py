"""``ml2 compute plug|unplug`` as a subprocess against ``ml2 up``, plugging into a lab host.

The stack binds through openvswitch, linuxbridge and noop (which answers ``use_default`` for
one host); simulated agents stand for the hosts' agents, and the lab host's real Open vSwitch
and Linux bridges take the devices.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from ml2.v1 import port_service_pb2, port_service_pb2_grpc
from pyroute2 import netns

from services import lab as lab_harness
from services.compute import links, ovsdb, vif
from tests.e2e.conftest import (
    ML2,
    AgentProcess,
    Result,
    UpProcess,
    child_env,
    run_ml2,
    start_up,
    wait_for,
)

OVS_HOST = "cmp-ovs"
LB_HOST = "cmp-lb"
LOCAL_HOST = "cmp-local"
BARE_HOST = "cmp-bare"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    process = start_up(
        tmp_path_factory.mktemp("stack"),
        "--mechanism-drivers",
        "openvswitch,linuxbridge,noop",
        "--env",
        f"MECHDRIVER_NOOP_USE_DEFAULT_HOSTS={LOCAL_HOST}",
    )
    yield process
    assert process.stop() == 0, process.err()


@pytest.fixture
def node() -> Iterator[lab_harness.Host]:
    """A lab compute node with its own Open vSwitch and br-int; the instance namespaces the
    plugs create are removed with it."""
    with lab_harness.Lab() as harness:
        host = harness.host("cn")
        assert host.ovs is not None
        host.ovs.add_bridge("br-int")
        harness.defer(lambda: remove_namespaces(harness.prefix))
        yield host


def remove_namespaces(prefix: str) -> None:
    for name in netns.listnetns():
        if name.startswith(f"{prefix}-vm"):
            netns.remove(name)


def compute(
    up: UpProcess, node: lab_harness.Host, *args: str, env: dict[str, str] | None = None
) -> Result:
    assert node.ovs is not None
    return run_ml2(
        "compute",
        *args,
        "--portapi",
        up.portapi,
        "--ovsdb",
        node.ovs.db_endpoint,
        "--host-netns",
        node.namespace.name,
        env=env,
    )


def alive(up: UpProcess, host: str) -> bool:
    result = up.ml2("agent", "list", "--host", host, "--json")
    return result.code == 0 and any(a["alive"] for a in result.json())


def agent(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path, kind: str, host: str, *extra: str
) -> None:
    process = AgentProcess(up.mechmgr, kind, host, *extra, log=tmp_path / f"{host}.log")
    agents.append(process)
    assert wait_for(lambda: alive(up, host), 20), process.log.read_text()


@pytest.fixture(scope="module")
def network(up: UpProcess) -> dict:
    """One flat network on physnet1 for the module's ports."""
    created = up.ml2(
        "network",
        "create",
        "cmp-net",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "physnet1",
        "--json",
    )
    assert created.code == 0, created.err
    return created.json()


@pytest.fixture
def port(up: UpProcess, network: dict) -> dict:
    """A new, unbound port of the module's network."""
    created = up.ml2("port", "create", "--network", network["id"], "--json")
    assert created.code == 0, created.err
    return created.json()


def test_plug_binds_to_the_host_plugs_into_ovs_and_reports_each_step_then_unplug_reverses(
    up: UpProcess,
    node: lab_harness.Host,
    port: dict,
    agents: list[AgentProcess],
    tmp_path: Path,
) -> None:
    agent(up, agents, tmp_path, "openvswitch", OVS_HOST, "--bridge-mappings", "physnet1:br-phy")
    instance = f"{node.lab.prefix}-vm1"

    plugged = compute(
        up,
        node,
        "plug",
        port["id"],
        "--instance",
        instance,
        "--host",
        OVS_HOST,
        "--no-wait",
        "--output",
        "json",
    )

    assert plugged.code == 0, plugged.err
    out = plugged.json()
    assert (out["host_id"], out["host_source"]) == (OVS_HOST, "--host")
    assert (out["vif_type"], out["vif_source"], out["default_reason"]) == ("ovs", "binding", "")
    assert [s["name"] for s in out["steps"]] == ["bind", "plug"]
    assert all(s["seconds"] >= 0 for s in out["steps"])
    assert out["instance"] == {
        "id": instance,
        "netns": instance,
        "device": "eth0",
        "netns_created": True,
    }
    shown = up.ml2("port", "show", port["id"], "--json").json()
    assert (shown["binding"]["host_id"], shown["device_id"], shown["device_owner"]) == (
        OVS_HOST,
        instance,
        "compute:nova",
    )
    tap = vif.tap_name(port["id"])
    with ovsdb.Ovsdb(node.ovs.db_endpoint) as db:
        row = db.interface(tap)
    assert row is not None and row.bridge == "br-int"
    assert row.external_ids["iface-id"] == port["id"]
    with links.Links(instance) as inside:
        nic = inside.info("eth0")
    assert nic is not None and nic.mac_address == port["mac_address"]

    table = compute(up, node, "unplug", port["id"], "--host", OVS_HOST)

    assert table.code == 0, table.err
    assert f"removed port {tap} from Open vSwitch bridge br-int" in table.out
    assert f"unbound from host {OVS_HOST}" in table.out
    assert "STEP" in table.out and "unbind" in table.out
    with ovsdb.Ovsdb(node.ovs.db_endpoint) as db:
        assert db.interface(tap) is None
    assert up.ml2("port", "show", port["id"], "--json").json()["binding"]["host_id"] == ""


def test_a_linux_bridge_host_gets_its_tap_on_the_networks_bridge(
    up: UpProcess,
    node: lab_harness.Host,
    port: dict,
    agents: list[AgentProcess],
    tmp_path: Path,
) -> None:
    agent(up, agents, tmp_path, "linuxbridge", LB_HOST, "--interface-mappings", "physnet1:eth1")

    plugged = compute(
        up,
        node,
        "plug",
        port["id"],
        "--instance",
        f"{node.lab.prefix}-vm2",
        "--host",
        LB_HOST,
        "--no-wait",
    )

    assert plugged.code == 0, plugged.err
    assert "vif_type:" in plugged.out and "bridge" in plugged.out
    assert "vif from:     the binding" in plugged.out
    bridge = vif.network_bridge_name(port["network_id"])
    with links.Links(node.namespace.name) as host_links:
        assert host_links.enslaved(bridge) == [vif.tap_name(port["id"])]


def test_binding_failed_exits_3_with_every_drivers_reasons(
    up: UpProcess, node: lab_harness.Host, port: dict
) -> None:

    result = compute(
        up, node, "plug", port["id"], "--instance", f"{node.lab.prefix}-vm3", "--host", BARE_HOST
    )

    assert result.code == 3, result.err
    assert f"is binding_failed on host {BARE_HOST}" in result.err
    assert "driver verdicts:" in result.err
    for driver, code in [
        ("openvswitch", "NO_AGENT"),
        ("linuxbridge", "NO_AGENT"),
        ("noop", "HOST_NOT_SERVED"),
    ]:
        assert driver in result.err and code in result.err
    assert not links.netns_exists(f"{node.lab.prefix}-vm3")


def test_use_default_plugs_the_configured_default_vif_and_says_so(
    up: UpProcess, node: lab_harness.Host, port: dict, tmp_path: Path
) -> None:
    config = tmp_path / "compute.toml"
    config.write_text(
        f'host = "{LOCAL_HOST}"\n'
        "[default_vif]\n"
        'vif_type = "ovs"\n'
        "[default_vif.vif_details]\n"
        'bridge_name = "br-int"\n'
        "ovs_hybrid_plug = true\n"
    )

    result = compute(
        up,
        node,
        "plug",
        port["id"],
        "--instance",
        f"{node.lab.prefix}-vm4",
        "--no-wait",
        env=child_env(ML2_COMPUTE_CONFIG=str(config)),
    )

    assert result.code == 0, result.err
    assert f"host:         {LOCAL_HOST} (from config {config})" in result.out
    assert (
        "LOCAL DEFAULT: the binding's vif_type is use_default (noop leaves plugging" in result.out
    )
    assert "vif_type:     ovs (hybrid plug)" in result.out
    with ovsdb.Ovsdb(node.ovs.db_endpoint) as db:
        row = db.interface(vif.qvo_name(port["id"]))
    assert row is not None and row.external_ids["iface-id"] == port["id"]


def test_an_invalid_configuration_file_exits_2_naming_the_key(
    up: UpProcess, node: lab_harness.Host, tmp_path: Path
) -> None:
    config = tmp_path / "compute.toml"
    config.write_text('[default_vif]\nvif_type = "hw_veb"\n')

    result = compute(up, node, "unplug", "any", "--config", str(config))

    assert result.code == 2
    assert result.err.strip().splitlines() == [
        f"error: compute config {config}: default_vif.vif_type: 'hw_veb' must be one of the vif "
        "types this host plugs: ovs, bridge, vhostuser"
    ]


def test_unplug_of_a_port_bound_to_another_host_removes_the_devices_but_not_the_binding(
    up: UpProcess, node: lab_harness.Host, port: dict
) -> None:
    bound = up.ml2("port", "bind", port["id"], "--host", "elsewhere", "--json")
    assert bound.code == 3, bound.err  # no agent there: binding_failed, still bound there

    result = compute(up, node, "unplug", port["id"], "--host", OVS_HOST, "--json")

    assert result.code == 0, result.err
    out = result.json()
    assert out["unbound"] is False
    assert out["binding"] == f"left bound to host elsewhere: not this host ({OVS_HOST})"
    shown = up.ml2("port", "show", port["id"], "--json").json()
    assert shown["binding"]["host_id"] == "elsewhere"


def agent_id(up: UpProcess, host: str) -> str:
    found = up.ml2("agent", "list", "--host", host, "--json").json()
    return str(next(a["id"] for a in found if a["alive"]))


def report_up(up: UpProcess, host: str, agent: str, port_id: str, generation: int) -> list[int]:
    """Reports the port's device UP, as the host's L2 agent does once it has wired it."""
    channel = grpc.insecure_channel(up.portapi)
    try:
        stub = port_service_pb2_grpc.PortServiceStub(channel)
        reply = stub.ReportDeviceStatus(
            port_service_pb2.ReportDeviceStatusRequest(
                host_id=host,
                agent_id=agent,
                devices=[
                    port_service_pb2.DeviceReport(
                        port_id=port_id,
                        state=port_service_pb2.DEVICE_STATE_UP,
                        binding_generation=generation,
                    )
                ],
            ),
            timeout=10,
        )
        return [o.result for o in reply.outcomes]
    finally:
        channel.close()


def plug_in_background(
    up: UpProcess, node: lab_harness.Host, port_id: str, instance: str, host: str, *extra: str
) -> subprocess.Popen[str]:
    assert node.ovs is not None
    return subprocess.Popen(
        [
            *ML2,
            "compute",
            "plug",
            port_id,
            "--instance",
            instance,
            "--host",
            host,
            "--portapi",
            up.portapi,
            "--ovsdb",
            node.ovs.db_endpoint,
            "--host-netns",
            node.namespace.name,
            "--output",
            "json",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def test_plug_waits_until_the_agent_reports_the_device_up_and_times_each_step(
    up: UpProcess,
    node: lab_harness.Host,
    port: dict,
    agents: list[AgentProcess],
    tmp_path: Path,
) -> None:
    agent(up, agents, tmp_path, "openvswitch", OVS_HOST, "--bridge-mappings", "physnet1:br-phy")
    instance = f"{node.lab.prefix}-vm5"
    plug = plug_in_background(up, node, port["id"], instance, OVS_HOST, "--timeout", "60")
    tap = vif.tap_name(port["id"])

    def plugged() -> bool:
        with ovsdb.Ovsdb(node.ovs.db_endpoint) as db:  # type: ignore[union-attr]
            return db.interface(tap) is not None

    try:
        assert wait_for(plugged, 30), "the plug never added its tap"
        assert plug.poll() is None, "the plug must wait for ACTIVE"
        shown = up.ml2("port", "show", port["id"], "--json").json()
        outcome = report_up(
            up, OVS_HOST, agent_id(up, OVS_HOST), port["id"], int(shown["binding"]["generation"])
        )
        assert outcome == [port_service_pb2.DEVICE_REPORT_RESULT_APPLIED]
        out, err = plug.communicate(timeout=60)
    finally:
        if plug.poll() is None:
            plug.kill()
            plug.communicate()
    assert plug.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "ACTIVE"
    assert [s["name"] for s in result["steps"]] == ["bind", "plug", "active"]
    assert result["steps"][2]["result"] == "ACTIVE"


def test_plug_that_is_never_reported_up_times_out_naming_the_ports_status(
    up: UpProcess,
    node: lab_harness.Host,
    port: dict,
    agents: list[AgentProcess],
    tmp_path: Path,
) -> None:
    agent(up, agents, tmp_path, "openvswitch", OVS_HOST, "--bridge-mappings", "physnet1:br-phy")

    result = compute(
        up,
        node,
        "plug",
        port["id"],
        "--instance",
        f"{node.lab.prefix}-vm6",
        "--host",
        OVS_HOST,
        "--timeout",
        "2",
    )

    assert result.code == 4, result.err
    assert f"port {port['id']} is not ACTIVE after 2 s on host {OVS_HOST}: status " in result.err
    assert "active" in result.out and "timed out" in result.out


@contextlib.contextmanager
def real_agent(
    up: UpProcess, node: lab_harness.Host, kind: str, host: str, *extra: str, log: Path
) -> Iterator[None]:
    """Runs ``ml2 agent run --type KIND`` (not simulated) on the lab host until the block ends."""
    with open(log, "w") as fh:
        process = subprocess.Popen(
            [
                *ML2,
                "agent",
                "run",
                "--type",
                kind,
                "--host",
                host,
                *extra,
                "--mechmgr",
                up.mechmgr,
                "--portapi",
                up.portapi,
                "--netns",
                node.namespace.name,
                "--metrics-port",
                "0",
                "--log-format",
                "text",
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
    try:
        assert wait_for(lambda: alive(up, host), 30), log.read_text()
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_real_ovs_agent_wires_the_plugged_port_and_the_plug_sees_it_active(
    up: UpProcess, node: lab_harness.Host, port: dict, tmp_path: Path
) -> None:
    assert node.ovs is not None
    node.ovs.add_bridge("br-phy")
    host = f"{node.lab.prefix}-ovs"
    log = tmp_path / "agent.log"
    options = (
        "--bridge-mappings",
        "physnet1:br-phy",
        "--datapath-type",
        "netdev",
        "--ovsdb",
        node.ovs.db_endpoint,
        "--ovs-rundir",
        str(node.ovs.rundir),
    )
    with real_agent(up, node, "openvswitch", host, *options, log=log):
        result = compute(
            up,
            node,
            "plug",
            port["id"],
            "--instance",
            f"{node.lab.prefix}-vm7",
            "--host",
            host,
            "--timeout",
            "60",
            "--json",
        )

        assert result.code == 0, result.err + log.read_text()
        assert (result.json()["vif_type"], result.json()["status"]) == ("ovs", "ACTIVE")
        unplugged = compute(up, node, "unplug", port["id"], "--host", host)
        assert unplugged.code == 0, unplugged.err


def test_the_real_linux_bridge_agent_wires_the_plugged_tap_and_the_plug_sees_it_active(
    up: UpProcess, node: lab_harness.Host, port: dict, tmp_path: Path
) -> None:
    uplink = node.uplink(node.lab.switch("p1"))
    host = f"{node.lab.prefix}-lb"
    log = tmp_path / "agent.log"
    mappings = ("--interface-mappings", f"physnet1:{uplink}")
    with real_agent(up, node, "linuxbridge", host, *mappings, log=log):
        result = compute(
            up,
            node,
            "plug",
            port["id"],
            "--instance",
            f"{node.lab.prefix}-vm8",
            "--host",
            host,
            "--timeout",
            "60",
            "--json",
        )

        assert result.code == 0, result.err + log.read_text()
        assert (result.json()["vif_type"], result.json()["status"]) == ("bridge", "ACTIVE")
        bridge = vif.network_bridge_name(port["network_id"])
        with links.Links(node.namespace.name) as host_links:
            assert set(host_links.enslaved(bridge)) == {uplink, vif.tap_name(port["id"])}
