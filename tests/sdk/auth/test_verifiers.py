"""Token verification: JWTs against PEM keys, shared secrets and JWKS files, and static
token files, each case refused for its own reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path

import jwt
import pytest
from ml2_driver_sdk.runtime import config
from ml2_driver_sdk.runtime.auth import (
    ChainVerifier,
    ClaimMapping,
    Grant,
    Identity,
    JwtVerifier,
    StaticTokenVerifier,
    from_env,
)
from ml2_driver_sdk.runtime.auth import errors as reasons
from ml2_driver_sdk.runtime.auth.errors import AuthError

from services.security import tokens


def touch_later(path: Path) -> None:
    """Makes the file's modification time differ from the one last seen, whatever the clock's
    resolution."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "signing.secret"
    tokens.generate_hs256_secret(str(path))
    return path


@pytest.fixture
def es256(tmp_path: Path) -> tuple[Path, Path, Path]:
    private, public, jwks = tmp_path / "k1.key", tmp_path / "k1.pem", tmp_path / "jwks.json"
    tokens.generate_es256_key(str(private), str(public), str(jwks))
    return private, public, jwks


def hs_verifier(secret: Path, **kwargs: object) -> JwtVerifier:
    kwargs.setdefault("audience", [tokens.DEFAULT_AUDIENCE])
    kwargs.setdefault("issuer", [tokens.DEFAULT_ISSUER])
    return JwtVerifier(secret_files=[str(secret)], reload_interval=0, **kwargs)  # type: ignore[arg-type]


def refused(verifier: object, token: str) -> AuthError:
    with pytest.raises(AuthError) as info:
        verifier.verify(token)  # type: ignore[attr-defined]
    return info.value


def test_a_good_hs256_token_gives_its_identity(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    identity = hs_verifier(secret).verify(tokens.member(key, "p1", user="alice"))
    assert identity.subject == "alice"
    assert identity.project_id == "p1"
    assert identity.roles == {"member"}
    assert identity.expires_at is not None and identity.expires_at > time.time()


def test_service_and_agent_tokens_say_what_they_are(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    verifier = hs_verifier(secret)
    portapi = verifier.verify(tokens.service(key, "portapi"))
    assert (portapi.service, portapi.roles) == ("portapi", {"service"})
    agent = verifier.verify(tokens.agent(key, "compute-1"))
    assert (agent.agent_host, agent.roles, agent.subject) == ("compute-1", set(), "agent:compute-1")


def test_an_es256_token_verifies_against_the_pem_public_key(es256: tuple[Path, Path, Path]):
    private, public, _ = es256
    key = tokens.SigningKey.from_file(str(private))
    verifier = JwtVerifier(pem_files=[str(public)], audience=[tokens.DEFAULT_AUDIENCE])
    assert verifier.verify(tokens.admin(key)).is_admin


def test_a_pem_key_verifies_tokens_whatever_kid_they_name(es256: tuple[Path, Path, Path]):
    private, public, _ = es256
    key = tokens.SigningKey.from_file(str(private), kid="issuer-key-2026")
    assert JwtVerifier(pem_files=[str(public)]).verify(tokens.admin(key)).is_admin


def test_an_expired_token_is_refused_as_expired(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    token = tokens.admin(key, now=time.time() - 7200, lifetime=3600)
    error = refused(hs_verifier(secret), token)
    assert error.reason == reasons.EXPIRED
    assert "expired" in error.message


def test_expiry_allows_the_configured_leeway(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    token = tokens.admin(key, now=time.time() - 3610, lifetime=3600)
    assert hs_verifier(secret, leeway=60).verify(token).is_admin
    assert refused(hs_verifier(secret, leeway=0), token).reason == reasons.EXPIRED


def test_a_token_signed_with_another_secret_is_a_bad_signature(secret: Path, tmp_path: Path):
    other = tmp_path / "other.secret"
    tokens.generate_hs256_secret(str(other))
    token = tokens.admin(tokens.SigningKey(other.read_bytes().strip(), "HS256", "signing"))
    error = refused(hs_verifier(secret), token)
    assert error.reason == reasons.BAD_SIGNATURE


def test_a_tampered_token_is_a_bad_signature(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    header, payload, signature = tokens.member(key, "p1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    error = refused(hs_verifier(secret), f"{header}.{forged}.{signature}")
    assert error.reason == reasons.BAD_SIGNATURE


def test_a_token_for_another_audience_is_refused(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    error = refused(hs_verifier(secret), tokens.admin(key, audience="someone-else"))
    assert error.reason == reasons.WRONG_AUDIENCE


def test_a_token_without_audience_is_refused_when_one_is_required(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    error = refused(hs_verifier(secret), tokens.admin(key, audience=""))
    assert error.reason in (reasons.WRONG_AUDIENCE, reasons.MISSING_CLAIM)


def test_a_token_from_another_issuer_is_refused(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    error = refused(hs_verifier(secret), tokens.admin(key, issuer="https://evil.example"))
    assert error.reason == reasons.WRONG_ISSUER
    assert "evil.example" in error.message


def test_a_token_without_expiry_is_refused(secret: Path) -> None:
    token = jwt.encode(
        {"sub": "admin", "aud": tokens.DEFAULT_AUDIENCE, "iss": tokens.DEFAULT_ISSUER},
        secret.read_bytes().strip(),
        algorithm="HS256",
    )
    assert refused(hs_verifier(secret), token).reason == reasons.MISSING_CLAIM


def test_a_token_not_valid_yet_is_refused(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    token = tokens.admin(key, now=time.time() + 3600)
    assert refused(hs_verifier(secret), token).reason == reasons.NOT_YET_VALID


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30"])
def test_a_malformed_token_is_refused_as_malformed(secret: Path, token: str) -> None:
    assert refused(hs_verifier(secret), token).reason == reasons.MALFORMED


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_public_key_is_never_taken_for_an_hmac_secret(es256: tuple[Path, Path, Path]):
    """The classic algorithm confusion: an HS256 token 'signed' with the public key's PEM
    (built by hand: PyJWT itself refuses to HMAC with a PEM key)."""
    _, public, _ = es256
    claims = {"sub": "admin", "roles": ["admin"], "exp": int(time.time()) + 60}
    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    signing_input = f"{b64(header)}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(signature)}"
    verifier = JwtVerifier(pem_files=[str(public)])
    assert refused(verifier, forged).reason == reasons.BAD_SIGNATURE


def test_jwks_rotation_picks_keys_by_kid(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    old_kid = tokens.generate_es256_key(
        str(tmp_path / "old.key"), str(tmp_path / "old.pem"), str(jwks)
    )
    old = tokens.SigningKey.from_file(str(tmp_path / "old.key"), kid=old_kid)
    verifier = JwtVerifier(jwks_files=[str(jwks)], reload_interval=3600)
    old_token = tokens.admin(old)
    assert verifier.verify(old_token).is_admin

    # A new key is published next to the old one: a token with its kid verifies at once
    # (an unknown kid makes the verifier look at its files now, not at the next interval).
    new_kid = tokens.generate_es256_key(
        str(tmp_path / "new.key"), str(tmp_path / "new.pem"), str(jwks)
    )
    new = tokens.SigningKey.from_file(str(tmp_path / "new.key"), kid=new_kid)
    assert verifier.verify(tokens.admin(new)).is_admin
    assert verifier.verify(old_token).is_admin

    # The old key is retired: its tokens are refused.
    data = json.loads(jwks.read_text())
    data["keys"] = [k for k in data["keys"] if k["kid"] != old_kid]
    jwks.write_text(json.dumps(data))
    touch_later(jwks)
    generation = verifier.generation()
    verifier = JwtVerifier(jwks_files=[str(jwks)], reload_interval=0)
    assert generation >= 1
    error = refused(verifier, old_token)
    assert error.reason == reasons.BAD_SIGNATURE
    assert old_kid in error.message


def test_a_token_whose_kid_is_not_published_is_refused(es256: tuple[Path, Path, Path]):
    private, _, jwks = es256
    key = tokens.SigningKey.from_file(str(private), kid="nobody-knows")
    error = refused(JwtVerifier(jwks_files=[str(jwks)]), tokens.admin(key))
    assert error.reason == reasons.BAD_SIGNATURE
    assert "nobody-knows" in error.message


def test_kubernetes_service_account_tokens_map_to_service_identities(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    claims = ClaimMapping(
        agent_host="kubernetes.io.node.name",
        subjects={
            "system:serviceaccount:ml2:portapi": Grant(roles=("service",), service="portapi"),
            "system:serviceaccount:ml2:agent": Grant(),
            "system:serviceaccount:ml2:driver-*": Grant(roles=("service",)),
        },
    )
    verifier = hs_verifier(secret, claims=claims, audience=["modular-l2"])
    sa = tokens.mint(key, "system:serviceaccount:ml2:portapi")
    identity = verifier.verify(sa)
    assert (identity.subject, identity.roles, identity.service) == (
        "system:serviceaccount:ml2:portapi",
        {"service"},
        "portapi",
    )
    agent = tokens.mint(
        key, "system:serviceaccount:ml2:agent", extra={"kubernetes.io": {"node": {"name": "n1"}}}
    )
    assert verifier.verify(agent).agent_host == "n1"
    driver = verifier.verify(tokens.mint(key, "system:serviceaccount:ml2:driver-ovs"))
    assert driver.roles == {"service"}
    assert verifier.verify(tokens.mint(key, "system:serviceaccount:other:x")).roles == set()


def test_roles_may_be_a_nested_claim_or_a_string(secret: Path) -> None:
    key = tokens.SigningKey.from_file(str(secret))
    verifier = hs_verifier(secret, claims=ClaimMapping(roles="realm_access.roles"))
    token = tokens.mint(key, "bob", extra={"realm_access": {"roles": ["Reader"]}})
    assert verifier.verify(token).roles == {"reader"}
    scoped = hs_verifier(secret, claims=ClaimMapping(roles="scope"))
    assert scoped.verify(tokens.mint(key, "bob", extra={"scope": "member reader"})).roles == {
        "member",
        "reader",
    }


def test_a_short_hmac_secret_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short.secret"
    short.write_text("tooshort")
    with pytest.raises(ValueError, match="at least 32 bytes"):
        JwtVerifier(secret_files=[str(short)])


def write_tokens(path: Path, tokens_: dict[str, dict[str, object]]) -> None:
    path.write_text(json.dumps({"tokens": tokens_}))


def test_static_tokens_give_their_identity(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    digest = hashlib.sha256(b"hashed-token").hexdigest()
    path.write_text(
        "tokens:\n"
        "  plain-token: {subject: alice, project_id: p1, roles: [member]}\n"
        f"  'sha256:{digest}': {{subject: portapi, roles: [service], service: portapi}}\n"
    )
    verifier = StaticTokenVerifier(str(path))
    assert verifier.verify("plain-token") == Identity(
        "alice", project_id="p1", roles=frozenset({"member"})
    )
    assert verifier.verify("hashed-token").service == "portapi"
    assert refused(verifier, "other").reason == reasons.UNKNOWN_TOKEN


def test_the_static_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path, {"t1": {"subject": "alice", "roles": ["member"]}})
    verifier = StaticTokenVerifier(str(path), reload_interval=0)
    assert verifier.verify("t1").subject == "alice"
    before = verifier.generation()
    write_tokens(path, {"t2": {"subject": "bob", "roles": ["reader"]}})
    touch_later(path)
    assert verifier.verify("t2").subject == "bob"
    assert refused(verifier, "t1").reason == reasons.UNKNOWN_TOKEN
    assert verifier.generation() == before + 1


def test_a_broken_rewrite_keeps_the_last_good_tokens(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path, {"t1": {"subject": "alice"}})
    verifier = StaticTokenVerifier(str(path), reload_interval=0)
    path.write_text("{not json")
    touch_later(path)
    assert verifier.verify("t1").subject == "alice"


def test_a_malformed_static_file_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"tokens": {"t1": {"roles": ["admin"]}}}))
    with pytest.raises(ValueError, match="subject"):
        StaticTokenVerifier(str(path))


def test_the_chain_tries_static_tokens_then_jwts(tmp_path: Path, secret: Path) -> None:
    path = tmp_path / "tokens.json"
    write_tokens(path, {"opaque": {"subject": "alice"}})
    chain = ChainVerifier(StaticTokenVerifier(str(path)), hs_verifier(secret))
    key = tokens.SigningKey.from_file(str(secret))
    assert chain.verify("opaque").subject == "alice"
    assert chain.verify(tokens.admin(key)).is_admin
    assert refused(chain, "unknown").reason == reasons.MALFORMED


def test_from_env_builds_the_configured_verifier(tmp_path: Path, secret: Path) -> None:
    assert from_env({}) is None
    path = tmp_path / "tokens.json"
    write_tokens(path, {"opaque": {"subject": "alice"}})
    subjects = tmp_path / "subjects.yaml"
    subjects.write_text(
        "'system:serviceaccount:ml2:mechmgr': {roles: [service], service: mechmgr}\n"
    )
    verifier = from_env(
        {
            "ML2_AUTH_TOKEN_FILE": str(path),
            "ML2_AUTH_JWT_SECRET_FILES": str(secret),
            "ML2_AUTH_AUDIENCE": "modular-l2",
            "ML2_AUTH_SUBJECTS_FILE": str(subjects),
        }
    )
    assert verifier is not None
    key = tokens.SigningKey.from_file(str(secret))
    assert verifier.verify("opaque").subject == "alice"
    assert (
        verifier.verify(tokens.mint(key, "system:serviceaccount:ml2:mechmgr")).service == "mechmgr"
    )


def test_from_env_names_the_setting_that_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="ML2_AUTH_TOKEN_FILE"):
        from_env({"ML2_AUTH_TOKEN_FILE": str(tmp_path / "missing.json")})
    with pytest.raises(config.ConfigError, match="ML2_AUTH_JWT"):
        from_env({"ML2_AUTH_JWKS_FILES": str(tmp_path / "missing.json")})
