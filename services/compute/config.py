"""The compute node's configuration: a TOML file, the environment and the command line.

The file (``--config``, else ``ML2_COMPUTE_CONFIG``, else ``/etc/ml2/compute.toml`` when it
exists; none is needed)::

    host = "compute-1"                          # the binding host id (default: the hostname)
    portapi = "10.0.0.5:50050"                  # portapi's address
    integration_bridge = "br-int"               # when vif_details name no bridge
    ovsdb = "unix:/var/run/openvswitch/db.sock" # Open vSwitch's database
    host_netns = ""                             # the namespace holding the host's devices

    [default_vif]                               # the fallback: used when the binding's
    vif_type = "ovs"                            # vif_type is use_default, or the server
    [default_vif.vif_details]                   # gives no vif_type (or no vif_details)
    bridge_name = "br-int"

Where two sources give a value, the more specific wins: a command line flag, then the
environment (``ML2_COMPUTE_HOST``, ``ML2_PORTAPI_ADDRESS``), then the file, then the default
(the hostname, shared with the L2 agents through ``ml2_contract.hosts``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml2_contract import hosts, vocabulary

DEFAULT_CONFIG_PATH = Path("/etc/ml2/compute.toml")
DEFAULT_PORTAPI_ADDRESS = "127.0.0.1:50050"
DEFAULT_INTEGRATION_BRIDGE = "br-int"
DEFAULT_OVSDB = "unix:/var/run/openvswitch/db.sock"
CONFIG_ENV = "ML2_COMPUTE_CONFIG"
HOST_ENV = "ML2_COMPUTE_HOST"
PORTAPI_ENV = "ML2_PORTAPI_ADDRESS"

PLUGGABLE_VIF_TYPES = (
    vocabulary.VIF_TYPE_OVS,
    vocabulary.VIF_TYPE_BRIDGE,
    vocabulary.VIF_TYPE_VHOST_USER,
)
"""The vif types this VIF driver plugs, so the ones a default VIF may have."""

_KEYS = ("host", "portapi", "integration_bridge", "ovsdb", "host_netns", "default_vif")
_VIF_KEYS = ("vif_type", "vif_details")
_LINK_NAME = re.compile(r"^[^\s/:]{1,15}$")
NETNS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""A network namespace name this driver accepts (it names a file in /run/netns)."""
_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}$")


class ComputeConfigError(ValueError):
    """The configuration is invalid; the message is one line naming the file, key and rule."""


@dataclass(frozen=True)
class DefaultVif:
    """The VIF the host plugs when the binding leaves it to the host."""

    vif_type: str
    vif_details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ComputeConfig:
    """The compute configuration file's settings (built-in defaults for keys it lacks)."""

    path: str = ""
    """The file read, or empty when there is none."""
    host: str = ""
    portapi: str = ""
    integration_bridge: str = DEFAULT_INTEGRATION_BRIDGE
    ovsdb: str = DEFAULT_OVSDB
    host_netns: str = ""
    """The network namespace that holds the host's devices and Open vSwitch; empty: this
    process's. A lab runs each simulated compute node in a namespace of its own."""
    default_vif: DefaultVif | None = None


@dataclass(frozen=True)
class Chosen:
    """A setting's value and where it came from, for the output to say."""

    value: str
    source: str
    """``--host``, ``env ML2_COMPUTE_HOST``, ``config /etc/ml2/compute.toml`` or ``hostname``."""


def config_path(flag: str | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to read: ``--config``, else ``ML2_COMPUTE_CONFIG``, else the
    default path when it exists, else None (no file)."""
    env = os.environ if environ is None else environ
    if flag:
        return Path(flag)
    if env.get(CONFIG_ENV, "").strip():
        return Path(env[CONFIG_ENV].strip())
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.is_file() else None


def load(path: Path | None) -> ComputeConfig:
    """Reads and validates the file at ``path`` (None: no file, every default). Raises
    ComputeConfigError naming the key and the rule; nothing is half-applied."""
    if path is None:
        return ComputeConfig()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as err:
        raise ComputeConfigError(
            f"compute config {path}: cannot read it: {err.strerror or err}"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ComputeConfigError(f"compute config {path}: not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise ComputeConfigError(f"compute config {path}: not UTF-8 text") from None
    return parse(data, str(path))


def parse(data: Mapping[str, Any], path: str) -> ComputeConfig:
    """Validates the parsed TOML ``data`` of the file ``path``; raises ComputeConfigError."""

    def fail(key: str, rule: str) -> ComputeConfigError:
        return ComputeConfigError(f"compute config {path}: {key}: {rule}")

    for key in data:
        if key not in _KEYS:
            raise fail(key, f"unknown key; the keys are {', '.join(_KEYS)}")

    def text(key: str, default: str, pattern: re.Pattern[str] | None, rule: str) -> str:
        if key not in data:
            return default
        value = data[key]
        if not isinstance(value, str):
            raise fail(key, f"must be a string, got {type(value).__name__}")
        if pattern is not None and not pattern.match(value):
            raise fail(key, f"{value!r} {rule}")
        return value

    host = text("host", "", re.compile(r"^\S{1,255}$"), "must be 1 to 255 non-blank characters")
    portapi = text("portapi", "", _ADDRESS, "must be HOST:PORT")
    bridge = text(
        "integration_bridge",
        DEFAULT_INTEGRATION_BRIDGE,
        _LINK_NAME,
        "must be a bridge name of 1 to 15 characters without blanks, / or :",
    )
    ovsdb = text(
        "ovsdb",
        DEFAULT_OVSDB,
        re.compile(r"^(unix:/\S+|tcp:\S+:\d+|ssl:\S+:\d+)$"),
        "must be unix:/PATH, tcp:HOST:PORT or ssl:HOST:PORT",
    )
    netns = text("host_netns", "", re.compile(r"^$|" + NETNS_NAME.pattern), "is no netns name")
    return ComputeConfig(
        path=path,
        host=host,
        portapi=portapi,
        integration_bridge=bridge,
        ovsdb=ovsdb,
        host_netns=netns,
        default_vif=_default_vif(data.get("default_vif"), fail),
    )


def _default_vif(value: Any, fail: Any) -> DefaultVif | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail("default_vif", "must be a table ([default_vif])")
    for key in value:
        if key not in _VIF_KEYS:
            raise fail(f"default_vif.{key}", f"unknown key; the keys are {', '.join(_VIF_KEYS)}")
    vif_type = value.get("vif_type")
    if not isinstance(vif_type, str) or not vif_type:
        raise fail("default_vif.vif_type", "required, a string")
    if vif_type not in PLUGGABLE_VIF_TYPES:
        raise fail(
            "default_vif.vif_type",
            f"{vif_type!r} must be one of the vif types this host plugs: "
            f"{', '.join(PLUGGABLE_VIF_TYPES)}",
        )
    details = value.get("vif_details", {})
    if not isinstance(details, dict):
        raise fail("default_vif.vif_details", "must be a table ([default_vif.vif_details])")
    return DefaultVif(vif_type, dict(details))


def choose_host(
    flag: str | None, cfg: ComputeConfig, environ: Mapping[str, str] | None = None
) -> Chosen:
    """The binding host id: ``--host``, else ``ML2_COMPUTE_HOST``, else the file's ``host``,
    else the hostname (the default the L2 agents use too). Raises ComputeConfigError for a
    blank flag or variable."""
    env = os.environ if environ is None else environ
    if flag is not None:
        if not flag.strip():
            raise ComputeConfigError("--host: must not be empty")
        return Chosen(flag.strip(), "--host")
    if HOST_ENV in env:
        if not env[HOST_ENV].strip():
            raise ComputeConfigError(f"{HOST_ENV}: must not be empty when set")
        return Chosen(env[HOST_ENV].strip(), f"env {HOST_ENV}")
    if cfg.host:
        return Chosen(cfg.host, f"config {cfg.path}")
    return Chosen(hosts.default_host(), "hostname")


def choose_portapi(
    flag: str | None, cfg: ComputeConfig, environ: Mapping[str, str] | None = None
) -> Chosen:
    """portapi's address: ``--portapi``, else ``ML2_PORTAPI_ADDRESS``, else the file's
    ``portapi``, else 127.0.0.1:50050."""
    env = os.environ if environ is None else environ
    if flag:
        return Chosen(flag, "--portapi")
    if env.get(PORTAPI_ENV, "").strip():
        return Chosen(env[PORTAPI_ENV].strip(), f"env {PORTAPI_ENV}")
    if cfg.portapi:
        return Chosen(cfg.portapi, f"config {cfg.path}")
    return Chosen(DEFAULT_PORTAPI_ADDRESS, "default")
