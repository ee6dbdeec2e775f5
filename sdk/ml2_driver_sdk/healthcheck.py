"""``python -m ml2_driver_sdk.healthcheck [HOST:PORT]``: asks a server on this machine the
standard health check, over the process's mutual TLS when the ``ML2_TLS_*`` settings are given;
exits 0 when it answers SERVING, 1 otherwise (with the reason on stderr).

Made for Kubernetes exec probes, since the kubelet's own gRPC probe cannot present a client
certificate. Without an address, it calls 127.0.0.1 at the port of the one ``*_LISTEN`` setting
of its environment (``TYPEMGR_LISTEN``, ``MECHDRIVER_LISTEN``, ...), and checks the server's
certificate for the first name of the process's own certificate (the server presents that same
file), so a certificate with DNS names only serves the probe as well.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

import grpc
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ml2_driver_sdk.runtime import config, tls


def local_address(environ: Mapping[str, str]) -> str:
    """127.0.0.1 at the port of the environment's one ``*_LISTEN`` setting; raises ConfigError
    when there is none or more than one."""
    listens = {k: v for k, v in environ.items() if k.endswith("_LISTEN") and v.strip()}
    if len(listens) != 1:
        found = ", ".join(sorted(listens)) or "none"
        raise config.ConfigError(
            f"give HOST:PORT: exactly one *_LISTEN setting is needed ({found})"
        )
    ((name, listen),) = listens.items()
    port = listen.rsplit(":", 1)[-1]
    if not port.isdigit():
        raise config.ConfigError(f"{name}={listen!r}: must be host:port")
    return f"127.0.0.1:{port}"


def own_name(files: tls.TlsFiles) -> str:
    """The first DNS name (else IP address) of the certificate of ``files``."""
    with open(files.cert_file, "rb") as fh:
        cert = x509.load_pem_x509_certificates(fh.read())[0]
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ""
    names = [str(n) for n in alt.get_values_for_type(x509.DNSName)]
    names += [str(a) for a in alt.get_values_for_type(x509.IPAddress)]
    return names[0] if names else ""


def check(address: str, files: tls.TlsFiles | None, timeout: float) -> str:
    """Returns "" when ``address`` answers SERVING, else the reason."""
    if files is not None and files.has_identity and not files.server_name:
        files = tls.TlsFiles(files.cert_file, files.key_file, files.ca_file, own_name(files))
    channel = tls.make_channel(address, [], files)
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=timeout
        )
    except grpc.RpcError as err:
        return f"{address}: {err.code().name}: {err.details()}"
    finally:
        channel.close()
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml2_driver_sdk.healthcheck")
    parser.add_argument("address", nargs="?", default="", help="HOST:PORT (default: see above)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    args = parser.parse_args(argv)
    try:
        address = args.address or local_address(os.environ)
        reason = check(address, tls.TlsFiles.from_env(), args.timeout)
    except (config.ConfigError, OSError, ValueError) as err:
        reason = str(err)
    if reason:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
