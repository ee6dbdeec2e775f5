"""The errors portapi raises, each a subclass of the shared error model with its own reason.

    NotFound
     ├── NetworkNotFound        NETWORK_NOT_FOUND      metadata network_id
     └── PortNotFound           PORT_NOT_FOUND         metadata port_id
    FailedPrecondition
     ├── NetworkInUse           NETWORK_IN_USE         metadata network_id, port_count
     ├── NetworkNotActive       NETWORK_NOT_ACTIVE     metadata network_id, status
     └── PortInUse              PORT_IN_USE            metadata port_id, host_id, vif_type
    AlreadyExists
     └── MacAddressInUse        MAC_ADDRESS_IN_USE     metadata network_id, mac_address
    ResourceExhausted
     └── MacAddressesExhausted  MAC_GENERATION_FAILED  metadata network_id
    Aborted
     └── BindingConflict        BINDING_CONFLICT       metadata port_id, tries
    DeadlineExceeded            DEADLINE_EXCEEDED      metadata peer (the caller's deadline
                                                       cut a call to it short, or left no time)

Errors of typemgr pass through unchanged (``errors.from_rpc_error``); a binding that fails is a
state of the port, not an error.
"""

from __future__ import annotations

import grpc
from ml2_driver_sdk.runtime import errors


class NetworkNotFound(errors.NotFound):
    """No network has the id."""

    reason = "NETWORK_NOT_FOUND"

    def __init__(self, network_id: str) -> None:
        super().__init__(f"network {network_id!r} not found", network_id=network_id)


class PortNotFound(errors.NotFound):
    """No port has the id."""

    reason = "PORT_NOT_FOUND"

    def __init__(self, port_id: str) -> None:
        super().__init__(f"port {port_id!r} not found", port_id=port_id)


class NetworkInUse(errors.FailedPrecondition):
    """The network still has ports."""

    reason = "NETWORK_IN_USE"

    def __init__(self, network_id: str, port_count: int) -> None:
        noun = "port" if port_count == 1 else "ports"
        super().__init__(
            f"network {network_id!r} has {port_count} {noun}; delete them first",
            network_id=network_id,
            port_count=port_count,
        )


class NetworkNotActive(errors.FailedPrecondition):
    """The network is still being created, or is being deleted."""

    reason = "NETWORK_NOT_ACTIVE"

    def __init__(self, network_id: str, status: str, refused: str = "it accepts no ports") -> None:
        state = "being created" if status == "CREATING" else "being deleted"
        super().__init__(
            f"network {network_id!r} is {state}; {refused}",
            network_id=network_id,
            status=status,
        )


class PortInUse(errors.FailedPrecondition):
    """The vnic type of a port that is bound, or whose binding failed, cannot change (Neutron's
    PortInUse)."""

    reason = "PORT_IN_USE"

    def __init__(self, port_id: str, host_id: str, vif_type: str) -> None:
        super().__init__(
            f"binding.vnic_type: port {port_id!r} has vif_type {vif_type!r} on host "
            f"{host_id!r}; its vnic type can only change while it is unbound "
            "(set binding.host_id to empty first)",
            port_id=port_id,
            host_id=host_id,
            vif_type=vif_type,
            field="binding.vnic_type",
        )


class PortBound(errors.FailedPrecondition):
    """The MAC address of a bound port cannot change (Neutron's PortBound)."""

    reason = "PORT_BOUND"

    def __init__(self, port_id: str, vif_type: str, old_mac: str, new_mac: str) -> None:
        super().__init__(
            f"mac_address: port {port_id!r} is bound as {vif_type!r}; its MAC address "
            f"{old_mac} cannot change to {new_mac} unless it is unbound or its binding "
            "failed (set binding.host_id to empty first)",
            port_id=port_id,
            vif_type=vif_type,
            mac_address=old_mac,
            field="mac_address",
        )


class MacAddressInUse(errors.AlreadyExists):
    """Another port of the network has the MAC address."""

    reason = "MAC_ADDRESS_IN_USE"

    def __init__(self, network_id: str, mac_address: str) -> None:
        super().__init__(
            f"port.mac_address: {mac_address} is already used by a port of network {network_id!r}",
            network_id=network_id,
            mac_address=mac_address,
            field="port.mac_address",
        )


class MacAddressesExhausted(errors.ResourceExhausted):
    """Random MAC addresses kept colliding with ports of the network."""

    reason = "MAC_GENERATION_FAILED"

    def __init__(self, network_id: str, tries: int) -> None:
        super().__init__(
            f"no free MAC address found for network {network_id!r} after {tries} tries",
            network_id=network_id,
        )


class BindingConflict(errors.Aborted):
    """Concurrent changes of the binding inputs won every try; the caller may retry."""

    reason = "BINDING_CONFLICT"

    def __init__(self, port_id: str, tries: int) -> None:
        super().__init__(
            f"port {port_id!r}: its binding inputs changed during each of {tries} binding "
            "attempts; read the port and retry",
            port_id=port_id,
            tries=tries,
        )


class DeadlineExceeded(errors.ServiceError):
    """The caller's deadline passed, or left too little time, while the request waited on a
    peer; what the request left unfinished is finished by the reconciler (``deadline``)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"

    def __init__(self, message: str, peer: str) -> None:
        super().__init__(message, peer=peer)


class SegmentNotFound(errors.NotFound):
    """The network has no static segment with that id."""

    reason = "SEGMENT_NOT_FOUND"

    def __init__(self, network_id: str, segment_id: str) -> None:
        super().__init__(
            f"segment_id: network {network_id!r} has no static segment {segment_id!r}",
            network_id=network_id,
            segment_id=segment_id,
            field="segment_id",
        )


class SegmentInUse(errors.FailedPrecondition):
    """Ports are bound through the segment (Neutron's SegmentInUse)."""

    reason = "SEGMENT_IN_USE"

    def __init__(self, segment_id: str, port_ids: list[str]) -> None:
        shown = ", ".join(port_ids[:3]) + (", ..." if len(port_ids) > 3 else "")
        super().__init__(
            f"segment_id: segment {segment_id!r} cannot be removed while ports are bound "
            f"through it ({shown}); unbind them first",
            segment_id=segment_id,
            port_ids=",".join(port_ids[:3]),
            field="segment_id",
        )


class LastStaticSegment(errors.FailedPrecondition):
    """A network keeps at least one static segment."""

    reason = "LAST_STATIC_SEGMENT"

    def __init__(self, network_id: str, segment_id: str) -> None:
        super().__init__(
            f"segment_id: segment {segment_id!r} is the last static segment of network "
            f"{network_id!r}; a network keeps at least one (delete the network instead)",
            network_id=network_id,
            segment_id=segment_id,
            field="segment_id",
        )


class SegmentationIdNotUpdatable(errors.FailedPrecondition):
    """A rule of Neutron's provider attribute update refuses the new segmentation id."""

    reason = "SEGMENTATION_ID_NOT_UPDATABLE"

    def __init__(self, network_id: str, why: str, rule: str, port_ids: str = "") -> None:
        super().__init__(
            f"segmentation_id: network {network_id!r}: {why}",
            network_id=network_id,
            field="segmentation_id",
            rule=rule,
            port_ids=port_ids or None,
        )


class SegmentChangeInProgress(errors.Aborted):
    """Another change of the network's segments waits for typemgr."""

    reason = "SEGMENT_CHANGE_IN_PROGRESS"

    def __init__(self, network_id: str) -> None:
        super().__init__(
            f"network {network_id!r}: another change of its segments is in progress; retry "
            "once it is done (one left by a stopped portapi is finished by the reconciler)",
            network_id=network_id,
        )


class BindingWaitsForSegmentChange(errors.Aborted):
    """A port's binding waited too long for a new segmentation id of its network's segment,
    which the driver that bound it cannot follow; the binding was left pending."""

    reason = "SEGMENT_CHANGE_IN_PROGRESS"

    def __init__(self, port_id: str, network_id: str, vif_type: str, waited: float) -> None:
        super().__init__(
            f"port {port_id!r}: its binding (vif_type {vif_type}) waits for network "
            f"{network_id!r} to finish changing its segmentation id, which that vif type "
            f"cannot follow on a bound port; still changing after {waited:.3g}s. The binding "
            "is left pending: the reconciler finishes it once the change is done, or retry",
            port_id=port_id,
            network_id=network_id,
            vif_type=vif_type,
        )
