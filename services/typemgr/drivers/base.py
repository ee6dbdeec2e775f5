"""The type driver contract.

A type driver knows the rules of one network type and nothing about storage: which provider
attributes are required or forbidden, which ids are valid, the MTU of its segments, and which
pools its ids come from. The type manager turns that knowledge into reservations, so a new type
is a short file: a subclass naming its type, its allocation strategy and its rules.

Rules every driver follows:

* ``validate`` raises ``InvalidArgument`` naming the offending field under the given prefix
  (``segments[1].segmentation_id``) and the rule; it never touches the database.
* ``tenant_pools`` and ``ranges`` describe the configured pools only; a provider segment may use
  an id outside them (Neutron semantics) and that id never enters a pool.
* ``mtu`` returns 0 when the MTU is unknown.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import segments
from services.typemgr.segments import IdRange


class Allocation(enum.Enum):
    """How a type's segments are reserved."""

    NONE = "none"
    """Nothing is reserved (local segments)."""
    PHYSNET = "physnet"
    """The physical network itself is the resource: one segment per physical network (flat)."""
    POOL = "pool"
    """Segmentation ids are taken from configured ranges, or given by an administrator."""


@dataclass(frozen=True)
class MtuSettings:
    """The settings every driver computes MTUs from (Neutron's names)."""

    global_physnet_mtu: int = 1500
    path_mtu: int = 0
    physical_network_mtus: Mapping[str, int] | None = None
    overlay_ip_version: int = 4

    def physnet_mtu(self, physical_network: str) -> int:
        """Returns the MTU of a flat or vlan segment: the smaller of the global MTU and the
        physical network's own, ignoring unset (0) values; 0 if neither is set."""
        mtus = self.physical_network_mtus or {}
        known = [m for m in (self.global_physnet_mtu, mtus.get(physical_network, 0)) if m > 0]
        return min(known) if known else 0

    def tunnel_mtu(self, overhead: int) -> int:
        """Returns the MTU of a tunnelled segment: the smaller of the global and path MTUs minus
        the outer IP header and the tunnel's ``overhead``; 0 if neither MTU is set."""
        known = [m for m in (self.global_physnet_mtu, self.path_mtu) if m > 0]
        if not known:
            return 0
        return max(min(known) - segments.IP_HEADER_LENGTH[self.overlay_ip_version] - overhead, 0)


class TypeDriver(abc.ABC):
    """The rules of one network type."""

    network_type: ClassVar[str]
    """The type this driver serves, e.g. ``vlan``."""
    allocation: ClassVar[Allocation]
    """How segments of this type are reserved."""

    def __init__(self, mtu_settings: MtuSettings) -> None:
        self.mtu_settings = mtu_settings

    @abc.abstractmethod
    def validate(self, spec: SegmentSpec, field: str) -> None:
        """Checks the provider attributes of ``spec``; raises InvalidArgument naming
        ``field.<attribute>`` and the rule broken."""

    def is_partial(self, spec: SegmentSpec) -> bool:
        """Returns True if typemgr must pick the segmentation id (the spec leaves it unset)."""
        return self.allocation is Allocation.POOL and spec.segmentation_id is None

    @abc.abstractmethod
    def mtu(self, physical_network: str) -> int:
        """Returns the MTU of a segment of this type on ``physical_network`` (0 if unknown)."""

    def ranges(self) -> tuple[IdRange, ...]:
        """Returns the default ranges of this type: those the configuration seeds (empty for
        non-pool types). Ranges created through the API live in the database only."""
        return ()

    def pools_for(self, spec: SegmentSpec) -> tuple[str, ...]:
        """Returns the physical networks (``""`` for tunnels) whose pools may serve a partial
        ``spec``, in the order to try them. Whether a pool has ranges is for the database to
        say: ranges change at run time."""
        return ()


class PhysicalTypeDriver(TypeDriver):
    """Shared rules of types carried on a physical network (flat, vlan)."""

    def mtu(self, physical_network: str) -> int:
        return self.mtu_settings.physnet_mtu(physical_network)


class TunnelTypeDriver(TypeDriver):
    """Shared rules of tunnelled types (gre, vxlan, geneve): no physical network, ids within the
    protocol's limit (even for provider segments, where Neutron forgets to check), one pool
    named ``""``."""

    allocation = Allocation.POOL
    min_id: ClassVar[int] = 1
    max_id: ClassVar[int]
    """The largest id the protocol carries."""
    overhead: int
    """Bytes of tunnel header, besides the outer IP header, subtracted from the MTU."""
    id_name: ClassVar[str]
    """How the id is named in messages, e.g. ``VXLAN id``."""

    def __init__(self, mtu_settings: MtuSettings, tenant_ranges: tuple[IdRange, ...] = ()) -> None:
        super().__init__(mtu_settings)
        self.tenant_ranges = tenant_ranges

    def validate(self, spec: SegmentSpec, field: str) -> None:
        if spec.physical_network:
            raise InvalidArgument(
                f"{field}.physical_network",
                f"must not be set for a {self.network_type} segment, "
                f"got {spec.physical_network[: segments.MAX_PHYSNET_LENGTH]!r}",
            )
        check_id_range(spec, field, self.id_name, self.min_id, self.max_id)

    def mtu(self, physical_network: str) -> int:
        return self.mtu_settings.tunnel_mtu(self.overhead)

    def ranges(self) -> tuple[IdRange, ...]:
        return self.tenant_ranges

    def pools_for(self, spec: SegmentSpec) -> tuple[str, ...]:
        return ("",)


def check_id_range(spec: SegmentSpec, field: str, id_name: str, minimum: int, maximum: int) -> None:
    """Raises InvalidArgument on ``field.segmentation_id`` if it is set and outside
    ``minimum..maximum``."""
    value = spec.segmentation_id
    if value is not None and not minimum <= value <= maximum:
        raise InvalidArgument(
            f"{field}.segmentation_id",
            f"{id_name} must be between {minimum} and {maximum}, got {value}",
            reason="SEGMENTATION_ID_OUT_OF_RANGE",
        )


def check_physnet_name(spec: SegmentSpec, field: str) -> None:
    """Raises InvalidArgument if the physical network name is too long or has spaces."""
    physnet = spec.physical_network
    if len(physnet) > segments.MAX_PHYSNET_LENGTH or any(c.isspace() for c in physnet):
        raise InvalidArgument(
            f"{field}.physical_network",
            f"must be at most {segments.MAX_PHYSNET_LENGTH} characters without spaces",
        )
