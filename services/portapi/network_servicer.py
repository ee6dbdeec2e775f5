"""NetworkService: validates requests, applies the policy (``access``) and translates between
messages and NetworkManager."""

from __future__ import annotations

from typing import Any

from ml2.v1 import network_service_pb2, network_service_pb2_grpc
from ml2_contract import convert as contract
from ml2_driver_sdk.runtime import errors
from ml2_driver_sdk.runtime.auth import Identity

from services.portapi import access, convert, deadline, updates, validate
from services.portapi import resources as r
from services.portapi.networks import NetworkManager


class NetworkServicer(network_service_pb2_grpc.NetworkServiceServicer):
    """Serves ml2.v1.NetworkService. Errors are raised, never aborted here; the methods
    that call peers run within their caller's deadline (``deadline.honoured``)."""

    def __init__(self, manager: NetworkManager) -> None:
        self._manager = manager

    @deadline.honoured
    def CreateNetwork(
        self, request: network_service_pb2.CreateNetworkRequest, context: Any
    ) -> network_service_pb2.CreateNetworkResponse:
        who = access.caller()
        spec = network_spec(request, who.project_id if who is not None else "")
        request_id = validate.request_id("request_id", request.request_id)
        if who is not None:
            authorize_create(who, spec, request.network.project_id.strip())
        network = self._manager.create(spec, request_id)
        return network_service_pb2.CreateNetworkResponse(network=answer(who, network))

    def GetNetwork(
        self, request: network_service_pb2.GetNetworkRequest, context: Any
    ) -> network_service_pb2.GetNetworkResponse:
        network_id = validate.required("network_id", request.network_id)
        network = self._manager.get(network_id)
        who = access.caller()
        if who is not None:
            access.require_network(who, "get_network", network)
        return network_service_pb2.GetNetworkResponse(network=answer(who, network))

    def ListNetworks(
        self, request: network_service_pb2.ListNetworksRequest, context: Any
    ) -> network_service_pb2.ListNetworksResponse:
        project_id = validate.bounded("project_id", request.project_id.strip())
        who = access.caller()
        scope = access.network_scope(who)
        within = None
        if not scope.everything:
            # The project filter lists that project's networks and the shared ones: of another
            # project's, the caller sees the shared ones only.
            own = scope.project_id if project_id in ("", scope.project_id) else ""
            within = (own, scope.shared)
        networks, token = self._manager.list_page(
            project_id, request.page_size, request.page_token, within
        )
        return network_service_pb2.ListNetworksResponse(
            networks=[answer(who, n) for n in networks], next_page_token=token
        )

    @deadline.honoured
    def UpdateNetwork(
        self, request: network_service_pb2.UpdateNetworkRequest, context: Any
    ) -> network_service_pb2.UpdateNetworkResponse:
        network_id = validate.required("network.id", request.network.id)
        change = network_update(request)
        who = access.caller()
        check = access.stored_check(
            who, "update_network", access.require_network, request.update_mask.paths
        )
        network = self._manager.update(network_id, change, check)
        return network_service_pb2.UpdateNetworkResponse(network=answer(who, network))

    @deadline.honoured
    def AddNetworkSegment(
        self, request: network_service_pb2.AddNetworkSegmentRequest, context: Any
    ) -> network_service_pb2.AddNetworkSegmentResponse:
        network_id = validate.required("network_id", request.network_id)
        if not request.HasField("segment"):
            raise errors.InvalidArgument("segment", "is required")
        spec = contract.spec_from_proto(request.segment)
        request_id = validate.request_id("request_id", request.request_id)
        who = access.caller()
        if who is not None:
            self._authorize_segments(who, network_id)
        network, segment = self._manager.segment_changes.add(network_id, spec, request_id)
        return network_service_pb2.AddNetworkSegmentResponse(
            network=answer(who, network), segment=contract.segment_to_proto(segment)
        )

    @deadline.honoured
    def RemoveNetworkSegment(
        self, request: network_service_pb2.RemoveNetworkSegmentRequest, context: Any
    ) -> network_service_pb2.RemoveNetworkSegmentResponse:
        network_id = validate.required("network_id", request.network_id)
        segment_id = validate.required("segment_id", request.segment_id)
        who = access.caller()
        if who is not None:
            self._authorize_segments(who, network_id)
        network = self._manager.segment_changes.remove(network_id, segment_id)
        return network_service_pb2.RemoveNetworkSegmentResponse(network=answer(who, network))

    @deadline.honoured
    def DeleteNetwork(
        self, request: network_service_pb2.DeleteNetworkRequest, context: Any
    ) -> network_service_pb2.DeleteNetworkResponse:
        network_id = validate.required("network_id", request.network_id)
        who = access.caller()
        check = access.stored_check(who, "delete_network", access.require_network)
        network = self._manager.delete(network_id, check)
        return network_service_pb2.DeleteNetworkResponse(network=answer(who, network))

    def _authorize_segments(self, who: Identity, network_id: str) -> None:
        """A change of the network's segments is an update of its ``segments``: NOT_FOUND for
        a network the caller may not see, PERMISSION_DENIED naming ``segments`` otherwise.
        A network's owner and sharing never change, so reading it first decides alike."""
        target = access.require_network(who, "update_network", self._manager.get(network_id))
        access.require_fields(who, "update_network", ["segments"], target)


def answer(who: Identity | None, network: r.Network) -> Any:
    """The network as the caller may read it."""
    message = convert.network_msg(network)
    if who is not None:
        access.hide(message, access.hidden_network_fields(who, access.network_target(network)))
    return message


def authorize_create(who: Identity, spec: r.NetworkSpec, requested: str) -> None:
    """Raises unless the caller may create the network: PERMISSION_DENIED naming
    ``network.project_id`` for another project (``requested``) it may not create in,
    ``shared`` or ``segments`` when it may not set them."""
    target = {"project_id": spec.project_id, "tenant_id": spec.project_id, "shared": spec.shared}
    access.require_project(
        who, "create_network", target, "network.project_id", "network", requested
    )
    fields = [name for name in ("shared", "segments") if getattr(spec, name)]
    access.require_fields(who, "create_network", fields, target)


def network_spec(
    request: network_service_pb2.CreateNetworkRequest, caller_project: str = ""
) -> r.NetworkSpec:
    """Returns the validated spec of a CreateNetwork request; without a project, the network
    is ``caller_project``'s (the authenticated caller's), and a project is required when there
    is none. The segments are validated by typemgr, whose errors name them as this request
    does (``segments[0].segmentation_id``). The network is up unless admin_state is DOWN; the
    deprecated admin_state_up is ignored (proto3 cannot tell its false from absent)."""
    net = request.network
    project_id = net.project_id.strip() or caller_project
    return r.NetworkSpec(
        name=validate.bounded("network.name", net.name),
        project_id=validate.identifier("network.project_id", project_id),
        shared=net.shared,
        admin_state_up=convert.admin_state_up("network.admin_state", net.admin_state) is not False,
        segments=tuple(contract.spec_from_proto(s) for s in request.segments),
        mtu=validate.mtu("network.mtu", net.mtu),
    )


def network_update(request: network_service_pb2.UpdateNetworkRequest) -> r.NetworkUpdate:
    """Returns the validated changes an UpdateNetwork request names in its mask. Raises
    InvalidArgument for an empty mask, an unknown or read-only path, or a bad value."""
    paths = updates.check_mask(
        list(request.update_mask.paths), updates.NETWORK_PATHS, updates.NETWORK_READ_ONLY
    )
    net = request.network
    admin: bool | None = None
    if "admin_state" in paths:
        admin = convert.admin_state_up("network.admin_state", net.admin_state)
        if admin is None:
            raise errors.InvalidArgument(
                "network.admin_state",
                "must be ADMIN_STATE_UP or ADMIN_STATE_DOWN when update_mask names it",
            )
    if "admin_state_up" in paths:
        if admin is not None and admin != net.admin_state_up:
            raise errors.InvalidArgument(
                "update_mask",
                "names admin_state and admin_state_up with different values; name admin_state",
            )
        admin = net.admin_state_up
    return r.NetworkUpdate(
        name=validate.bounded("network.name", net.name) if "name" in paths else None,
        admin_state_up=admin,
        mtu=validate.mtu("network.mtu", net.mtu) if "mtu" in paths else None,
        segmentation_id=segmentation_id(request) if "segmentation_id" in paths else None,
    )


def segmentation_id(request: network_service_pb2.UpdateNetworkRequest) -> int:
    """Returns the new segmentation id an UpdateNetwork asks for; raises InvalidArgument when
    the mask names it but the request does not carry one. typemgr checks its range."""
    if not request.HasField("segmentation_id"):
        raise errors.InvalidArgument(
            "segmentation_id", "is required when update_mask names segmentation_id"
        )
    return request.segmentation_id
