"""Segment value types and the id spaces of each network type.

These frozen dataclasses are what the domain code passes around; the generated protobuf types
stay in the servicer. Constants follow neutron-lib's names and values.
"""

from __future__ import annotations

from dataclasses import dataclass

FLAT = "flat"
VLAN = "vlan"
VXLAN = "vxlan"
GRE = "gre"
GENEVE = "geneve"
LOCAL = "local"

KNOWN_TYPES = (LOCAL, FLAT, VLAN, GRE, VXLAN, GENEVE)
"""Every network type ML2 defines; a type is usable only if its driver is enabled."""

MIN_VLAN_TAG = 1
MAX_VLAN_TAG = 4094
# NOTE: VLAN ids 0 and 4095 are reserved by IEEE 802.1Q.
MIN_VXLAN_VNI = 1
MAX_VXLAN_VNI = 2**24 - 1
MIN_GRE_ID = 1
MAX_GRE_ID = 2**32 - 1
# NOTE: GRE keys are 32-bit unsigned; columns are BIGINT so ids above 2**31 - 1 are stored as is.
MIN_GENEVE_VNI = 1
MAX_GENEVE_VNI = 2**24 - 1

GRE_ENCAP_OVERHEAD = 22
"""Bytes a GRE tunnel adds besides the outer IP header (GRE header with key, inner Ethernet)."""
VXLAN_ENCAP_OVERHEAD = 30
"""Bytes a VXLAN tunnel adds besides the outer IP header (UDP, VXLAN, inner Ethernet)."""
GENEVE_MIN_OVERHEAD = 30
"""The smallest Geneve overhead: UDP, the Geneve base header and the inner Ethernet header."""
GENEVE_MAX_OVERHEAD = 282
"""The largest Geneve overhead: the minimum plus 252 bytes of options (a 6-bit length in words)."""

ID_LIMITS = {
    VLAN: (MIN_VLAN_TAG, MAX_VLAN_TAG),
    GRE: (MIN_GRE_ID, MAX_GRE_ID),
    VXLAN: (MIN_VXLAN_VNI, MAX_VXLAN_VNI),
    GENEVE: (MIN_GENEVE_VNI, MAX_GENEVE_VNI),
}
"""The protocol limits of the segmentation ids of every type that has them."""

RANGE_TYPES = (VLAN, GRE, VXLAN, GENEVE)
"""The network types whose ids come from ranges (Neutron's ``NETWORK_SEGMENT_RANGE_TYPES``)."""
TUNNEL_TYPES = (GRE, VXLAN, GENEVE)
"""The tunnelled types: no physical network, one pool each."""

IP_HEADER_LENGTH = {4: 20, 6: 40}
"""Bytes of the outer IP header a tunnel adds, by overlay IP version."""

MAX_PHYSNET_LENGTH = 64
"""Longest physical network name accepted (Neutron's column width)."""


@dataclass(frozen=True)
class SegmentSpec:
    """What a caller asks for: a type, maybe a physical network, maybe a segmentation id.

    ``physical_network`` is ``""`` when not given; ``segmentation_id`` is None when typemgr is to
    pick one from the pool.
    """

    network_type: str
    physical_network: str = ""
    segmentation_id: int | None = None

    def describe(self) -> str:
        """Returns a short human form such as ``vlan physnet1 100`` or ``vxlan (any id)``."""
        parts = [self.network_type]
        if self.physical_network:
            parts.append(self.physical_network)
        parts.append("(any id)" if self.segmentation_id is None else str(self.segmentation_id))
        return " ".join(parts)


@dataclass(frozen=True)
class Segment:
    """A stored segment of a network.

    ``physical_network`` is ``""`` for tunnelled and local segments; ``segmentation_id`` is 0 for
    flat and local ones; ``mtu`` is 0 when unknown.
    """

    id: str
    network_id: str
    network_type: str
    physical_network: str
    segmentation_id: int
    mtu: int
    is_dynamic: bool
    segment_index: int

    def satisfies(self, spec: SegmentSpec) -> bool:
        """Returns True if this segment is what ``spec`` asks for (unset spec fields match any)."""
        if spec.network_type != self.network_type:
            return False
        if spec.physical_network and spec.physical_network != self.physical_network:
            return False
        return spec.segmentation_id is None or spec.segmentation_id == self.segmentation_id


@dataclass(frozen=True)
class Hold:
    """A holder's use of a dynamic segment; generation 0 until a sync confirms it."""

    segment_id: str
    holder: str
    generation: int = 0


@dataclass(frozen=True)
class IdRange:
    """An inclusive range of segmentation ids of one pool (``physical_network`` ``""`` for
    tunnels)."""

    physical_network: str
    minimum: int
    maximum: int

    @property
    def size(self) -> int:
        """The number of ids in the range."""
        return self.maximum - self.minimum + 1

    def overlaps(self, other: IdRange) -> bool:
        """Returns True if both ranges belong to one pool and share an id."""
        return (
            self.physical_network == other.physical_network
            and self.minimum <= other.maximum
            and other.minimum <= self.maximum
        )

    def __str__(self) -> str:
        prefix = f"{self.physical_network}:" if self.physical_network else ""
        return f"{prefix}{self.minimum}:{self.maximum}"


def network_mtu(segments: list[Segment] | tuple[Segment, ...], default: int) -> int:
    """Returns the MTU of a network as Neutron computes it: the smallest known MTU of its static
    segments, or ``default`` (the global physical network MTU) when none is known."""
    known = [s.mtu for s in segments if not s.is_dynamic and s.mtu > 0]
    return min(known) if known else default
