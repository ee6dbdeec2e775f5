"""Reading typed settings from the environment, failing fast with a one-line reason."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


class ConfigError(Exception):
    """A setting is missing or malformed. The message names the variable and the rule."""


def env(environ: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """Returns the environment to read settings from (the process's by default)."""
    return os.environ if environ is None else environ


def get_str(environ: Mapping[str, str], name: str, default: str) -> str:
    """Returns a string setting, stripped."""
    return environ.get(name, default).strip()


def get_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """Returns an integer setting no smaller than ``minimum``."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value}: must be at least {minimum}")
    return value


def get_rpc_workers(environ: Mapping[str, str], prefix: str, default: int) -> int:
    """``<prefix>_RPC_WORKERS``: how many requests the process works on at once; later ones wait
    in arrival order. A Python process runs one thread at a time, so a few workers keep it busy
    while others wait on the network; many more only make runnable threads take turns."""
    return get_int(environ, f"{prefix}_RPC_WORKERS", default, minimum=1)


def get_db_pool_size(
    environ: Mapping[str, str], prefix: str, default: int, *, workers: int = 0
) -> int:
    """``<prefix>_DB_POOL_SIZE``: connections kept open to PostgreSQL. With ``workers`` (a
    service whose every request holds a connection throughout), never fewer than the RPC
    workers: a smaller pool would open and close connections under load."""
    size = get_int(environ, f"{prefix}_DB_POOL_SIZE", default, minimum=1)
    if size < workers:
        raise ConfigError(
            f"{prefix}_DB_POOL_SIZE={size}: must be at least {prefix}_RPC_WORKERS ({workers}), "
            "as every worker may hold a connection"
        )
    return size


def get_float(
    environ: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0
) -> float:
    """Returns a float setting no smaller than ``minimum``."""
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: must be a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value}: must be at least {minimum}")
    return value


def get_list(environ: Mapping[str, str], name: str, default: str = "") -> list[str]:
    """Returns a comma-separated list setting with empty items dropped."""
    return [item.strip() for item in environ.get(name, default).split(",") if item.strip()]


MIGRATE_MODES = ("auto", "check")
"""The values of ``ML2_DB_MIGRATE``."""


def get_migrate_mode(environ: Mapping[str, str]) -> str:
    """``ML2_DB_MIGRATE``, read by every service that stores data: ``auto`` (default) upgrades
    the database schema to the newest revision at start (one replica at a time); ``check``
    refuses to start unless the schema is already current, for deployments that upgrade it
    beforehand with ``ml2 db upgrade``."""
    value = get_str(environ, "ML2_DB_MIGRATE", "auto").lower() or "auto"
    if value not in MIGRATE_MODES:
        raise ConfigError(f"ML2_DB_MIGRATE={value!r}: must be auto or check")
    return value


def exit_on_config_error(service: str, err: ConfigError) -> None:
    """Prints the one-line reason and exits with status 2."""
    print(f"{service}: configuration error: {err}", file=sys.stderr)
    raise SystemExit(2)
