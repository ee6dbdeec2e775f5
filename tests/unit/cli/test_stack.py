"""``ml2 up``'s configuration: flags → StackConfig → each process's environment, port checks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli import main, stack, up


def config_for(*argv: str, data_dir: str = "/srv/ml2") -> stack.StackConfig:
    args = main.build_parser().parse_args(["up", "--data-dir", data_dir, *argv])
    return up.config_from_args(args, args.data_dir)


def test_defaults_serve_the_demo() -> None:
    cfg = config_for()
    env = stack.typemgr_env(cfg)
    assert env["TYPEMGR_LISTEN"] == "127.0.0.1:50051"
    assert env["TYPEMGR_METRICS_PORT"] == "9101"
    assert env["TYPEMGR_DATABASE_URL"] == "sqlite:////srv/ml2/typemgr.db"
    assert env["TYPEMGR_FLAT_NETWORKS"] == "physnet1"
    assert env["TYPEMGR_NETWORK_VLAN_RANGES"] == "physnet1:100:199"
    assert env["TYPEMGR_VXLAN_VNI_RANGES"] == "1000:1999"
    assert env["TYPEMGR_TENANT_NETWORK_TYPES"] == "vxlan"
    drivers = stack.DEFAULT_DRIVERS.split(",")
    assert cfg.process_names() == ["typemgr", *drivers, "mechmgr", "portapi"]
    assert cfg.log_dir == Path("/srv/ml2/logs")


def test_relative_data_dir_becomes_an_absolute_sqlite_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = config_for(data_dir="data").database_url("portapi")
    assert url == f"sqlite:///{tmp_path}/data/portapi.db"


def test_type_flags_map_to_typemgr_variables() -> None:
    cfg = config_for(
        "--network-vlan-ranges",
        "physnet1:10:20,physnet2",
        "--vni-ranges",
        "5:9",
        "--tenant-network-types",
        "vlan,vxlan",
        "--flat-networks",
        "*",
        "--type-drivers",
        "vlan,vxlan",
    )
    env = stack.typemgr_env(cfg)
    assert env["TYPEMGR_NETWORK_VLAN_RANGES"] == "physnet1:10:20,physnet2"
    assert env["TYPEMGR_VXLAN_VNI_RANGES"] == "5:9"
    assert env["TYPEMGR_TENANT_NETWORK_TYPES"] == "vlan,vxlan"
    assert env["TYPEMGR_FLAT_NETWORKS"] == "*"
    assert env["TYPEMGR_TYPE_DRIVERS"] == "vlan,vxlan"


def test_ports_and_listen_host_map_to_each_process() -> None:
    cfg = config_for(
        "--listen-host",
        "0.0.0.0",
        "--portapi-port",
        "6000",
        "--portapi-metrics-port",
        "6100",
        "--openvswitch-port",
        "0",
        "--linuxbridge-metrics-port",
        "0",
    )
    assert stack.portapi_env(cfg, "t:1", "m:2")["PORTAPI_LISTEN"] == "0.0.0.0:6000"
    assert stack.portapi_env(cfg, "t:1", "m:2")["PORTAPI_METRICS_PORT"] == "6100"
    assert stack.driver_env(cfg, "openvswitch")["MECHDRIVER_LISTEN"] == "0.0.0.0:0"
    assert stack.driver_env(cfg, "openvswitch")["MECHDRIVER_METRICS_PORT"] == "9111"
    assert stack.driver_env(cfg, "linuxbridge")["MECHDRIVER_LISTEN"] == "0.0.0.0:50062"
    assert stack.driver_env(cfg, "linuxbridge")["MECHDRIVER_METRICS_PORT"] == "0"
    assert stack.connect_host("0.0.0.0") == "127.0.0.1"
    assert stack.connect_host("[::]") == "[::1]"
    assert stack.connect_host("10.1.2.3") == "10.1.2.3"


def test_peers_get_the_addresses_the_processes_really_bound() -> None:
    cfg = config_for("--mechanism-drivers", "linuxbridge,sdn=10.0.0.9:7000,openvswitch")
    env = stack.mechmgr_env(
        cfg, "127.0.0.1:41001", {"openvswitch": "127.0.0.1:41002", "linuxbridge": "127.0.0.1:41003"}
    )
    assert env["MECHMGR_TYPEMGR_ADDRESS"] == "127.0.0.1:41001"
    assert env["MECHMGR_MECHANISM_DRIVERS"] == (
        "linuxbridge=127.0.0.1:41003,sdn=10.0.0.9:7000,openvswitch=127.0.0.1:41002"
    )
    assert cfg.local_drivers() == ["linuxbridge", "openvswitch"]
    penv = stack.portapi_env(cfg, "127.0.0.1:41001", "127.0.0.1:41004")
    assert penv["PORTAPI_TYPEMGR_ADDRESS"] == "127.0.0.1:41001"
    assert penv["PORTAPI_MECHMGR_ADDRESS"] == "127.0.0.1:41004"


DRIVER_ADDRESSES = {name: f"{name}:1" for name in stack.DEFAULT_DRIVERS.split(",")}


def test_liveness_flags_are_set_only_when_given() -> None:
    env = stack.mechmgr_env(config_for(), "t:1", DRIVER_ADDRESSES)
    assert "MECHMGR_AGENT_DOWN_TIME_SECONDS" not in env
    assert "MECHMGR_HEARTBEAT_INTERVAL_SECONDS" not in env
    cfg = config_for(
        "--agent-down-time", "3", "--heartbeat-interval", "1", "--driver-timeout", "0.5"
    )
    env = stack.mechmgr_env(cfg, "t:1", DRIVER_ADDRESSES)
    assert env["MECHMGR_AGENT_DOWN_TIME_SECONDS"] == "3"
    assert env["MECHMGR_HEARTBEAT_INTERVAL_SECONDS"] == "1"
    assert env["MECHMGR_DRIVER_TIMEOUT_SECONDS"] == "0.5"


def test_the_agent_check_interval_is_set_only_when_given() -> None:
    penv = stack.portapi_env(config_for(), "t:1", "m:1")
    assert "PORTAPI_AGENT_CHECK_INTERVAL_SECONDS" not in penv
    penv = stack.portapi_env(config_for("--agent-check-interval", "0.5"), "t:1", "m:1")
    assert penv["PORTAPI_AGENT_CHECK_INTERVAL_SECONDS"] == "0.5"


def test_database_urls_per_service_for_postgresql() -> None:
    url = "postgresql+psycopg://ml2@db/typemgr"
    cfg = config_for("--typemgr-database-url", url)
    assert stack.typemgr_env(cfg)["TYPEMGR_DATABASE_URL"] == url
    assert (
        stack.mechmgr_env(cfg, "t:1", DRIVER_ADDRESSES)["MECHMGR_DATABASE_URL"]
        == "sqlite:////srv/ml2/mechmgr.db"
    )


def test_env_passthrough_reaches_every_process_and_wins() -> None:
    cfg = config_for("--env", "TYPEMGR_PATH_MTU=1450", "--env", "TYPEMGR_VXLAN_VNI_RANGES=1:2")
    env = stack.typemgr_env(cfg)
    assert env["TYPEMGR_PATH_MTU"] == "1450" and env["TYPEMGR_VXLAN_VNI_RANGES"] == "1:2"
    assert stack.driver_env(cfg, "openvswitch")["TYPEMGR_PATH_MTU"] == "1450"


def test_log_settings_reach_every_process() -> None:
    cfg = config_for("--log-level", "DEBUG", "--log-format", "text")
    for env in (stack.typemgr_env(cfg), stack.driver_env(cfg, "openvswitch")):
        assert (env["ML2_LOG_LEVEL"], env["ML2_LOG_FORMAT"]) == ("DEBUG", "text")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one driver"),
        ("openvswitch,openvswitch", "listed twice"),
        ("ovn", "unknown driver 'ovn'"),
        ("x=", "NAME or NAME=HOST:PORT"),
    ],
)
def test_bad_mechanism_driver_lists_are_refused(text: str, message: str) -> None:
    with pytest.raises(stack.StackError, match=message):
        stack.parse_mechanism_drivers(text)


@pytest.fixture
def listening() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_a_taken_port_is_named(listening: int) -> None:
    cfg = config_for(*_all_free(), "--mechmgr-port", str(listening))
    with pytest.raises(stack.PortInUse, match=f"port {listening} on 127.0.0.1 \\(mechmgr gRPC\\)"):
        stack.check_ports_free(cfg)


def test_a_taken_metrics_port_is_named(listening: int) -> None:
    cfg = config_for(*_all_free(), "--typemgr-metrics-port", str(listening))
    with pytest.raises(stack.PortInUse, match="typemgr metrics"):
        stack.check_ports_free(cfg)


def test_a_port_configured_twice_is_refused() -> None:
    cfg = config_for(*_all_free(), "--portapi-port", "41999", "--mechmgr-metrics-port", "41999")
    with pytest.raises(stack.PortInUse, match="both mechmgr metrics and portapi gRPC"):
        stack.check_ports_free(cfg)


def test_free_ports_pass() -> None:
    stack.check_ports_free(config_for(*_all_free()))


def _all_free() -> list[str]:
    argv = []
    for name in up.PROCESS_NAMES:
        argv += [f"--{name}-port", "0", f"--{name}-metrics-port", "0"]
    return argv


def test_ml2_up_refuses_a_taken_port_with_one_line(
    listening: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main.run(
        ["up", "--data-dir", str(tmp_path), *_all_free(), "--portapi-port", str(listening)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "already in use" in err and "portapi gRPC" in err
    assert not (tmp_path / "logs").exists()


def test_gre_and_geneve_ranges_have_flags() -> None:
    env = stack.typemgr_env(
        config_for("--gre-tunnel-id-ranges", "10:20", "--geneve-vni-ranges", "100:199,300:300")
    )
    assert env["TYPEMGR_GRE_TUNNEL_ID_RANGES"] == "10:20"
    assert env["TYPEMGR_GENEVE_VNI_RANGES"] == "100:199,300:300"
    defaults = stack.typemgr_env(config_for())
    assert defaults["TYPEMGR_GRE_TUNNEL_ID_RANGES"] == defaults["TYPEMGR_GENEVE_VNI_RANGES"] == ""


def test_a_port_offset_moves_every_default_port_but_not_the_ones_given() -> None:
    cfg = config_for("--port-offset", "100", "--mechmgr-port", "6000")
    assert [cfg.grpc_port(n) for n in ("portapi", "typemgr", "mechmgr")] == [50150, 50151, 6000]
    assert [cfg.metrics_port(n) for n in ("portapi", "typemgr", "mechmgr")] == [9200, 9201, 9202]
    assert (cfg.grpc_port("openvswitch"), cfg.metrics_port("linuxbridge")) == (50161, 9212)
    env = stack.portapi_env(cfg, "127.0.0.1:50151", "127.0.0.1:6000")
    assert (env["PORTAPI_LISTEN"], env["PORTAPI_METRICS_PORT"]) == ("127.0.0.1:50150", "9200")


def test_free_ports_picks_every_port_not_given() -> None:
    cfg = config_for("--free-ports", "--portapi-port", "7000")
    assert cfg.grpc_port("portapi") == 7000
    assert {cfg.grpc_port(n) for n in cfg.process_names() if n != "portapi"} == {0}
    assert {cfg.metrics_port(n) for n in cfg.process_names()} == {0}


@pytest.mark.parametrize(
    "argv",
    [
        ["--port-offset", "-1"],
        ["--port-offset", "x"],
        ["--port-offset", str(stack.MAX_PORT_OFFSET + 1)],
        ["--port-offset", "100", "--free-ports"],
    ],
)
def test_bad_port_moves_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        config_for(*argv)
    assert exc.value.code == 2


def test_a_taken_port_suggests_moving_the_stack() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(stack.PortInUse) as exc:
            stack.check_ports_free(config_for("--free-ports", "--typemgr-port", str(port)))
    assert "--port-offset N or --free-ports" in str(exc.value)


def test_every_process_verifies_and_calls_with_its_own_token_unless_no_auth() -> None:
    cfg = config_for("--mechanism-drivers", "openvswitch")
    assert cfg.auth
    envs = {
        "typemgr": stack.typemgr_env(cfg),
        "driver-openvswitch": stack.driver_env(cfg, "openvswitch"),
        "mechmgr": stack.mechmgr_env(cfg, "t:1", {"openvswitch": "o:1"}),
        "portapi": stack.portapi_env(cfg, "t:1", "m:2"),
    }
    for name, env in envs.items():
        assert env["ML2_AUTH_REQUIRED"] == "1"
        assert env["ML2_AUTH_JWT_KEY_FILES"] == "/srv/ml2/auth/signing.pub"
        assert env["ML2_AUTH_AUDIENCE"] == "modular-l2"
        assert env["ML2_TOKEN_FILE"] == f"/srv/ml2/auth/tokens/{name}.token"
    open_cfg = config_for("--no-auth")
    assert not open_cfg.auth
    open_env = stack.typemgr_env(open_cfg)
    assert open_env["ML2_AUTH_DISABLED"] == "1"  # the explicit opt-out, else it would not start
    assert [k for k in open_env if k.startswith(("ML2_AUTH", "ML2_TOKEN"))] == ["ML2_AUTH_DISABLED"]
    assert all("ML2_AUTH_DISABLED" not in env for env in envs.values())


def test_a_stack_built_in_code_runs_without_authentication_unless_asked() -> None:
    assert not stack.StackConfig().auth


def test_tls_gives_every_process_its_own_certificate_and_the_client_the_admins(
    tmp_path: Path,
) -> None:
    cfg = config_for("--tls", "--mechanism-drivers", "openvswitch", data_dir=str(tmp_path))
    assert cfg.tls
    tls_dir = tmp_path.resolve() / "tls"
    typemgr = stack.typemgr_env(cfg)
    assert typemgr["ML2_TLS_CERT_FILE"] == str(tls_dir / "typemgr.crt")
    assert typemgr["ML2_TLS_KEY_FILE"] == str(tls_dir / "typemgr.key")
    assert typemgr["ML2_TLS_CA_FILE"] == str(tls_dir / "ca.crt")
    driver = stack.driver_env(cfg, "openvswitch")
    assert driver["ML2_TLS_CERT_FILE"] == str(tls_dir / "driver-openvswitch.crt")
    plain = config_for("--mechanism-drivers", "openvswitch", data_dir=str(tmp_path))
    assert not plain.tls
    # Blank, so that settings a shell exported do not make the processes serve TLS.
    assert {v for k, v in stack.typemgr_env(plain).items() if k.startswith("ML2_TLS_")} == {""}
