"""The compute configuration file, and which source wins for the host id and portapi."""

from __future__ import annotations

from pathlib import Path

import pytest
from ml2_contract import hosts

from services.agent import simulated
from services.compute import config

EXAMPLE = """
host = "compute-1"
portapi = "10.0.0.5:50050"
integration_bridge = "br-test"
ovsdb = "unix:/tmp/ovs/db.sock"
host_netns = "lab-compute-1"

[default_vif]
vif_type = "ovs"
[default_vif.vif_details]
bridge_name = "br-test"
ovs_hybrid_plug = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "compute.toml"
    path.write_text(text)
    return path


def test_the_example_file_is_read_whole(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, EXAMPLE))

    assert cfg.host == "compute-1"
    assert cfg.portapi == "10.0.0.5:50050"
    assert cfg.integration_bridge == "br-test"
    assert cfg.ovsdb == "unix:/tmp/ovs/db.sock"
    assert cfg.host_netns == "lab-compute-1"
    assert cfg.default_vif == config.DefaultVif(
        "ovs", {"bridge_name": "br-test", "ovs_hybrid_plug": False}
    )


def test_no_file_gives_every_default() -> None:
    cfg = config.load(None)

    assert cfg == config.ComputeConfig()
    assert cfg.integration_bridge == "br-int"
    assert cfg.default_vif is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hots = 'x'", "hots: unknown key; the keys are host, portapi"),
        ("host = 7", "host: must be a string, got int"),
        ("host = 'a b'", "host: 'a b' must be 1 to 255 non-blank characters"),
        ("portapi = 'localhost'", "portapi: 'localhost' must be HOST:PORT"),
        ("integration_bridge = 'br-much-too-long'", "integration_bridge: 'br-much-too-long'"),
        ("ovsdb = '/tmp/db.sock'", "ovsdb: '/tmp/db.sock' must be unix:/PATH"),
        ("host_netns = 'a/b'", "host_netns: 'a/b' is no netns name"),
        ("default_vif = 'ovs'", "default_vif: must be a table"),
        ("[default_vif]\nvif_details = {}", "default_vif.vif_type: required, a string"),
        (
            "[default_vif]\nvif_type = 'hw_veb'",
            "default_vif.vif_type: 'hw_veb' must be one of the vif types this host plugs: "
            "ovs, bridge, vhostuser",
        ),
        (
            "[default_vif]\nvif_type = 'use_default'",
            "default_vif.vif_type: 'use_default' must be one of",
        ),
        ("[default_vif]\nvif_type = 'ovs'\nvif_details = 1", "default_vif.vif_details: must be"),
        ("[default_vif]\nvif_type = 'ovs'\nmtu = 1", "default_vif.mtu: unknown key"),
        ("host = ", "not valid TOML"),
    ],
)
def test_an_invalid_file_is_refused_in_one_line_naming_the_key_and_rule(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)

    with pytest.raises(config.ComputeConfigError) as err:
        config.load(path)

    assert str(err.value).startswith(f"compute config {path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_missing_file_that_was_asked_for_is_refused(tmp_path: Path) -> None:
    with pytest.raises(config.ComputeConfigError, match="cannot read it"):
        config.load(tmp_path / "absent.toml")


def test_the_file_is_the_flag_else_the_environment(tmp_path: Path) -> None:
    assert config.config_path("/a.toml", {config.CONFIG_ENV: "/b.toml"}) == Path("/a.toml")
    assert config.config_path(None, {config.CONFIG_ENV: "/b.toml"}) == Path("/b.toml")


def test_the_host_id_is_flag_then_environment_then_file_then_hostname(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hosts.socket, "gethostname", lambda: "box-7")
    cfg = config.ComputeConfig(path="/etc/ml2/compute.toml", host="from-file")
    env = {config.HOST_ENV: "from-env"}

    assert config.choose_host("from-flag", cfg, env) == config.Chosen("from-flag", "--host")
    assert config.choose_host(None, cfg, env) == config.Chosen("from-env", "env ML2_COMPUTE_HOST")
    assert config.choose_host(None, cfg, {}) == config.Chosen(
        "from-file", "config /etc/ml2/compute.toml"
    )
    assert config.choose_host(None, config.ComputeConfig(), {}) == config.Chosen(
        "box-7", "hostname"
    )


def test_the_compute_node_and_the_agents_default_to_the_same_host_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hosts.socket, "gethostname", lambda: "box-8")

    chosen = config.choose_host(None, config.ComputeConfig(), {})

    assert chosen.value == simulated.default_host() == "box-8"


@pytest.mark.parametrize(
    ("flag", "env", "message"),
    [(" ", {}, "--host: must not be empty"), (None, {config.HOST_ENV: ""}, "ML2_COMPUTE_HOST")],
)
def test_a_blank_host_is_refused(flag: str | None, env: dict[str, str], message: str) -> None:
    with pytest.raises(config.ComputeConfigError, match=message):
        config.choose_host(flag, config.ComputeConfig(), env)


def test_portapi_is_flag_then_environment_then_file_then_the_default() -> None:
    cfg = config.ComputeConfig(path="/c.toml", portapi="file:1")
    env = {config.PORTAPI_ENV: "env:2"}

    assert config.choose_portapi("flag:3", cfg, env).value == "flag:3"
    assert config.choose_portapi(None, cfg, env).value == "env:2"
    assert config.choose_portapi(None, cfg, {}).source == "config /c.toml"
    assert config.choose_portapi(None, config.ComputeConfig(), {}).value == "127.0.0.1:50050"
