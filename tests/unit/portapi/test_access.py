"""The policy in portapi's servicers, called as the auth interceptor would call them (the caller
bound with ``acting_as``) over a SQLite portapi with fake peers: a project sees and changes its
own networks and ports and the shared networks, another project's resource is NOT_FOUND like a
missing one, binding fields and provider attributes are refused and hidden as the default
rules say, listings and watches hold only what the caller may see, and a refused call writes
nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    binding_pb2,
    network_pb2,
    network_service_pb2,
    port_pb2,
    port_service_pb2,
    segment_pb2,
)
from ml2_driver_sdk.runtime import errors
from ml2_driver_sdk.runtime.auth import Identity
from ml2_driver_sdk.runtime.auth.testing import acting_as
from sqlalchemy import select

from services import policy, sql
from services.portapi import errors as portapi_errors
from services.portapi.db import models
from services.portapi.network_servicer import NetworkServicer
from services.portapi.port_servicer import PortServicer

from .conftest import Stack

ADMIN = Identity("admin", roles=frozenset({"admin"}))
NOVA = Identity("nova", roles=frozenset({"service"}))
MEMBER1 = Identity("alice", project_id="p1", roles=frozenset({"member"}))
READER1 = Identity("rita", project_id="p1", roles=frozenset({"reader"}))
MEMBER2 = Identity("bob", project_id="p2", roles=frozenset({"member"}))
OWNER3 = Identity("olga", project_id="p3", roles=frozenset({"member"}))
READER3 = Identity("ray", project_id="p3", roles=frozenset({"reader"}))
AGENT1 = Identity("agent:ovs-1", agent_host="ovs-1")
AGENT2 = Identity("agent:ovs-2", agent_host="ovs-2")


class Context:
    """What the servicers read of a call's context: no deadline."""

    def time_remaining(self) -> float | None:
        return None


CONTEXT = Context()


class Api:
    """portapi's two servicers, called as a given caller."""

    def __init__(self, stack: Stack) -> None:
        app = stack.app
        self.networks = NetworkServicer(app.networks)
        self.ports = PortServicer(app.ports, app.devices, app.hub, app.checker)
        self.stack = stack

    def call(self, who: Identity | None, method: Callable[[Any, Any], Any], request: Any) -> Any:
        with acting_as(who):
            return method(request, CONTEXT)

    def create_network(
        self, who: Identity | None, project: str = "", shared: bool = False, **request: Any
    ) -> network_pb2.Network:
        network = network_pb2.Network(name="net", project_id=project, shared=shared)
        return self.call(
            who,
            self.networks.CreateNetwork,
            network_service_pb2.CreateNetworkRequest(network=network, **request),
        ).network

    def create_port(
        self,
        who: Identity | None,
        network_id: str,
        host: str = "",
        profile: dict[str, Any] | None = None,
        **fields: Any,
    ) -> port_pb2.Port:
        port = port_pb2.Port(
            network_id=network_id, binding=binding_pb2.PortBinding(host_id=host), **fields
        )
        if profile is not None:
            port.binding.profile.update(profile)
        return self.call(
            who, self.ports.CreatePort, port_service_pb2.CreatePortRequest(port=port)
        ).port

    def get_port(self, who: Identity | None, port_id: str) -> port_pb2.Port:
        return self.call(
            who, self.ports.GetPort, port_service_pb2.GetPortRequest(port_id=port_id)
        ).port

    def get_network(self, who: Identity | None, network_id: str) -> network_pb2.Network:
        return self.call(
            who,
            self.networks.GetNetwork,
            network_service_pb2.GetNetworkRequest(network_id=network_id),
        ).network

    def update_port(self, who: Identity | None, port: port_pb2.Port, *paths: str) -> Any:
        request = port_service_pb2.UpdatePortRequest(
            port=port, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
        )
        return self.call(who, self.ports.UpdatePort, request).port

    def list_networks(self, who: Identity | None, **request: Any) -> list[str]:
        """The ids of every page, one network a page; checks each token points at a network
        of the listing."""
        return self._walk(who, self.networks.ListNetworks, "networks", request)

    def list_ports(self, who: Identity | None, **request: Any) -> list[str]:
        return self._walk(who, self.ports.ListPorts, "ports", request)

    def _walk(self, who: Identity | None, method: Any, field: str, request: Any) -> list[str]:
        kind = network_service_pb2.ListNetworksRequest
        if field == "ports":
            kind = port_service_pb2.ListPortsRequest
        ids: list[str] = []
        token = ""
        while True:
            page = self.call(who, method, kind(page_size=1, page_token=token, **request))
            ids.extend(item.id for item in getattr(page, field))
            token = page.next_page_token
            if not token:
                return ids
            assert token_position(token) in ids  # a token points at what was listed


def token_position(token: str) -> str:
    """The id of the item a page token continues after."""
    document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return str(document["p"][-1])


def refused(call: Callable[[], Any]) -> errors.ServiceError:
    try:
        call()
    except errors.ServiceError as exc:
        return exc
    raise AssertionError("the call succeeded; it was expected to be refused")


def rows(stack: Stack) -> dict[str, list[str]]:
    """Every row portapi keeps of networks, ports, bindings and events."""
    tables = (models.networks, models.ports, models.port_bindings, models.port_events)
    with sql.read_session(stack.factory) as session:
        return {
            table.name: sorted(repr(tuple(row)) for row in session.execute(select(table)))
            for table in tables
        }


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


class World:
    """p1's and p2's private networks, a shared network of p3, and ports: port1 (p1, bound on
    ovs-1), port2 (p2, bound on ovs-2), port3 (p2 on the shared network), port4 (p1 on it)."""

    def __init__(self, api: Api) -> None:
        self.net1 = api.create_network(ADMIN, "p1")
        self.net2 = api.create_network(ADMIN, "p2")
        self.shared = api.create_network(ADMIN, "p3", shared=True)
        self.net1b = api.create_network(ADMIN, "p1")
        self.net2b = api.create_network(ADMIN, "p2")
        self.port1 = api.create_port(NOVA, self.net1.id, "ovs-1", project_id="p1")
        self.port2 = api.create_port(NOVA, self.net2.id, "ovs-2", project_id="p2")
        self.port3 = api.create_port(NOVA, self.shared.id, project_id="p2")
        self.port4 = api.create_port(NOVA, self.shared.id, project_id="p1")


@pytest.fixture
def api(stack: Stack) -> Iterator[Api]:
    stack.app.hub.start()
    yield Api(stack)
    stack.app.hub.close()


@pytest.fixture
def world(api: Api) -> World:
    return World(api)


@pytest.fixture
def override(tmp_path: Path) -> Iterator[Callable[[str], None]]:
    """Replaces rules of the process's policy (a policy file's lines) for one test."""

    def use(text: str) -> None:
        path = tmp_path / "policy.yaml"
        path.write_text(text)
        policy.configure(policy.load(str(path)))

    yield use
    policy.configure(policy.load())


# --------------------------------------------------------------------- another project's


def test_another_projects_network_is_not_found_exactly_as_a_missing_one(
    api: Api, world: World
) -> None:
    before = rows(api.stack)
    net = world.net1
    missing = portapi_errors.NetworkNotFound(net.id)
    segment = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
    calls = {
        "get": lambda: api.get_network(MEMBER2, net.id),
        "update": lambda: api.call(
            MEMBER2,
            api.networks.UpdateNetwork,
            network_service_pb2.UpdateNetworkRequest(
                network=network_pb2.Network(id=net.id, name="mine"), update_mask=mask("name")
            ),
        ),
        "delete": lambda: api.call(
            MEMBER2,
            api.networks.DeleteNetwork,
            network_service_pb2.DeleteNetworkRequest(network_id=net.id),
        ),
        "add segment": lambda: api.call(
            MEMBER2,
            api.networks.AddNetworkSegment,
            network_service_pb2.AddNetworkSegmentRequest(network_id=net.id, segment=segment),
        ),
        "remove segment": lambda: api.call(
            MEMBER2,
            api.networks.RemoveNetworkSegment,
            network_service_pb2.RemoveNetworkSegmentRequest(
                network_id=net.id, segment_id=net.segments[0].id
            ),
        ),
        "create port": lambda: api.create_port(MEMBER2, net.id),
    }
    for what, call in calls.items():
        exc = refused(call)
        assert (type(exc), exc.message, exc.metadata) == (
            type(missing),
            missing.message,
            missing.metadata,
        ), what
    assert rows(api.stack) == before
    assert api.get_network(ADMIN, net.id).name == "net"


def test_another_projects_port_is_not_found_exactly_as_a_missing_one(
    api: Api, world: World
) -> None:
    before = rows(api.stack)
    port = world.port1
    missing = portapi_errors.PortNotFound(port.id)
    renamed = port_pb2.Port(id=port.id, name="mine")
    calls = {
        "get": lambda: api.get_port(MEMBER2, port.id),
        "update": lambda: api.update_port(MEMBER2, renamed, "name"),
        "delete": lambda: api.call(
            MEMBER2, api.ports.DeletePort, port_service_pb2.DeletePortRequest(port_id=port.id)
        ),
        "agent of another host": lambda: api.get_port(AGENT2, port.id),
    }
    for what, call in calls.items():
        exc = refused(call)
        assert (type(exc), exc.message, exc.metadata) == (
            type(missing),
            missing.message,
            missing.metadata,
        ), what
    assert rows(api.stack) == before


def test_networks_list_only_the_projects_own_and_the_shared_ones(api: Api, world: World) -> None:
    w = world
    assert api.list_networks(MEMBER2) == [w.net2.id, w.shared.id, w.net2b.id]
    assert api.list_networks(READER1) == [w.net1.id, w.shared.id, w.net1b.id]
    # Of another project's networks, only the shared ones.
    assert api.list_networks(MEMBER2, project_id="p1") == [w.shared.id]
    assert api.list_networks(MEMBER2, project_id="p3") == [w.shared.id]
    assert api.list_networks(AGENT1) == [w.shared.id]
    everything = [w.net1.id, w.net2.id, w.shared.id, w.net1b.id, w.net2b.id]
    assert api.list_networks(ADMIN) == everything
    assert api.list_networks(NOVA) == everything
    assert api.list_networks(None) == everything


def test_ports_list_only_the_callers_own(api: Api, world: World) -> None:
    w = world
    assert api.list_ports(MEMBER2) == [w.port2.id, w.port3.id]
    assert api.list_ports(MEMBER1) == [w.port1.id, w.port4.id]
    assert api.list_ports(MEMBER2, network_id=w.shared.id) == [w.port3.id]
    assert api.list_ports(MEMBER2, project_id="p1") == []
    assert api.list_ports(MEMBER2, host_id="ovs-1") == []
    assert api.list_ports(AGENT1) == [w.port1.id]
    assert api.list_ports(AGENT1, host_id="ovs-2") == []
    everything = [w.port1.id, w.port2.id, w.port3.id, w.port4.id]
    assert api.list_ports(ADMIN) == everything
    assert api.list_ports(None) == everything
    listed = api.call(MEMBER2, api.ports.ListPorts, port_service_pb2.ListPortsRequest()).ports
    assert [p.binding.host_id for p in listed] == ["", ""]
    assert [p.binding.vif_type for p in listed] == ["", ""]
    listed = api.call(ADMIN, api.ports.ListPorts, port_service_pb2.ListPortsRequest()).ports
    assert listed[1].binding.host_id == "ovs-2" and listed[1].binding.vif_type == "ovs"


def test_a_networks_owner_reads_the_other_projects_ports_on_it_and_nothing_more(
    api: Api, world: World
) -> None:
    """Neutron's get_port and delete_port: a network owner's reader or member reads the ports
    other projects have on its network (without their binding), lists them when it lists that
    network's ports, and may not change them; its member may delete them; ports on other
    networks stay NOT_FOUND."""
    w = world
    own = api.create_port(NOVA, w.net1.id, project_id="p3")  # p3's port on p1's network
    for who in (OWNER3, READER3):
        seen = api.get_port(who, w.port3.id)
        assert (seen.id, seen.project_id, seen.network_id) == (w.port3.id, "p2", w.shared.id)
        assert seen.binding.host_id == "" and seen.binding.vif_type == ""
        assert api.list_ports(who) == [own.id]
        assert api.list_ports(who, project_id="p1") == []
        assert api.list_ports(who, network_id=w.net1.id) == [own.id]
        assert api.list_ports(who, network_id=w.shared.id) == [w.port3.id, w.port4.id]
        assert api.list_ports(who, network_id=w.shared.id, project_id="p1") == [w.port4.id]
        listed = api.call(
            who, api.ports.ListPorts, port_service_pb2.ListPortsRequest(network_id=w.shared.id)
        ).ports
        assert [p.binding.host_id for p in listed] == ["", ""]
        assert refused(lambda who=who: api.get_port(who, w.port1.id)).code == (
            grpc.StatusCode.NOT_FOUND
        )
    # The owner of p1's network does not see p3's port on it through p3's network rights:
    # p1 owns net1, so it does; p2 owns nothing p3's port is on.
    assert api.get_port(MEMBER1, own.id).id == own.id
    assert refused(lambda: api.get_port(MEMBER2, own.id)).code == grpc.StatusCode.NOT_FOUND
    before = rows(api.stack)
    renamed = port_pb2.Port(id=w.port3.id, name="mine")
    delete = port_service_pb2.DeletePortRequest(port_id=w.port3.id)
    for call in (
        lambda: api.update_port(OWNER3, renamed, "name"),
        lambda: api.update_port(READER3, renamed, "name"),
        lambda: api.call(READER3, api.ports.DeletePort, delete),
    ):
        assert refused(call).code == grpc.StatusCode.PERMISSION_DENIED
    assert rows(api.stack) == before
    # The owner's member deletes p2's port on its network, as Neutron's delete_port allows,
    # and is answered without the binding fields.
    gone = api.call(OWNER3, api.ports.DeletePort, delete).port
    assert gone.id == w.port3.id and gone.binding.host_id == ""
    assert refused(lambda: api.get_port(ADMIN, w.port3.id)).code == grpc.StatusCode.NOT_FOUND
    # Another project's port on a network it does not own stays NOT_FOUND.
    assert (
        refused(
            lambda: api.call(
                OWNER3, api.ports.DeletePort, port_service_pb2.DeletePortRequest(port_id=w.port1.id)
            )
        ).code
        == grpc.StatusCode.NOT_FOUND
    )


def test_a_page_token_of_one_callers_listing_does_not_continue_anothers(
    api: Api, world: World
) -> None:
    page = api.call(ADMIN, api.ports.ListPorts, port_service_pb2.ListPortsRequest(page_size=1))
    assert token_position(page.next_page_token) == world.port1.id
    request = port_service_pb2.ListPortsRequest(page_size=1, page_token=page.next_page_token)
    exc = refused(lambda: api.call(MEMBER2, api.ports.ListPorts, request))
    assert exc.code == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in exc.message


# ------------------------------------------------------------------------- creating ports


def test_ports_on_a_shared_network_may_be_created_by_any_member(api: Api, world: World) -> None:
    port = api.create_port(MEMBER2, world.shared.id, name="mine")
    assert port.project_id == "p2"  # the caller's project when it names none
    assert api.get_port(MEMBER2, port.id).name == "mine"
    assert refused(lambda: api.get_port(MEMBER1, port.id)).code == grpc.StatusCode.NOT_FOUND


def test_a_port_in_another_project_is_denied_naming_project_id(api: Api, world: World) -> None:
    before = rows(api.stack)
    exc = refused(lambda: api.create_port(MEMBER1, world.shared.id, project_id="p2"))
    assert exc.code == grpc.StatusCode.PERMISSION_DENIED
    assert exc.message.startswith("port.project_id: ") and exc.metadata["field"] == (
        "port.project_id"
    )
    assert rows(api.stack) == before
    assert api.create_port(ADMIN, world.shared.id, project_id="p2").project_id == "p2"


def test_a_network_in_another_project_is_denied_naming_project_id(api: Api) -> None:
    before = rows(api.stack)
    exc = refused(lambda: api.create_network(MEMBER1, "p2"))
    assert exc.code == grpc.StatusCode.PERMISSION_DENIED
    assert exc.message.startswith("network.project_id: ")
    assert rows(api.stack) == before
    assert api.create_network(MEMBER1).project_id == "p1"
    assert api.create_network(ADMIN, "p2").project_id == "p2"


PROFILE = {"pci_slot": "0000:01:00.1"}


@pytest.mark.parametrize(
    ("who", "fields", "path"),
    [
        (MEMBER1, {"host": "ovs-1"}, "binding.host_id"),
        (MEMBER1, {"profile": PROFILE}, "binding.profile"),
        (ADMIN, {"profile": PROFILE}, "binding.profile"),
        (MEMBER2, {"mac_address": "fa:16:3e:00:00:98", "project_id": "p2"}, "mac_address"),
    ],
)
def test_a_field_the_caller_may_not_set_at_creation_is_denied_naming_it(
    api: Api, world: World, who: Identity, fields: dict[str, Any], path: str
) -> None:
    network = world.shared if who is MEMBER2 else world.net1
    fields.setdefault("project_id", "p1")
    before = rows(api.stack)
    exc = refused(lambda: api.create_port(who, network.id, **fields))
    assert exc.code == grpc.StatusCode.PERMISSION_DENIED
    assert exc.message.startswith(f"{path}: ") and exc.metadata["field"] == path
    assert rows(api.stack) == before


# ------------------------------------------------------------------------- updating ports


@pytest.mark.parametrize(
    ("who", "denied", "allowed"),
    [
        (MEMBER1, ["binding.host_id", "binding.profile", "mac_address"], ["name"]),
        (ADMIN, ["binding.profile"], ["binding.host_id", "name"]),
        (NOVA, [], ["binding.profile", "binding.host_id", "name"]),
    ],
)
def test_who_may_update_which_port_field(
    api: Api, world: World, who: Identity, denied: list[str], allowed: list[str]
) -> None:
    port = port_pb2.Port(id=world.port1.id, name="renamed", mac_address="fa:16:3e:00:00:99")
    port.binding.host_id = "ovs-9"
    port.binding.profile.update(PROFILE)
    before = rows(api.stack)
    for path in denied:
        exc = refused(lambda path=path: api.update_port(who, port, path))
        assert exc.code == grpc.StatusCode.PERMISSION_DENIED
        assert exc.message.startswith(f"{path}: ") and exc.metadata["field"] == path
    assert rows(api.stack) == before
    for path in allowed:
        api.update_port(who, port, path)
    stored = api.get_port(ADMIN, world.port1.id)
    assert stored.name == "renamed"
    assert (stored.binding.host_id == "ovs-9") is ("binding.host_id" in allowed)
    assert ("pci_slot" in stored.binding.profile) is ("binding.profile" in allowed)
    if who is NOVA:
        # The service sets what the administrator may not.
        exc = refused(lambda: api.update_port(ADMIN, port, "binding.profile"))
        assert exc.code == grpc.StatusCode.PERMISSION_DENIED


def test_a_port_update_by_a_member_answers_without_the_binding(api: Api, world: World) -> None:
    renamed = port_pb2.Port(id=world.port1.id, name="renamed")
    answer = api.update_port(MEMBER1, renamed, "name")
    assert answer.name == "renamed" and answer.binding.host_id == ""
    assert answer.binding.vif_type == "" and not answer.binding.levels
    assert answer.binding.state == binding_pb2.BINDING_STATE_UNSPECIFIED
    assert api.update_port(NOVA, renamed, "name").binding.host_id == "ovs-1"


def test_binding_fields_are_read_by_admins_services_and_the_bound_hosts_agent(
    api: Api, world: World
) -> None:
    for who in (ADMIN, NOVA, AGENT1, None):
        seen = api.get_port(who, world.port1.id)
        assert (seen.binding.host_id, seen.binding.vif_type) == ("ovs-1", "ovs"), who
    seen = api.get_port(MEMBER1, world.port1.id)
    assert (seen.binding.host_id, seen.binding.vif_type, len(seen.binding.levels)) == ("", "", 0)
    assert seen.binding.vnic_type == binding_pb2.VNIC_TYPE_NORMAL and seen.name == ""
    created = api.create_port(MEMBER1, world.net1.id, name="new")
    assert created.binding.vif_type == "" and created.name == "new"


def test_segments_are_read_by_admins_and_services_only(api: Api, world: World) -> None:
    assert api.get_network(ADMIN, world.net1.id).segments
    assert api.get_network(NOVA, world.net1.id).segments
    member = api.get_network(MEMBER1, world.net1.id)
    assert not member.segments and member.name == "net" and member.mtu


# ---------------------------------------------------------------------------- networks


def test_sharing_and_provider_attributes_are_the_admins(api: Api, world: World) -> None:
    before = rows(api.stack)
    calls_before = list(api.stack.peers.segments.calls)
    vlan = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
    vlan.segmentation_id = 120
    calls: dict[str, Callable[[], Any]] = {
        "shared": lambda: api.create_network(MEMBER1, shared=True),
        "segments": lambda: api.create_network(MEMBER1, segments=[vlan]),
        "segmentation_id": lambda: api.call(
            MEMBER1,
            api.networks.UpdateNetwork,
            network_service_pb2.UpdateNetworkRequest(
                network=network_pb2.Network(id=world.net1.id),
                update_mask=mask("segmentation_id"),
                segmentation_id=130,
            ),
        ),
        "segments ": lambda: api.call(
            MEMBER1,
            api.networks.AddNetworkSegment,
            network_service_pb2.AddNetworkSegmentRequest(network_id=world.net1.id, segment=vlan),
        ),
        "segments  ": lambda: api.call(
            MEMBER1,
            api.networks.RemoveNetworkSegment,
            network_service_pb2.RemoveNetworkSegmentRequest(
                network_id=world.net1.id, segment_id=world.net1.segments[0].id
            ),
        ),
    }
    for field, call in calls.items():
        exc = refused(call)
        assert exc.code == grpc.StatusCode.PERMISSION_DENIED, field
        assert exc.message.startswith(f"{field.strip()}: "), exc.message
    assert rows(api.stack) == before
    assert api.stack.peers.segments.calls == calls_before  # typemgr was not asked
    assert api.create_network(ADMIN, "p1", shared=True, segments=[vlan]).shared


def test_a_member_changes_its_projects_network(api: Api, world: World) -> None:
    request = network_service_pb2.UpdateNetworkRequest(
        network=network_pb2.Network(id=world.net1.id, name="renamed"), update_mask=mask("name")
    )
    exc = refused(lambda: api.call(MEMBER2, api.networks.UpdateNetwork, request))
    assert exc.code == grpc.StatusCode.NOT_FOUND
    assert api.call(MEMBER1, api.networks.UpdateNetwork, request).network.name == "renamed"
    deleted = api.call(
        MEMBER1,
        api.networks.DeleteNetwork,
        network_service_pb2.DeleteNetworkRequest(network_id=world.net1b.id),
    )
    assert deleted.network.id == world.net1b.id


def test_a_shared_network_is_seen_but_not_changed_by_another_project(
    api: Api, world: World
) -> None:
    assert api.get_network(MEMBER2, world.shared.id).id == world.shared.id
    before = rows(api.stack)
    exc = refused(
        lambda: api.call(
            MEMBER2,
            api.networks.DeleteNetwork,
            network_service_pb2.DeleteNetworkRequest(network_id=world.shared.id),
        )
    )
    assert exc.code == grpc.StatusCode.PERMISSION_DENIED
    assert rows(api.stack) == before


def test_a_reader_reads_but_every_change_is_denied(api: Api, world: World) -> None:
    assert api.get_network(READER1, world.net1.id).id == world.net1.id
    assert api.get_port(READER1, world.port1.id).id == world.port1.id
    before = rows(api.stack)
    net, port = world.net1, world.port1
    calls: dict[str, Callable[[], Any]] = {
        "create network": lambda: api.create_network(READER1),
        "update network": lambda: api.call(
            READER1,
            api.networks.UpdateNetwork,
            network_service_pb2.UpdateNetworkRequest(
                network=network_pb2.Network(id=net.id, name="x"), update_mask=mask("name")
            ),
        ),
        "delete network": lambda: api.call(
            READER1,
            api.networks.DeleteNetwork,
            network_service_pb2.DeleteNetworkRequest(network_id=net.id),
        ),
        "create port": lambda: api.create_port(READER1, net.id),
        "update port": lambda: api.update_port(
            READER1, port_pb2.Port(id=port.id, name="x"), "name"
        ),
        "delete port": lambda: api.call(
            READER1, api.ports.DeletePort, port_service_pb2.DeletePortRequest(port_id=port.id)
        ),
    }
    for what, call in calls.items():
        assert refused(call).code == grpc.StatusCode.PERMISSION_DENIED, what
    assert rows(api.stack) == before


def test_admins_and_services_change_every_projects_resources(api: Api, world: World) -> None:
    request = network_service_pb2.UpdateNetworkRequest(
        network=network_pb2.Network(id=world.net2.id, name="by-admin"), update_mask=mask("name")
    )
    exc = refused(lambda: api.call(MEMBER1, api.networks.UpdateNetwork, request))
    assert exc.code == grpc.StatusCode.NOT_FOUND
    assert api.call(ADMIN, api.networks.UpdateNetwork, request).network.name == "by-admin"
    moved = port_pb2.Port(id=world.port2.id, binding=binding_pb2.PortBinding(host_id="ovs-1"))
    assert api.update_port(NOVA, moved, "binding.host_id").binding.host_id == "ovs-1"
    api.call(
        ADMIN, api.ports.DeletePort, port_service_pb2.DeletePortRequest(port_id=world.port2.id)
    )
    assert refused(lambda: api.get_port(ADMIN, world.port2.id)).code == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------- agents, checks and watches


def report(host: str, port: port_pb2.Port) -> port_service_pb2.ReportDeviceStatusRequest:
    return port_service_pb2.ReportDeviceStatusRequest(
        host_id=host,
        agent_id="agent-1",
        devices=[
            port_service_pb2.DeviceReport(
                port_id=port.id,
                state=port_service_pb2.DEVICE_STATE_UP,
                binding_generation=port.binding.generation,
            )
        ],
    )


def test_device_status_is_reported_by_the_hosts_agent_services_and_admins(
    api: Api, world: World
) -> None:
    before = rows(api.stack)
    for who in (AGENT2, MEMBER1, READER1):
        exc = refused(
            lambda who=who: api.call(
                who, api.ports.ReportDeviceStatus, report("ovs-1", world.port1)
            )
        )
        assert exc.code == grpc.StatusCode.PERMISSION_DENIED, who
    assert rows(api.stack) == before
    answer = api.call(AGENT1, api.ports.ReportDeviceStatus, report("ovs-1", world.port1))
    assert answer.outcomes[0].result == port_service_pb2.DEVICE_REPORT_RESULT_APPLIED
    assert answer.outcomes[0].port.binding.host_id == "ovs-1"
    # A port bound on another host: the agent learns to unwire it, not how it is bound.
    elsewhere = api.call(AGENT1, api.ports.ReportDeviceStatus, report("ovs-1", world.port2))
    outcome = elsewhere.outcomes[0]
    assert outcome.result == port_service_pb2.DEVICE_REPORT_RESULT_NOT_BOUND_HERE
    assert not outcome.HasField("port")
    admin = api.call(ADMIN, api.ports.ReportDeviceStatus, report("ovs-1", world.port2))
    assert admin.outcomes[0].port.binding.host_id == "ovs-2"


def test_check_bindable_answers_admins_and_services(api: Api) -> None:
    request = port_service_pb2.CheckBindableRequest(host_ids=["ovs-1"], network_id="n-missing")
    for who in (MEMBER1, AGENT1):
        exc = refused(lambda who=who: api.call(who, api.ports.CheckBindable, request))
        assert exc.code == grpc.StatusCode.PERMISSION_DENIED
        assert "check_bindable" in exc.message
    for who in (ADMIN, NOVA):
        exc = refused(lambda who=who: api.call(who, api.ports.CheckBindable, request))
        assert isinstance(exc, portapi_errors.NetworkNotFound)


class Watch:
    """A WatchPorts stream read on an event loop of its own, as the caller."""

    def __init__(self, api: Api, who: Identity, **request: Any) -> None:
        self.messages: list[port_service_pb2.WatchPortsResponse] = []
        self.error: errors.ServiceError | None = None
        self.done = False
        self._changed = threading.Condition()
        self._started = threading.Event()
        self._api, self._who = api, who
        self._request = port_service_pb2.WatchPortsRequest(**request)
        threading.Thread(target=asyncio.run, args=(self._read(),), daemon=True).start()
        assert self._started.wait(10)

    async def _read(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        with acting_as(self._who):
            try:
                async for data in self._api.ports.WatchPorts(self._request, CONTEXT):
                    with self._changed:
                        self.messages.append(port_service_pb2.WatchPortsResponse.FromString(data))
                        self._changed.notify_all()
            except errors.ServiceError as exc:
                self.error = exc
            except asyncio.CancelledError:
                pass
        with self._changed:
            self.done = True
            self._changed.notify_all()

    def until(self, done: Callable[[list[Any]], bool]) -> list[Any]:
        with self._changed:
            assert self._changed.wait_for(lambda: self.done or done(self.messages), 10)
            return list(self.messages)

    def events(self) -> list[port_service_pb2.PortEvent]:
        return [m.event for m in self.messages if m.HasField("event")]

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)  # type: ignore[union-attr]


def refused_watch(api: Api, who: Identity, **request: Any) -> errors.ServiceError:
    stream = Watch(api, who, **request)
    stream.until(lambda _m: False)  # until it ends
    assert stream.error is not None
    return stream.error


def test_ports_are_watched_by_services_admins_and_the_agent_of_the_watched_host(
    api: Api, world: World
) -> None:
    for who, hosts in ((MEMBER1, []), (MEMBER1, ["ovs-1"]), (AGENT1, []), (AGENT1, ["ovs-2"])):
        exc = refused_watch(api, who, host_ids=hosts)
        assert exc.code == grpc.StatusCode.PERMISSION_DENIED and "watch_ports" in exc.message


def test_a_port_moving_away_reaches_the_old_hosts_agent_without_its_new_binding(
    api: Api, world: World
) -> None:
    stream = Watch(api, AGENT1, host_ids=["ovs-1"], snapshot=True)
    try:
        got = stream.until(lambda m: any(x.HasField("synced") for x in m))
        snapshot = [m.event.port for m in got if m.HasField("event")]
        assert [(p.id, p.binding.host_id) for p in snapshot] == [(world.port1.id, "ovs-1")]
        moved = port_pb2.Port(id=world.port1.id, binding=binding_pb2.PortBinding(host_id="ovs-2"))
        api.update_port(NOVA, moved, "binding.host_id")
        stream.until(lambda _m: any(e.previous_host_id == "ovs-1" for e in stream.events()))
        left = next(e for e in stream.events() if e.previous_host_id == "ovs-1")
        assert left.port.id == world.port1.id
        assert (left.port.binding.host_id, left.port.binding.vif_type) == ("", "")
    finally:
        stream.close()


def test_a_watch_sends_only_the_ports_the_caller_may_see(
    api: Api, world: World, override: Callable[[str], None]
) -> None:
    override("watch_ports: '@'\n")  # every caller may watch; what it sees is the ports'
    stream = Watch(api, MEMBER1, snapshot=True)
    try:
        got = stream.until(lambda m: any(x.HasField("synced") for x in m))
        snapshot = [m.event.port for m in got if m.HasField("event")]
        assert sorted(p.id for p in snapshot) == sorted([world.port1.id, world.port4.id])
        assert all(p.binding.host_id == "" and p.binding.vif_type == "" for p in snapshot)
        api.update_port(NOVA, port_pb2.Port(id=world.port2.id, name="theirs"), "name")
        api.update_port(NOVA, port_pb2.Port(id=world.port1.id, name="ours"), "name")
        stream.until(lambda _m: any(e.port.name == "ours" for e in stream.events()))
        changed = [
            e.port for e in stream.events() if e.type == port_service_pb2.PORT_EVENT_TYPE_UPDATED
        ]
        assert [p.id for p in changed] == [world.port1.id]
        assert changed[0].binding.host_id == ""
    finally:
        stream.close()
