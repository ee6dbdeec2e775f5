"""The local toolbox: signing keys and minted tokens that the verifiers accept, and a CA whose
server and client certificates carry a mutual-TLS gRPC call."""

from __future__ import annotations

import stat
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from ml2_driver_sdk.runtime.auth import JwtVerifier

from services.security import pki, tokens


def test_private_material_is_written_for_the_owner_only(tmp_path: Path) -> None:
    tokens.generate_hs256_secret(str(tmp_path / "s"))
    tokens.generate_es256_key(str(tmp_path / "k.key"), str(tmp_path / "k.pem"))
    ca = pki.create_ca(str(tmp_path / "ca"))
    for path in (tmp_path / "s", tmp_path / "k.key", Path(ca.key_path)):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", ["hs256", "es256"])
def test_minted_tokens_verify_as_who_they_name(tmp_path: Path, kind: str) -> None:
    if kind == "hs256":
        tokens.generate_hs256_secret(str(tmp_path / "signing.secret"))
        key = tokens.SigningKey.from_file(str(tmp_path / "signing.secret"))
        verifier = JwtVerifier(secret_files=[str(tmp_path / "signing.secret")])
    else:
        kid = tokens.generate_es256_key(
            str(tmp_path / "k.key"), str(tmp_path / "k.pem"), str(tmp_path / "jwks.json")
        )
        key = tokens.SigningKey.from_file(str(tmp_path / "k.key"), kid=kid)
        verifier = JwtVerifier(
            jwks_files=[str(tmp_path / "jwks.json")],
            audience=[tokens.DEFAULT_AUDIENCE],
            issuer=[tokens.DEFAULT_ISSUER],
        )
    assert verifier.verify(tokens.admin(key)).roles == {"admin"}
    mechmgr = verifier.verify(tokens.service(key, "mechmgr"))
    assert (mechmgr.subject, mechmgr.service, mechmgr.roles) == (
        "service:mechmgr",
        "mechmgr",
        {"service"},
    )
    driver = verifier.verify(tokens.service(key, "driver:openvswitch"))
    assert driver.service == "driver:openvswitch"
    agent = verifier.verify(tokens.agent(key, "compute-7"))
    assert (agent.agent_host, agent.roles) == ("compute-7", set())
    reader = verifier.verify(tokens.member(key, "p9", roles=("reader",)))
    assert (reader.project_id, reader.roles) == ("p9", {"reader"})


def test_an_rsa_private_key_is_refused_for_minting(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="EC P-256"):
        tokens.SigningKey.from_file(str(path))


def test_the_ca_signs_server_and_client_certificates(tmp_path: Path) -> None:
    ca = pki.create_ca(str(tmp_path))
    server = pki.issue(ca, str(tmp_path), "portapi", server_names=("localhost", "127.0.0.1"))
    client = pki.issue(ca, str(tmp_path), "agent:host-1", client=True)
    ca_cert = x509.load_pem_x509_certificate(Path(ca.cert_path).read_bytes())
    for issued, usage in (
        (server, ExtendedKeyUsageOID.SERVER_AUTH),
        (client, ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        cert = x509.load_pem_x509_certificate(Path(issued.cert_path).read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        assert usage in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert client.cert_path.endswith("agent-host-1.crt")
    names = x509.load_pem_x509_certificate(Path(server.cert_path).read_bytes()).extensions
    alt = names.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == ["localhost"]
    with pytest.raises(ValueError, match="server_names"):
        pki.issue(ca, str(tmp_path), "nothing")


AS_LOCALHOST = [("grpc.ssl_target_name_override", "localhost")]


def test_the_certificates_carry_a_mutual_tls_call(tmp_path: Path) -> None:
    ca = pki.create_ca(str(tmp_path))
    server_cert = pki.issue(ca, str(tmp_path), "portapi", server_names=("localhost",))
    client_cert = pki.issue(ca, str(tmp_path), "mechmgr", client=True)
    root = Path(ca.cert_path).read_bytes()

    def peer(_request: bytes, context: grpc.ServicerContext) -> bytes:
        return context.auth_context()["x509_common_name"][0]

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "t.Peer", {"Who": grpc.unary_unary_rpc_method_handler(peer)}
            ),
        )
    )
    credentials = grpc.ssl_server_credentials(
        [(Path(server_cert.key_path).read_bytes(), Path(server_cert.cert_path).read_bytes())],
        root_certificates=root,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    try:
        channel_credentials = grpc.ssl_channel_credentials(
            root_certificates=root,
            private_key=Path(client_cert.key_path).read_bytes(),
            certificate_chain=Path(client_cert.cert_path).read_bytes(),
        )
        with grpc.secure_channel(
            f"127.0.0.1:{port}", channel_credentials, options=AS_LOCALHOST
        ) as channel:
            assert channel.unary_unary("/t.Peer/Who")(b"", timeout=10) == b"mechmgr"
        anonymous = grpc.ssl_channel_credentials(root_certificates=root)
        with (
            grpc.secure_channel(f"127.0.0.1:{port}", anonymous, options=AS_LOCALHOST) as channel,
            pytest.raises(grpc.RpcError),
        ):
            channel.unary_unary("/t.Peer/Who")(b"", timeout=10)
    finally:
        server.stop(None)
