"""A local certificate authority and the certificates it signs, for mutual TLS between an
installation's processes: ``create_ca`` once, then ``issue`` a server certificate (with the
names and addresses clients dial) or a client certificate per process."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    """Where a key and its certificate were written."""

    key_path: str
    cert_path: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "modular-l2"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: str, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _write_cert(path: str, cert: x509.Certificate) -> None:
    with open(path, "wb") as fh:
        fh.write(cert.public_bytes(serialization.Encoding.PEM))


def create_ca(directory: str, common_name: str = "modular-l2 local CA", days: int = 3650) -> Issued:
    """Writes ``ca.key`` (0600) and ``ca.crt`` in ``directory``: a self-signed P-256 CA that
    may sign end-entity certificates only."""
    os.makedirs(directory, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    issued = Issued(os.path.join(directory, "ca.key"), os.path.join(directory, "ca.crt"))
    _write_key(issued.key_path, key)
    _write_cert(issued.cert_path, cert)
    return issued


def _load_ca(ca: Issued) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    with open(ca.key_path, "rb") as fh:
        key = serialization.load_pem_private_key(fh.read(), password=None)
    with open(ca.cert_path, "rb") as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{ca.key_path}: not an EC private key")
    return key, cert


def issue(
    ca: Issued,
    directory: str,
    name: str,
    *,
    server_names: tuple[str, ...] = (),
    client: bool = False,
    days: int = 365,
) -> Issued:
    """Writes ``<name>.key`` (0600) and ``<name>.crt`` signed by ``ca``: a server certificate
    for ``server_names`` (DNS names or IP addresses), a client certificate (``client``), or
    both. The common name is ``name`` (a client's identity: ``portapi``, ``agent:host-1``)."""
    if not server_names and not client:
        raise ValueError("a certificate needs server_names, client=True, or both")
    ca_key, ca_cert = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = []
    if server_names:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for entry in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                alt.append(x509.DNSName(entry))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    os.makedirs(directory, exist_ok=True)
    safe = name.replace(":", "-").replace("/", "-")
    issued = Issued(os.path.join(directory, f"{safe}.key"), os.path.join(directory, f"{safe}.crt"))
    _write_key(issued.key_path, key)
    _write_cert(issued.cert_path, cert)
    return issued
