"""Driver processes for the conformance kit's tests: the shipped drivers and the broken one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services import launcher

SHIPPED = {
    "openvswitch": ("services.drivers.openvswitch", {}),
    "openvswitch-create-tap": (
        "services.drivers.openvswitch",
        {"MECHDRIVER_OPENVSWITCH_CREATE_TAP": "true"},
    ),
    "linuxbridge": ("services.drivers.linuxbridge", {}),
    "sriov": ("services.drivers.sriov", {}),
    "sriov-no-direct": (
        "services.drivers.sriov",
        {"MECHDRIVER_SRIOV_VNIC_TYPE_PROHIBIT_LIST": "direct"},
    ),
    "macvtap": ("services.drivers.macvtap", {}),
    "hyperv": ("services.drivers.hyperv", {}),
    "noop": ("services.drivers.noop", {}),
    "sdn-controller": ("services.drivers.sdn_controller", {}),
    "baremetal": ("services.drivers.baremetal", {}),
    "noop-fabric": (
        "services.drivers.noop",
        {"MECHDRIVER_NOOP_NAME": "fabric", "MECHDRIVER_NOOP_MODE": "fabric"},
    ),
}

Start = Callable[[str, str, dict[str, str]], launcher.ServiceProcess]


@pytest.fixture
def start_driver(tmp_path: Path) -> Iterator[Start]:
    """Starts driver processes (``python -m module`` with ``env``) on a free port; stops them
    after the test, which fails if one does not exit cleanly."""
    started: list[launcher.ServiceProcess] = []

    def start(name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        full = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0", **env}
        proc = launcher.start(name, module, full, log_dir=tmp_path / "logs")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        assert proc.stop() == 0, proc.log_tail()
