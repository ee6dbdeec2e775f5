"""The rules a segment range follows, checked before anything is written.

A range belongs to a type that has ranges (vlan, gre, vxlan, geneve) and is enabled; a vlan
range names a physical network of ``TYPEMGR_NETWORK_VLAN_RANGES`` and a tunnel range none; its
bounds lie within the protocol's limits with minimum <= maximum; it is shared or reserved for a
project, not both. Each rule broken raises ``InvalidArgument`` naming the field.
"""

from __future__ import annotations

from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import segments
from services.typemgr.drivers import vlan
from services.typemgr.ranges import MAX_NAME_LENGTH, MAX_PROJECT_ID_LENGTH, RangeSpec
from services.typemgr.type_manager import TypeManager

FIELD = "segment_range"


def check_spec(types: TypeManager, spec: RangeSpec) -> None:
    """Checks every field of a range to create."""
    check_pool(types, spec.network_type, spec.physical_network)
    check_name(spec.name)
    check_bounds(spec.network_type, spec.minimum, spec.maximum)
    check_owner(spec.shared, spec.project_id)


def check_pool(types: TypeManager, network_type: str, physical_network: str) -> None:
    """Checks the network type and physical network of a range."""
    field = f"{FIELD}.network_type"
    if not network_type:
        raise InvalidArgument(field, "is required")
    if network_type not in segments.RANGE_TYPES:
        raise InvalidArgument(
            field,
            f"ranges exist for {', '.join(segments.RANGE_TYPES)}, got {network_type[:64]!r}",
            reason="UNSUPPORTED_NETWORK_TYPE",
        )
    driver = types.driver(network_type, field)
    physnet_field = f"{FIELD}.physical_network"
    if isinstance(driver, vlan.VlanTypeDriver):
        if not physical_network:
            raise InvalidArgument(physnet_field, "is required for a vlan range")
        if physical_network not in driver.physical_networks:
            configured = ", ".join(driver.physical_networks) or "none"
            raise InvalidArgument(
                physnet_field,
                f"unknown physical network {physical_network[:64]!r} for vlan; configured: "
                f"{configured} (TYPEMGR_NETWORK_VLAN_RANGES)",
                reason="PHYSICAL_NETWORK_UNKNOWN",
            )
    elif physical_network:
        raise InvalidArgument(
            physnet_field,
            f"must not be set for a {network_type} range, got {physical_network[:64]!r}",
        )


def check_bounds(network_type: str, minimum: int, maximum: int) -> None:
    """Checks that ``minimum..maximum`` is a non-empty range within the type's limits."""
    low, high = segments.ID_LIMITS[network_type]
    what = f"a {network_type} id"
    for name, value in (("minimum", minimum), ("maximum", maximum)):
        if not low <= value <= high:
            raise InvalidArgument(
                f"{FIELD}.{name}",
                f"{what} must be between {low} and {high}, got {value}",
                reason="SEGMENTATION_ID_OUT_OF_RANGE",
            )
    if maximum < minimum:
        raise InvalidArgument(
            f"{FIELD}.maximum", f"must be at least minimum {minimum}, got {maximum}"
        )


def check_name(name: str) -> None:
    """Checks the length of a range name."""
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"{FIELD}.name", f"must be at most {MAX_NAME_LENGTH} characters")


def check_owner(shared: bool, project_id: str) -> None:
    """Checks that a range is shared or reserved for one project, not both."""
    field = f"{FIELD}.project_id"
    if len(project_id) > MAX_PROJECT_ID_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_PROJECT_ID_LENGTH} characters")
    if shared and project_id:
        raise InvalidArgument(field, "must be empty for a shared range")
    if not shared and not project_id:
        raise InvalidArgument(field, "is required for a range that is not shared")
