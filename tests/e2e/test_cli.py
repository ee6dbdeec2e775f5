"""``ml2 up`` in a subprocess, then every client command via subprocess with ``--json``."""

from __future__ import annotations

import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import AgentProcess, UpProcess, free_port, run_ml2, start_up, wait_for

DOWN_TIME = 3


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """One stack for the module: short agent down time so liveness tests finish quickly, and
    the two agent-based drivers the tests' expectations name (test_up checks the defaults)."""
    process = start_up(
        tmp_path_factory.mktemp("stack"),
        "--mechanism-drivers",
        "openvswitch,linuxbridge",
        "--agent-down-time",
        str(DOWN_TIME),
        "--heartbeat-interval",
        "1",
        auth=True,
    )
    yield process
    assert process.stop() == 0, process.err()


def alive_agent(up: UpProcess, host: str) -> dict | None:
    result = up.ml2("agent", "list", "--host", host, "--json")
    agents = result.json() if result.code == 0 else []
    return next((a for a in agents if a["alive"]), None)


def start_agent(
    up: UpProcess,
    agents: list[AgentProcess],
    tmp_path: Path,
    agent_type: str,
    host: str,
    *extra: str,
) -> dict:
    agent = AgentProcess(
        up.mechmgr, agent_type, host, *extra, log=tmp_path / f"{host}.log", data_dir=up.data_dir
    )
    agents.append(agent)
    found = wait_for(lambda: alive_agent(up, host), 20)
    assert found, f"agent on {host} never showed alive:\n{agent.log.read_text()}"
    return found


def vlan_network(up: UpProcess, name: str) -> dict:
    """Creates a VLAN network on physnet1 (typemgr picks its VLAN id); returns it as JSON."""
    created = up.ml2(
        "network",
        "create",
        name,
        "--provider-network-type",
        "vlan",
        "--provider-physical-network",
        "physnet1",
        "--json",
    )
    assert created.code == 0, created.err
    return created.json()


def test_network_create_list_show_delete(up: UpProcess) -> None:
    created = up.ml2(
        "network",
        "create",
        "e2e-net",
        "--provider-network-type",
        "vlan",
        "--provider-physical-network",
        "physnet1",
        "--provider-segmentation-id",
        "150",
        "--project",
        "p1",
        "--json",
    )
    assert created.code == 0, created.err
    net = created.json()
    assert net["name"] == "e2e-net" and net["project_id"] == "p1" and net["shared"] is False
    (segment,) = net["segments"]
    assert segment["network_type"] == "vlan" and segment["physical_network"] == "physnet1"
    assert segment["segmentation_id"] == 150

    listed = up.ml2("network", "list", "--json")
    assert listed.code == 0 and net["id"] in [n["id"] for n in listed.json()]
    by_name = up.ml2("network", "show", "e2e-net", "--json")
    by_id = up.ml2("network", "show", net["id"], "--json")
    assert by_name.json() == by_id.json() == net

    text = up.ml2("network", "list")
    assert text.out.splitlines()[0].split()[:3] == ["ID", "NAME", "PROJECT"]
    assert "vlan physnet1 150" in text.out

    deleted = up.ml2("network", "delete", net["id"], "--json")
    assert deleted.code == 0 and deleted.json()["id"] == net["id"]
    assert net["id"] not in [n["id"] for n in up.ml2("network", "list", "--json").json()]
    gone = up.ml2("network", "show", net["id"])
    assert gone.code == 1 and gone.err.startswith("error: NOT_FOUND: ")


def test_network_create_with_mtu_and_update(up: UpProcess) -> None:
    created = up.ml2("network", "create", "e2e-mtu", "--mtu", "1400", "--json")
    assert created.code == 0, created.err
    assert created.json()["mtu"] == 1400
    too_big = up.ml2("network", "create", "e2e-mtu-big", "--mtu", "1451")
    assert too_big.code == 1
    assert "network.mtu: Requested MTU is too big, maximum is 1450" in too_big.err
    assert "e2e-mtu-big" not in [n["name"] for n in up.ml2("network", "list", "--json").json()]
    updated = up.ml2(
        "network", "update", "e2e-mtu", "--name", "e2e-mtu2", "--disable", "--mtu", "0", "--json"
    )
    assert updated.code == 0, updated.err
    net = updated.json()
    assert (net["name"], net["admin_state"], net["mtu"]) == (
        "e2e-mtu2",
        "ADMIN_STATE_DOWN",
        1450,
    )
    refused = up.ml2("network", "update", "e2e-mtu2", "--mtu", "9000")
    assert refused.code == 1 and "maximum is 1450" in refused.err
    assert up.ml2("network", "show", "e2e-mtu2", "--json").json()["mtu"] == 1450
    nothing = up.ml2("network", "update", "e2e-mtu2")
    assert nothing.code == 2 and "nothing to update" in nothing.err
    assert up.ml2("network", "delete", "e2e-mtu2").code == 0


def test_network_segmentation_id_update_and_segment_add_remove(up: UpProcess) -> None:
    net = vlan_network(up, "e2e-segs")
    [first] = net["segments"]
    updated = up.ml2("network", "update", "e2e-segs", "--segmentation-id", "3901", "--json")
    assert updated.code == 0, updated.err
    [segment] = updated.json()["segments"]
    assert (segment["id"], segment["segmentation_id"]) == (first["id"], 3901)
    refused = up.ml2("network", "update", "e2e-segs", "--segmentation-id", "4095")
    assert refused.code == 1
    assert refused.err.startswith("error: INVALID_ARGUMENT: segmentation_id: VLAN id must be")
    added = up.ml2("network", "segment", "add", "e2e-segs", "--network-type", "vxlan", "--json")
    assert added.code == 0, added.err
    after = added.json()
    assert [s["network_type"] for s in after["segments"]] == ["vlan", "vxlan"]
    assert after["mtu"] == 1450
    two = up.ml2("network", "update", "e2e-segs", "--segmentation-id", "3902")
    assert two.code == 1 and "FAILED_PRECONDITION" in two.err and "2 static segments" in two.err
    vxlan_id = after["segments"][1]["id"]
    removed = up.ml2("network", "segment", "remove", "e2e-segs", vxlan_id, "--json")
    assert removed.code == 0, removed.err
    assert [s["id"] for s in removed.json()["segments"]] == [first["id"]]
    assert removed.json()["mtu"] == 1500
    last = up.ml2("network", "segment", "remove", "e2e-segs", first["id"])
    assert last.code == 1 and "last static segment" in last.err
    assert up.ml2("network", "delete", "e2e-segs").code == 0


def test_tenant_network_gets_a_vxlan_segment_from_the_default_range(up: UpProcess) -> None:
    net = up.ml2("network", "create", "e2e-tenant", "--json").json()
    (segment,) = net["segments"]
    assert segment["network_type"] == "vxlan" and 1000 <= segment["segmentation_id"] <= 1999
    assert up.ml2("network", "delete", "e2e-tenant").code == 0


def test_port_create_bind_show_list_unbind_delete(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    start_agent(
        up, agents, tmp_path, "openvswitch", "e2e-ovs", "--bridge-mappings", "physnet1:br-eth1"
    )
    net = vlan_network(up, "e2e-ports")

    created = up.ml2("port", "create", "--network", "e2e-ports", "--name", "vm1", "--json")
    assert created.code == 0, created.err
    port = created.json()
    assert port["network_id"] == net["id"] and port["status"] == "PORT_STATUS_DOWN"
    binding = port["binding"]
    assert binding["host_id"] == "" and binding["vif_type"] == "unbound"
    assert binding["state"] == "BINDING_STATE_UNBOUND"
    assert {"vif_details", "vnic_type", "profile"} <= set(binding)

    bound = up.ml2(
        "port", "bind", port["id"], "--host", "e2e-ovs", "--vnic-type", "normal", "--json"
    )
    assert bound.code == 0, bound.err
    b = bound.json()["binding"]
    assert (b["host_id"], b["vif_type"], b["state"]) == ("e2e-ovs", "ovs", "BINDING_STATE_BOUND")
    assert b["vnic_type"] == "VNIC_TYPE_NORMAL"
    assert b["vif_details"]["bridge_name"] == "br-int" and b["vif_details"]["connectivity"] == "l2"
    assert [lv["driver"] for lv in b["levels"]] == ["openvswitch"]
    assert b["levels"][0]["segment"]["id"] == net["segments"][0]["id"]

    shown = up.ml2("port", "show", "vm1", "--json")
    assert shown.json()["binding"]["vif_type"] == "ovs"
    listed = up.ml2("port", "list", "--network", net["id"], "--json").json()
    assert [p["id"] for p in listed] == [port["id"]]
    on_host = up.ml2("port", "list", "--host", "e2e-ovs", "--json").json()
    assert port["id"] in [p["id"] for p in on_host]

    text = up.ml2("port", "show", port["id"])
    assert "vif_type:     ovs" in text.out and "binding levels:" in text.out

    unbound = up.ml2("port", "unbind", port["id"], "--json").json()["binding"]
    assert (unbound["host_id"], unbound["vif_type"]) == ("", "unbound")

    deleted = up.ml2("port", "delete", port["id"], "--json")
    assert deleted.code == 0 and deleted.json()["id"] == port["id"]
    missing = up.ml2("port", "show", port["id"])
    assert missing.code == 1 and "NOT_FOUND" in missing.err
    assert up.ml2("network", "delete", net["id"]).code == 0


def test_port_on_a_host_without_agent_fails_with_every_drivers_reasons(up: UpProcess) -> None:
    net = vlan_network(up, "e2e-fail")
    created = up.ml2("port", "create", "--network", net["id"], "--host", "e2e-nowhere", "--json")
    assert created.code == 3, created.err
    b = created.json()["binding"]
    assert (b["vif_type"], b["state"]) == ("binding_failed", "BINDING_STATE_FAILED")
    assert b["failure_message"]
    assert {v["driver"] for v in b["trace"]} == {"openvswitch", "linuxbridge"}
    assert all(r["code"] == "NO_AGENT" for v in b["trace"] for r in v["reasons"])

    text = up.ml2("port", "show", created.json()["id"])
    assert "binding:      FAILED" in text.out
    assert "- NO_AGENT: " in text.out and "e2e-nowhere" in text.out
    assert up.ml2("port", "delete", created.json()["id"]).code == 0
    assert up.ml2("network", "delete", net["id"]).code == 0


def mechmgr_metrics(up: UpProcess) -> str:
    """mechmgr's /metrics, at the URL ``ml2 up`` printed for it."""
    found = re.search(r"^mechmgr\s+\S+\s+(http://\S+)", up.out(), re.M)
    assert found, up.out()
    with urllib.request.urlopen(found.group(1), timeout=10) as reply:
        return str(reply.read().decode())


def metric_value(text: str, sample: str) -> float:
    line = next((x for x in text.splitlines() if x.startswith(sample + " ")), None)
    return float(line.split()[-1]) if line else 0.0


def test_explain_names_the_unmapped_physical_network_and_the_missing_agent(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    host = "e2e-explain-physnet2"
    agent = start_agent(
        up, agents, tmp_path, "openvswitch", host, "--bridge-mappings", "physnet2:br-eth2"
    )
    failures = 'ml2_mechmgr_binding_failures_total{reason="PHYSNET_NOT_MAPPED"}'
    before = metric_value(mechmgr_metrics(up), failures)
    net = vlan_network(up, "e2e-explain-fail")
    vlan_id = net["segments"][0]["segmentation_id"]
    created = up.ml2("port", "create", "--network", net["id"], "--name", "e2e-why", "--host", host)
    assert created.code == 3, created.err

    explained = up.ml2("port", "explain", "e2e-why")

    assert explained.code == 0, explained.err
    port_id = up.ml2("port", "show", "e2e-why", "--json").json()["id"]
    assert explained.out.splitlines() == [
        f"port e2e-why [{port_id}] on host {host} (vnic normal): binding_failed",
        f"└─ level 0, segment vlan/physnet1/{vlan_id}",
        f"   ├─ openvswitch: declined PHYSNET_NOT_MAPPED — openvswitch agent {agent['id']} on "
        f"{host} has bridge_mappings physnet2:br-eth2, not physnet1",
        f"   └─ linuxbridge: declined NO_AGENT — no linuxbridge agent on {host}",
        f"To bind: map physnet1 on {host}'s openvswitch agent (bridge_mappings), "
        f"or start a linuxbridge agent on {host}.",
    ]
    data = up.ml2("port", "explain", port_id, "--json").json()
    (group,) = data["tree"]
    reason = group["verdicts"][0]["reasons"][0]
    assert (reason["code"], reason["facts"]["agent_id"]) == ("PHYSNET_NOT_MAPPED", agent["id"])
    assert reason["facts"]["alive"] == "alive"
    assert reason["facts"]["last_heartbeat"] != "-"
    assert group["segments"][0]["physical_network"] == "physnet1"
    # The API's trace carries the same facts: the agent as mechmgr saw it, the wanted segment.
    trace = up.ml2("port", "show", port_id, "--json").json()["binding"]["trace"]
    api_reason = trace[0]["reasons"][0]
    assert api_reason["agent"]["capabilities"]["bridge_mappings"] == {"physnet2": "br-eth2"}
    assert api_reason["segment"]["physical_network"] == "physnet1"
    assert [s["id"] for s in trace[0]["offered_segments"]] == [net["segments"][0]["id"]]
    # The failure is counted; portapi may have retried the port since (its agent, on a short
    # down time, may have missed a heartbeat and come back), and each retry counts again.
    assert metric_value(mechmgr_metrics(up), failures) >= before + 1
    assert up.ml2("port", "delete", port_id).code == 0
    assert up.ml2("network", "delete", net["id"]).code == 0


def test_explain_shows_the_level_driver_segment_and_vif_type_that_bound(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    host = "e2e-explain-ovs"
    start_agent(up, agents, tmp_path, "openvswitch", host, "--bridge-mappings", "physnet1:br-eth1")
    net = vlan_network(up, "e2e-explain-bound")
    vlan_id = net["segments"][0]["segmentation_id"]
    created = up.ml2("port", "create", "--network", net["id"], "--host", host, "--json")
    assert created.code == 0, created.err
    port_id = created.json()["id"]

    explained = up.ml2("port", "explain", port_id)

    assert explained.code == 0, explained.err
    assert explained.out.splitlines() == [
        f"port {port_id} on host {host} (vnic normal): bound, vif ovs",
        f"└─ level 0, segment vlan/physnet1/{vlan_id}",
        f"   └─ openvswitch: bound vlan/physnet1/{vlan_id}, vif ovs",
        f"Bound: level 0 openvswitch on vlan/physnet1/{vlan_id}; vif ovs.",
    ]
    assert up.ml2("port", "explain", port_id, "--json").json()["to_bind"] == ""
    assert up.ml2("port", "delete", port_id).code == 0
    assert up.ml2("network", "delete", net["id"]).code == 0


def test_profile_and_vnic_type_reach_the_binding(up: UpProcess) -> None:
    net = up.ml2("network", "create", "e2e-vnic", "--json").json()
    port = up.ml2("port", "create", "--network", net["id"], "--json").json()
    bound = up.ml2(
        "port",
        "bind",
        port["id"],
        "--host",
        "e2e-nowhere",
        "--vnic-type",
        "direct",
        "--profile",
        '{"pci_slot": "0000:05:00.1"}',
        "--json",
    ).json()["binding"]
    assert bound["vnic_type"] == "VNIC_TYPE_DIRECT"
    assert bound["profile"] == {"pci_slot": "0000:05:00.1"}
    assert bound["state"] == "BINDING_STATE_FAILED"
    assert up.ml2("port", "delete", port["id"]).code == 0
    assert up.ml2("network", "delete", net["id"]).code == 0


def test_stopped_agent_shows_dead_after_the_down_time(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    agent = start_agent(
        up,
        agents,
        tmp_path,
        "linuxbridge",
        "e2e-lb",
        "--interface-mappings",
        "physnet1:eth1",
    )
    assert agent["agent_type"] == "linuxbridge"
    assert agent["capabilities"]["interface_mappings"] == {"physnet1": "eth1"}
    assert agents[-1].stop() == 0

    def dead() -> dict | None:
        listed = up.ml2("agent", "list", "--host", "e2e-lb", "--json").json()
        return next((a for a in listed if a["id"] == agent["id"] and not a["alive"]), None)

    assert wait_for(dead, DOWN_TIME + 10), "the stopped agent never showed dead"
    text = up.ml2("agent", "list", "--host", "e2e-lb")
    assert text.out.splitlines()[1].split()[3] == "dead"
    log = agents[-1].log.read_text()
    assert "received SIGTERM" in log and "not deregistered" in log


def test_driver_list_shows_the_drivers_in_binding_order(up: UpProcess) -> None:
    drivers = up.ml2("driver", "list", "--json").json()
    assert [d["name"] for d in drivers] == ["openvswitch", "linuxbridge"]
    assert all(d["reachable"] for d in drivers)
    assert "ovs" in drivers[0]["vif_types"] and "bridge" in drivers[1]["vif_types"]
    assert [d["breaker_state"] for d in drivers] == ["BREAKER_STATE_CLOSED"] * 2
    text = up.ml2("driver", "list").out.splitlines()
    assert text[1].split()[:2] == ["0", "openvswitch"] and text[2].split()[:2] == [
        "1",
        "linuxbridge",
    ]
    assert text[0].split()[-1] == "BREAKER"
    assert text[1].split()[-1] == text[2].split()[-1] == "closed"


def test_bad_input_prints_the_code_and_the_rule(up: UpProcess) -> None:
    result = up.ml2(
        "network",
        "create",
        "bad",
        "--provider-network-type",
        "vlan",
        "--provider-physical-network",
        "physnet1",
        "--provider-segmentation-id",
        "4095",
    )
    assert result.code == 1 and result.out == ""
    assert result.err.startswith("error: INVALID_ARGUMENT: segments[0].segmentation_id")
    assert result.err.count("\n") == 1


def test_unreachable_server_names_the_address_and_ml2_up() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run_ml2("port", "list", "--portapi", address, "--timeout", "5")
    assert result.code == 1
    assert address in result.err and "ml2 up" in result.err and result.err.startswith("error: ")


def test_agent_run_without_open_vswitch_refuses(up: UpProcess, tmp_path: Path) -> None:
    result = run_ml2(
        "agent", "run", "--type", "openvswitch", "--mechmgr", up.mechmgr,
        "--ovsdb", str(tmp_path / "db.sock"), "--metrics-port", "0", timeout=60,
    )  # fmt: skip
    assert result.code == 1 and "cannot reach OVSDB" in result.err
    hosts = [a["host"] for a in up.ml2("agent", "list", "--json").json()]
    assert socket.gethostname() not in hosts


def test_an_ovs_dpdk_host_gets_vhostuser(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    start_agent(
        up,
        agents,
        tmp_path,
        "openvswitch",
        "e2e-dpdk",
        "--bridge-mappings",
        "physnet1:br-phy",
        "--datapath-type",
        "netdev",
        "--iface-types",
        "dpdkvhostuserclient",
        "--vhostuser-socket-dir",
        "/run/openvswitch",
    )
    net = up.ml2(
        "network",
        "create",
        "e2e-dpdk",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "physnet1",
        "--json",
    ).json()
    port = up.ml2("port", "create", "--network", net["id"], "--host", "e2e-dpdk", "--json").json()
    b = port["binding"]
    assert (b["vif_type"], b["state"]) == ("vhostuser", "BINDING_STATE_BOUND"), b
    assert b["vif_details"]["vhostuser_socket"].startswith("/run/openvswitch/")
    assert up.ml2("port", "delete", port["id"]).code == 0
    assert up.ml2("network", "delete", net["id"]).code == 0


def test_a_bind_that_ends_binding_failed_exits_3_and_still_prints_the_port(up: UpProcess) -> None:
    net = up.ml2("network", "create", "e2e-exit3", "--json").json()
    created = up.ml2("port", "create", "--network", net["id"], "--host", "e2e-none", "--json")
    assert created.code == 3
    port = created.json()
    assert port["binding"]["state"] == "BINDING_STATE_FAILED"
    assert created.err.count("\n") == 1
    assert f"port {port['id']} is binding_failed on host e2e-none" in created.err
    rebound = up.ml2("port", "bind", port["id"], "--host", "e2e-none-2")
    assert rebound.code == 3 and "vif_type:     binding_failed" in rebound.out
    unbound = up.ml2("port", "unbind", port["id"])
    assert unbound.code == 0 and unbound.err == ""
    plain = up.ml2("port", "create", "--network", net["id"], "--json")
    assert plain.code == 0 and plain.err == ""
    for ref in (port["id"], plain.json()["id"]):
        assert up.ml2("port", "delete", ref).code == 0
    assert up.ml2("network", "delete", net["id"]).code == 0


def test_agent_set_disables_and_enables_binding_through_an_agent(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    agent = start_agent(
        up, agents, tmp_path, "openvswitch", "e2e-admin", "--bridge-mappings", "physnet1:br-eth1"
    )
    net = vlan_network(up, "e2e-admin")
    disabled = up.ml2("agent", "set", "--host", "e2e-admin", "--disable", "--json")
    assert disabled.code == 0, disabled.err
    assert disabled.json()["id"] == agent["id"] and disabled.json()["admin_state_up"] is False
    listed = up.ml2("agent", "list", "--host", "e2e-admin").out.splitlines()
    assert listed[0].split()[4] == "ADMIN" and listed[1].split()[4] == "down"

    port = up.ml2("port", "create", "--network", net["id"], "--host", "e2e-admin", "--json")
    assert port.code == 3
    codes = {r["code"] for v in port.json()["binding"]["trace"] for r in v["reasons"]}
    assert "AGENT_ADMIN_DOWN" in codes

    enabled = up.ml2("agent", "set", agent["id"], "--enable")
    assert enabled.code == 0 and "admin_state_up:" in enabled.out
    bound = up.ml2("port", "bind", port.json()["id"], "--host", "e2e-admin", "--json")
    assert bound.code == 0 and bound.json()["binding"]["vif_type"] == "ovs"
    assert up.ml2("port", "delete", port.json()["id"]).code == 0
    assert up.ml2("network", "delete", net["id"]).code == 0


def test_agent_delete_removes_a_dead_agent_and_an_alive_one_registers_again(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    dead = start_agent(
        up, agents, tmp_path, "linuxbridge", "e2e-gone", "--interface-mappings", "physnet1:eth1"
    )
    assert agents[-1].stop() == 0
    assert wait_for(lambda: alive_agent(up, "e2e-gone") is None, DOWN_TIME + 10)
    deleted = up.ml2("agent", "delete", "--host", "e2e-gone", "--type", "linuxbridge")
    assert deleted.code == 0, deleted.err
    assert deleted.out.strip() == f"deleted linuxbridge agent {dead['id']} on host e2e-gone"
    assert up.ml2("agent", "list", "--host", "e2e-gone", "--json").json() == []
    again = up.ml2("agent", "delete", dead["id"])
    assert again.code == 1 and again.err.startswith("error: NOT_FOUND: ")

    alive = start_agent(
        up, agents, tmp_path, "openvswitch", "e2e-alive", "--bridge-mappings", "physnet1:br-eth1"
    )
    removed = up.ml2("agent", "delete", alive["id"], "--json")
    assert removed.code == 0 and removed.json()["id"] == alive["id"]
    back = wait_for(lambda: alive_agent(up, "e2e-alive"), 20)
    assert back and back["id"] != alive["id"], "a running agent registers again when deleted"


def test_naming_an_agent_by_host_needs_the_type_when_the_host_has_several(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    start_agent(up, agents, tmp_path, "openvswitch", "e2e-two", "--bridge-mappings", "p:br")
    agents.append(
        AgentProcess(
            up.mechmgr, "linuxbridge", "e2e-two", log=tmp_path / "lb.log", data_dir=up.data_dir
        )
    )
    assert wait_for(
        lambda: len(up.ml2("agent", "list", "--host", "e2e-two", "--json").json()) == 2, 20
    )
    ambiguous = up.ml2("agent", "show", "--host", "e2e-two")
    assert ambiguous.code == 1 and "has 2 agents" in ambiguous.err and "add --type" in ambiguous.err
    shown = up.ml2("agent", "show", "--host", "e2e-two", "--type", "linuxbridge", "--json")
    assert shown.code == 0 and shown.json()["agent_type"] == "linuxbridge"
    both = up.ml2("agent", "show", shown.json()["id"], "--host", "e2e-two")
    assert both.code == 2


def test_an_unknown_agent_type_filter_is_refused(up: UpProcess) -> None:
    result = up.ml2("agent", "list", "--type", "ovs")
    assert result.code == 2 and result.out == ""
    assert "unknown agent type 'ovs'" in result.err and "openvswitch" in result.err
    assert up.ml2("agent", "list", "--type", "linuxbridge", "--host", "e2e-nobody").code == 0


def test_client_options_before_the_command_and_version(up: UpProcess) -> None:
    result = run_ml2(
        "--json", "--portapi", up.portapi, "--token-file", str(up.admin_token), "network", "list"
    )
    assert result.code == 0, result.err
    assert isinstance(result.json(), list)
    version = run_ml2("--version")
    assert version.code == 0 and version.out.startswith("ml2 ")


def test_a_network_type_without_a_range_names_ml2_range_create(up: UpProcess) -> None:
    result = up.ml2("network", "create", "g", "--provider-network-type", "geneve")
    assert result.code == 1
    assert "`ml2 range create --network-type geneve" in result.err
    assert "TYPEMGR_GENEVE_VNI_RANGES" in result.err


def test_a_name_two_networks_share_is_refused_naming_both_and_tables_show_names(
    up: UpProcess,
) -> None:
    first = up.ml2("network", "create", "e2e-twin", "--json").json()
    second = up.ml2("network", "create", "e2e-twin", "--json").json()
    solo = up.ml2("network", "create", "e2e-solo", "--json").json()
    result = up.ml2("network", "show", "e2e-twin")
    assert result.code == 1
    assert "2 networks are named 'e2e-twin'" in result.err
    assert first["id"] in result.err and second["id"] in result.err

    ports = [
        up.ml2("port", "create", "--network", ref, "--name", name, "--json").json()
        for ref, name in ((solo["id"], "p-solo"), (first["id"], "p-twin"))
    ]
    rows = {line.split()[1]: line.split() for line in up.ml2("port", "list").out.splitlines()}
    assert rows["NAME"][2] == "NETWORK"
    assert rows["p-solo"][2] == "e2e-solo"
    assert rows["p-twin"][2] == first["id"]  # a shared name does not name the network
    for port in ports:
        assert up.ml2("port", "delete", port["id"]).code == 0
    for net in (first, second, solo):
        assert up.ml2("network", "delete", net["id"]).code == 0


def test_host_check_answers_per_host_without_creating_anything(
    up: UpProcess, agents: list[AgentProcess], tmp_path: Path
) -> None:
    start_agent(
        up, agents, tmp_path, "openvswitch", "e2e-check-ovs", "--bridge-mappings", "physnet1:br"
    )
    net = vlan_network(up, "e2e-check")

    mixed = up.ml2("host", "check", "e2e-check-ovs", "e2e-check-bare", "--network", "e2e-check")

    assert mixed.code == 3, mixed.err
    header, ovs, bare = mixed.out.splitlines()
    assert header.split() == ["HOST", "BINDABLE", "VIF_TYPE", "WHY_NOT"]
    assert ovs.split() == ["e2e-check-ovs", "yes", "ovs", "-"]
    assert bare.split()[:3] == ["e2e-check-bare", "NO", "-"]
    assert "openvswitch: NO_AGENT (no openvswitch agent on host e2e-check-bare)" in bare
    assert "1 of 2 hosts cannot bind" in mixed.err and "e2e-check-bare" in mixed.err

    answers = up.ml2("host", "check", "e2e-check-bare", "--network", net["id"], "--json").json()
    [answer] = answers
    assert (answer["host_id"], answer["bindable"], answer["vif_type"]) == (
        "e2e-check-bare",
        False,
        "",
    )
    assert answer["trace"][0]["driver"] == "openvswitch"

    assert up.ml2("host", "check", "e2e-check-ovs", "--network", "e2e-check").code == 0
    assert up.ml2("port", "list", "--network", net["id"], "--json").json() == []
    missing = up.ml2("host", "check", "e2e-check-ovs", "--network", "no-such-network")
    assert missing.code == 1 and "no-such-network" in missing.err
    bad = up.ml2("host", "check", "bad/host", "--network", "e2e-check")
    assert bad.code == 1 and "host_ids[0]" in bad.err
