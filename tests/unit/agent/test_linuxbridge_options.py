"""``ml2 agent run --type linuxbridge`` options become the Linux bridge dataplane's config."""

from __future__ import annotations

import argparse

import pytest

from services.agent import linuxbridge, runner, simulated
from services.agent.linuxbridge import dataplane, probe


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    return parser.parse_args(["--type", "linuxbridge", "--host", "h", *argv])


def test_mappings_vxlan_and_network_types_reach_the_dataplane() -> None:
    dp = linuxbridge.dataplane_from_args(
        parse(
            "--interface-mappings",
            "physnet1:eth1",
            "--tunnel-types",
            "vxlan",
            "--local-ip",
            "10.0.0.5",
            "--network-types",
            "flat,vxlan",
        )
    )
    assert dp.config.interface_mappings == {"physnet1": "eth1"}
    assert dp.config.local_ip == "10.0.0.5"
    assert dp.config.netns == ""
    assert dp.config.network_types == ("flat", "vxlan")
    assert runner.make_dataplane(parse()).agent_type == "linuxbridge"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bridge-mappings", "physnet1:br-eth1"], "--bridge-mappings: the Linux bridge agent"),
        (["--local-ip", "10.0.0.5"], "--local-ip: the Linux bridge agent uses it only for VXLAN"),
        (["--netns", "no-such-namespace-here"], "--netns: no network namespace"),
        (
            ["--interface-mappings", "physnet1:an-interface-too-long"],
            "--interface-mappings: 'physnet1':'an-interface-too-long' must map",
        ),
        (["--network-types", "flat,stt"], "--network-types: unknown network type 'stt'"),
    ],
)
def test_bad_options_name_the_option(argv: list[str], message: str) -> None:
    with pytest.raises(simulated.AgentConfigError) as err:
        linuxbridge.dataplane_from_args(parse(*argv))
    assert str(err.value).startswith(message)


def test_a_vlan_probe_that_cannot_run_leaves_vlan_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused() -> bool:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(probe, "vlan_devices_supported", refused)
    dp = dataplane.LinuxBridgeDataplane(dataplane.LinuxBridgeConfig())
    assert dp.capabilities().network_types == ("local", "flat")
