"""PortService: validates requests and translates between messages and PortManager."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
from ml2.v1 import port_service_pb2, port_service_pb2_grpc

from services.portapi import convert, deadline, updates, validate
from services.portapi import resources as r
from services.portapi.ports import PortManager


class PortServicer(port_service_pb2_grpc.PortServiceServicer):
    """Serves ml2.v1.PortService. Errors are raised, never aborted here; the methods
    that call peers run within their caller's deadline (``deadline.honoured``)."""

    def __init__(self, manager: PortManager) -> None:
        self._manager = manager

    @deadline.honoured
    def CreatePort(
        self, request: port_service_pb2.CreatePortRequest, context: Any
    ) -> port_service_pb2.CreatePortResponse:
        spec = port_spec(request)
        request_id = validate.request_id("request_id", request.request_id)
        port = self._manager.create(spec, request_id)
        return port_service_pb2.CreatePortResponse(port=convert.port_msg(port))

    def GetPort(
        self, request: port_service_pb2.GetPortRequest, context: Any
    ) -> port_service_pb2.GetPortResponse:
        port = self._manager.get(validate.required("port_id", request.port_id))
        return port_service_pb2.GetPortResponse(port=convert.port_msg(port))

    def ListPorts(
        self, request: port_service_pb2.ListPortsRequest, context: Any
    ) -> port_service_pb2.ListPortsResponse:
        filters = {
            name: validate.bounded(name, getattr(request, name).strip())
            for name in ("network_id", "host_id", "device_id", "project_id")
        }
        ports, token = self._manager.list_page(filters, request.page_size, request.page_token)
        return port_service_pb2.ListPortsResponse(
            ports=[convert.port_msg(p) for p in ports], next_page_token=token
        )

    @deadline.honoured
    def UpdatePort(
        self, request: port_service_pb2.UpdatePortRequest, context: Any
    ) -> port_service_pb2.UpdatePortResponse:
        port_id = validate.required("port.id", request.port.id)
        update = port_update(request)
        port = self._manager.update(port_id, update)
        return port_service_pb2.UpdatePortResponse(port=convert.port_msg(port))

    @deadline.honoured
    def DeletePort(
        self, request: port_service_pb2.DeletePortRequest, context: Any
    ) -> port_service_pb2.DeletePortResponse:
        port = self._manager.delete(validate.required("port_id", request.port_id))
        return port_service_pb2.DeletePortResponse(port=convert.port_msg(port))

    def WatchPorts(
        self, request: port_service_pb2.WatchPortsRequest, context: Any
    ) -> Iterator[port_service_pb2.WatchPortsResponse]:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "WatchPorts is not served yet")
        yield from ()

    def ReportDeviceStatus(
        self, request: port_service_pb2.ReportDeviceStatusRequest, context: Any
    ) -> port_service_pb2.ReportDeviceStatusResponse:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "ReportDeviceStatus is not served yet")
        raise AssertionError("unreachable")


def port_spec(request: port_service_pb2.CreatePortRequest) -> r.PortSpec:
    """Returns the validated spec of a CreatePort request."""
    port = request.port
    project_id = port.project_id.strip()
    return r.PortSpec(
        network_id=validate.identifier("port.network_id", port.network_id),
        project_id=validate.identifier("port.project_id", project_id) if project_id else "",
        name=validate.bounded("port.name", port.name),
        mac_address=validate.mac_address("port.mac_address", port.mac_address),
        device_id=validate.bounded("port.device_id", port.device_id),
        device_owner=validate.bounded("port.device_owner", port.device_owner),
        admin_state_up=port.admin_state_up,
        inputs=r.BindingInputs(
            host_id=validate.host("port.binding.host_id", port.binding.host_id),
            vnic_type=convert.vnic_type("port.binding.vnic_type", port.binding.vnic_type),
            profile=validate.profile("port.binding.profile", port.binding.profile),
        ),
    )


def port_update(request: port_service_pb2.UpdatePortRequest) -> r.PortUpdate:
    """Returns the validated changes an UpdatePort request names in its mask. Raises
    InvalidArgument for an empty mask, an unknown or read-only path, or a bad value."""
    paths = updates.check_mask(list(request.update_mask.paths))
    port = request.port
    binding = port.binding

    def wanted(path: str) -> bool:
        return path in paths

    return r.PortUpdate(
        name=validate.bounded("port.name", port.name) if wanted("name") else None,
        admin_state_up=port.admin_state_up if wanted("admin_state_up") else None,
        device_id=validate.bounded("port.device_id", port.device_id)
        if wanted("device_id")
        else None,
        device_owner=validate.bounded("port.device_owner", port.device_owner)
        if wanted("device_owner")
        else None,
        host_id=validate.host("port.binding.host_id", binding.host_id)
        if wanted("binding.host_id")
        else None,
        vnic_type=convert.vnic_type("port.binding.vnic_type", binding.vnic_type)
        if wanted("binding.vnic_type")
        else None,
        profile=validate.profile("port.binding.profile", binding.profile)
        if wanted("binding.profile")
        else None,
    )
