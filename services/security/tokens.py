"""Signing keys and bearer tokens for a local installation.

``generate_hs256_secret`` writes a shared secret (every verifier holds the signing secret: fine
for one machine); ``generate_es256_key`` writes a private key, its public key and a JWKS
holding it (verifiers hold only the public half: the choice for anything larger). ``mint``
signs a token with either; ``admin``, ``service``, ``agent`` and ``member`` name the identities
the default policy knows. Tokens carry ``sub``, ``roles``, ``project_id``, ``ml2_service`` and
``ml2_agent_host``, the claims ``ClaimMapping`` reads by default.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEFAULT_AUDIENCE = "modular-l2"
DEFAULT_ISSUER = "modular-l2-local"
DEFAULT_LIFETIME = 24 * 3600.0


def _write_private(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def generate_hs256_secret(path: str) -> None:
    """Writes a random 256-bit shared secret (mode 0600)."""
    _write_private(path, secrets.token_urlsafe(48).encode() + b"\n")


@dataclass(frozen=True)
class SigningKey:
    """A key to mint with: an HMAC secret or a private key, and its ``kid``."""

    key: Any
    algorithm: str
    kid: str

    @classmethod
    def from_file(cls, path: str, kid: str = "") -> SigningKey:
        """Reads a secret file (HS256) or a PEM EC private key (ES256). ``kid`` defaults to
        the file name without its extension, as ``JwtVerifier`` names PEM keys."""
        with open(path, "rb") as fh:
            data = fh.read()
        kid = kid or os.path.splitext(os.path.basename(path))[0]
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path}: only EC P-256 private keys are supported")
            return cls(key, "ES256", kid)
        return cls(data.strip(), "HS256", kid)


def _b64(number: int, size: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(size, "big")).rstrip(b"=").decode()


def public_jwk(key: ec.EllipticCurvePublicKey, kid: str) -> dict[str, str]:
    """The JWK of a P-256 public key."""
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64(numbers.x, 32),
        "y": _b64(numbers.y, 32),
        "kid": kid,
        "alg": "ES256",
        "use": "sig",
    }


def generate_es256_key(private_path: str, public_path: str, jwks_path: str = "") -> str:
    """Writes a P-256 private key (mode 0600), its public key and, with ``jwks_path``, a JWKS
    of it; a JWKS that exists already keeps its keys (a rotation: verifiers accept old and new
    tokens until the old key is removed). Returns the key's ``kid`` (random)."""
    key = ec.generate_private_key(ec.SECP256R1())
    kid = uuid.uuid4().hex[:16]
    _write_private(
        private_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    with open(public_path, "wb") as fh:
        fh.write(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    if jwks_path:
        keys: list[dict[str, Any]] = []
        if os.path.exists(jwks_path):
            with open(jwks_path, encoding="utf-8") as fh:
                keys = list(json.load(fh).get("keys", []))
        keys.append(public_jwk(key.public_key(), kid))
        tmp = f"{jwks_path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"keys": keys}, fh, indent=2)
        os.replace(tmp, jwks_path)
    return kid


def mint(
    key: SigningKey,
    subject: str,
    *,
    roles: tuple[str, ...] = (),
    project_id: str = "",
    service: str = "",
    agent_host: str = "",
    audience: str = DEFAULT_AUDIENCE,
    issuer: str = DEFAULT_ISSUER,
    lifetime: float = DEFAULT_LIFETIME,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed token for ``subject``, valid ``lifetime`` seconds from ``now``."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(lifetime),
        "jti": uuid.uuid4().hex,
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    if roles:
        claims["roles"] = list(roles)
    if project_id:
        claims["project_id"] = project_id
    if service:
        claims["ml2_service"] = service
    if agent_host:
        claims["ml2_agent_host"] = agent_host
    claims.update(extra or {})
    return jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": key.kid})


def admin(key: SigningKey, **kwargs: Any) -> str:
    """A cloud administrator's token."""
    return mint(key, "admin", roles=("admin",), **kwargs)


def service(key: SigningKey, name: str, **kwargs: Any) -> str:
    """The token of one of modular-l2's processes: ``portapi``, ``mechmgr``, ``typemgr``, or
    ``driver:<name>`` for a mechanism driver."""
    return mint(key, f"service:{name}", roles=("service",), service=name, **kwargs)


def agent(key: SigningKey, host: str, **kwargs: Any) -> str:
    """The token of the L2 agent of ``host``: it acts for that host only."""
    return mint(key, f"agent:{host}", agent_host=host, **kwargs)


def member(key: SigningKey, project_id: str, user: str = "", **kwargs: Any) -> str:
    """A project member's token (``roles=("reader",)`` for a read-only one)."""
    roles = kwargs.pop("roles", ("member",))
    return mint(key, user or f"user:{project_id}", roles=roles, project_id=project_id, **kwargs)
