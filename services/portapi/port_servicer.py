"""PortService: validates requests, applies the policy (``access``) and translates between
messages and PortManager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from ml2.v1 import port_pb2, port_service_pb2, port_service_pb2_grpc
from ml2_contract import hosts
from ml2_driver_sdk.runtime import errors
from ml2_driver_sdk.runtime.auth import Identity

from services.policy import targets
from services.portapi import (
    access,
    bindability,
    convert,
    deadline,
    devices,
    updates,
    validate,
    watch,
)
from services.portapi import resources as r
from services.portapi.ports import PortManager


class PortServicer(port_service_pb2_grpc.PortServiceServicer):
    """Serves ml2.v1.PortService. Errors are raised, never aborted here; the methods
    that call peers run within their caller's deadline (``deadline.honoured``)."""

    def __init__(
        self,
        manager: PortManager,
        device_status: devices.DeviceStatus,
        hub: watch.EventHub,
        checker: bindability.BindabilityChecker,
    ) -> None:
        self._manager = manager
        self._devices = device_status
        self._hub = hub
        self._checker = checker

    @deadline.honoured
    def CreatePort(
        self, request: port_service_pb2.CreatePortRequest, context: Any
    ) -> port_service_pb2.CreatePortResponse:
        spec = port_spec(request)
        request_id = validate.request_id("request_id", request.request_id)
        who = access.caller()
        check = None
        if who is not None:
            requested = spec.project_id
            if not requested and who.project_id:
                spec = replace(spec, project_id=who.project_id)
            fields = created_fields(spec)
            project_spec = spec

            def check(network: r.Network) -> None:
                authorize_create(who, project_spec, network, requested, fields)

        port = self._manager.create(spec, request_id, check)
        if who is not None and not access.port_visible(who, access.port_target(port)):
            # A request_id another caller's CreatePort used: its port is not this caller's.
            raise errors.AlreadyExists(
                f"request_id: {request_id!r} is the request id of another caller's request",
                field="request_id",
            )
        return port_service_pb2.CreatePortResponse(port=answer(who, port))

    def GetPort(
        self, request: port_service_pb2.GetPortRequest, context: Any
    ) -> port_service_pb2.GetPortResponse:
        port = self._manager.get(validate.required("port_id", request.port_id))
        who = access.caller()
        if who is None:
            return port_service_pb2.GetPortResponse(port=convert.port_msg(port))
        target = self._require_port(who, "get_port", port)
        return port_service_pb2.GetPortResponse(port=answer(who, port, target))

    def _require_port(self, who: Identity, action: str, port: r.Port) -> access.Target:
        """``access.require_port`` with the port's network's project when the network
        owner's rules may decide (so that an owner reading a port it may not change is
        refused PERMISSION_DENIED, not NOT_FOUND)."""
        asks = access.network_owner_asks(who, port)
        owner = self._manager.network_project(port) if asks else None
        return access.require_port(who, action, port, owner)

    def ListPorts(
        self, request: port_service_pb2.ListPortsRequest, context: Any
    ) -> port_service_pb2.ListPortsResponse:
        filters = {
            name: validate.bounded(name, getattr(request, name).strip())
            for name in ("network_id", "host_id", "device_id", "project_id")
        }
        who = access.caller()
        scope = access.port_scope(who)
        owns = bool(
            who is not None
            and scope.network_owner
            and filters["network_id"]
            and self._manager.network_project_of(filters["network_id"]) == who.project_id
        )
        scoped = access.scoped_port_filters(scope, filters, owns)
        if scoped is None:
            # Another project's or host's ports: none the caller may see. The page token must
            # still be one of this listing's.
            self._manager.check_token(filters, request.page_token)
            return port_service_pb2.ListPortsResponse()
        ports, token = self._manager.list_page(scoped, request.page_size, request.page_token)
        if who is None:
            return port_service_pb2.ListPortsResponse(
                ports=[convert.port_msg(p) for p in ports], next_page_token=token
            )
        owner = who.project_id if owns else None
        seen = []
        for port in ports:
            # In a network owner's listing of its network, every port is on that network.
            target = access.port_target(port, owner)
            if access.port_visible(who, target):
                seen.append(answer(who, port, target))
        return port_service_pb2.ListPortsResponse(ports=seen, next_page_token=token)

    @deadline.honoured
    def UpdatePort(
        self, request: port_service_pb2.UpdatePortRequest, context: Any
    ) -> port_service_pb2.UpdatePortResponse:
        port_id = validate.required("port.id", request.port.id)
        update = port_update(request)
        who = access.caller()
        check = access.stored_check(
            who, "update_port", self._require_port, request.update_mask.paths
        )
        port = self._manager.update(port_id, update, check)
        return port_service_pb2.UpdatePortResponse(port=answer(who, port))

    @deadline.honoured
    def DeletePort(
        self, request: port_service_pb2.DeletePortRequest, context: Any
    ) -> port_service_pb2.DeletePortResponse:
        port_id = validate.required("port_id", request.port_id)
        who = access.caller()
        check = access.stored_check(who, "delete_port", self._require_port)
        port = self._manager.delete(port_id, check)
        return port_service_pb2.DeletePortResponse(port=answer(who, port))

    async def WatchPorts(
        self, request: port_service_pb2.WatchPortsRequest, context: Any
    ) -> AsyncIterator[Any]:
        """An async generator, on the asyncio server's loop; it yields each message already
        serialized (an event once for all the watchers of this replica)."""
        filt = watch_filter(request)
        if request.after_revision < 0:
            raise errors.InvalidArgument("after_revision", "must not be negative")
        if request.max_batch > MAX_BATCH:
            raise errors.InvalidArgument("max_batch", f"must be at most {MAX_BATCH}")
        who = access.caller()
        screen = None
        if who is not None:
            authorize_watch(who, filt)
            screen = watch_screen(who)
        items = self._hub.stream(
            filt,
            after_revision=request.after_revision,
            snapshot=request.snapshot,
            encoding=WATCH_ENCODING,
            max_batch=request.max_batch,
            screen=screen,
        )
        async for data in items:
            yield data

    def ReportDeviceStatus(
        self, request: port_service_pb2.ReportDeviceStatusRequest, context: Any
    ) -> port_service_pb2.ReportDeviceStatusResponse:
        host_id = validate.host("host_id", request.host_id)
        if not host_id:
            raise errors.InvalidArgument("host_id", "is required")
        agent_id = validate.identifier("agent_id", request.agent_id)
        reports = device_reports(request)
        who = access.caller()
        access.require(who, "report_device_status", targets.host(host_id))
        outcomes = self._devices.report(host_id, agent_id, reports)
        answers = [convert.outcome_msg(o) for o in outcomes]
        if who is not None:
            for outcome, message in zip(outcomes, answers, strict=True):
                if outcome.port is not None:
                    shown = answer_or_none(who, outcome.port)
                    if shown is None:
                        message.ClearField("port")  # bound elsewhere: not the agent's to read
                    else:
                        message.port.CopyFrom(shown)
        return port_service_pb2.ReportDeviceStatusResponse(outcomes=answers)

    @deadline.honoured
    def CheckBindable(self, request: port_service_pb2.CheckBindableRequest, context: Any) -> Any:
        """Returns the CheckBindableResponse already serialized (bytes), as mechmgr sent it."""
        check = bindability_check(request)
        access.require(access.caller(), "check_bindable", {"network_id": check.network_id})
        return self._checker.check(check)


def answer(who: Identity | None, port: r.Port, target: access.Target | None = None) -> Any:
    """The port as the caller may read it (``target``: the port's, if already built)."""
    message = convert.port_msg(port)
    if who is not None:
        hidden = access.hidden_port_fields(who, target or access.port_target(port))
        if hidden:
            access.hide(message, hidden)
    return message


def answer_or_none(who: Identity, port: r.Port) -> Any:
    """The port as the caller may read it, or None if it may not see it."""
    target = access.port_target(port)
    return answer(who, port, target) if access.port_visible(who, target) else None


def created_fields(spec: r.PortSpec) -> list[str]:
    """The fields a CreatePort sets that have rules of their own."""
    given = {
        "mac_address": bool(spec.mac_address),
        "binding.host_id": bool(spec.inputs.host_id),
        "binding.profile": bool(spec.inputs.profile),
        "binding.vnic_type": spec.inputs.vnic_type != r.BindingInputs().vnic_type,
        "device_owner": bool(spec.device_owner),
    }
    return [path for path, set_ in given.items() if set_]


def authorize_create(
    who: Identity, spec: r.PortSpec, network: r.Network, requested: str, fields: list[str]
) -> None:
    """Raises unless the caller may create the port on ``network``: NetworkNotFound for a
    network it may not see, PERMISSION_DENIED naming ``port.project_id`` for another project,
    or the first field it may not set."""
    access.require_network(who, "get_network", network)
    target = access.new_port_target(spec, network)
    access.require_project(who, "create_port", target, "port.project_id", "port", requested)
    access.require_fields(who, "create_port", fields, target)


def authorize_watch(who: Identity, filt: r.WatchFilter) -> None:
    """Raises PERMISSION_DENIED unless the caller may watch every host it names (a host's
    agent: its own), or every port when it names none."""
    for host in sorted(filt.host_ids) or [""]:
        access.require(who, "watch_ports", targets.host(host))


def watch_screen(who: Identity) -> watch.Screen | None:
    """What the caller may see of each port a watch sends: the ports it may see (or, for a
    port that moved away from a host, whose old host's agent it is), without the fields it may
    not read. None for a caller that sees every port whole (its events keep their shared
    encoding)."""
    if access.sees_every_port_whole(who):
        return None

    def admit(item: watch.Seen) -> watch.Seen | None:
        if isinstance(item, watch.Change):
            target = targets.port(port_pb2.Port.FromString(item.event.port))
            previous = item.event.previous_host_id
        else:
            target = access.port_target(item.port)
            previous = ""
        if not access.port_visible(who, target) and not (
            previous and access.port_visible(who, {**target, "binding:host_id": previous})
        ):
            return None
        hidden = access.hidden_port_fields(who, target)
        return replace(item, hidden=tuple(hidden)) if hidden else item

    return watch.Screen(admit)


def bindability_check(request: port_service_pb2.CheckBindableRequest) -> bindability.Check:
    """Returns the validated CheckBindable request: 1 to MAX_HOSTS host names without repeats,
    a network id, a known vnic type and a profile bounded as in UpdatePort."""
    if not request.host_ids:
        raise errors.InvalidArgument("host_ids", "at least one host is required")
    validate.bounded_list("host_ids", request.host_ids, bindability.MAX_HOSTS)
    seen: set[str] = set()
    for i, host in enumerate(request.host_ids):
        if not hosts.is_host_name(host):
            raise errors.InvalidArgument(
                f"host_ids[{i}]",
                f"must be a host name (letters, digits, '-', '_' and dots; at most "
                f"{hosts.MAX_HOST_NAME}), got {host[:64]!r}",
            )
        if host in seen:
            raise errors.InvalidArgument(f"host_ids[{i}]", f"host {host} is listed twice")
        seen.add(host)
    return bindability.Check(
        network_id=validate.identifier("network_id", request.network_id),
        host_ids=tuple(request.host_ids),
        vnic_type=convert.vnic_type("vnic_type", request.vnic_type),
        profile=validate.profile("profile", request.profile),
    )


def _batch_part(item: watch.Item) -> bytes:
    assert isinstance(item, watch.Change | watch.SnapshotPort)
    return convert.batch_part(item).SerializeToString()


WATCH_ENCODING = watch.Encoding(
    single=lambda item: convert.watch_response(item).SerializeToString(), part=_batch_part
)
"""How WatchPorts serializes what it sends."""
MAX_BATCH = 1000
"""The most events one WatchPorts message may carry."""


MAX_WATCHED_HOSTS = 100
MAX_WATCHED_NETWORKS = 100
MAX_WATCHED_PORTS = 1000
MESSAGE_MAX_LEN = 1024
"""The longest message an agent may report with a device."""


def watch_filter(request: port_service_pb2.WatchPortsRequest) -> r.WatchFilter:
    """Returns the validated filter of a WatchPorts request: bounded counts, each value a host,
    a network id or a port id."""
    validate.bounded_list("host_ids", request.host_ids, MAX_WATCHED_HOSTS)
    validate.bounded_list("network_ids", request.network_ids, MAX_WATCHED_NETWORKS)
    validate.bounded_list("port_ids", request.port_ids, MAX_WATCHED_PORTS)
    hosts = []
    for i, value in enumerate(request.host_ids):
        host = validate.host(f"host_ids[{i}]", value)
        if not host:
            raise errors.InvalidArgument(f"host_ids[{i}]", "must not be empty")
        hosts.append(host)
    networks = [
        validate.identifier(f"network_ids[{i}]", value)
        for i, value in enumerate(request.network_ids)
    ]
    ports = [validate.port_id(f"port_ids[{i}]", value) for i, value in enumerate(request.port_ids)]
    return r.WatchFilter(frozenset(hosts), frozenset(networks), frozenset(ports))


def device_reports(request: port_service_pb2.ReportDeviceStatusRequest) -> list[r.DeviceReport]:
    """Returns the validated reports of a ReportDeviceStatus request; raises InvalidArgument
    naming the first bad field (``devices[3].state``), so that nothing is written."""
    validate.bounded_list("devices", request.devices, devices.MAX_REPORTS)
    reports = []
    for i, device in enumerate(request.devices):
        field = f"devices[{i}]"
        state = convert.device_state(f"{field}.state", device.state)
        if device.binding_generation < 0:
            raise errors.InvalidArgument(f"{field}.binding_generation", "must not be negative")
        reports.append(
            r.DeviceReport(
                port_id=validate.port_id(f"{field}.port_id", device.port_id),
                state=state,
                binding_generation=device.binding_generation,
                message=validate.bounded(f"{field}.message", device.message, MESSAGE_MAX_LEN),
            )
        )
    return reports


def port_spec(request: port_service_pb2.CreatePortRequest) -> r.PortSpec:
    """Returns the validated spec of a CreatePort request. The port is up unless admin_state is
    DOWN; the deprecated admin_state_up is ignored (proto3 cannot tell its false from absent)."""
    port = request.port
    project_id = port.project_id.strip()
    return r.PortSpec(
        network_id=validate.identifier("port.network_id", port.network_id),
        project_id=validate.identifier("port.project_id", project_id) if project_id else "",
        name=validate.bounded("port.name", port.name),
        mac_address=validate.mac_address("port.mac_address", port.mac_address),
        device_id=validate.bounded("port.device_id", port.device_id),
        device_owner=validate.bounded("port.device_owner", port.device_owner),
        admin_state_up=convert.admin_state_up("port.admin_state", port.admin_state) is not False,
        inputs=r.BindingInputs(
            host_id=validate.host("port.binding.host_id", port.binding.host_id),
            vnic_type=convert.vnic_type("port.binding.vnic_type", port.binding.vnic_type),
            profile=validate.port_profile("port.binding.profile", port.binding.profile),
        ),
    )


def _admin_state_update(port: port_pb2.Port, paths: frozenset[str]) -> bool | None:
    """Returns the admin state an update sets (True: up), or None when the mask names neither
    admin_state nor the deprecated admin_state_up (whose false sets the port down and true up).
    Naming both with different values is refused."""
    new = None
    if "admin_state" in paths:
        new = convert.admin_state_up("port.admin_state", port.admin_state)
        if new is None:
            raise errors.InvalidArgument(
                "port.admin_state",
                "must be ADMIN_STATE_UP or ADMIN_STATE_DOWN when update_mask names it",
            )
    if "admin_state_up" in paths:
        if new is not None and new != port.admin_state_up:
            raise errors.InvalidArgument(
                "update_mask",
                "names admin_state and admin_state_up with different values; name admin_state",
            )
        new = port.admin_state_up
    return new


def _mac_update(value: str) -> str:
    """Returns the new MAC address of an update, normalized; raises if it is empty or
    malformed (an update names the address it wants; none is generated)."""
    mac = validate.mac_address("port.mac_address", value)
    if not mac:
        raise errors.InvalidArgument(
            "port.mac_address", "is required when update_mask names mac_address"
        )
    return mac


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
        admin_state_up=_admin_state_update(port, paths),
        device_id=validate.bounded("port.device_id", port.device_id)
        if wanted("device_id")
        else None,
        device_owner=validate.bounded("port.device_owner", port.device_owner)
        if wanted("device_owner")
        else None,
        mac_address=_mac_update(port.mac_address) if wanted("mac_address") else None,
        host_id=validate.host("port.binding.host_id", binding.host_id)
        if wanted("binding.host_id")
        else None,
        vnic_type=convert.vnic_type("port.binding.vnic_type", binding.vnic_type)
        if wanted("binding.vnic_type")
        else None,
        profile=validate.port_profile("port.binding.profile", binding.profile)
        if wanted("binding.profile")
        else None,
    )
