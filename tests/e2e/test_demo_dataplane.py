"""``ml2 demo --dataplane`` as a user runs it: a real subprocess, on this machine's namespaces
and Open vSwitch; it removes everything it made, at the end and on Ctrl-C, and says plainly
what is missing when it cannot run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from pyroute2 import netns

from tests.e2e.conftest import ML2, child_env, pid_running, run_ml2, wait_for


def left_behind(out: str) -> list[str]:
    """What the demo's output names that still exists: namespaces of its lab, Open vSwitch
    directories, processes (the stack's and the agents')."""
    found = re.search(r"namespace (l[0-9a-f]{4})-ovs1", out)
    assert found, out
    prefix = found.group(1)
    left = [n for n in netns.listnetns() if n.startswith(f"{prefix}-")]
    left += [d for d in re.findall(r"Open vSwitch (/tmp/\S+)", out) if Path(d).exists()]
    pids = [int(p) for p in re.findall(r"\bpid (\d+)", out)]
    assert len(pids) >= 8, out  # 5 stack processes, 3 agents
    left += [f"pid {pid}" for pid in pids if pid_running(pid)]
    return left


def test_demo_dataplane_proves_the_scenario_and_leaves_nothing() -> None:
    result = run_ml2("demo", "--dataplane", timeout=300)
    out = result.out
    assert result.code == 0, f"{out}\n{result.err}"
    assert re.search(r"vx-lb1 +on \S+: bound by linuxbridge, vif_type bridge", out), out
    assert re.search(r"vx-ovs1 +on \S+: bound by openvswitch, vif_type ovs", out), out
    assert re.search(r"vx-ovs1 -> vx-lb1 \(10\.10\.1\.3\): 3/3 received, 0% loss", out), out
    assert re.search(r"fl-ovs2 -> fl-lb1 \(10\.10\.2\.3\): 3/3 received, 0% loss", out), out
    assert re.search(r"re-ovs1 -> bl-ovs2 \(10\.10\.3\.4\): 0/2 received, 100% loss", out), out
    assert "linuxbridge: NETWORK_TYPE_UNSUPPORTED_BY_AGENT" in out
    assert re.search(r"bl-ovs2 +DOWN [\d.]+ s after the kill: agent \S+ on host \S+ is dead", out)
    assert re.search(r"bl-ovs2 +ACTIVE [\d.]+ s after the restart", out)
    held = re.search(r"expectations: (\d+) of (\d+) held", out)
    assert held and held.group(1) == held.group(2), out
    assert "Every expectation held." in out
    assert "fork_posix" not in result.err, result.err
    data_dir = re.search(r"Starting a fresh stack in (\S+)", out)
    assert data_dir and not Path(data_dir.group(1)).exists()
    assert not left_behind(out)


def test_ctrl_c_removes_everything(tmp_path: Path) -> None:
    out_path = tmp_path / "demo.out"
    with open(out_path, "w") as out:
        demo = subprocess.Popen(
            [*ML2, "demo", "--dataplane"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            start_new_session=True,  # its own process group, as a terminal's job is
        )
    try:
        assert wait_for(lambda: "3. Creating the networks" in out_path.read_text(), 120), (
            out_path.read_text()
        )
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C does: the whole group gets it
        code = demo.wait(60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    text = out_path.read_text()
    assert code == 130, text
    assert "Interrupted" in text
    data_dir = re.search(r"Starting a fresh stack in (\S+)", text)
    assert data_dir and not Path(data_dir.group(1)).exists()
    assert not left_behind(text)


def test_without_open_vswitch_it_says_what_is_missing_and_exits_2(tmp_path: Path) -> None:
    env = child_env(PATH=str(tmp_path))  # no program at all on PATH
    result = subprocess.run(
        [*ML2, "demo", "--dataplane"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot run on this machine" in result.stderr
    assert "ovs-vswitchd" in result.stderr
    assert "apt-get install openvswitch-switch" in result.stderr
    assert "apt-get install iputils-ping" in result.stderr
    assert result.stdout == ""


def test_keep_is_refused_with_dataplane() -> None:
    result = run_ml2("demo", "--dataplane", "--keep")
    assert result.code == 2
    assert "--keep: not with --dataplane" in result.err
