"""``ml2 up`` as a real process: clean stop on SIGTERM, refusal of a taken port, a dying child."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

from tests.e2e.conftest import ML2, child_env, pid_running, run_ml2, start_up, wait_for

ZERO_PORTS = [
    f"--{name}-{kind}"
    for name in ("portapi", "typemgr", "mechmgr", "openvswitch", "linuxbridge")
    for kind in ("port", "metrics-port")
]
DRIVERS = (
    "sdn-controller",
    "openvswitch",
    "linuxbridge",
    "hyperv",
    "sriov",
    "macvtap",
    "baremetal",
)
PROCESSES = {"typemgr", *(f"mechdriver-{d}" for d in DRIVERS), "mechmgr", "portapi"}


def test_sigterm_stops_every_process_in_reverse_order(tmp_path: Path) -> None:
    up = start_up(tmp_path)
    assert set(up.pids) == PROCESSES
    assert all(pid_running(pid) for pid in up.pids.values())
    for name in ("typemgr", "mechmgr", "portapi"):
        assert (up.data_dir / f"{name}.db").exists()
        assert (up.data_dir / "logs" / f"{name}.log").exists()
    assert "/metrics" in up.out()
    health = run_ml2("driver", "list", "--mechmgr", up.mechmgr, "--json")
    assert health.code == 0

    assert up.stop() == 0, up.err()
    assert not [name for name, pid in up.pids.items() if pid_running(pid)]
    stopped = [line.split()[1] for line in up.out().splitlines() if line.startswith("  stopped ")]
    assert stopped == ["portapi", "mechmgr", *reversed(DRIVERS), "typemgr"]


def test_a_taken_port_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_ml2(
            "up",
            "--data-dir",
            str(tmp_path / "data"),
            *free_everywhere(),
            "--mechmgr-port",
            str(port),
            timeout=30,
        )
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert f"port {port}" in result.err and "mechmgr" in result.err and "in use" in result.err
    assert not (tmp_path / "data" / "logs").exists()


def test_a_dying_process_stops_the_others_and_is_named(tmp_path: Path) -> None:
    up = start_up(tmp_path)
    os.kill(up.pids["mechmgr"], signal.SIGKILL)
    code = up.process.wait(30)
    assert code != 0
    assert "mechmgr" in up.err() and "exited with status -9" in up.err()
    others = {name: pid for name, pid in up.pids.items() if name != "mechmgr"}
    assert wait_for(lambda: not any(pid_running(pid) for pid in others.values()), 10)


def test_a_bad_setting_fails_the_start_with_the_services_reason(tmp_path: Path) -> None:
    result = run_ml2(
        "up",
        "--data-dir",
        str(tmp_path / "data"),
        "--network-vlan-ranges",
        "physnet1:0:10",
        "--free-ports",
        timeout=60,
    )
    assert result.code == 1
    assert "TYPEMGR_NETWORK_VLAN_RANGES" in result.err


def free_everywhere() -> list[str]:
    """Flags that let every process pick a free port, so no developer's stack is in the way."""
    return [arg for flag in ZERO_PORTS for arg in (flag, "0")]


def test_free_ports_prints_the_client_environment_and_tunnel_ranges_have_flags(
    tmp_path: Path,
) -> None:
    out_path, err_path = tmp_path / "up.out", tmp_path / "up.err"
    argv = ["up", "--data-dir", str(tmp_path / "data"), "--free-ports"]
    argv += ["--geneve-vni-ranges", "500:509", "--gre-tunnel-id-ranges", "70000:70001"]
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(
            [*ML2, *argv], stdout=out, stderr=err, env=child_env(), stdin=subprocess.DEVNULL
        )
    try:
        started = wait_for(
            lambda: "ML2_TYPEMGR_ADDRESS=" in out_path.read_text() or process.poll() is not None,
            90,
        )
        assert started and process.poll() is None, out_path.read_text() + err_path.read_text()
        printed = dict(re.findall(r"^\s+export (ML2_\w+)=(\S+)$", out_path.read_text(), re.M))
        assert set(printed) == {
            "ML2_PORTAPI_ADDRESS",
            "ML2_MECHMGR_ADDRESS",
            "ML2_TYPEMGR_ADDRESS",
            "ML2_TOKEN_FILE",
        }
        assert printed["ML2_TOKEN_FILE"] == str(
            (tmp_path / "data/auth/tokens/admin.token").resolve()
        )
        assert not any(a.endswith((":50050", ":50051", ":50052")) for a in printed.values())
        env_file = (tmp_path / "data" / "ml2.env").read_text()
        assert env_file == "".join(f"export {k}={v}\n" for k, v in printed.items())

        env = child_env(**printed)
        geneve = run_ml2(
            "network", "create", "g", "--provider-network-type", "geneve", "--json", env=env
        )
        assert geneve.code == 0, geneve.err
        assert 500 <= geneve.json()["segments"][0]["segmentation_id"] <= 509
        gre = run_ml2("network", "create", "r", "--provider-network-type", "gre", "--json", env=env)
        assert gre.code == 0 and gre.json()["segments"][0]["segmentation_id"] >= 70000
        ranges = run_ml2("range", "list", "--network-type", "geneve", "--json", env=env)
        assert [(r["minimum"], r["maximum"]) for r in ranges.json()] == [(500, 509)]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, err_path.read_text()
