"""typemgr's errors, each a ``ml2_driver_sdk.runtime.errors`` class with a specific reason.

    AlreadyExists
     ├── SegmentationIdInUse      SEGMENTATION_ID_IN_USE       a provider id is taken
     ├── FlatNetworkInUse         FLAT_NETWORK_IN_USE          the physnet has a flat network
     ├── NetworkSegmentsDiffer    NETWORK_SEGMENTS_DIFFER      the network has other segments
     ├── DynamicSegmentDiffers    DYNAMIC_SEGMENT_DIFFERS      its dynamic segment has another id
     └── SegmentRangeOverlaps     SEGMENT_RANGE_OVERLAP        a range of the pool shares ids
    ResourceExhausted
     ├── NoSegmentAvailable       NO_SEGMENT_AVAILABLE         a pool has no free id
     └── NoTenantNetworkAvailable NO_TENANT_NETWORK_AVAILABLE  every tenant type is exhausted
    NotFound
     ├── SegmentNotFound          SEGMENT_NOT_FOUND
     ├── NetworkNotFound          NETWORK_NOT_FOUND            the network has no static segments
     └── SegmentRangeNotFound     SEGMENT_RANGE_NOT_FOUND
    FailedPrecondition
     ├── SegmentIsStatic          SEGMENT_IS_STATIC            static segments go with the network
     ├── NoTenantNetworkTypes     NO_TENANT_NETWORK_TYPES      tenant networks are not configured
     ├── DynamicSegmentInUse      DYNAMIC_SEGMENT_IN_USE       holders still use it
     ├── SegmentIsDynamic         SEGMENT_IS_DYNAMIC           only static segments change here
     ├── LastStaticSegment        LAST_STATIC_SEGMENT          a network keeps one static segment
     ├── SegmentationIdNotUpdatable SEGMENTATION_ID_NOT_UPDATABLE  the type has no ids
     └── DefaultRangeReadOnly     DEFAULT_SEGMENT_RANGE_READ_ONLY  configuration owns it
    Aborted
     ├── AllocationContention     ALLOCATION_CONTENTION        others took every id tried
     └── ConcurrentChanges        CONCURRENT_CHANGES           others won every attempt

Invalid requests raise ``ml2_driver_sdk.runtime.errors.InvalidArgument`` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping

from ml2_driver_sdk.runtime import errors


def _pool(network_type: str, physical_network: str) -> str:
    return f"{network_type} on {physical_network}" if physical_network else network_type


class SegmentationIdInUse(errors.AlreadyExists):
    """A provider segment asks for an id another segment holds."""

    reason = "SEGMENTATION_ID_IN_USE"

    def __init__(self, network_type: str, physical_network: str, segmentation_id: int) -> None:
        super().__init__(
            f"segmentation id {segmentation_id} of {_pool(network_type, physical_network)} "
            "is in use",
            network_type=network_type,
            physical_network=physical_network,
            segmentation_id=segmentation_id,
        )


class FlatNetworkInUse(errors.AlreadyExists):
    """A physical network carries at most one flat network."""

    reason = "FLAT_NETWORK_IN_USE"

    def __init__(self, physical_network: str) -> None:
        super().__init__(
            f"physical network {physical_network} already carries a flat network",
            physical_network=physical_network,
        )


class NetworkSegmentsDiffer(errors.AlreadyExists):
    """CreateNetworkSegments asked for segments other than those the network already has."""

    reason = "NETWORK_SEGMENTS_DIFFER"

    def __init__(self, network_id: str, existing: str) -> None:
        super().__init__(
            f"network {network_id} already has other segments: {existing}", network_id=network_id
        )


class DynamicSegmentDiffers(errors.AlreadyExists):
    """The network's dynamic segment of that type and physical network has another id."""

    reason = "DYNAMIC_SEGMENT_DIFFERS"

    def __init__(self, network_id: str, segment_id: str, segmentation_id: int) -> None:
        super().__init__(
            f"network {network_id} already has dynamic segment {segment_id} with segmentation id "
            f"{segmentation_id}",
            network_id=network_id,
            segment_id=segment_id,
            segmentation_id=segmentation_id,
        )


class NoSegmentAvailable(errors.ResourceExhausted):
    """Every id of a pool is allocated."""

    reason = "NO_SEGMENT_AVAILABLE"

    def __init__(self, network_type: str, physical_network: str) -> None:
        where = f" on physical network {physical_network}" if physical_network else ""
        super().__init__(
            f"no {network_type} segmentation id is available{where}",
            network_type=network_type,
            physical_network=physical_network,
        )


class NoTenantNetworkAvailable(errors.ResourceExhausted):
    """Every tenant network type's pools are exhausted, or have no range at all.

    ``without_ranges`` maps the types that have no range to what the operator does about it."""

    reason = "NO_TENANT_NETWORK_AVAILABLE"

    def __init__(
        self, network_types: tuple[str, ...], without_ranges: Mapping[str, str] | None = None
    ) -> None:
        names = ", ".join(network_types)
        missing = dict(without_ranges or {})
        exhausted = [t for t in network_types if t not in missing]
        parts = []
        if exhausted:
            parts.append(f"every pool of {', '.join(exhausted)} is exhausted")
        parts.extend(f"{t} has no segment range: {hint}" for t, hint in missing.items())
        super().__init__(
            f"no tenant network is available: {'; '.join(parts)}",
            network_types=names,
        )


class SegmentNotFound(errors.NotFound):
    """No segment has the id."""

    reason = "SEGMENT_NOT_FOUND"

    def __init__(self, segment_id: str) -> None:
        super().__init__(f"segment {segment_id} not found", segment_id=segment_id)


class NetworkNotFound(errors.NotFound):
    """The network has no static segments, so typemgr does not know it."""

    reason = "NETWORK_NOT_FOUND"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"network {network_id} has no segments", network_id=network_id)


class SegmentRangeOverlaps(errors.AlreadyExists):
    """A range would share ids with another range of the same pool."""

    reason = "SEGMENT_RANGE_OVERLAP"

    def __init__(self, wanted: str, existing: str, existing_id: str) -> None:
        super().__init__(
            f"range {wanted} overlaps range {existing}; ranges of one pool must not overlap",
            segment_range_id=existing_id,
        )


class SegmentRangeNotFound(errors.NotFound):
    """No range has the id."""

    reason = "SEGMENT_RANGE_NOT_FOUND"

    def __init__(self, range_id: str) -> None:
        super().__init__(f"segment range {range_id} not found", segment_range_id=range_id)


class DefaultRangeReadOnly(errors.FailedPrecondition):
    """Default ranges follow the configuration; the API cannot change them."""

    reason = "DEFAULT_SEGMENT_RANGE_READ_ONLY"

    def __init__(self, range_id: str, setting: str) -> None:
        super().__init__(
            f"segment range {range_id} is a default range: change {setting} and restart typemgr "
            "instead",
            segment_range_id=range_id,
        )


class SegmentIsStatic(errors.FailedPrecondition):
    """Static segments are released with their network, not one by one."""

    reason = "SEGMENT_IS_STATIC"

    def __init__(self, segment_id: str) -> None:
        super().__init__(
            f"segment {segment_id} is a static segment; release the network's segments instead",
            segment_id=segment_id,
        )


class DynamicSegmentInUse(errors.FailedPrecondition):
    """A dynamic segment with holds is released only when its last holder lets go."""

    reason = "DYNAMIC_SEGMENT_IN_USE"

    def __init__(self, segment_id: str, holders: list[str]) -> None:
        shown = ", ".join(holders[:3]) + (", ..." if len(holders) > 3 else "")
        super().__init__(
            f"dynamic segment {segment_id} is held by {shown}; it is released when its last "
            "holder drops it (SyncDynamicSegmentHolds)",
            segment_id=segment_id,
        )


class NoTenantNetworkTypes(errors.FailedPrecondition):
    """A tenant network was asked for but no tenant network type is configured."""

    reason = "NO_TENANT_NETWORK_TYPES"

    def __init__(self) -> None:
        super().__init__(
            "tenant networks are disabled: TYPEMGR_TENANT_NETWORK_TYPES is empty; "
            "give provider segments instead"
        )


class AllocationContention(errors.Aborted):
    """Concurrent callers took every id this caller tried, a bounded number of times."""

    reason = "ALLOCATION_CONTENTION"

    def __init__(self, network_type: str, physical_network: str, attempts: int) -> None:
        super().__init__(
            f"gave up allocating a {_pool(network_type, physical_network)} id after {attempts} "
            "attempts lost to concurrent callers; retry",
            network_type=network_type,
            physical_network=physical_network,
        )


class ConcurrentChanges(errors.Aborted):
    """Concurrent requests on the same network won every one of a bounded number of tries."""

    reason = "CONCURRENT_CHANGES"

    def __init__(self) -> None:
        super().__init__("concurrent requests changed the same segments on every attempt; retry")


class SegmentIsDynamic(errors.FailedPrecondition):
    """Dynamic segments belong to bindings; only static segments are changed one by one."""

    reason = "SEGMENT_IS_DYNAMIC"

    def __init__(self, segment_id: str) -> None:
        super().__init__(
            f"segment {segment_id} is a dynamic segment; only static segments can be changed "
            "or removed this way",
            segment_id=segment_id,
        )


class LastStaticSegment(errors.FailedPrecondition):
    """A network always keeps at least one static segment."""

    reason = "LAST_STATIC_SEGMENT"

    def __init__(self, network_id: str, segment_id: str) -> None:
        super().__init__(
            f"segment {segment_id} is the last static segment of network {network_id}; a "
            "network keeps at least one (delete the network instead)",
            network_id=network_id,
            segment_id=segment_id,
        )


class SegmentationIdNotUpdatable(errors.FailedPrecondition):
    """The segment's type has no segmentation ids to change."""

    reason = "SEGMENTATION_ID_NOT_UPDATABLE"

    def __init__(self, segment_id: str, network_type: str) -> None:
        super().__init__(
            f"segmentation_id: segment {segment_id} is of type {network_type}, which has no "
            "segmentation id to change",
            segment_id=segment_id,
            network_type=network_type,
            field="segmentation_id",
        )
