"""Mutual TLS between real processes: typemgr (a threaded server) and portapi (an asyncio one)
serve only clients whose certificate the CA signed, call each other over it, and serve a renewed
certificate from the next connection on, without a restart."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ml2.v1 import (
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    segment_range_service_pb2,
    segment_range_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import tls

from services import launcher
from services.rpc import channels
from services.security import pki

NAMES = ("127.0.0.1", "localhost")


@dataclass
class Pair:
    """typemgr and portapi serving mutual TLS, and the certificates of the test's CA."""

    typemgr: launcher.ServiceProcess
    portapi: launcher.ServiceProcess
    ca: pki.Issued
    directory: Path
    client: tls.TlsFiles

    def files(self, name: str) -> tls.TlsFiles:
        return tls.TlsFiles(
            cert_file=str(self.directory / f"{name}.crt"),
            key_file=str(self.directory / f"{name}.key"),
            ca_file=self.ca.cert_path,
        )


def _tls_env(files: tls.TlsFiles) -> dict[str, str]:
    return {
        tls.CERT_FILE_ENV: files.cert_file,
        tls.KEY_FILE_ENV: files.key_file,
        tls.CA_FILE_ENV: files.ca_file,
    }


def _issue(ca: pki.Issued, directory: Path, name: str) -> tls.TlsFiles:
    issued = pki.issue(ca, str(directory), name, server_names=NAMES, client=True, days=1)
    return tls.TlsFiles(issued.cert_path, issued.key_path, ca.cert_path)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("tls")
    certs = root / "certs"
    ca = pki.create_ca(str(certs))
    typemgr_files = _issue(ca, certs, "typemgr")
    portapi_files = _issue(ca, certs, "portapi")
    client = _issue(ca, certs, "client")
    typemgr = launcher.start(
        "typemgr",
        "services.typemgr",
        {
            "TYPEMGR_LISTEN": "127.0.0.1:0",
            "TYPEMGR_METRICS_PORT": "0",
            "TYPEMGR_DATABASE_URL": f"sqlite:///{root / 'typemgr.db'}",
            "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan",
            "TYPEMGR_VXLAN_VNI_RANGES": "1000:1999",
            **_tls_env(typemgr_files),
        },
        log_dir=root / "logs",
    )
    try:
        portapi = launcher.start(
            "portapi",
            "services.portapi",
            {
                "PORTAPI_LISTEN": "127.0.0.1:0",
                "PORTAPI_METRICS_PORT": "0",
                "PORTAPI_DATABASE_URL": f"sqlite:///{root / 'portapi.db'}",
                "PORTAPI_TYPEMGR_ADDRESS": typemgr.address,
                # Nothing listens there: these tests make no call that needs mechmgr.
                "PORTAPI_MECHMGR_ADDRESS": "127.0.0.1:1",
                **_tls_env(portapi_files),
            },
            log_dir=root / "logs",
        )
    except BaseException:
        typemgr.stop()
        raise
    yield Pair(typemgr, portapi, ca, certs, client)
    assert portapi.stop() == 0, portapi.log_tail()
    assert typemgr.stop() == 0, typemgr.log_tail()


def _health(channel: grpc.Channel) -> grpc.StatusCode:
    try:
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def _secure(address: str, root: bytes, key: bytes | None, chain: bytes | None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(root, key, chain)
    return grpc.secure_channel(address, credentials)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def test_a_client_with_a_certificate_of_the_ca_is_served_and_portapi_calls_typemgr(
    pair: Pair,
) -> None:
    channel = channels.make_channel(pair.portapi.address, tls_files=pair.client)
    try:
        reply = network_service_pb2_grpc.NetworkServiceStub(channel).CreateNetwork(
            network_service_pb2.CreateNetworkRequest(
                network=network_pb2.Network(name="tls", project_id="p1")
            ),
            timeout=20,
        )
        # Its segment was allocated by typemgr, which portapi reached over mutual TLS.
        assert reply.network.segments[0].network_type == "vxlan", reply
    finally:
        channel.close()
    typemgr = channels.make_channel(pair.typemgr.address, tls_files=pair.client)
    try:
        stub = segment_range_service_pb2_grpc.SegmentRangeServiceStub(typemgr)
        stub.ListSegmentRanges(segment_range_service_pb2.ListSegmentRangesRequest(), timeout=10)
        assert _health(typemgr) == grpc.StatusCode.OK
    finally:
        typemgr.close()


@pytest.mark.parametrize("server", ["typemgr", "portapi"])
def test_a_client_without_a_certificate_is_refused_at_the_handshake(
    pair: Pair, server: str
) -> None:
    address = getattr(pair, server).address
    channel = _secure(address, _read(pair.ca.cert_path), None, None)
    try:
        assert _health(channel) == grpc.StatusCode.UNAVAILABLE
    finally:
        channel.close()


@pytest.mark.parametrize("server", ["typemgr", "portapi"])
def test_a_client_with_a_certificate_of_another_ca_is_refused(
    pair: Pair, server: str, tmp_path: Path
) -> None:
    other_ca = pki.create_ca(str(tmp_path), common_name="another CA")
    stranger = _issue(other_ca, tmp_path, "stranger")
    address = getattr(pair, server).address
    # It trusts the servers' CA, so only the server's check of its certificate can fail.
    channel = _secure(
        address,
        _read(pair.ca.cert_path),
        _read(stranger.key_file),
        _read(stranger.cert_file),
    )
    try:
        assert _health(channel) == grpc.StatusCode.UNAVAILABLE
    finally:
        channel.close()


@pytest.mark.parametrize("server", ["typemgr", "portapi"])
def test_a_plaintext_client_is_refused(pair: Pair, server: str) -> None:
    channel = grpc.insecure_channel(getattr(pair, server).address)
    try:
        assert _health(channel) == grpc.StatusCode.UNAVAILABLE
    finally:
        channel.close()


def test_metrics_stay_plain_http(pair: Pair) -> None:
    import urllib.request

    url = f"http://127.0.0.1:{pair.typemgr.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        assert b"# TYPE" in reply.read()


def served_serial(address: str, client: tls.TlsFiles) -> int:
    """The serial of the certificate a server presents on a new connection."""
    context = ssl.create_default_context(cafile=client.ca_file)
    context.load_cert_chain(client.cert_file, client.key_file)
    context.set_alpn_protocols(["h2"])
    host, port = address.rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _serial_of(path: str) -> int:
    return x509.load_pem_x509_certificate(_read(path)).serial_number


def _wait_for(condition, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.mark.parametrize("server", ["typemgr", "portapi"])
def test_a_renewed_certificate_is_served_without_a_restart(pair: Pair, server: str) -> None:
    process: launcher.ServiceProcess = getattr(pair, server)
    files = pair.files(server)
    before = _serial_of(files.cert_file)
    assert served_serial(process.address, pair.client) == before
    open_before = channels.make_channel(process.address, tls_files=pair.client)
    assert _health(open_before) == grpc.StatusCode.OK
    _issue(pair.ca, pair.directory, server)  # rewrites <server>.crt and <server>.key
    after = _serial_of(files.cert_file)
    assert after != before
    # The server looks at the files before every handshake: the first new connection gets it
    # (a file stamp may equal the old one's within the clock's granularity: wait on it).
    assert _wait_for(lambda: served_serial(process.address, pair.client) == after)
    assert process.alive()
    # A new channel is served, and so is the one opened before the renewal.
    fresh = channels.make_channel(process.address, tls_files=pair.client)
    try:
        assert _health(fresh) == grpc.StatusCode.OK
        assert _health(open_before) == grpc.StatusCode.OK
    finally:
        fresh.close()
        open_before.close()


def test_a_renewal_that_does_not_load_keeps_the_last_certificate(pair: Pair) -> None:
    files = pair.files("typemgr")
    good_cert, good_key = _read(files.cert_file), _read(files.key_file)
    serving = served_serial(pair.typemgr.address, pair.client)
    # A certificate whose key is not written yet: the key on disk is the old one's.
    other = _issue(pair.ca, pair.directory / "next", "typemgr")
    Path(files.cert_file).write_bytes(_read(other.cert_file))
    try:
        assert served_serial(pair.typemgr.address, pair.client) == serving
        assert "do not load" in _wait_for(
            lambda: "do not load" in pair.typemgr.log_tail(200) and pair.typemgr.log_tail(200)
        )
        # The key arrives: the pair loads and is served.
        Path(files.key_file).write_bytes(_read(other.key_file))
        new = _serial_of(other.cert_file)
        assert _wait_for(lambda: served_serial(pair.typemgr.address, pair.client) == new)
    finally:
        Path(files.cert_file).write_bytes(good_cert)
        Path(files.key_file).write_bytes(good_key)


def _healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ML2_", "TYPEMGR_"))}
    return subprocess.run(
        [sys.executable, "-m", "ml2_driver_sdk.healthcheck"],
        env=launcher.python_path_env({**base, **env}),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_probe_program_checks_health_over_the_containers_own_tls(pair: Pair) -> None:
    # As in a pod: the port of the one *_LISTEN setting, the process's own certificate.
    listen = {"TYPEMGR_LISTEN": f"0.0.0.0:{pair.typemgr.grpc_port}"}
    served = _healthcheck({**listen, **_tls_env(pair.files("typemgr"))})
    assert served.returncode == 0, served.stderr
    plain = _healthcheck(listen)
    assert plain.returncode == 1
    assert "UNAVAILABLE" in plain.stderr, plain.stderr


@pytest.mark.parametrize(
    ("module", "prefix"), [("services.typemgr", "TYPEMGR"), ("services.portapi", "PORTAPI")]
)
def test_a_file_that_does_not_load_stops_the_start_with_one_line(
    pair: Pair, tmp_path: Path, module: str, prefix: str
) -> None:
    files = pair.files("typemgr")
    env = {
        f"{prefix}_LISTEN": "127.0.0.1:0",
        f"{prefix}_METRICS_PORT": "0",
        f"{prefix}_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        **_tls_env(files),
        tls.KEY_FILE_ENV: str(tmp_path / "missing.key"),
    }
    if prefix == "PORTAPI":
        env.update(PORTAPI_TYPEMGR_ADDRESS="127.0.0.1:1", PORTAPI_MECHMGR_ADDRESS="127.0.0.1:1")
    with pytest.raises(launcher.LaunchError) as failed:
        launcher.start("refused", module, env, log_dir=tmp_path, timeout=30)
    message = str(failed.value)
    assert "exited with status 2" in message, message
    assert f"configuration error: TLS: [Errno 2] No such file or directory: '{tmp_path}" in message
    assert "Traceback" not in message, message


def test_the_server_name_setting_is_the_name_checked_in_the_servers_certificate(
    pair: Pair,
) -> None:
    def health_as(name: str) -> grpc.StatusCode:
        files = tls.TlsFiles(
            pair.client.cert_file, pair.client.key_file, pair.client.ca_file, server_name=name
        )
        channel = channels.make_channel(pair.typemgr.address, tls_files=files)
        try:
            return _health(channel)
        finally:
            channel.close()

    assert health_as("localhost") == grpc.StatusCode.OK  # a name the certificate has
    assert health_as("typemgr.elsewhere") == grpc.StatusCode.UNAVAILABLE
