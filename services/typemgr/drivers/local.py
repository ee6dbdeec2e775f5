"""Local networks: connectivity inside one host only, nothing to reserve."""

from __future__ import annotations

from ml2_contract import vocabulary
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import segments
from services.typemgr.drivers import base


class LocalTypeDriver(base.TypeDriver):
    """Local segments have neither a physical network nor a segmentation id, and no MTU of
    their own (0: the network takes the global physical network MTU). A segmentation id of 0
    is accepted and ignored, as Neutron refuses only a non-zero one."""

    network_type = vocabulary.TYPE_LOCAL
    allocation = base.Allocation.NONE

    def validate(self, spec: SegmentSpec, field: str) -> None:
        if spec.physical_network:
            raise InvalidArgument(
                f"{field}.physical_network",
                "must not be set for a local segment, "
                f"got {spec.physical_network[: segments.MAX_PHYSNET_LENGTH]!r}",
            )
        if spec.segmentation_id:
            raise InvalidArgument(
                f"{field}.segmentation_id",
                "must not be set for a local segment (0 counts as unset), "
                f"got {spec.segmentation_id}",
            )

    def mtu(self, physical_network: str) -> int:
        return 0
