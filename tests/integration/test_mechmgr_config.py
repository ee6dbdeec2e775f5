"""mechmgr and the driver processes refuse bad configuration at start: a non-zero exit status
and one line that names the variable and the rule."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services import launcher


def run(module: str, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = launcher.python_path_env(
        {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("MECHMGR_", "MECHDRIVER_", "ML2_"))
            },
            "MECHMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
            "MECHMGR_LISTEN": "127.0.0.1:0",
            "MECHMGR_METRICS_PORT": "0",
            "MECHDRIVER_LISTEN": "127.0.0.1:0",
            "MECHDRIVER_METRICS_PORT": "0",
            "ML2_AUTH_DISABLED": "1",  # the configuration checked is the one after it
            **variables,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        (
            {"MECHMGR_MECHANISM_DRIVERS": "openvswitch"},
            "mechmgr: configuration error: MECHMGR_MECHANISM_DRIVERS: 'openvswitch' must be "
            "name=host:port",
        ),
        (
            {"MECHMGR_MECHANISM_DRIVERS": "ovs=127.0.0.1:50061,ovs=127.0.0.1:50062"},
            "mechmgr: configuration error: MECHMGR_MECHANISM_DRIVERS: driver 'ovs' is listed twice",
        ),
        (
            {"MECHMGR_MECHANISM_DRIVERS": ""},
            "mechmgr: configuration error: MECHMGR_MECHANISM_DRIVERS: at least one driver "
            "(name=host:port) is required",
        ),
        (
            {"MECHMGR_AGENT_DOWN_TIME_SECONDS": "10", "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": "6"},
            "mechmgr: configuration error: MECHMGR_HEARTBEAT_INTERVAL_SECONDS=6: must be at most "
            "half of MECHMGR_AGENT_DOWN_TIME_SECONDS=10",
        ),
        (
            {"MECHMGR_DRIVER_TIMEOUT_SECONDS": "-1"},
            "mechmgr: configuration error: MECHMGR_DRIVER_TIMEOUT_SECONDS=-1.0: "
            "must be more than 0",
        ),
        (
            {"MECHMGR_DRIVER_BREAKER_FAILURES": "0"},
            "mechmgr: configuration error: MECHMGR_DRIVER_BREAKER_FAILURES=0: must be at least 1",
        ),
    ],
)
def test_mechmgr_exits_2_with_one_line_on_bad_configuration(tmp_path, variables, line):
    result = run("services.mechmgr", tmp_path, **variables)

    assert result.returncode == 2
    assert result.stderr.strip() == line
    assert not (tmp_path / "never.db").exists()


def test_mechmgr_exits_with_one_line_when_the_database_cannot_be_reached(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    result = run(
        "services.mechmgr",
        tmp_path,
        MECHMGR_DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{port}/mechmgr",
    )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("mechmgr: cannot prepare the database: OperationalError")


@pytest.mark.parametrize(
    ("module", "variables", "line"),
    [
        (
            "services.drivers.noop",
            {"MECHDRIVER_NOOP_MODE": "mirror"},
            "mechdriver: configuration error: MECHDRIVER_NOOP_MODE='mirror': must be one of "
            "bind, fabric",
        ),
        (
            "services.drivers.openvswitch",
            {"MECHDRIVER_LISTEN": "50061"},
            "mechdriver: configuration error: MECHDRIVER_LISTEN='50061': must be host:port",
        ),
    ],
)
def test_driver_processes_exit_2_with_one_line_on_bad_configuration(
    tmp_path, module, variables, line
):
    result = run(module, tmp_path, **variables)

    assert result.returncode == 2
    assert result.stderr.strip() == line


def test_a_driver_whose_port_is_taken_exits_2_naming_the_address(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        address = f"127.0.0.1:{s.getsockname()[1]}"

        result = run("services.drivers.linuxbridge", tmp_path, MECHDRIVER_LISTEN=address)

    assert result.returncode == 2
    assert address in result.stderr.strip().splitlines()[-1]
