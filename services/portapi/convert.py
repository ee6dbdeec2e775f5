"""Translation between portapi's typed values and its own messages (networks, ports, bindings).

Only this module, the clients and the servicers import ``ml2.v1``; the rest of portapi works with
``resources``. Segments, levels, verdicts and the enums go through ``ml2_contract.convert``.
"""

from __future__ import annotations

from ml2.v1 import (
    binding_pb2,
    mechanism_manager_service_pb2,
    network_pb2,
    port_pb2,
)

from ml2_contract import convert as contract
from services.portapi import resources as r
from services.rpc import errors

_PORT_STATUSES = {
    r.PORT_DOWN: port_pb2.PORT_STATUS_DOWN,
    r.PORT_BUILD: port_pb2.PORT_STATUS_BUILD,
    r.PORT_ACTIVE: port_pb2.PORT_STATUS_ACTIVE,
    r.PORT_ERROR: port_pb2.PORT_STATUS_ERROR,
}


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
    )


def network_msg(net: r.Network) -> network_pb2.Network:
    """Returns the Network message of a stored network."""
    return network_pb2.Network(
        id=net.id,
        name=net.name,
        project_id=net.project_id,
        shared=net.shared,
        admin_state_up=net.admin_state_up,
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
        status=_PORT_STATUSES.get(port.status, port_pb2.PORT_STATUS_UNSPECIFIED),
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
