"""typemgr settings, read once from the environment and validated at start.

Every variable is documented on its ``Settings`` field. A malformed value stops the process with
one line naming the variable and the rule, and exit status 2.

Range syntax:

* ``TYPEMGR_NETWORK_VLAN_RANGES=physnet1:100:199,physnet1:300:310,physnet2`` gives ``physnet1``
  a tenant pool of VLAN ids 100-199 and 300-310, and declares ``physnet2`` a provider-only
  physical network: administrators may create VLAN networks on it with any id 1-4094, but no
  tenant network is ever allocated there. (Neutron changed a bare ``physnet`` in 2021 to mean a
  tenant pool of all 4094 ids; typemgr keeps the earlier, safer meaning, so that declaring a
  physical network never hands its whole VLAN space to tenants.)
* ``TYPEMGR_VXLAN_VNI_RANGES=1000:1999,5000:5999`` gives the VXLAN tenant pool; likewise
  ``TYPEMGR_GRE_TUNNEL_ID_RANGES`` (1-4294967295) and ``TYPEMGR_GENEVE_VNI_RANGES``.

These ranges are the *default* ranges: at start typemgr makes the database's default ranges
match them. Ranges created through ``SegmentRangeService`` live in the database only and are
never touched by a configuration change. Ranges of one pool must not overlap. Provider segments
may use ids outside the ranges; those ids are reserved while used but never enter a pool.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from ml2_contract import vocabulary
from ml2_driver_sdk.runtime import config
from ml2_driver_sdk.runtime.config import ConfigError
from ml2_driver_sdk.runtime.keepalive import Keepalive
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from services.typemgr import segments
from services.typemgr.segments import IdRange

IMPLEMENTED_TYPES = vocabulary.NETWORK_TYPES
"""The network types typemgr has drivers for, in the order they are listed in messages."""

DEFAULT_DATABASE_URL = "sqlite:///./data/typemgr.db"
MIN_MTU = 68
"""The smallest MTU an IPv4 network may have (RFC 791); smaller settings other than 0 (not
set, as in Neutron) are refused."""


@dataclass(frozen=True)
class Settings:
    """Everything typemgr is configured with."""

    listen: str = "127.0.0.1:50051"
    """``TYPEMGR_LISTEN``: host:port of the gRPC server (port 0 picks a free port)."""
    metrics_port: int = 9101
    """``TYPEMGR_METRICS_PORT``: HTTP port serving Prometheus metrics on /metrics (0 = free)."""
    database_url: str = DEFAULT_DATABASE_URL
    """``TYPEMGR_DATABASE_URL``: SQLAlchemy URL; a SQLite file (directory created) or
    ``postgresql+psycopg://...`` when several replicas share the pools."""
    rpc_workers: int = 8
    """``TYPEMGR_RPC_WORKERS``: requests worked on at once; later ones wait in arrival order."""
    db_pool_size: int = 10
    """``TYPEMGR_DB_POOL_SIZE``: PostgreSQL connections kept open; at least the RPC workers,
    by default 2 more."""
    type_drivers: tuple[str, ...] = IMPLEMENTED_TYPES
    """``TYPEMGR_TYPE_DRIVERS``: the network types enabled, from local, flat, vlan, gre, vxlan
    and geneve (all by default)."""
    tenant_network_types: tuple[str, ...] = (vocabulary.TYPE_VXLAN,)
    """``TYPEMGR_TENANT_NETWORK_TYPES``: ordered types tried for tenant networks; the first with
    a free id wins. Each must be enabled; flat cannot be one. Empty refuses tenant networks."""
    flat_networks: tuple[str, ...] = ("*",)
    """``TYPEMGR_FLAT_NETWORKS``: physical networks that may carry a flat network; ``*`` allows
    any, empty disables flat networks."""
    vlan_physical_networks: tuple[str, ...] = ("physnet1",)
    """The physical networks named in ``TYPEMGR_NETWORK_VLAN_RANGES``, in order (VLAN provider
    networks may use only these)."""
    vlan_ranges: tuple[IdRange, ...] = (IdRange("physnet1", 100, 199),)
    """``TYPEMGR_NETWORK_VLAN_RANGES``: the VLAN tenant pools (see the module docstring)."""
    vxlan_ranges: tuple[IdRange, ...] = (IdRange("", 1000, 1999),)
    """``TYPEMGR_VXLAN_VNI_RANGES``: the VXLAN tenant pool, ``min:max`` items within 1-16777215."""
    gre_ranges: tuple[IdRange, ...] = ()
    """``TYPEMGR_GRE_TUNNEL_ID_RANGES``: the GRE tenant pool, ``min:max`` items within
    1-4294967295 (empty by default)."""
    geneve_ranges: tuple[IdRange, ...] = ()
    """``TYPEMGR_GENEVE_VNI_RANGES``: the Geneve tenant pool, ``min:max`` items within
    1-16777215 (empty by default)."""
    geneve_max_header_size: int = segments.GENEVE_MIN_OVERHEAD
    """``TYPEMGR_GENEVE_MAX_HEADER_SIZE``: bytes of Geneve overhead (UDP, Geneve header and
    options, inner Ethernet) subtracted from the MTU, 30-282; OVN needs at least 38."""
    global_physnet_mtu: int = 1500
    """``TYPEMGR_GLOBAL_PHYSNET_MTU``: MTU of the physical networks (flat, vlan, and the underlay
    of tunnels); 0 = not set, as in Neutron: a segment's MTU then comes from
    ``TYPEMGR_PHYSICAL_NETWORK_MTUS`` or ``TYPEMGR_PATH_MTU``, else it is unknown (0), and a
    network whose segments all have unknown MTUs has MTU 0."""
    path_mtu: int = 0
    """``TYPEMGR_PATH_MTU``: largest IP packet the tunnel underlay carries; 0 = use
    ``TYPEMGR_GLOBAL_PHYSNET_MTU``."""
    physical_network_mtus: Mapping[str, int] = field(default_factory=dict)
    """``TYPEMGR_PHYSICAL_NETWORK_MTUS``: ``physnet:mtu`` items lowering the MTU of flat and vlan
    segments on a physical network (raising it when the global MTU is 0); an MTU of 0 = not
    set."""
    overlay_ip_version: int = 4
    """``TYPEMGR_OVERLAY_IP_VERSION``: IP version of the tunnel underlay, 4 or 6 (outer header of
    20 or 40 bytes)."""
    log_level: str = "INFO"
    """``ML2_LOG_LEVEL``: DEBUG, INFO, WARNING or ERROR."""
    log_format: str = "json"
    """``ML2_LOG_FORMAT``: ``json`` (one object per line) or ``text``."""
    port_file: str = ""
    """``ML2_PORT_FILE``: where to write the bound ports once serving (used by launchers)."""
    keepalive: Keepalive = field(default_factory=Keepalive)
    """``ML2_GRPC_KEEPALIVE_TIME_SECONDS``, ``ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS``: the keepalive
    of the server and of every channel (``ml2_driver_sdk.runtime.keepalive``)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Reads and validates the settings. Raises ConfigError naming the variable and rule."""
        env = config.env(environ)
        type_drivers = _parse_type_drivers(env)
        vlan_physnets, vlan_ranges = parse_vlan_ranges(
            "TYPEMGR_NETWORK_VLAN_RANGES",
            config.get_list(env, "TYPEMGR_NETWORK_VLAN_RANGES", "physnet1:100:199"),
        )
        workers = config.get_rpc_workers(env, "TYPEMGR", cls.rpc_workers)
        return cls(
            listen=_listen(env),
            metrics_port=config.get_int(env, "TYPEMGR_METRICS_PORT", 9101),
            database_url=_database_url(env),
            rpc_workers=workers,
            db_pool_size=config.get_db_pool_size(env, "TYPEMGR", workers + 2, workers=workers),
            type_drivers=type_drivers,
            tenant_network_types=_parse_tenant_types(env, type_drivers),
            flat_networks=_parse_flat_networks(env),
            vlan_physical_networks=vlan_physnets,
            vlan_ranges=vlan_ranges,
            vxlan_ranges=_tunnel_ranges(env, "TYPEMGR_VXLAN_VNI_RANGES", "1000:1999", "VXLAN VNI"),
            gre_ranges=_tunnel_ranges(env, "TYPEMGR_GRE_TUNNEL_ID_RANGES", "", "GRE key"),
            geneve_ranges=_tunnel_ranges(env, "TYPEMGR_GENEVE_VNI_RANGES", "", "Geneve VNI"),
            geneve_max_header_size=_geneve_header(env),
            global_physnet_mtu=_mtu(env, "TYPEMGR_GLOBAL_PHYSNET_MTU", 1500),
            path_mtu=_mtu(env, "TYPEMGR_PATH_MTU", 0),
            physical_network_mtus=parse_physnet_mtus(
                "TYPEMGR_PHYSICAL_NETWORK_MTUS",
                config.get_list(env, "TYPEMGR_PHYSICAL_NETWORK_MTUS"),
            ),
            overlay_ip_version=_ip_version(env),
            log_level=_log_level(env),
            log_format=_log_format(env),
            port_file=config.get_str(env, "ML2_PORT_FILE", ""),
            keepalive=Keepalive.from_env(env),
        )


def _listen(env: Mapping[str, str]) -> str:
    value = config.get_str(env, "TYPEMGR_LISTEN", "127.0.0.1:50051")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"TYPEMGR_LISTEN={value!r}: must be host:port with a port 0-65535")
    return value


def _database_url(env: Mapping[str, str]) -> str:
    name = "TYPEMGR_DATABASE_URL"
    value = config.get_str(env, name, DEFAULT_DATABASE_URL) or DEFAULT_DATABASE_URL
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        raise ConfigError(f"{name}={value!r}: not a database URL") from None
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"{name}: must be a sqlite:/// or postgresql+psycopg:// URL, got {backend!r}"
        )
    return value


RANGE_SETTINGS = {
    vocabulary.TYPE_VLAN: "TYPEMGR_NETWORK_VLAN_RANGES",
    vocabulary.TYPE_GRE: "TYPEMGR_GRE_TUNNEL_ID_RANGES",
    vocabulary.TYPE_VXLAN: "TYPEMGR_VXLAN_VNI_RANGES",
    vocabulary.TYPE_GENEVE: "TYPEMGR_GENEVE_VNI_RANGES",
}
"""The setting that seeds the default ranges of each type; default ranges are named after it."""

_TUNNEL_RANGE_TYPES = {
    "TYPEMGR_VXLAN_VNI_RANGES": vocabulary.TYPE_VXLAN,
    "TYPEMGR_GRE_TUNNEL_ID_RANGES": vocabulary.TYPE_GRE,
    "TYPEMGR_GENEVE_VNI_RANGES": vocabulary.TYPE_GENEVE,
}


def _tunnel_ranges(
    env: Mapping[str, str], name: str, default: str, what: str
) -> tuple[IdRange, ...]:
    low, high = segments.ID_LIMITS[_TUNNEL_RANGE_TYPES[name]]
    return parse_tunnel_ranges(name, config.get_list(env, name, default), what, low, high)


def _geneve_header(env: Mapping[str, str]) -> int:
    name = "TYPEMGR_GENEVE_MAX_HEADER_SIZE"
    value = config.get_int(env, name, segments.GENEVE_MIN_OVERHEAD)
    low, high = segments.GENEVE_MIN_OVERHEAD, segments.GENEVE_MAX_OVERHEAD
    if not low <= value <= high:
        raise ConfigError(f"{name}={value}: must be between {low} and {high} bytes")
    return value


def _parse_type_drivers(env: Mapping[str, str]) -> tuple[str, ...]:
    name = "TYPEMGR_TYPE_DRIVERS"
    types = config.get_list(env, name, ",".join(IMPLEMENTED_TYPES))
    if not types:
        raise ConfigError(f"{name}: at least one network type must be enabled")
    for item in types:
        if item not in IMPLEMENTED_TYPES:
            raise ConfigError(
                f"{name}: unknown network type {item!r}; known: {', '.join(IMPLEMENTED_TYPES)}"
            )
    _no_duplicates(name, types)
    return tuple(types)


def _parse_tenant_types(env: Mapping[str, str], type_drivers: tuple[str, ...]) -> tuple[str, ...]:
    name = "TYPEMGR_TENANT_NETWORK_TYPES"
    types = config.get_list(env, name, vocabulary.TYPE_VXLAN)
    for item in types:
        if item not in IMPLEMENTED_TYPES:
            raise ConfigError(
                f"{name}: unknown network type {item!r}; known: {', '.join(IMPLEMENTED_TYPES)}"
            )
        if item == vocabulary.TYPE_FLAT:
            raise ConfigError(f"{name}: flat cannot be a tenant network type (flat has no ids)")
        if item not in type_drivers:
            raise ConfigError(
                f"{name}: {item!r} is not enabled in TYPEMGR_TYPE_DRIVERS "
                f"({', '.join(type_drivers)})"
            )
    _no_duplicates(name, types)
    return tuple(types)


def _parse_flat_networks(env: Mapping[str, str]) -> tuple[str, ...]:
    name = "TYPEMGR_FLAT_NETWORKS"
    physnets = config.get_list(env, name, "*")
    if "*" in physnets and len(physnets) > 1:
        raise ConfigError(
            f"{name}: '*' allows any physical network and cannot be combined with names"
        )
    for physnet in physnets:
        if physnet != "*":
            _check_physnet_name(name, physnet)
    _no_duplicates(name, physnets)
    return tuple(physnets)


def parse_vlan_ranges(name: str, items: list[str]) -> tuple[tuple[str, ...], tuple[IdRange, ...]]:
    """Parses ``physnet[:min:max]`` items into (physical networks in order, tenant ranges).

    Raises ConfigError naming ``name`` for a malformed item, an id outside 1-4094, ``max < min``
    or ranges of one physical network that overlap.
    """
    physnets: list[str] = []
    ranges: list[IdRange] = []
    for item in items:
        parts = item.split(":")
        if len(parts) not in (1, 3):
            raise ConfigError(f"{name}: {item!r} must be physnet or physnet:min:max")
        physnet = parts[0].strip()
        _check_physnet_name(name, physnet, item)
        if physnet not in physnets:
            physnets.append(physnet)
        if len(parts) == 3:
            low, high = _bounds(
                name,
                item,
                parts[1],
                parts[2],
                "VLAN id",
                segments.MIN_VLAN_TAG,
                segments.MAX_VLAN_TAG,
            )
            ranges.append(IdRange(physnet, low, high))
    _no_overlaps(name, ranges)
    return tuple(physnets), tuple(ranges)


def parse_tunnel_ranges(
    name: str, items: list[str], what: str, minimum: int, maximum: int
) -> tuple[IdRange, ...]:
    """Parses ``min:max`` items of a tunnel type into ranges of the pool ``""``.

    Raises ConfigError naming ``name`` for a malformed item, an id outside
    ``minimum..maximum``, ``max < min`` or overlapping ranges.
    """
    ranges = []
    for item in items:
        parts = item.split(":")
        if len(parts) != 2:
            raise ConfigError(f"{name}: {item!r} must be min:max")
        low, high = _bounds(name, item, parts[0], parts[1], what, minimum, maximum)
        ranges.append(IdRange("", low, high))
    _no_overlaps(name, ranges)
    return tuple(ranges)


def parse_physnet_mtus(name: str, items: list[str]) -> dict[str, int]:
    """Parses ``physnet:mtu`` items (an MTU of 0 means not set). Raises ConfigError for a
    malformed item, an MTU from 1 to 67 or a physical network given twice."""
    mtus: dict[str, int] = {}
    for item in items:
        physnet, sep, raw = item.rpartition(":")
        physnet = physnet.strip()
        if not sep:
            raise ConfigError(f"{name}: {item!r} must be physnet:mtu")
        _check_physnet_name(name, physnet, item)
        value = _integer(name, item, raw, "MTU")
        if value < MIN_MTU and value != 0:
            raise ConfigError(
                f"{name}: {item!r}: MTU must be 0 (not set) or at least {MIN_MTU}, got {value}"
            )
        if physnet in mtus:
            raise ConfigError(f"{name}: physical network {physnet!r} is given twice")
        mtus[physnet] = value
    return mtus


def _bounds(
    name: str, item: str, raw_low: str, raw_high: str, what: str, minimum: int, maximum: int
) -> tuple[int, int]:
    low = _integer(name, item, raw_low, f"{what} minimum")
    high = _integer(name, item, raw_high, f"{what} maximum")
    for value in (low, high):
        if not minimum <= value <= maximum:
            raise ConfigError(
                f"{name}: {item!r}: {what} must be between {minimum} and {maximum}, got {value}"
            )
    if high < low:
        raise ConfigError(f"{name}: {item!r}: maximum {high} is smaller than minimum {low}")
    return low, high


def _integer(name: str, item: str, raw: str, what: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: {item!r}: {what} {raw.strip()!r} is not an integer") from None


def _check_physnet_name(name: str, physnet: str, item: str | None = None) -> None:
    where = f"{item!r}: " if item is not None else ""
    if not physnet:
        raise ConfigError(f"{name}: {where}physical network name is empty")
    if len(physnet) > segments.MAX_PHYSNET_LENGTH or any(c.isspace() for c in physnet):
        raise ConfigError(
            f"{name}: {where}physical network {physnet!r} must be at most "
            f"{segments.MAX_PHYSNET_LENGTH} characters without spaces"
        )


def _no_overlaps(name: str, ranges: list[IdRange]) -> None:
    for i, first in enumerate(ranges):
        for second in ranges[i + 1 :]:
            if first.overlaps(second):
                raise ConfigError(f"{name}: ranges {first} and {second} overlap")


def _no_duplicates(name: str, items: list[str]) -> None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise ConfigError(f"{name}: {item!r} is listed twice")
        seen.add(item)


def _mtu(env: Mapping[str, str], name: str, default: int) -> int:
    """An MTU setting: 0 means not set (Neutron's meaning), else at least ``MIN_MTU``."""
    value = config.get_int(env, name, default)
    if value < MIN_MTU and value != 0:
        raise ConfigError(f"{name}={value}: must be 0 (not set) or at least {MIN_MTU}")
    return value


def _ip_version(env: Mapping[str, str]) -> int:
    value = config.get_int(env, "TYPEMGR_OVERLAY_IP_VERSION", 4)
    if value not in segments.IP_HEADER_LENGTH:
        raise ConfigError(f"TYPEMGR_OVERLAY_IP_VERSION={value}: must be 4 or 6")
    return value


def _log_level(env: Mapping[str, str]) -> str:
    value = config.get_str(env, "ML2_LOG_LEVEL", "INFO").upper() or "INFO"
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"ML2_LOG_LEVEL={value!r}: must be DEBUG, INFO, WARNING or ERROR")
    return value


def _log_format(env: Mapping[str, str]) -> str:
    value = config.get_str(env, "ML2_LOG_FORMAT", "json").lower() or "json"
    if value not in ("json", "text"):
        raise ConfigError(f"ML2_LOG_FORMAT={value!r}: must be json or text")
    return value


def sqlite_directory(url: str) -> str:
    """Returns the directory of a ``sqlite:///path`` URL's file (``""`` for other URLs or
    in-memory databases), so that the server can create it."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return ""
    return os.path.dirname(url[len(prefix) :])
