"""VLAN networks: 802.1Q-tagged traffic on a physical network."""

from __future__ import annotations

from ml2_contract import vocabulary
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import segments
from services.typemgr.drivers import base
from services.typemgr.segments import IdRange


class VlanTypeDriver(base.PhysicalTypeDriver):
    """VLAN segments live on a configured physical network with an id 1-4094.

    ``physical_networks`` are every physical network named in the VLAN ranges setting, including
    provider-only ones; ``tenant_ranges`` are the default ranges the configuration seeds. A
    provider segment may name any configured physical network and any valid id, inside a range
    or not; a segmentation id requires a physical network. Partial segments are allocated from
    the ranges the database holds for the physical network (configured or created through the
    API); a physical network without ranges has nothing to allocate.
    """

    network_type = vocabulary.TYPE_VLAN
    allocation = base.Allocation.POOL

    def __init__(
        self,
        mtu_settings: base.MtuSettings,
        physical_networks: tuple[str, ...] = (),
        tenant_ranges: tuple[IdRange, ...] = (),
    ) -> None:
        super().__init__(mtu_settings)
        self.physical_networks = physical_networks
        self.tenant_ranges = tenant_ranges

    def validate(self, spec: SegmentSpec, field: str) -> None:
        base.check_id_range(spec, field, "VLAN id", segments.MIN_VLAN_TAG, segments.MAX_VLAN_TAG)
        if not spec.physical_network:
            if spec.segmentation_id is not None:
                raise InvalidArgument(
                    f"{field}.physical_network",
                    "is required when a vlan segment has a segmentation_id",
                )
            return
        base.check_physnet_name(spec, field)
        if spec.physical_network not in self.physical_networks:
            configured = ", ".join(self.physical_networks) or "none"
            raise InvalidArgument(
                f"{field}.physical_network",
                f"unknown physical network {spec.physical_network!r} for vlan; configured: "
                f"{configured} (TYPEMGR_NETWORK_VLAN_RANGES)",
                reason="PHYSICAL_NETWORK_UNKNOWN",
            )

    def ranges(self) -> tuple[IdRange, ...]:
        return self.tenant_ranges

    def pools_for(self, spec: SegmentSpec) -> tuple[str, ...]:
        if spec.physical_network:
            return (spec.physical_network,)
        return self.physical_networks
