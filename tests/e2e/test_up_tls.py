"""``ml2 up --tls``: every process serves and calls mutual TLS with a certificate of the data
dir's CA; the client commands and the agents find their certificate there, as they find their
token; a plaintext caller, or one without a certificate, is refused."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.security import pki
from tests.e2e.conftest import AgentProcess, UpProcess, child_env, run_ml2, start_up, wait_for


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    process = start_up(
        tmp_path_factory.mktemp("tls"),
        "--tls",
        "--mechanism-drivers",
        "openvswitch",
        "--heartbeat-interval",
        "1",
        auth=True,
    )
    yield process
    assert process.stop() == 0, process.err()


def _health(channel: grpc.Channel) -> grpc.StatusCode:
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_the_cli_lists_networks_and_binds_a_port_over_tls(up: UpProcess, tmp_path: Path) -> None:
    assert "Every connection is mutual TLS" in up.out(), up.out()
    created = up.ml2(
        "network",
        "create",
        "tls-net",
        "--provider-network-type",
        "vlan",
        "--provider-physical-network",
        "physnet1",
        "--json",
    )
    assert created.code == 0, created.err
    listed = up.ml2("network", "list", "--json")
    assert listed.code == 0, listed.err
    assert "tls-net" in [n["name"] for n in listed.json()]
    # The agent presents the data dir's agent certificate to mechmgr.
    agent = AgentProcess(
        up.mechmgr,
        "openvswitch",
        "tls-host",
        "--bridge-mappings",
        "physnet1:br-eth1",
        log=tmp_path / "agent.log",
        data_dir=up.data_dir,
    )
    try:

        def alive() -> bool:
            result = up.ml2("agent", "list", "--host", "tls-host", "--json")
            return result.code == 0 and any(a["alive"] for a in result.json())

        assert wait_for(alive, 30), agent.log.read_text()
        port = up.ml2("port", "create", "--network", "tls-net", "--name", "vm1", "--json")
        assert port.code == 0, port.err
        bound = up.ml2("port", "bind", port.json()["id"], "--host", "tls-host", "--json")
        assert bound.code == 0, bound.err
        binding = bound.json()["binding"]
        assert (binding["vif_type"], binding["state"]) == ("ovs", "BINDING_STATE_BOUND")
    finally:
        assert agent.stop() == 0, agent.log.read_text()


def test_the_client_environment_file_carries_the_tls_settings(up: UpProcess) -> None:
    env_file = (up.data_dir / "ml2.env").read_text()
    for name in ("ML2_TLS_CERT_FILE", "ML2_TLS_KEY_FILE", "ML2_TLS_CA_FILE"):
        assert f"export {name}=" in env_file, env_file
    # Another directory's client, given only these settings and the token, is served.
    settings = dict(
        line.removeprefix("export ").split("=", 1) for line in env_file.splitlines() if line
    )
    result = run_ml2(
        "network",
        "list",
        "--portapi",
        up.portapi,
        env=child_env(**settings, ML2_DATA_DIR="/nonexistent"),
    )
    assert result.code == 0, result.err


def test_a_plaintext_or_certificateless_caller_is_refused(up: UpProcess) -> None:
    ca = (up.data_dir / "tls" / "ca.crt").read_bytes()
    for address in (up.portapi, up.mechmgr, up.typemgr):
        plain = grpc.insecure_channel(address)
        anonymous = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca))
        try:
            assert _health(plain) == grpc.StatusCode.UNAVAILABLE
            assert _health(anonymous) == grpc.StatusCode.UNAVAILABLE
        finally:
            plain.close()
            anonymous.close()
    # The command line without the data dir's certificate cannot call either.
    refused = run_ml2(
        "network",
        "list",
        "--portapi",
        up.portapi,
        env=child_env(ML2_DATA_DIR="/nonexistent", ML2_TOKEN_FILE=str(up.admin_token)),
    )
    assert refused.code == 1
    assert "cannot reach portapi" in refused.err, refused.err


def test_keys_are_private_and_every_process_has_a_certificate(up: UpProcess) -> None:
    directory = up.data_dir / "tls"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    names = sorted(p.stem for p in directory.glob("*.crt"))
    assert names == [
        "admin",
        "agent",
        "ca",
        "compute",
        "driver-openvswitch",
        "mechmgr",
        "member-demo",
        "portapi",
        "typemgr",
    ]
    for key in directory.glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_ml2_up_without_tls_on_the_same_data_dir_serves_plaintext_again(tmp_path: Path) -> None:
    first = start_up(tmp_path, "--tls", "--mechanism-drivers", "openvswitch", auth=True)
    assert first.stop() == 0, first.err()
    # Even with the first stack's ml2.env sourced in the shell.
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in (first.data_dir / "ml2.env").read_text().splitlines()
        if line.startswith("export ML2_TLS_")
    )
    assert len(exported) == 3, exported
    again = start_up(tmp_path, "--mechanism-drivers", "openvswitch", auth=True, env=exported)
    try:
        assert "mutual TLS" not in again.out()
        listed = again.ml2("network", "list", "--json")
        assert listed.code == 0, listed.err
        plain = grpc.insecure_channel(again.portapi)
        try:
            assert _health(plain) == grpc.StatusCode.OK
        finally:
            plain.close()
    finally:
        assert again.stop() == 0, again.err()


def test_the_conformance_kit_checks_a_driver_over_the_data_dirs_certificate(
    up: UpProcess,
) -> None:
    driver = re.search(r"^mechdriver-openvswitch\s+(127\.0\.0\.1:\d+)\s", up.out(), re.M)
    assert driver, up.out()
    checked = run_ml2(
        "driver", "check", driver.group(1), env=child_env(ML2_DATA_DIR=str(up.data_dir))
    )
    assert checked.code == 0, checked.out + checked.err


def test_a_client_of_another_ca_is_told_the_handshake_failed(up: UpProcess, tmp_path: Path) -> None:
    other = pki.create_ca(str(tmp_path))
    mine = pki.issue(other, str(tmp_path), "stranger", client=True)
    result = run_ml2(
        "network",
        "list",
        "--portapi",
        up.portapi,
        env=child_env(
            ML2_TLS_CERT_FILE=mine.cert_path,
            ML2_TLS_KEY_FILE=mine.key_path,
            ML2_TLS_CA_FILE=other.cert_path,
            ML2_TOKEN_FILE=str(up.admin_token),
        ),
    )
    assert result.code == 1
    # (gRPC's core may write its own line about the handshake before it.)
    assert result.err.strip().splitlines()[-1] == (
        f"error: cannot reach portapi at {up.portapi}: the TLS handshake failed "
        "(CERTIFICATE_VERIFY_FAILED): check the ML2_TLS_* settings (docs/tls.md)"
    ), result.err
