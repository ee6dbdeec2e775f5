"""Reading a process's token verification from its environment.

=============================  ===============================================================
``ML2_AUTH_TOKEN_FILE``        a static token file (``verifiers.load_token_file``)
``ML2_AUTH_JWT_KEY_FILES``     PEM public keys or certificates, comma-separated
``ML2_AUTH_JWT_SECRET_FILES``  HS256 shared secrets, comma-separated
``ML2_AUTH_JWKS_FILES``        JWKS files, comma-separated (Kubernetes' or an OIDC provider's)
``ML2_AUTH_AUDIENCE``          accepted audiences, comma-separated (empty: not checked)
``ML2_AUTH_ISSUER``            accepted issuers, comma-separated (empty: not checked)
``ML2_AUTH_LEEWAY``            seconds of clock skew allowed (30)
``ML2_AUTH_CLAIM_<X>``         the claim carrying X: ``SUBJECT`` (sub), ``PROJECT_ID``
                               (project_id), ``ROLES`` (roles), ``SERVICE`` (ml2_service),
                               ``AGENT_HOST`` (ml2_agent_host); dotted paths reach nested claims
``ML2_AUTH_SUBJECTS_FILE``     YAML or JSON: subject (or pattern) → ``{roles, project_id,
                               service, agent_host}``, for tokens without those claims
=============================  ===============================================================

Nothing set: no verifier (authentication off).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ml2_driver_sdk.runtime import config
from ml2_driver_sdk.runtime.auth.verifiers import (
    ChainVerifier,
    ClaimMapping,
    Grant,
    JwtVerifier,
    StaticTokenVerifier,
    Verifier,
)


def read_subjects(path: str) -> dict[str, Grant]:
    """Reads a subjects file; raises ValueError naming the file and the entry."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    data: Any
    if path.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must map subjects to grants")
    grants = {}
    for subject, grant in data.items():
        if not isinstance(grant, dict):
            raise ValueError(f"{path}: {subject}: must be a mapping")
        grants[str(subject)] = Grant.from_mapping(grant, f"{path}: {subject}")
    return grants


def from_env(environ: Mapping[str, str] | None = None) -> Verifier | None:
    """The verifier the ``ML2_AUTH_*`` settings describe, or None; raises ConfigError naming
    the setting."""
    environ = config.env(environ)
    token_file = config.get_str(environ, "ML2_AUTH_TOKEN_FILE", "")
    pem = config.get_list(environ, "ML2_AUTH_JWT_KEY_FILES")
    secrets = config.get_list(environ, "ML2_AUTH_JWT_SECRET_FILES")
    jwks = config.get_list(environ, "ML2_AUTH_JWKS_FILES")
    subjects_file = config.get_str(environ, "ML2_AUTH_SUBJECTS_FILE", "")
    subjects: dict[str, Grant] = {}
    if subjects_file:
        try:
            subjects = read_subjects(subjects_file)
        except (OSError, ValueError) as exc:
            raise config.ConfigError(f"ML2_AUTH_SUBJECTS_FILE={subjects_file}: {exc}") from None
    defaults = ClaimMapping()
    claims = ClaimMapping(
        subject=config.get_str(environ, "ML2_AUTH_CLAIM_SUBJECT", defaults.subject),
        project_id=config.get_str(environ, "ML2_AUTH_CLAIM_PROJECT_ID", defaults.project_id),
        roles=config.get_str(environ, "ML2_AUTH_CLAIM_ROLES", defaults.roles),
        service=config.get_str(environ, "ML2_AUTH_CLAIM_SERVICE", defaults.service),
        agent_host=config.get_str(environ, "ML2_AUTH_CLAIM_AGENT_HOST", defaults.agent_host),
        subjects=subjects,
    )
    static = None
    if token_file:
        try:
            static = StaticTokenVerifier(token_file)
        except (OSError, ValueError) as exc:
            raise config.ConfigError(f"ML2_AUTH_TOKEN_FILE={token_file}: {exc}") from None
    jwt_verifier = None
    if pem or secrets or jwks:
        try:
            jwt_verifier = JwtVerifier(
                pem_files=pem,
                secret_files=secrets,
                jwks_files=jwks,
                audience=config.get_list(environ, "ML2_AUTH_AUDIENCE"),
                issuer=config.get_list(environ, "ML2_AUTH_ISSUER"),
                leeway=config.get_float(environ, "ML2_AUTH_LEEWAY", 30.0),
                claims=claims,
            )
        except (OSError, ValueError) as exc:
            raise config.ConfigError(f"ML2_AUTH_JWT_*: cannot load a key: {exc}") from None
    if static is None and jwt_verifier is None:
        return None
    if jwt_verifier is None:
        return static
    if static is None:
        return jwt_verifier
    return ChainVerifier(static, jwt_verifier)
