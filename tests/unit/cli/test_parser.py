"""Parsing of the ``ml2`` command line: commands, defaults, and refusals of bad usage."""

from __future__ import annotations

import argparse
import importlib

import pytest
from ml2.v1 import binding_pb2

from services.cli import client, config, main, networks, ports


def parse(*argv: str) -> argparse.Namespace:
    return main.build_parser().parse_args(list(argv))


def test_client_commands_default_to_the_ml2_up_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML2_PORTAPI_ADDRESS", raising=False)
    monkeypatch.delenv("ML2_MECHMGR_ADDRESS", raising=False)
    args = parse("network", "list")
    assert (args.portapi, args.mechmgr, args.json) == ("127.0.0.1:50050", "127.0.0.1:50052", False)


def test_addresses_come_from_the_environment_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML2_PORTAPI_ADDRESS", "10.0.0.1:7000")
    monkeypatch.setenv("ML2_MECHMGR_ADDRESS", "10.0.0.1:7002")
    args = parse("agent", "list")
    assert (args.portapi, args.mechmgr) == ("10.0.0.1:7000", "10.0.0.1:7002")
    args = parse("port", "list", "--portapi", "h:1", "--json")
    assert args.portapi == "h:1" and args.json


def test_config_reads_a_given_environment() -> None:
    env = {"ML2_PORTAPI_ADDRESS": "a:1", "ML2_MECHMGR_ADDRESS": "b:2", "ML2_DATA_DIR": "/srv/d"}
    assert config.portapi_address(env) == "a:1"
    assert config.mechmgr_address(env) == "b:2"
    assert str(config.data_dir(env)) == "/srv/d"
    assert str(config.data_dir({})) == "data"


@pytest.mark.parametrize(
    ("argv", "func"),
    [
        (["network", "create", "n"], "create_network"),
        (["network", "list"], "list_networks"),
        (["network", "show", "n"], "show_network"),
        (["network", "delete", "n"], "delete_network"),
        (["port", "create", "--network", "n"], "create_port"),
        (["port", "bind", "p", "--host", "h"], "bind_port"),
        (["port", "unbind", "p"], "unbind_port"),
        (["port", "show", "p"], "show_port"),
        (["port", "list"], "list_ports"),
        (["port", "delete", "p"], "delete_port"),
        (["agent", "list"], "list_agents"),
        (["driver", "list"], "list_drivers"),
        (["driver", "check", "127.0.0.1:50061"], "run_check"),
        (["agent", "run", "--type", "openvswitch", "--simulate"], "run_agent"),
        (["up"], "run_up"),
        (["demo"], "run_demo"),
    ],
)
def test_every_command_reaches_its_handler(argv: list[str], func: str) -> None:
    assert parse(*argv).func.__name__ == func


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["network"],
        ["port", "create"],  # --network is required
        ["port", "bind", "p"],  # --host is required
        ["port", "bind", "p", "--host", "h", "--vnic-type", "fancy"],
        ["agent", "run"],  # --type is required
        ["agent", "run", "--type", "ovn"],
        ["network", "create", "n", "--provider-segmentation-id", "x"],
        ["up", "--portapi-port", "70000"],
        ["up", "--agent-down-time", "0"],
        ["up", "--mechanism-drivers", "openvswitch,bogus"],
        ["up", "--env", "NOEQUALS"],
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse(*argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_network_create_maps_provider_options_to_one_segment_spec() -> None:
    args = parse(
        "network",
        "create",
        "n",
        "--provider-network-type",
        "vlan",
        "--provider-physical-network",
        "physnet1",
        "--provider-segmentation-id",
        "101",
    )
    (spec,) = networks.provider_segments(args)
    assert (spec.network_type, spec.physical_network, spec.segmentation_id) == (
        "vlan",
        "physnet1",
        101,
    )
    assert spec.HasField("segmentation_id")


def test_network_create_without_provider_options_asks_for_a_tenant_segment() -> None:
    assert networks.provider_segments(parse("network", "create", "n")) == []


def test_provider_segmentation_id_zero_is_sent_not_dropped() -> None:
    args = parse(
        "network",
        "create",
        "n",
        "--provider-network-type",
        "vlan",
        "--provider-segmentation-id",
        "0",
    )
    (spec,) = networks.provider_segments(args)
    assert spec.HasField("segmentation_id") and spec.segmentation_id == 0


def test_provider_options_without_a_type_are_refused() -> None:
    args = parse("network", "create", "n", "--provider-physical-network", "physnet1")
    with pytest.raises(client.CommandError) as exc:
        networks.provider_segments(args)
    assert exc.value.exit_code == 2 and "--provider-network-type" in exc.value.message


def test_vnic_types_are_spelled_as_in_neutron() -> None:
    request = ports.bind_request("p1", "compute-1", "direct-physical")
    assert request.port.binding.vnic_type == binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL


def test_bind_request_sets_host_and_names_only_the_given_fields_in_the_mask() -> None:
    request = ports.bind_request("p1", "compute-1")
    assert request.port.id == "p1" and request.port.binding.host_id == "compute-1"
    assert list(request.update_mask.paths) == ["binding.host_id"]
    request = ports.bind_request("p1", "h", "direct", '{"pci_slot": "0000:05:00.1"}')
    assert list(request.update_mask.paths) == [
        "binding.host_id",
        "binding.vnic_type",
        "binding.profile",
    ]
    assert request.port.binding.vnic_type == binding_pb2.VNIC_TYPE_DIRECT
    assert request.port.binding.profile["pci_slot"] == "0000:05:00.1"


def test_unbind_sends_an_empty_host() -> None:
    request = ports.bind_request("p1", "")
    assert request.port.binding.host_id == "" and list(request.update_mask.paths) == [
        "binding.host_id"
    ]


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"x"'])
def test_profile_must_be_a_json_object(text: str) -> None:
    with pytest.raises(client.CommandError) as exc:
        ports.parse_profile(text)
    assert exc.value.exit_code == 2 and "--profile" in exc.value.message


def test_ids_and_names_are_told_apart() -> None:
    assert client.looks_like_id("0b5c3f9e-3d1b-4c43-9a55-2a3c4f0e8e01")
    assert not client.looks_like_id("demo-vlan")


def test_agent_run_host_defaults_to_the_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "compute-7")
    from services.agent import runner

    importlib.reload(runner)
    try:
        parser = argparse.ArgumentParser()
        runner.add_arguments(parser)
        assert parser.parse_args(["--type", "linuxbridge"]).host == "compute-7"
    finally:
        monkeypatch.undo()
        importlib.reload(runner)


def test_bad_usage_of_a_handler_prints_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main.run(["network", "create", "n", "--provider-physical-network", "p"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: --provider-network-type") and err.count("\n") == 1


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main.parse_args(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"ml2 {main.version()} (API ml2.v1)"
    assert main.version() != "unknown"


def test_client_options_may_come_before_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ML2_PORTAPI_ADDRESS", raising=False)
    args = main.parse_args(["--json", "--portapi", "h:1", "--timeout", "5", "port", "list"])
    assert (args.json, args.portapi, args.timeout, args.func.__name__) == (
        True,
        "h:1",
        5.0,
        "list_ports",
    )
    assert not any(name.startswith("global_") for name in vars(args))


def test_client_options_after_the_command_win() -> None:
    args = main.parse_args(["--portapi", "before:1", "network", "list", "--portapi", "after:2"])
    assert args.portapi == "after:2"
    args = main.parse_args(["--json", "db", "current"])
    assert args.json


def test_a_client_option_a_command_does_not_take_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main.parse_args(["--json", "up"])
    assert exc.value.code == 2
    assert "--json does not apply to `ml2 up`" in capsys.readouterr().err


def test_network_create_help_lists_every_network_type(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main.parse_args(["network", "create", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    described = text.split("--provider-network-type TYPE ")[-1].split(" --provider-physical")[0]
    assert "local, flat, vlan, gre, vxlan, geneve" in described
