"""Which VIF to plug for a bound port, and the names of its devices.

The generic VIF driver plugs what the binding says (vif_type and vif_details). The compute
node's configured default VIF stands in when the binding leaves the choice to the host:

- the binding's vif_type is ``use_default`` (a mechanism driver says "plug as you are
  configured");
- the server gave no vif_type at all (a server that does not bind ports);
- the binding's vif_type is the default's, but it carries no vif_details (besides the
  ``bound_drivers`` the manager adds to every bound port): the default's details fill them in.

Every choice says where it came from and why, so the output can tell the operator that the
local default was used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ml2.v1 import binding_pb2, port_pb2
from ml2_contract import convert, vocabulary

from services.compute import config

SOURCE_BINDING = "binding"
SOURCE_LOCAL_DEFAULT = "local default"

_ID_CHARS = 11
"""Device names are a 3-letter prefix and the first 11 characters of the id (Nova's names)."""


class NoVif(RuntimeError):
    """The port has nothing this host could plug; the message says why and what to change."""


@dataclass(frozen=True)
class Vif:
    """What to plug for one port on this host."""

    port_id: str
    network_id: str
    mac_address: str
    vif_type: str
    vif_details: Mapping[str, Any] = field(default_factory=dict)
    mtu: int = 0
    """The MTU of the port's devices; 0 leaves the kernel's default."""
    source: str = SOURCE_BINDING
    """``binding`` or ``local default``."""
    reason: str = ""
    """Why the local default was used; empty when the binding's VIF is plugged."""

    @property
    def linux_bridge(self) -> str:
        """The Linux bridge a ``bridge`` VIF's tap joins: vif_details' ``bridge_name`` when a
        driver names one (out-of-tree drivers do), else the network's ``brq`` bridge, as Nova
        derives it: Neutron's linuxbridge driver sends no bridge name."""
        named = self.vif_details.get(vocabulary.VIF_DETAILS_BRIDGE_NAME)
        return str(named) if named else network_bridge_name(self.network_id)

    @property
    def hybrid(self) -> bool:
        """Whether an ``ovs`` VIF goes through a per-port Linux bridge (ovs_hybrid_plug)."""
        return is_true(self.vif_details.get(vocabulary.OVS_HYBRID_PLUG))


def choose(
    port: port_pb2.Port,
    cfg: config.ComputeConfig,
    network_mtu: int = 0,
) -> Vif:
    """The VIF to plug for ``port``, whose binding was just set to this host. Raises NoVif for a
    failed or unfinished binding, or when the binding leaves the choice to the host and no
    default VIF is configured."""
    b = port.binding
    if b.state == binding_pb2.BINDING_STATE_FAILED:
        raise NoVif(f"port {port.id} is binding_failed on host {b.host_id}")
    details = convert.struct_to_dict(b.vif_details) if b.HasField("vif_details") else {}
    vif_type = b.vif_type
    reason = ""
    if vif_type == vocabulary.VIF_TYPE_USE_DEFAULT:
        driver = b.levels[-1].driver if b.levels else "the mechanism driver"
        reason = f"the binding's vif_type is use_default ({driver} leaves plugging to this host)"
    elif not vif_type:
        reason = "the server returned the port without a vif_type (it does not bind ports)"
    elif vif_type == vocabulary.VIF_TYPE_UNBOUND:
        raise NoVif(
            f"port {port.id} is not bound (vif_type {vif_type}, binding "
            f"{convert.state_name(b.state) if b.state else 'UNSPECIFIED'}): nothing to plug yet"
        )
    elif (
        not _plugging_details(details)
        and cfg.default_vif is not None
        and cfg.default_vif.vif_type == vif_type
    ):
        reason = f"the binding's vif_type is {vif_type} but it gives no vif_details"
    if not reason:
        return _vif(port, vif_type, details, network_mtu)
    default = cfg.default_vif
    if default is None:
        where = cfg.path or f"{config.DEFAULT_CONFIG_PATH} (or --config)"
        raise NoVif(
            f"{reason}, and no default VIF is configured: add [default_vif] with vif_type "
            f"and vif_details to {where}"
        )
    return _vif(
        port,
        default.vif_type,
        dict(default.vif_details),
        network_mtu,
        source=SOURCE_LOCAL_DEFAULT,
        reason=reason,
    )


def _plugging_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """The vif_details a driver gave: all but ``bound_drivers``, which the manager adds to
    every bound port and which says nothing about plugging."""
    return {k: v for k, v in details.items() if k != vocabulary.VIF_DETAILS_BOUND_DRIVERS}


def _vif(
    port: port_pb2.Port,
    vif_type: str,
    details: Mapping[str, Any],
    network_mtu: int,
    *,
    source: str = SOURCE_BINDING,
    reason: str = "",
) -> Vif:
    mtu = details.get(vocabulary.VIF_DETAILS_MTU)
    return Vif(
        port_id=port.id,
        network_id=port.network_id,
        mac_address=port.mac_address,
        vif_type=vif_type,
        vif_details=details,
        mtu=int(mtu) if isinstance(mtu, int | float) and mtu > 0 else network_mtu,
        source=source,
        reason=reason,
    )


def is_true(value: Any) -> bool:
    """Reads a vif_details flag: a boolean, or its spelling as a string."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def device_name(prefix: str, resource_id: str) -> str:
    """``tap`` + the id's first 11 characters: 14 characters, inside Linux's 15-byte limit."""
    return (prefix + resource_id[:_ID_CHARS])[: vocabulary.DEVICE_NAME_LENGTH]


def tap_name(port_id: str) -> str:
    """The port's tap device: the host end of the instance's veth pair."""
    return device_name("tap", port_id)


def qbr_name(port_id: str) -> str:
    """The per-port Linux bridge of hybrid plugging."""
    return device_name("qbr", port_id)


def qvb_name(port_id: str) -> str:
    """The bridge end of the veth pair from the per-port bridge to Open vSwitch."""
    return device_name("qvb", port_id)


def qvo_name(port_id: str) -> str:
    """The Open vSwitch end of that veth pair."""
    return device_name("qvo", port_id)


def vhu_name(port_id: str) -> str:
    """The port's vhost-user port on Open vSwitch."""
    return device_name("vhu", port_id)


def network_bridge_name(network_id: str) -> str:
    """The Linux bridge of a network when vif_details name none: ``brq`` + the network id."""
    return device_name("brq", network_id)
