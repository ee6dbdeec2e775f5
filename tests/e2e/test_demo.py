"""``ml2 demo`` as a real subprocess: the basic use case end to end."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.conftest import run_ml2


def test_demo_binds_ovs_bridge_and_fails_with_reasons() -> None:
    result = run_ml2("demo", timeout=120)
    out = result.out
    assert result.code == 0, f"{out}\n{result.err}"
    assert re.search(r"compute-ovs\s+port \S+\s+vif_type ovs\s+\(BOUND\)", out)
    assert re.search(r"compute-lb\s+port \S+\s+vif_type bridge\s+\(BOUND\)", out)
    assert re.search(r"compute-bare\s+port \S+\s+vif_type binding_failed\s+\(FAILED\)", out)
    for host, vif_type in [
        ("compute-hyperv", "hyperv"),
        ("compute-sriov", "hw_veb"),
        ("compute-macvtap", "macvtap"),
        ("lb-appliance-1", "other"),
        ("compute-tor", "ovs"),
    ]:
        assert re.search(rf"{host}\s+port \S+\s+vif_type {vif_type}\s+\(BOUND\)", out), host
    assert re.search(r"level 0: sdn-controller on vxlan \d+\n\s+level 1: openvswitch on vlan", out)
    assert "NO_AGENT: no openvswitch agent on host compute-bare" in out
    dead = re.search(r"agent (\S+) is dead after", out)
    assert dead, out
    assert re.search(rf"linuxbridge: AGENT_DEAD: .*{dead.group(1)}", out)
    assert "bridge_name=br-int" in out
    held = re.search(r"Expectations: (\d+) of (\d+) held", out)
    assert held and held.group(1) == held.group(2) and int(held.group(1)) >= 18
    assert "Every expectation held." in out
    data_dir = re.search(r"Starting a fresh stack in (\S+)", out)
    assert data_dir and not Path(data_dir.group(1)).exists()


def test_demo_keeps_its_data_dir_when_given_one(tmp_path: Path) -> None:
    result = run_ml2("demo", "--data-dir", str(tmp_path / "demo"), timeout=120)
    assert result.code == 0, result.out
    logs = tmp_path / "demo" / "logs"
    assert (logs / "portapi.log").exists()
    assert (logs / "agent-compute-ovs.log").exists() and (logs / "agent-compute-lb.log").exists()
