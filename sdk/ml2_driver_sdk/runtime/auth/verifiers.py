"""Turning a bearer token into an ``Identity``: JWTs (PyJWT) and a static token file.

A verifier has ``verify(token) -> Identity`` (raising ``AuthError``) and ``generation()``, a
number that changes when its keys or tokens were reloaded, so that the interceptor's cache of
verified tokens forgets what a reload may have revoked.

JWTs are checked against keys from PEM files (RSA, EC or Ed25519 public keys), a shared HS256
secret file, or a JWKS file (``{"keys": [...]}``, as Kubernetes publishes at
``/openid/v1/jwks`` and an OIDC provider at its ``jwks_uri``): a token's ``kid`` header picks the
key. Every key only accepts the algorithms of its own type, so that a public key can never be
used as an HMAC secret. A PEM or secret file's key is named after the file (its name without
the extension), and is also tried for a token naming a kid that no key bears. Claims become an
identity through ``ClaimMapping``: claim names are configurable (dotted paths reach into nested
claims, e.g. ``realm_access.roles`` or ``kubernetes.io.node.name``) and ``subjects`` grants a
known subject a service identity (a Kubernetes service account's token,
``sub: system:serviceaccount:<namespace>:<name>``, carries no roles).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from ml2_driver_sdk.runtime.auth import errors
from ml2_driver_sdk.runtime.auth.errors import AuthError
from ml2_driver_sdk.runtime.auth.files import WatchedFile
from ml2_driver_sdk.runtime.auth.identity import Identity


class Verifier(Protocol):
    def verify(self, token: str) -> Identity: ...

    def generation(self) -> int: ...


@dataclass(frozen=True)
class Grant:
    """What a subject is granted beyond its claims (for subjects whose tokens carry none)."""

    roles: tuple[str, ...] = ()
    project_id: str = ""
    service: str = ""
    agent_host: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str) -> Grant:
        unknown = set(data) - {"roles", "project_id", "service", "agent_host"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        roles = data.get("roles", ())
        if isinstance(roles, str):
            roles = [roles]
        return cls(
            roles=tuple(str(r) for r in roles),
            project_id=str(data.get("project_id", "")),
            service=str(data.get("service", "")),
            agent_host=str(data.get("agent_host", "")),
        )


@dataclass(frozen=True)
class ClaimMapping:
    """Which claims carry what. ``roles`` may hold a list or a space- or comma-separated
    string. ``subjects`` maps a subject (or an ``fnmatch`` pattern such as
    ``system:serviceaccount:ml2:driver-*``) to a ``Grant``, merged into the claims; the first
    matching entry wins, an exact match before any pattern."""

    subject: str = "sub"
    project_id: str = "project_id"
    roles: str = "roles"
    service: str = "ml2_service"
    agent_host: str = "ml2_agent_host"
    subjects: Mapping[str, Grant] = field(default_factory=dict)

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        subject = _claim(claims, self.subject)
        if not subject:
            raise AuthError(errors.MISSING_CLAIM, f"token has no {self.subject!r} claim")
        subject = str(subject)
        grant = self._grant(subject)
        roles = _roles(_claim(claims, self.roles))
        exp = claims.get("exp")
        return Identity(
            subject=subject,
            project_id=str(_claim(claims, self.project_id) or grant.project_id),
            roles=frozenset((*roles, *grant.roles)),
            service=str(_claim(claims, self.service) or grant.service),
            agent_host=str(_claim(claims, self.agent_host) or grant.agent_host),
            expires_at=float(exp) if isinstance(exp, int | float) else None,
        )

    def _grant(self, subject: str) -> Grant:
        exact = self.subjects.get(subject)
        if exact is not None:
            return exact
        for pattern, grant in self.subjects.items():
            if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(subject, pattern):
                return grant
        return Grant()


def _claim(claims: Any, path: str) -> Any:
    """The claim at a dotted ``path``; a key may hold dots itself (``kubernetes.io``), so the
    longest key that matches is taken first."""
    if not path or not isinstance(claims, Mapping):
        return None
    if path in claims:
        return claims[path]
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in claims:
            found = _claim(claims[head], ".".join(parts[cut:]))
            if found is not None:
                return found
    return None


def _roles(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(r for r in value.replace(",", " ").split() if r)
    if isinstance(value, list | tuple):
        return tuple(str(r) for r in value)
    return ()


_HMAC = ("HS256", "HS384", "HS512")
_RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC = ("ES256", "ES384", "ES512")
_OKP = ("EdDSA",)


@dataclass(frozen=True)
class _Key:
    kid: str
    key: Any
    algorithms: tuple[str, ...]
    named: bool = True
    """The kid is the key's own (a JWKS entry), not a file's name: only a token naming it
    is checked against it."""


def _algorithms_of(key: Any) -> tuple[str, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return _RSA
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return _EC
    if isinstance(
        key,
        ed25519.Ed25519PublicKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PublicKey
        | ed448.Ed448PrivateKey,
    ):
        return _OKP
    raise ValueError(f"unsupported key type {type(key).__name__}")


def load_pem_keys(path: str) -> list[_Key]:
    """The public key (or certificate's key) of a PEM file; its ``kid`` is the file's name
    without the extension."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    with open(path, "rb") as fh:
        data = fh.read()
    key: Any
    if b"CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    elif b"PRIVATE KEY" in data:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    kid = os.path.splitext(os.path.basename(path))[0]
    return [_Key(kid, key, _algorithms_of(key), named=False)]


def load_secret(path: str) -> list[_Key]:
    """An HMAC shared secret (the file's content, surrounding white space stripped); at least
    32 bytes, as HS256 wants."""
    with open(path, "rb") as fh:
        secret = fh.read().strip()
    if len(secret) < 32:
        raise ValueError(f"{path}: an HMAC secret must be at least 32 bytes, found {len(secret)}")
    return [_Key(os.path.splitext(os.path.basename(path))[0], secret, _HMAC, named=False)]


def load_jwks(path: str) -> list[_Key]:
    """The signing keys of a JWKS file; a key without ``alg`` accepts its type's algorithms."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError(f"{path}: not a JWKS (an object with a 'keys' list)")
    keys = []
    for entry in data["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        jwk = jwt.PyJWK(entry)
        key = jwk.key
        if entry.get("kty") == "oct":
            algorithms: tuple[str, ...] = (entry["alg"],) if entry.get("alg") in _HMAC else _HMAC
        else:
            family = _algorithms_of(key)
            algorithms = (entry["alg"],) if entry.get("alg") in family else family
        keys.append(_Key(str(entry.get("kid", "")), key, algorithms))
    return keys


class JwtVerifier:
    """Verifies JWTs against keys from files (``pem_files``, ``secret_files``, ``jwks_files``),
    reloaded when a file changes (looked at at most every ``reload_interval`` seconds).

    ``audience``: one of them must be in the token's ``aud`` (empty: ``aud`` is not checked);
    ``issuer``: the token's ``iss`` must be one of them (empty: not checked). ``leeway``: the
    seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``. ``require_exp``: a token
    without ``exp`` is refused.
    """

    def __init__(
        self,
        *,
        pem_files: Iterable[str] = (),
        secret_files: Iterable[str] = (),
        jwks_files: Iterable[str] = (),
        audience: Sequence[str] = (),
        issuer: Sequence[str] = (),
        leeway: float = 30.0,
        require_exp: bool = True,
        claims: ClaimMapping | None = None,
        reload_interval: float = 1.0,
    ) -> None:
        self._files = [
            *(WatchedFile(p, load_pem_keys, interval=reload_interval) for p in pem_files),
            *(WatchedFile(p, load_secret, interval=reload_interval) for p in secret_files),
            *(WatchedFile(p, load_jwks, interval=reload_interval) for p in jwks_files),
        ]
        if not self._files:
            raise ValueError("a JWT verifier needs at least one key file")
        self.audience = list(audience)
        self.issuer = list(issuer)
        self.leeway = leeway
        self.claims = claims or ClaimMapping()
        self._options: dict[str, Any] = {
            "require": ["exp"] if require_exp else [],
            "verify_aud": bool(self.audience),
            "verify_iss": False,  # checked below, against a list
        }

    def generation(self) -> int:
        for f in self._files:
            f.get()  # looks at the file if it is time to
        return sum(f.generation for f in self._files)

    def keys(self) -> list[_Key]:
        return [key for f in self._files for key in f.get()]

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError(errors.MALFORMED, "token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        kid = header.get("kid")
        keys = self.keys()
        candidates = [k for k in keys if algorithm in k.algorithms]
        if kid is not None:
            by_kid = [k for k in candidates if k.kid == kid]
            if not by_kid:
                # A key rotated in moments ago: look at the files now rather than in a second.
                for f in self._files:
                    f.refresh()
                candidates = [k for k in self.keys() if algorithm in k.algorithms]
                by_kid = [k for k in candidates if k.kid == kid]
            # A key from a PEM or secret file has no kid of its own: when no key bears the
            # token's kid, those keys are tried.
            candidates = by_kid or [k for k in candidates if not k.named]
        if not candidates:
            detail = f"kid {kid!r}" if kid is not None else f"algorithm {algorithm!r}"
            raise AuthError(errors.BAD_SIGNATURE, f"token signed with an unknown key ({detail})")
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=list(key.algorithms),
                    audience=self.audience or None,
                    leeway=self.leeway,
                    options=self._options,  # type: ignore[arg-type]
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                raise _auth_error(exc) from None
        if claims is None:
            raise AuthError(errors.BAD_SIGNATURE, "token signature does not verify")
        if self.issuer and claims.get("iss") not in self.issuer:
            raise AuthError(
                errors.WRONG_ISSUER,
                f"token issuer {claims.get('iss')!r} is not one of {self.issuer}",
            )
        return self.claims.identity(claims)


def _auth_error(exc: Exception) -> AuthError:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return AuthError(errors.EXPIRED, "token has expired")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return AuthError(errors.NOT_YET_VALID, "token is not valid yet (nbf or iat in the future)")
    if isinstance(exc, jwt.InvalidAudienceError):
        return AuthError(errors.WRONG_AUDIENCE, f"token audience is wrong: {exc}")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return AuthError(errors.MISSING_CLAIM, f"token has no {exc.claim!r} claim")
    if isinstance(exc, jwt.InvalidSignatureError):
        return AuthError(errors.BAD_SIGNATURE, "token signature does not verify")
    return AuthError(errors.MALFORMED, f"token is malformed: {exc}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_token_file(path: str) -> dict[str, Identity]:
    """Reads a static token file (JSON, or YAML if named ``.yaml``/``.yml``)::

        tokens:
          "<token>": {subject: alice, project_id: p1, roles: [member]}
          "sha256:<hex digest of a token>": {subject: portapi, roles: [service], service: portapi}

    Returns the identities by the SHA-256 digest of their token.
    """
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    data: Any
    if path.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if not isinstance(tokens, dict):
        raise ValueError(f"{path}: must hold a 'tokens' mapping from token to identity")
    identities = {}
    for token, entry in tokens.items():
        if not isinstance(entry, dict) or not entry.get("subject"):
            raise ValueError(f"{path}: every token needs a mapping with a 'subject'")
        grant = Grant.from_mapping(
            {k: v for k, v in entry.items() if k != "subject"}, f"{path}: {entry['subject']}"
        )
        key = str(token)
        digest = key[len("sha256:") :].lower() if key.startswith("sha256:") else _digest(key)
        identities[digest] = Identity(
            subject=str(entry["subject"]),
            project_id=grant.project_id,
            roles=frozenset(grant.roles),
            service=grant.service,
            agent_host=grant.agent_host,
        )
    return identities


class StaticTokenVerifier:
    """Opaque tokens listed in a file (``load_token_file``), for small installations; the file
    is read again when it changes. Tokens are looked up by digest, so that neither the file
    nor a lookup's timing gives a token away."""

    def __init__(self, path: str, *, reload_interval: float = 1.0) -> None:
        self._file = WatchedFile(path, load_token_file, interval=reload_interval)

    def generation(self) -> int:
        self._file.get()
        return self._file.generation

    def verify(self, token: str) -> Identity:
        identity = self._file.get().get(_digest(token))
        if identity is None:
            raise AuthError(errors.UNKNOWN_TOKEN, "token is not known")
        return identity


class ChainVerifier:
    """Static tokens first (one lookup), then JWTs: a token that is neither is refused with
    the JWT verifier's reason, or as unknown if there is none."""

    def __init__(self, static: StaticTokenVerifier | None, jwt_verifier: JwtVerifier | None):
        if static is None and jwt_verifier is None:
            raise ValueError("no token verifier configured")
        self._static = static
        self._jwt = jwt_verifier

    def generation(self) -> int:
        return (self._static.generation() if self._static else 0) + (
            self._jwt.generation() if self._jwt else 0
        )

    def verify(self, token: str) -> Identity:
        if self._static is not None:
            try:
                return self._static.verify(token)
            except AuthError:
                if self._jwt is None:
                    raise
        assert self._jwt is not None
        if token.count(".") != 2:
            raise AuthError(errors.MALFORMED, "token is neither a known token nor a JWT")
        return self._jwt.verify(token)
