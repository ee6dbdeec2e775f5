"""Translation between portapi's typed values and its own messages (networks, ports, bindings).

Only this module, the clients and the servicers import ``ml2.v1``; the rest of portapi works with
``resources``. Segments, levels, verdicts and the enums go through ``ml2_contract.convert``.
"""

from __future__ import annotations

from ml2.v1 import (
    admin_state_pb2,
    binding_pb2,
    mechanism_manager_service_pb2,
    network_pb2,
    port_pb2,
    port_service_pb2,
)
from ml2_contract import convert as contract
from ml2_driver_sdk.runtime import errors

from services.portapi import access, status, watch
from services.portapi import resources as r

_PORT_STATUSES = {
    r.PORT_DOWN: port_pb2.PORT_STATUS_DOWN,
    r.PORT_BUILD: port_pb2.PORT_STATUS_BUILD,
    r.PORT_ACTIVE: port_pb2.PORT_STATUS_ACTIVE,
    r.PORT_ERROR: port_pb2.PORT_STATUS_ERROR,
}


def admin_state_up(field: str, value: int) -> bool | None:
    """Returns True for ADMIN_STATE_UP, False for ADMIN_STATE_DOWN and None for UNSPECIFIED;
    raises InvalidArgument naming ``field`` for a value that is none of them."""
    if value == admin_state_pb2.ADMIN_STATE_UNSPECIFIED:
        return None
    if value == admin_state_pb2.ADMIN_STATE_UP:
        return True
    if value == admin_state_pb2.ADMIN_STATE_DOWN:
        return False
    raise errors.InvalidArgument(
        field, f"unknown admin state {value}: must be ADMIN_STATE_UP or ADMIN_STATE_DOWN"
    )


def admin_state(up: bool) -> admin_state_pb2.AdminState:
    """Returns the AdminState of a stored admin_state_up."""
    return admin_state_pb2.ADMIN_STATE_UP if up else admin_state_pb2.ADMIN_STATE_DOWN


def vnic_type(field: str, value: int) -> str:
    """Returns the vnic type string of an enum value (UNSPECIFIED is normal); raises
    InvalidArgument naming ``field`` for a value this server does not know."""
    try:
        return contract.vnic_type_name(value)
    except ValueError as exc:
        raise errors.InvalidArgument(field, str(exc)) from None


def resolve_request(
    ticket: r.BindTicket,
) -> mechanism_manager_service_pb2.ResolveBindingRequest:
    """Returns the ResolveBinding request for one generation of a port's inputs."""
    return mechanism_manager_service_pb2.ResolveBindingRequest(
        port_id=ticket.port_id,
        network_id=ticket.network_id,
        host=ticket.inputs.host_id,
        vnic_type=contract.vnic_type_value(ticket.inputs.vnic_type),
        profile=contract.dict_to_struct(ticket.inputs.profile),
        segments=[contract.segment_to_proto(s) for s in ticket.segments],
        binding_generation=ticket.generation,
        original=(
            contract.original_to_proto(ticket.original) if ticket.original is not None else None
        ),
    )


def network_msg(net: r.Network) -> network_pb2.Network:
    """Returns the Network message of a stored network."""
    return network_pb2.Network(
        id=net.id,
        name=net.name,
        project_id=net.project_id,
        shared=net.shared,
        admin_state_up=net.admin_state_up,
        admin_state=admin_state(net.admin_state_up),
        segments=[contract.segment_to_proto(s) for s in net.segments],
        mtu=net.mtu,
        create_time=contract.timestamp(net.create_time),
    )


def port_msg(port: r.Port) -> port_pb2.Port:
    """Returns the Port message of a stored port, with its binding, levels and trace."""
    return port_pb2.Port(
        id=port.id,
        network_id=port.network_id,
        project_id=port.project_id,
        name=port.name,
        mac_address=port.mac_address,
        device_id=port.device_id,
        device_owner=port.device_owner,
        admin_state_up=port.admin_state_up,
        admin_state=admin_state(port.admin_state_up),
        status=_PORT_STATUSES.get(port.status, port_pb2.PORT_STATUS_UNSPECIFIED),
        status_message=port.status_message,
        status_agent_id=port.status_agent_id,
        binding=binding_msg(port.binding),
        create_time=contract.timestamp(port.create_time),
        update_time=contract.timestamp(port.update_time),
    )


def binding_msg(binding: r.Binding) -> binding_pb2.PortBinding:
    """Returns the PortBinding message of a binding."""
    result = binding.result
    return binding_pb2.PortBinding(
        host_id=binding.inputs.host_id,
        vnic_type=contract.vnic_type_value(binding.inputs.vnic_type),
        profile=contract.dict_to_struct(binding.inputs.profile),
        vif_type=result.vif_type,
        vif_details=contract.dict_to_struct(result.vif_details),
        state=contract.state_value(result.state),
        levels=[contract.level_to_proto(level) for level in result.levels],
        trace=[contract.verdict_to_proto(v) for v in result.trace],
        failure_message=result.failure_message,
        generation=binding.generation,
    )


_DEVICE_STATES = {
    port_service_pb2.DEVICE_STATE_UP: r.DEVICE_UP,
    port_service_pb2.DEVICE_STATE_DOWN: r.DEVICE_DOWN,
    port_service_pb2.DEVICE_STATE_ERROR: r.DEVICE_ERROR,
}
_REPORT_RESULTS = {
    r.REPORT_APPLIED: port_service_pb2.DEVICE_REPORT_RESULT_APPLIED,
    r.REPORT_NOT_FOUND: port_service_pb2.DEVICE_REPORT_RESULT_NOT_FOUND,
    r.REPORT_NOT_BOUND_HERE: port_service_pb2.DEVICE_REPORT_RESULT_NOT_BOUND_HERE,
    r.REPORT_STALE_GENERATION: port_service_pb2.DEVICE_REPORT_RESULT_STALE_GENERATION,
}
_EVENT_TYPES = {
    status.EVENT_CREATED: port_service_pb2.PORT_EVENT_TYPE_CREATED,
    status.EVENT_UPDATED: port_service_pb2.PORT_EVENT_TYPE_UPDATED,
    status.EVENT_DELETED: port_service_pb2.PORT_EVENT_TYPE_DELETED,
    status.EVENT_VIF_PLUGGED: port_service_pb2.PORT_EVENT_TYPE_VIF_PLUGGED,
    status.EVENT_VIF_UNPLUGGED: port_service_pb2.PORT_EVENT_TYPE_VIF_UNPLUGGED,
}


def device_state(field: str, value: int) -> str:
    """Returns the device state of a DeviceState value; raises InvalidArgument naming ``field``
    for UNSPECIFIED or an unknown value."""
    if value == port_service_pb2.DEVICE_STATE_UNSPECIFIED:
        raise errors.InvalidArgument(
            field, "is required: DEVICE_STATE_UP, DEVICE_STATE_DOWN or DEVICE_STATE_ERROR"
        )
    state = _DEVICE_STATES.get(value)  # type: ignore[call-overload]
    if state is None:
        raise errors.InvalidArgument(
            field,
            f"unknown device state {value}: must be DEVICE_STATE_UP, DEVICE_STATE_DOWN or "
            "DEVICE_STATE_ERROR",
        )
    return str(state)


def outcome_msg(outcome: r.ReportOutcome) -> port_service_pb2.DeviceReportOutcome:
    """Returns the DeviceReportOutcome message of one report's outcome."""
    return port_service_pb2.DeviceReportOutcome(
        port_id=outcome.port_id,
        result=_REPORT_RESULTS[outcome.result],
        port=port_msg(outcome.port) if outcome.port is not None else None,
    )


def watch_response(item: watch.Item) -> port_service_pb2.WatchPortsResponse:
    """Returns the WatchPortsResponse of one item of a watcher's stream."""
    if isinstance(item, watch.Change | watch.SnapshotPort):
        return port_service_pb2.WatchPortsResponse(event=port_event(item))
    if isinstance(item, watch.Synced):
        return port_service_pb2.WatchPortsResponse(
            synced=port_service_pb2.Synced(revision=item.revision)
        )
    return port_service_pb2.WatchPortsResponse(
        resync=port_service_pb2.Resync(oldest_revision=item.oldest_revision, message=item.message)
    )


def batch_part(item: watch.Change | watch.SnapshotPort) -> port_service_pb2.WatchPortsResponse:
    """A WatchPortsResponse whose batch holds only ``item``: concatenated, such messages are
    one whose batch holds all their events."""
    return port_service_pb2.WatchPortsResponse(
        events=port_service_pb2.PortEventBatch(events=[port_event(item)])
    )


def port_event(item: watch.Change | watch.SnapshotPort) -> port_service_pb2.PortEvent:
    """The PortEvent of a change or of a snapshot's port."""
    if isinstance(item, watch.Change):
        event = item.event
        message = port_service_pb2.PortEvent(
            revision=event.revision,
            type=_EVENT_TYPES[event.type],
            port=port_pb2.Port.FromString(event.port),
            time=contract.timestamp(event.time),
            previous_host_id=event.previous_host_id,
        )
    else:
        message = port_service_pb2.PortEvent(
            revision=item.revision,
            type=port_service_pb2.PORT_EVENT_TYPE_SNAPSHOT,
            port=port_msg(item.port),
            time=contract.timestamp(item.port.update_time),
        )
    if item.hidden:
        access.hide(message.port, item.hidden)
    return message
