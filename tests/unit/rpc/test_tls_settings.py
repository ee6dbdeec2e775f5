"""The ``ML2_TLS_*`` settings: what is refused at start, and when a server's certificate
configuration is loaded again."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ml2_driver_sdk.runtime import config, tls

from services.cli import main
from services.security import pki


def _issue(tmp_path: Path, name: str = "server") -> tls.TlsFiles:
    ca = pki.create_ca(str(tmp_path))
    issued = pki.issue(ca, str(tmp_path), name, server_names=("127.0.0.1",), client=True)
    return tls.TlsFiles(issued.cert_path, issued.key_path, ca.cert_path)


def test_nothing_set_is_plaintext() -> None:
    assert tls.TlsFiles.from_env({}) is None
    assert tls.TlsFiles.from_env({"ML2_TLS_SERVER_NAME": "typemgr"}) is None


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"ML2_TLS_CERT_FILE": "a.crt", "ML2_TLS_CA_FILE": "ca.crt"},
            "ML2_TLS_CERT_FILE is set but ML2_TLS_KEY_FILE is not",
        ),
        (
            {"ML2_TLS_KEY_FILE": "a.key", "ML2_TLS_CA_FILE": "ca.crt"},
            "ML2_TLS_KEY_FILE is set but ML2_TLS_CERT_FILE is not",
        ),
        (
            {"ML2_TLS_CERT_FILE": "a.crt", "ML2_TLS_KEY_FILE": "a.key"},
            "ML2_TLS_CA_FILE is not",
        ),
    ],
)
def test_an_incomplete_setting_is_refused_naming_what_is_missing(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(config.ConfigError, match=message):
        tls.TlsFiles.from_env(environ)


def test_a_server_needs_its_certificate_not_only_the_ca(tmp_path: Path) -> None:
    files = _issue(tmp_path)
    with pytest.raises(config.ConfigError, match="a server needs its certificate and key"):
        tls.ServerCertificates(tls.TlsFiles(ca_file=files.ca_file))


def test_a_key_that_is_not_the_certificates_is_refused_naming_it(tmp_path: Path) -> None:
    files = _issue(tmp_path / "a")
    other = _issue(tmp_path / "b")
    mixed = tls.TlsFiles(files.cert_file, other.key_file, files.ca_file)
    with pytest.raises(config.ConfigError, match=re.escape(f"{other.key_file}: is not the key of")):
        mixed.checked()
    missing = tls.TlsFiles(str(tmp_path / "none.crt"), files.key_file, files.ca_file)
    with pytest.raises(config.ConfigError, match=r"none\.crt"):
        missing.checked()
    with pytest.raises(config.ConfigError, match="not PEM"):
        tls.TlsFiles(files.cert_file, files.key_file, files.key_file).checked()


def test_the_configuration_is_fetched_again_only_when_a_file_changed(tmp_path: Path) -> None:
    files = _issue(tmp_path)
    certificates = tls.ServerCertificates(files)
    first = certificates.material.serial()
    assert certificates.fetch() is None
    ca = pki.Issued(str(tmp_path / "ca.key"), files.ca_file)
    pki.issue(ca, str(tmp_path), "server", server_names=("127.0.0.1",), client=True)
    assert certificates.fetch() is not None
    assert certificates.material.serial() != first
    assert certificates.reloads == 1
    assert certificates.fetch() is None


def test_the_command_line_refuses_inconsistent_settings_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ML2_TLS_CERT_FILE", str(tmp_path / "a.crt"))
    monkeypatch.setenv("ML2_TLS_CA_FILE", str(tmp_path / "ca.crt"))
    monkeypatch.delenv("ML2_TLS_KEY_FILE", raising=False)
    assert main.run(["network", "list"]) == 2
    assert capsys.readouterr().err == (
        "error: ML2_TLS_CERT_FILE is set but ML2_TLS_KEY_FILE is not: both are needed\n"
    )
