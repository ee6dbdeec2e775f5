"""The authentication of one local installation (``ml2 up``): a signing key kept in the data
directory, a token per process, an administrator's, the compute service's and a demo project
member's.

Layout under ``DATA_DIR/auth`` (the directory mode 0700, every private file 0600)::

    signing.key            the ES256 private key (created once, kept across restarts)
    signing.pub            its public key: what every process verifies tokens with
    tokens/<name>.token    typemgr, mechmgr, portapi, driver-<name>, admin, compute,
                           member-demo, ...

Tokens are minted again at every start (``TOKEN_LIFETIME``); the key stays, so tokens minted
from it before (``ml2 token mint``) stay valid until they expire.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from services.security import tokens

TOKEN_LIFETIME = 30 * 24 * 3600.0
"""How long the tokens of a local installation are valid: a month."""

DEMO_PROJECT = "demo"
"""The project whose member token ``ml2 up`` writes (``tokens/member-demo.token``)."""

SERVICES = ("typemgr", "mechmgr", "portapi")

COMPUTE = "compute"
"""The service identity of compute nodes binding and plugging ports (Nova's, in Neutron's
policy): the only caller besides the stack's own services that may set ``binding.profile``."""


def auth_dir(data_dir: Path) -> Path:
    return data_dir / "auth"


def token_path(data_dir: Path, name: str) -> Path:
    """Where the token ``name`` (``admin``, ``portapi``, ``driver-openvswitch``) is written."""
    return auth_dir(data_dir) / "tokens" / f"{name}.token"


def key_path(data_dir: Path) -> Path:
    return auth_dir(data_dir) / "signing.key"


def public_key_path(data_dir: Path) -> Path:
    return auth_dir(data_dir) / "signing.pub"


def has_key(data_dir: Path) -> bool:
    return key_path(data_dir).is_file()


def ensure_key(data_dir: Path) -> tokens.SigningKey:
    """The installation's signing key, created the first time (0600, in a 0700 directory)."""
    directory = auth_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    if not has_key(data_dir):
        tmp_key, tmp_pub = directory / f".signing.key.{os.getpid()}", directory / ".signing.pub"
        tokens.generate_es256_key(str(tmp_key), str(tmp_pub))
        os.replace(tmp_pub, public_key_path(data_dir))
        os.replace(tmp_key, key_path(data_dir))
    return load_key(data_dir)


def load_key(data_dir: Path) -> tokens.SigningKey:
    """The signing key; raises OSError when the data dir has none."""
    return tokens.SigningKey.from_file(str(key_path(data_dir)))


def write_token(data_dir: Path, name: str, token: str) -> Path:
    """Writes ``token`` to ``tokens/<name>.token`` (mode 0600) atomically; returns the path."""
    path = token_path(data_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)
    return path


def process_token_name(process: str) -> str:
    """The token file name of a stack process: the service's, or ``driver-<name>``."""
    return process if process in SERVICES else f"driver-{process}"


def mint_process(key: tokens.SigningKey, process: str) -> str:
    """The token of a stack process: ``service:<name>``, or ``service:driver:<name>``."""
    name = process if process in SERVICES else f"driver:{process}"
    return tokens.service(key, name, lifetime=TOKEN_LIFETIME)


def prepare(data_dir: Path, processes: list[str]) -> dict[str, Path]:
    """Creates the key if needed and writes a fresh token for every process, the admin and
    the demo project's member; returns every token file by name."""
    key = ensure_key(data_dir)
    written = {
        process_token_name(p): write_token(data_dir, process_token_name(p), mint_process(key, p))
        for p in processes
    }
    written["admin"] = write_token(data_dir, "admin", tokens.admin(key, lifetime=TOKEN_LIFETIME))
    compute = tokens.service(key, COMPUTE, lifetime=TOKEN_LIFETIME)
    written[COMPUTE] = write_token(data_dir, COMPUTE, compute)
    member = tokens.member(key, DEMO_PROJECT, lifetime=TOKEN_LIFETIME)
    written[f"member-{DEMO_PROJECT}"] = write_token(data_dir, f"member-{DEMO_PROJECT}", member)
    return written


def server_env(data_dir: Path) -> dict[str, str]:
    """The ``ML2_AUTH_*`` settings of every process of the installation."""
    return {
        "ML2_AUTH_JWT_KEY_FILES": str(public_key_path(data_dir).resolve()),
        "ML2_AUTH_AUDIENCE": tokens.DEFAULT_AUDIENCE,
        "ML2_AUTH_ISSUER": tokens.DEFAULT_ISSUER,
        "ML2_AUTH_REQUIRED": "1",
    }


def process_env(data_dir: Path, process: str) -> dict[str, str]:
    """A stack process's environment for authentication: verify, and call with its token."""
    return {
        **server_env(data_dir),
        "ML2_TOKEN_FILE": str(token_path(data_dir, process_token_name(process)).resolve()),
        "ML2_TOKEN": "",
    }


def agent_token(data_dir: Path, host: str) -> str:
    """A token for the agent of ``host``, from the data dir's key; raises OSError without one."""
    return tokens.agent(load_key(data_dir), host, lifetime=TOKEN_LIFETIME)


def has_token_setting(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("ML2_TOKEN_FILE", "").strip() or environ.get("ML2_TOKEN", "").strip())
