"""Mutual TLS between the processes: every server asks for a client certificate its CA signed,
every client channel presents its own.

=========================  ==================================================================
``ML2_TLS_CERT_FILE``      this process's certificate (PEM, leaf first, then intermediates):
                           served to its callers and presented to the servers it calls
``ML2_TLS_KEY_FILE``       its private key (PEM)
``ML2_TLS_CA_FILE``        the CA certificates (PEM) the peers' certificates must chain to:
                           callers' certificates on the server side, servers' on the client
``ML2_TLS_SERVER_NAME``    the name a client checks in every server's certificate instead of
                           the host it dials (empty: the host of the address)
=========================  ==================================================================

Nothing set: plaintext, as before. A server needs all three files; a client needs the CA and,
to be let in by a server, its certificate and key. A certificate file without its key (or the
reverse) is a ConfigError naming the setting.

The files are read again when they change (their modification time, size or inode), so that a
renewed certificate (cert-manager's, ``ml2 up --tls``'s) is used without a restart: a server
looks at them before every new connection's handshake and serves the new certificate, and checks
callers against the new CA, from the next connection on (connections already open keep theirs);
a client channel reads them when it is made, so the channels a process opens after the renewal
present the new certificate. A change that does not load (a half-written file, a key that does
not match the certificate) is logged and the last good files stay in use.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ml2_driver_sdk.runtime import config

logger = logging.getLogger(__name__)

CERT_FILE_ENV = "ML2_TLS_CERT_FILE"
KEY_FILE_ENV = "ML2_TLS_KEY_FILE"
CA_FILE_ENV = "ML2_TLS_CA_FILE"
SERVER_NAME_ENV = "ML2_TLS_SERVER_NAME"


@dataclass(frozen=True)
class TlsFiles:
    """Where a process's certificate, key and CA bundle are (empty: not given)."""

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    server_name: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TlsFiles | None:
        """The ``ML2_TLS_*`` settings, or None when none of the files is set; raises ConfigError
        for a certificate without its key or the reverse, or files given without the CA."""
        environ = config.env(environ)
        files = cls(
            cert_file=config.get_str(environ, CERT_FILE_ENV, ""),
            key_file=config.get_str(environ, KEY_FILE_ENV, ""),
            ca_file=config.get_str(environ, CA_FILE_ENV, ""),
            server_name=config.get_str(environ, SERVER_NAME_ENV, ""),
        )
        if not (files.cert_file or files.key_file or files.ca_file):
            return None
        if bool(files.cert_file) != bool(files.key_file):
            given, missing = (
                (CERT_FILE_ENV, KEY_FILE_ENV) if files.cert_file else (KEY_FILE_ENV, CERT_FILE_ENV)
            )
            raise config.ConfigError(f"{given} is set but {missing} is not: both are needed")
        if not files.ca_file:
            raise config.ConfigError(
                f"{CERT_FILE_ENV} is set but {CA_FILE_ENV} is not: the peers' certificates are "
                "checked against it"
            )
        return files

    def checked(self) -> TlsFiles:
        """These files, once they have loaded (``load``); raises ConfigError naming the file
        that does not."""
        try:
            load(self)
        except (OSError, ValueError) as exc:
            raise config.ConfigError(f"TLS: {exc}") from None
        return self

    @property
    def has_identity(self) -> bool:
        """True when a certificate and key are given (a server needs them)."""
        return bool(self.cert_file and self.key_file)


@dataclass(frozen=True)
class Material:
    """The PEM bytes of a certificate chain, its key and the CA bundle, checked to load."""

    chain: bytes
    key: bytes
    ca: bytes

    def serial(self) -> int:
        """The serial number of the leaf certificate."""
        return x509.load_pem_x509_certificate(self.chain).serial_number


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def load(files: TlsFiles) -> Material:
    """Reads the files; raises ValueError naming the file when one does not load, or when the
    key is not the certificate's."""
    ca = _read(files.ca_file)
    try:
        x509.load_pem_x509_certificates(ca)
    except ValueError as exc:
        raise ValueError(f"{files.ca_file}: not PEM certificates: {exc}") from None
    if not files.has_identity:
        return Material(b"", b"", ca)
    chain, key_bytes = _read(files.cert_file), _read(files.key_file)
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{files.cert_file}: not a PEM certificate: {exc}") from None
    try:
        key = serialization.load_pem_private_key(key_bytes, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{files.key_file}: not an unencrypted PEM private key: {exc}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    pem = serialization.Encoding.PEM
    if key.public_key().public_bytes(pem, public) != leaf.public_key().public_bytes(pem, public):
        raise ValueError(f"{files.key_file}: is not the key of {files.cert_file}")
    return Material(chain, key_bytes, ca)


def _signature(files: TlsFiles) -> tuple[tuple[int, int, int] | None, ...]:
    result: list[tuple[int, int, int] | None] = []
    for path in (files.cert_file, files.key_file, files.ca_file):
        try:
            st = os.stat(path)
        except OSError:
            result.append(None)
            continue
        result.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(result)


class ServerCertificates:
    """A server's certificate configuration, loaded again when a file changes: grpc asks
    ``fetch`` before every new connection's handshake (``dynamic_ssl_server_credentials``)."""

    def __init__(self, files: TlsFiles) -> None:
        if not files.has_identity:
            raise config.ConfigError(
                f"{CA_FILE_ENV} is set but {CERT_FILE_ENV} and {KEY_FILE_ENV} are not: a server "
                "needs its certificate and key"
            )
        self.files = files
        self._lock = threading.Lock()
        self._signature = _signature(files)
        try:
            self.material = load(files)
        except (OSError, ValueError) as exc:
            raise config.ConfigError(f"TLS: {exc}") from None
        self.reloads = 0
        """How many times changed files were loaded."""

    def configuration(self) -> Any:
        """The grpc certificate configuration of the current material."""
        return grpc.ssl_server_certificate_configuration(
            [(self.material.key, self.material.chain)], root_certificates=self.material.ca
        )

    def fetch(self) -> Any:
        """The new configuration if a file changed and loads, else None (keep the current)."""
        with self._lock:
            signature = _signature(self.files)
            if signature == self._signature:
                return None
            try:
                material = load(self.files)
            except (OSError, ValueError) as exc:
                # Not remembered as seen: the next handshake tries again, so a renewal written
                # in several steps is taken once it is complete.
                logger.warning("TLS files changed but do not load, kept the last ones: %s", exc)
                return None
            self._signature = signature
            self.material = material
            self.reloads += 1
            logger.info(
                "TLS certificate reloaded from %s (serial %x)",
                self.files.cert_file,
                material.serial(),
                extra={"tls_serial": f"{material.serial():x}"},
            )
            return self.configuration()

    def credentials(self) -> grpc.ServerCredentials:
        """Server credentials requiring a client certificate signed by the CA."""
        return grpc.dynamic_ssl_server_credentials(
            self.configuration(), self.fetch, require_client_authentication=True
        )


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """Mutual-TLS server credentials of ``files``, reloaded when they change; raises ConfigError
    when they do not load."""
    return ServerCertificates(files).credentials()


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    """Channel credentials presenting the certificate of ``files`` (if given) and checking the
    server's against its CA, read now; raises ConfigError naming a file that does not load."""
    try:
        material = load(files)
    except (OSError, ValueError) as exc:
        raise config.ConfigError(f"TLS: {exc}") from None
    return grpc.ssl_channel_credentials(
        root_certificates=material.ca,
        private_key=material.key or None,
        certificate_chain=material.chain or None,
    )


def channel_options(files: TlsFiles) -> list[tuple[str, str]]:
    """The channel options of ``files``: the server name to check, when set."""
    return [("grpc.ssl_target_name_override", files.server_name)] if files.server_name else []


_process_lock = threading.Lock()
_process_files: list[TlsFiles | None] = []


def process_files() -> TlsFiles | None:
    """This process's ``ML2_TLS_*`` settings (read once, and checked to load), None without
    them; raises ConfigError when they are inconsistent or do not load. A service calls it with
    its other settings, so that a bad one stops it at start with the others' one line."""
    with _process_lock:
        if not _process_files:
            found = TlsFiles.from_env()
            _process_files.append(found.checked() if found is not None else None)
        return _process_files[0]


def make_channel(
    address: str, options: list[tuple[str, Any]], files: TlsFiles | None
) -> grpc.Channel:
    """A channel to ``address``: TLS with ``files`` when given, else plaintext."""
    if files is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(
        address, channel_credentials(files), options=[*options, *channel_options(files)]
    )


def make_aio_channel(
    address: str, options: list[tuple[str, Any]], files: TlsFiles | None
) -> grpc.aio.Channel:
    """``make_channel`` for ``grpc.aio``: a channel to ``address``, TLS with ``files`` when
    given, else plaintext; create it on the event loop that uses it."""
    if files is None:
        return grpc.aio.insecure_channel(address, options=options)
    return grpc.aio.secure_channel(
        address, channel_credentials(files), options=[*options, *channel_options(files)]
    )
