"""``ml2 up --tls``'s certificates in the data dir, and which one a client command presents."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from ml2_driver_sdk.runtime import tls

from services.cli import config
from services.security import local_tls


def test_every_process_and_client_gets_a_serving_and_calling_certificate(tmp_path: Path) -> None:
    local_tls.prepare(tmp_path, ["typemgr", "openvswitch", "mechmgr", "portapi"], ("10.0.0.5",))
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "tls" / "driver-openvswitch.crt").read_bytes()
    )
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "openvswitch"} <= set(alt.get_values_for_type(x509.DNSName))
    addresses = {str(a) for a in alt.get_values_for_type(x509.IPAddress)}
    assert {"127.0.0.1", "::1", "10.0.0.5"} <= addresses
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
    for name in ("admin", "compute", "member-demo", "agent", "typemgr"):
        files = local_tls.files(tmp_path, name)
        assert files.checked() == files
        assert stat.S_IMODE(Path(files.key_file).stat().st_mode) == 0o600


def test_the_ca_is_kept_and_the_certificates_issued_again(tmp_path: Path) -> None:
    local_tls.prepare(tmp_path, ["typemgr"])
    ca_before = (tmp_path / "tls" / "ca.crt").read_bytes()
    cert_before = (tmp_path / "tls" / "typemgr.crt").read_bytes()
    local_tls.prepare(tmp_path, ["typemgr"])
    assert (tmp_path / "tls" / "ca.crt").read_bytes() == ca_before
    assert (tmp_path / "tls" / "typemgr.crt").read_bytes() != cert_before


def test_a_client_command_presents_the_data_dirs_certificate_while_it_serves_tls(
    tmp_path: Path,
) -> None:
    environ = {"ML2_DATA_DIR": str(tmp_path)}
    assert config.tls_files(environ) is None
    local_tls.prepare(tmp_path, ["typemgr"])
    assert config.tls_files(environ) == local_tls.files(tmp_path, "admin")
    assert config.tls_files(environ, local_name="compute") == local_tls.files(tmp_path, "compute")
    # A name without a certificate of its own presents the administrator's.
    assert config.tls_files(environ, local_name="nobody") == local_tls.files(tmp_path, "admin")
    given = {**environ, "ML2_TLS_CA_FILE": "/etc/ca.crt"}
    assert config.tls_files(given) == tls.TlsFiles(ca_file="/etc/ca.crt")
    local_tls.forget(tmp_path)
    assert config.tls_files(environ) is None
