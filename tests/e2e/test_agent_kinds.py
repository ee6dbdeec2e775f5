"""Simulated agents of every kind register their own capabilities with a real mechmgr, and the
command line shows them: SR-IOV device mappings, Hyper-V virtual switch mappings, macvtap
interface mappings, an Open vSwitch SmartNIC agent's flags."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import AgentProcess, running_up, wait_for

KINDS = [
    ("sriov", "compute-sriov", ("--device-mappings", "physnet1:ens1f0,physnet1:ens1f1")),
    ("hyperv", "compute-hyperv", ("--vswitch-mappings", "physnet.*:external")),
    ("macvtap", "compute-macvtap", ("--interface-mappings", "physnet1:eth1")),
    (
        "openvswitch",
        "smartnic-1",
        ("--bridge-mappings", "physnet1:br-eth1", "--baremetal-smartnic"),
    ),
]


def test_every_kind_of_agent_registers_its_own_capabilities(
    tmp_path: Path, agents: list[AgentProcess]
) -> None:
    with running_up(tmp_path, "--mechanism-drivers", "openvswitch") as up:
        for kind, host, extra in KINDS:
            agents.append(AgentProcess(up.mechmgr, kind, host, *extra, log=tmp_path / host))

        def registered() -> dict[str, dict] | None:
            listed = up.ml2("agent", "list", "--json")
            rows = {row["host"]: row for row in listed.json()} if listed.code == 0 else {}
            return rows if len(rows) == len(KINDS) else None

        rows = wait_for(registered, timeout=30)
        caps = {host: rows[host]["capabilities"] for _, host, _ in KINDS}
        assert rows["compute-sriov"]["agent_type"] == "sriov"
        assert caps["compute-sriov"]["device_mappings"] == {
            "physnet1": {"devices": ["ens1f0", "ens1f1"]}
        }
        assert caps["compute-hyperv"]["vswitch_mappings"] == {"physnet.*": "external"}
        assert caps["compute-macvtap"]["interface_mappings"] == {"physnet1": "eth1"}
        assert caps["smartnic-1"]["baremetal_smartnic"] is True
        shown = up.ml2("agent", "show", "--host", "compute-sriov")
        assert "device_mappings:" in shown.out and "physnet1:ens1f0;ens1f1" in shown.out
