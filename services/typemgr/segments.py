"""typemgr's own values next to the contract's segments: the id spaces of each network type,
holds and id ranges.

Segments and segment specs are ``ml2_contract.values``' and network types are
``ml2_contract.vocabulary``'s; the generated protobuf types stay in the servicer. Constants
follow neutron-lib's names and values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ml2_contract.values import Segment
from ml2_contract.vocabulary import TYPE_GENEVE, TYPE_GRE, TYPE_VLAN, TYPE_VXLAN

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
    TYPE_VLAN: (MIN_VLAN_TAG, MAX_VLAN_TAG),
    TYPE_GRE: (MIN_GRE_ID, MAX_GRE_ID),
    TYPE_VXLAN: (MIN_VXLAN_VNI, MAX_VXLAN_VNI),
    TYPE_GENEVE: (MIN_GENEVE_VNI, MAX_GENEVE_VNI),
}
"""The protocol limits of the segmentation ids of every type that has them."""

RANGE_TYPES = (TYPE_VLAN, TYPE_GRE, TYPE_VXLAN, TYPE_GENEVE)
"""The network types whose ids come from ranges (Neutron's ``NETWORK_SEGMENT_RANGE_TYPES``)."""

IP_HEADER_LENGTH = {4: 20, 6: 40}
"""Bytes of the outer IP header a tunnel adds, by overlay IP version."""

MAX_PHYSNET_LENGTH = 64
"""Longest physical network name accepted (Neutron's column width)."""


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


def network_mtu(segments: Sequence[Segment], default: int) -> int:
    """Returns the MTU of a network as Neutron computes it: the smallest known MTU of its static
    segments, or ``default`` (the global physical network MTU) when none is known."""
    known = [s.mtu for s in segments if not s.is_dynamic and s.mtu > 0]
    return min(known) if known else default
