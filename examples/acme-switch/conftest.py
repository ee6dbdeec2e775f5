"""Starts the driver as its own process, as it is deployed, and hands it to the conformance kit
(the SDK's pytest plugin): each of the kit's checks is a test of this suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["ml2_driver_sdk.conformance.pytest_plugin"]

TOPOLOGY = "compute-1=tor1/Eth1/1,compute-2=tor1/Eth1/2"


@pytest.fixture(scope="session")
def ml2_driver_address() -> Iterator[str]:
    """The address of a driver process started for the session (the kit's fixture)."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "ports.json"
        env = {
            **os.environ,
            "MECHDRIVER_LISTEN": "127.0.0.1:0",
            "MECHDRIVER_METRICS_PORT": "0",
            "ML2_PORT_FILE": str(port_file),
            "ACME_SWITCH_TOPOLOGY": TOPOLOGY,
            # The kit calls without a token: the driver serves openly (it refuses to start
            # without authentication settings otherwise).
            "ML2_AUTH_DISABLED": "1",
        }
        process = subprocess.Popen([sys.executable, "-m", "acme_switch"], env=env)
        try:
            yield f"127.0.0.1:{_grpc_port(process, port_file)}"
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0


def _grpc_port(process: subprocess.Popen[bytes], port_file: Path, timeout: float = 30) -> int:
    """Waits until the process wrote the port it listens on (or exited)."""
    deadline = time.monotonic() + timeout
    while not port_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"the driver exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the driver did not start serving in time")
        time.sleep(0.05)
    return int(json.loads(port_file.read_text())["grpc_port"])
