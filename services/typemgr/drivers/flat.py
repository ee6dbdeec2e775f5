"""Flat networks: untagged traffic on a physical network, one network per physical network."""

from __future__ import annotations

from ml2_contract import vocabulary
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr.drivers import base


class FlatTypeDriver(base.PhysicalTypeDriver):
    """Flat segments need an allowed physical network and have no segmentation id.

    ``flat_networks`` lists the allowed physical networks; ``("*",)`` allows any and ``()``
    disables flat networks. Only provider networks can be flat: there is no tenant pool.
    A segmentation id of 0 is accepted and ignored, as Neutron refuses only a non-zero one;
    the segment is stored without one.
    """

    network_type = vocabulary.TYPE_FLAT
    allocation = base.Allocation.PHYSNET

    def __init__(
        self, mtu_settings: base.MtuSettings, flat_networks: tuple[str, ...] = ("*",)
    ) -> None:
        super().__init__(mtu_settings)
        self.flat_networks = flat_networks

    def validate(self, spec: SegmentSpec, field: str) -> None:
        if not self.flat_networks:
            raise InvalidArgument(
                f"{field}.network_type",
                "flat networks are disabled (TYPEMGR_FLAT_NETWORKS is empty)",
                reason="FLAT_NETWORKS_DISABLED",
            )
        if spec.segmentation_id:
            raise InvalidArgument(
                f"{field}.segmentation_id",
                "must not be set for a flat segment (0 counts as unset), "
                f"got {spec.segmentation_id}",
            )
        if not spec.physical_network:
            raise InvalidArgument(f"{field}.physical_network", "is required for a flat segment")
        base.check_physnet_name(spec, field)
        if "*" not in self.flat_networks and spec.physical_network not in self.flat_networks:
            raise InvalidArgument(
                f"{field}.physical_network",
                f"physical network {spec.physical_network!r} is not allowed for flat networks; "
                f"allowed: {', '.join(self.flat_networks)} (TYPEMGR_FLAT_NETWORKS)",
                reason="PHYSICAL_NETWORK_UNKNOWN",
            )
