"""NetworkService and PortService over real gRPC, with fakes of typemgr and mechmgr: error
codes, field names, pass-through of peer errors, and that a refused request writes nothing."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from ml2.v1 import (
    admin_state_pb2,
    binding_pb2,
    network_pb2,
    network_service_pb2,
    port_pb2,
    port_service_pb2,
    segment_pb2,
)
from ml2_driver_sdk.runtime import errors

from services import sql
from services.portapi import macs
from services.portapi import resources as r
from services.portapi.db import repository as repo

from .conftest import Stack
from .rpcerrors import failure


def create_network(
    stack: Stack,
    *specs: segment_pb2.SegmentSpec,
    project: str = "proj",
    shared: bool = False,
    request_id: str = "",
) -> network_pb2.Network:
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(
            name="net", project_id=project, shared=shared, admin_state_up=True
        ),
        segments=list(specs),
        request_id=request_id,
    )
    return stack.networks.CreateNetwork(request).network


def create_port(stack: Stack, network_id: str, host: str = "", **fields: object) -> port_pb2.Port:
    port = port_pb2.Port(
        network_id=network_id,
        admin_state_up=True,
        binding=binding_pb2.PortBinding(host_id=host),
        **fields,
    )
    return stack.ports.CreatePort(port_service_pb2.CreatePortRequest(port=port)).port


def update_port(stack: Stack, port: port_pb2.Port, *paths: str) -> port_pb2.Port:
    request = port_service_pb2.UpdatePortRequest(
        port=port, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )
    return stack.ports.UpdatePort(request).port


def all_networks(stack: Stack) -> list[network_pb2.Network]:
    return list(stack.networks.ListNetworks(network_service_pb2.ListNetworksRequest()).networks)


def all_ports(stack: Stack) -> list[port_pb2.Port]:
    return list(stack.ports.ListPorts(port_service_pb2.ListPortsRequest()).ports)


VLAN = segment_pb2.SegmentSpec


def test_tenant_network_gets_its_segment_from_typemgr(stack: Stack) -> None:
    network = create_network(stack)
    assert [(s.network_type, s.segmentation_id) for s in network.segments] == [("vxlan", 1000)]
    assert network.mtu == 1450 and network.project_id == "proj"
    assert (
        stack.networks.GetNetwork(
            network_service_pb2.GetNetworkRequest(network_id=network.id)
        ).network
        == network
    )


def test_typemgr_refusal_passes_through_and_leaves_nothing(stack: Stack) -> None:
    bad = VLAN(network_type="vlan", physical_network="physnet1", segmentation_id=4095)
    found = failure(lambda: create_network(stack, bad))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message == (
        "segments[0].segmentation_id: VLAN id must be between 1 and 4094, got 4095"
    )
    assert found.reason == "SEGMENTATION_ID_OUT_OF_RANGE"
    assert found.metadata["field"] == "segments[0].segmentation_id"
    assert all_networks(stack) == []


def test_typemgr_unavailable_is_unavailable_and_leaves_nothing(stack: Stack) -> None:
    stack.peers.segments.fail_with = errors.Unavailable("typemgr is restarting")
    found = failure(lambda: create_network(stack))
    assert found.code == grpc.StatusCode.UNAVAILABLE
    assert all_networks(stack) == []


def test_network_requires_a_project_and_a_short_name(stack: Stack) -> None:
    found = failure(lambda: create_network(stack, project=""))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "network.project_id"
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name="n" * 256, project_id="p")
    )
    found = failure(lambda: stack.networks.CreateNetwork(request))
    assert found.message.startswith("network.name: must be at most 255 characters")
    assert all_networks(stack) == [] and stack.peers.segments.calls == []


def test_create_network_with_the_same_request_id_returns_the_first(stack: Stack) -> None:
    first = create_network(stack, request_id="req-1")
    again = create_network(stack, request_id="req-1")
    assert again.id == first.id and len(all_networks(stack)) == 1


def test_list_networks_filters_by_project_with_shared_ones_and_pages(stack: Stack) -> None:
    mine = [create_network(stack, project="a").id for _ in range(3)]
    shared = create_network(stack, project="b", shared=True).id
    create_network(stack, project="b")
    seen, token = [], ""
    while True:
        reply = stack.networks.ListNetworks(
            network_service_pb2.ListNetworksRequest(project_id="a", page_size=2, page_token=token)
        )
        seen += [n.id for n in reply.networks]
        token = reply.next_page_token
        if not token:
            break
    assert seen == [*mine, shared]
    assert len(all_networks(stack)) == 5


def test_delete_network_with_ports_is_failed_precondition_naming_the_count(stack: Stack) -> None:
    network = create_network(stack)
    create_port(stack, network.id)
    create_port(stack, network.id)
    request = network_service_pb2.DeleteNetworkRequest(network_id=network.id)
    found = failure(lambda: stack.networks.DeleteNetwork(request))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "has 2 ports" in found.message and found.metadata["port_count"] == "2"
    assert len(all_networks(stack)) == 1


def test_delete_network_releases_its_segments(stack: Stack) -> None:
    network = create_network(stack)
    stack.networks.DeleteNetwork(network_service_pb2.DeleteNetworkRequest(network_id=network.id))
    assert f"release {network.id}" in stack.peers.segments.calls
    assert network.id not in stack.peers.segments.networks
    found = failure(
        lambda: stack.networks.GetNetwork(
            network_service_pb2.GetNetworkRequest(network_id=network.id)
        )
    )
    assert found.code == grpc.StatusCode.NOT_FOUND and found.reason == "NETWORK_NOT_FOUND"


def test_failed_release_keeps_the_network_usable(stack: Stack) -> None:
    network = create_network(stack)
    stack.peers.segments.fail_with = errors.Unavailable("typemgr down")
    request = network_service_pb2.DeleteNetworkRequest(network_id=network.id)
    found = failure(lambda: stack.networks.DeleteNetwork(request))
    assert found.code == grpc.StatusCode.UNAVAILABLE
    stack.peers.segments.fail_with = None
    assert create_port(stack, network.id).network_id == network.id


def test_unknown_network_on_port_create_is_not_found_and_writes_nothing(stack: Stack) -> None:
    found = failure(lambda: create_port(stack, "no-such-network"))
    assert found.code == grpc.StatusCode.NOT_FOUND
    assert found.metadata["network_id"] == "no-such-network"
    assert all_ports(stack) == []


def test_port_gets_a_neutron_mac_and_the_network_project(stack: Stack) -> None:
    network = create_network(stack, project="tenant-1")
    port = create_port(stack, network.id)
    assert port.mac_address.startswith("fa:16:3e:") and port.project_id == "tenant-1"
    assert port.status == port_pb2.PORT_STATUS_DOWN
    assert port.binding.vif_type == "unbound"
    assert port.binding.state == binding_pb2.BINDING_STATE_UNBOUND
    assert port.binding.vnic_type == binding_pb2.VNIC_TYPE_NORMAL


def test_mac_collisions_are_retried_and_a_given_mac_in_use_is_already_exists(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = create_network(stack)
    taken = create_port(stack, network.id).mac_address
    sequence = iter([taken, taken, "fa:16:3e:00:00:42"])
    monkeypatch.setattr(macs, "generate", lambda: next(sequence))
    assert create_port(stack, network.id).mac_address == "fa:16:3e:00:00:42"
    found = failure(lambda: create_port(stack, network.id, mac_address=taken.upper()))
    assert found.code == grpc.StatusCode.ALREADY_EXISTS and found.reason == "MAC_ADDRESS_IN_USE"
    assert found.metadata["field"] == "port.mac_address"
    assert len(all_ports(stack)) == 2


def test_port_bound_at_creation_on_an_ovs_host(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="ovs-1")
    assert port.binding.vif_type == "ovs"
    assert port.binding.state == binding_pb2.BINDING_STATE_BOUND
    assert port.binding.vif_details["bridge_name"] == "br-int"
    assert [(lv.level, lv.driver) for lv in port.binding.levels] == [(0, "openvswitch")]
    assert port.binding.levels[0].segment == network.segments[0]
    [request] = stack.peers.mechmgr.requests
    assert request.host == "ovs-1" and list(request.segments) == list(network.segments)


def test_bind_rebind_fail_and_unbind_through_update(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id)
    port.binding.host_id = "lb-1"
    port = update_port(stack, port, "binding.host_id")
    assert port.binding.vif_type == "bridge" and port.binding.generation == 2
    port.binding.host_id = "bare-1"
    port = update_port(stack, port, "binding.host_id")
    assert port.binding.vif_type == "binding_failed" and not port.binding.levels
    assert port.binding.state == binding_pb2.BINDING_STATE_FAILED
    got = stack.ports.GetPort(port_service_pb2.GetPortRequest(port_id=port.id)).port
    assert [r.code for v in got.binding.trace for r in v.reasons] == ["NO_AGENT", "NO_AGENT"]
    assert "bare-1" in got.binding.failure_message
    port.binding.host_id = ""
    port = update_port(stack, port, "binding.host_id")
    assert port.binding.vif_type == "unbound" and not port.binding.trace
    assert port.binding.state == binding_pb2.BINDING_STATE_UNBOUND


def test_any_update_of_a_failed_port_retries_binding(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="bare-1")
    assert port.binding.vif_type == "binding_failed"
    stack.peers.mechmgr.hook = lambda request: setattr(request, "host", "ovs-now-served")
    port.name = "retry"
    port = update_port(stack, port, "name")
    assert port.binding.vif_type == "ovs" and port.name == "retry"


def test_vnic_type_change_of_a_bound_port_is_failed_precondition(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="ovs-1")
    port.binding.vnic_type = binding_pb2.VNIC_TYPE_DIRECT
    found = failure(lambda: update_port(stack, port, "binding.vnic_type"))
    assert found.code == grpc.StatusCode.FAILED_PRECONDITION and found.reason == "PORT_IN_USE"
    got = stack.ports.GetPort(port_service_pb2.GetPortRequest(port_id=port.id)).port
    assert got.binding.vnic_type == binding_pb2.VNIC_TYPE_NORMAL and got.binding.vif_type == "ovs"


def test_profile_change_rebinds_and_too_large_profile_is_refused(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="ovs-1")
    port.binding.profile.update({"migrating_to": "ovs-2"})
    port = update_port(stack, port, "binding.profile")
    assert port.binding.generation == 2 and port.binding.vif_type == "ovs"
    assert dict(port.binding.profile) == {"migrating_to": "ovs-2"}
    big = port_pb2.Port(
        id=port.id,
        binding=binding_pb2.PortBinding(
            profile=struct_pb2.Struct(fields={"k": struct_pb2.Value(string_value="x" * 5000)})
        ),
    )
    found = failure(lambda: update_port(stack, big, "binding.profile"))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "port.binding.profile" and "4095" in found.message
    got = stack.ports.GetPort(port_service_pb2.GetPortRequest(port_id=port.id)).port
    assert got.binding.generation == 2


def test_bad_masks_name_the_path_and_change_nothing(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id)
    port.name = "changed"
    found = failure(lambda: update_port(stack, port))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "update_mask"
    found = failure(lambda: update_port(stack, port, "name", "bogus"))
    assert found.metadata["field"] == "update_mask.paths[1]" and "'bogus'" in found.message
    found = failure(lambda: update_port(stack, port, "network_id"))
    assert "cannot be updated" in found.message
    assert all_ports(stack)[0].name == ""


def test_unknown_port_is_not_found_for_get_update_and_delete(stack: Stack) -> None:
    for call in (
        lambda: stack.ports.GetPort(port_service_pb2.GetPortRequest(port_id="nope")),
        lambda: update_port(stack, port_pb2.Port(id="nope", name="x"), "name"),
        lambda: stack.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id="nope")),
    ):
        found = failure(call)
        assert found.code == grpc.StatusCode.NOT_FOUND and found.reason == "PORT_NOT_FOUND"
        assert found.metadata["port_id"] == "nope"


def test_mechmgr_down_fails_the_binding_with_a_reason_instead_of_an_error(stack: Stack) -> None:
    network = create_network(stack)
    stack.peers.mechmgr.fail_with = errors.Unavailable("mechmgr has no drivers")
    port = create_port(stack, network.id, host="ovs-1")
    assert port.binding.vif_type == "binding_failed"
    assert port.binding.trace[0].reasons[0].code == "MECHANISM_MANAGER_UNAVAILABLE"
    assert "mechmgr has no drivers" in port.binding.failure_message


@pytest.mark.parametrize(
    ("vif_details", "problem"),
    [
        ({"mtu": float("nan")}, "vif_details.mtu: must be a finite number"),
        ({"k": "x" * 5000}, "vif_details: must be at most 4095 characters as JSON"),
    ],
)
def test_mechmgr_answering_vif_details_json_cannot_carry_fails_the_binding(
    stack: Stack, vif_details: dict[str, object], problem: str
) -> None:
    network = create_network(stack)
    stack.peers.mechmgr.vif_details = vif_details
    port = create_port(stack, network.id, host="ovs-1")
    assert port.binding.vif_type == "binding_failed"
    assert port.binding.trace[0].reasons[0].code == "MECHANISM_MANAGER_ERROR"
    assert "answered a malformed binding" in port.binding.failure_message
    assert problem in port.binding.failure_message


def test_list_ports_filters_and_pages(stack: Stack) -> None:
    net_a, net_b = create_network(stack), create_network(stack)
    a_ports = [create_port(stack, net_a.id, host="ovs-1").id for _ in range(3)]
    create_port(stack, net_b.id, host="ovs-1", device_id="vm-9")
    create_port(stack, net_a.id, host="lb-1")

    def ids(**filters: object) -> list[str]:
        seen, token = [], ""
        while True:
            reply = stack.ports.ListPorts(
                port_service_pb2.ListPortsRequest(page_size=2, page_token=token, **filters)
            )
            seen += [p.id for p in reply.ports]
            if not (token := reply.next_page_token):
                return seen

    assert ids(network_id=net_a.id, host_id="ovs-1") == a_ports
    assert len(ids(host_id="ovs-1")) == 4 and len(ids(device_id="vm-9")) == 1
    assert len(ids(project_id="proj")) == 5 and ids(project_id="other") == []
    bound = stack.ports.ListPorts(port_service_pb2.ListPortsRequest(host_id="lb-1")).ports
    assert bound[0].binding.levels[0].driver == "linuxbridge"


def test_port_request_id_makes_create_idempotent(stack: Stack) -> None:
    network = create_network(stack)
    request = port_service_pb2.CreatePortRequest(
        port=port_pb2.Port(network_id=network.id), request_id="boot-vm-1"
    )
    first = stack.ports.CreatePort(request).port
    assert stack.ports.CreatePort(request).port.id == first.id
    assert len(all_ports(stack)) == 1


def test_delete_port_returns_it_and_frees_the_network(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="ovs-1")
    deleted = stack.ports.DeletePort(port_service_pb2.DeletePortRequest(port_id=port.id)).port
    assert deleted.id == port.id and deleted.binding.vif_type == "ovs"
    stack.networks.DeleteNetwork(network_service_pb2.DeleteNetworkRequest(network_id=network.id))
    assert all_ports(stack) == [] and all_networks(stack) == []


def test_unknown_vnic_type_is_invalid_argument(stack: Stack) -> None:
    network = create_network(stack)
    port = port_pb2.Port(network_id=network.id, binding=binding_pb2.PortBinding(vnic_type=42))
    found = failure(lambda: stack.ports.CreatePort(port_service_pb2.CreatePortRequest(port=port)))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "port.binding.vnic_type" and "42" in found.message
    assert all_ports(stack) == []


def test_vnic_type_travels_to_mechmgr_and_back(stack: Stack) -> None:
    network = create_network(stack)
    port = port_pb2.Port(
        network_id=network.id,
        binding=binding_pb2.PortBinding(
            host_id="ovs-1", vnic_type=binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL
        ),
    )
    created = stack.ports.CreatePort(port_service_pb2.CreatePortRequest(port=port)).port
    assert created.binding.vnic_type == binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL
    assert stack.peers.mechmgr.requests[-1].vnic_type == binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL


def test_network_deleted_while_being_created_aborts_and_gives_the_segment_back(
    stack: Stack,
) -> None:
    def delete_meanwhile(request: object) -> None:
        stack.peers.segments.hook = None
        stack.networks.DeleteNetwork(
            network_service_pb2.DeleteNetworkRequest(network_id=request.network_id)
        )  # type: ignore[attr-defined]

    stack.peers.segments.hook = delete_meanwhile
    found = failure(lambda: create_network(stack))
    assert found.code == grpc.StatusCode.ABORTED and found.reason == "NETWORK_DELETED"
    assert stack.peers.segments.networks == {}
    assert all_networks(stack) == []


def test_network_left_creating_is_finished_by_a_retry_with_its_request_id(stack: Stack) -> None:
    # As if a portapi process died between inserting the network and asking typemgr.
    with sql.write_session(stack.factory) as session:
        spec = r.NetworkSpec("crashed", "proj", False, True)
        repo.insert_network(session, str(uuid.uuid4()), spec, "r-7")
    [left] = all_networks(stack)
    assert not left.segments
    network = create_network(stack, request_id="r-7")
    assert network.id == left.id and network.name == "crashed"
    assert [s.network_type for s in network.segments] == ["vxlan"]
    assert [n.id for n in all_networks(stack)] == [network.id]


def test_a_failed_create_leaves_nothing_and_a_retry_creates_the_network(stack: Stack) -> None:
    stack.peers.segments.fail_with = errors.Unavailable("typemgr restarting")
    found = failure(lambda: create_network(stack, request_id="r-8"))
    assert found.code == grpc.StatusCode.UNAVAILABLE and all_networks(stack) == []
    stack.peers.segments.fail_with = None
    network = create_network(stack, request_id="r-8")
    assert network.segments and [n.id for n in all_networks(stack)] == [network.id]


def set_admin(stack: Stack, port: port_pb2.Port, up: bool) -> port_pb2.Port:
    port.admin_state = admin_state_pb2.ADMIN_STATE_UP if up else admin_state_pb2.ADMIN_STATE_DOWN
    return update_port(stack, port, "admin_state")


def test_a_port_whose_driver_says_active_is_active_once_bound_unless_admin_down(
    stack: Stack,
) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="pf-1")
    assert port.binding.vif_type == "hostdev_physical"
    assert port.status == port_pb2.PORT_STATUS_ACTIVE and not port.status_message
    port = set_admin(stack, port, up=False)
    assert (port.status, port.status_message) == (port_pb2.PORT_STATUS_DOWN, "admin down")
    port = set_admin(stack, port, up=True)
    assert port.status == port_pb2.PORT_STATUS_ACTIVE
    port.binding.host_id = "ovs-1"
    port = update_port(stack, port, "binding.host_id")
    assert port.status == port_pb2.PORT_STATUS_BUILD


def test_an_admin_down_port_bound_by_such_a_driver_stays_down(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="pf-1", admin_state=admin_state_pb2.ADMIN_STATE_DOWN)
    assert port.binding.state == binding_pb2.BINDING_STATE_BOUND
    assert port.status == port_pb2.PORT_STATUS_DOWN


def test_a_move_shows_the_drivers_the_binding_the_port_had(stack: Stack) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="ovs-1")
    [first] = stack.peers.mechmgr.requests
    assert not first.HasField("original")
    port.binding.profile.update({"migrating_to": "lb-2"})
    port = update_port(stack, port, "binding.profile")
    port.binding.host_id = "lb-2"
    port.binding.profile.Clear()
    port = update_port(stack, port, "binding.host_id", "binding.profile")
    assert port.binding.vif_type == "bridge"
    original = stack.peers.mechmgr.requests[-1].original
    assert original.host_id == "ovs-1" and original.vif_type == "ovs"
    assert dict(original.profile) == {"migrating_to": "lb-2"}
    assert original.vif_details["bridge_name"] == "br-int"
    assert original.segment == network.segments[0]


def test_a_failed_binding_keeps_the_last_bound_one_as_original_and_unbinding_drops_it(
    stack: Stack,
) -> None:
    network = create_network(stack)
    port = create_port(stack, network.id, host="ovs-1")
    port.binding.host_id = "bare-1"
    port = update_port(stack, port, "binding.host_id")
    assert port.binding.state == binding_pb2.BINDING_STATE_FAILED
    port.binding.host_id = "lb-1"
    port = update_port(stack, port, "binding.host_id")
    assert stack.peers.mechmgr.requests[-1].original.host_id == "ovs-1"
    port.binding.host_id = ""
    port = update_port(stack, port, "binding.host_id")
    port.binding.host_id = "lb-2"
    port = update_port(stack, port, "binding.host_id")
    assert not stack.peers.mechmgr.requests[-1].HasField("original")


@pytest.mark.parametrize(
    ("device_mac", "rule"),
    [
        ("3c:fd:fe:00:01", "not a MAC address"),
        ("00:00:00:00:00:00", "all-zero"),
        ("01:00:5e:00:00:01", "multicast"),
        (17.0, "must be a MAC address string"),
    ],
)
def test_a_bad_device_mac_address_is_refused_naming_the_profile_key_and_changes_nothing(
    stack: Stack, device_mac: object, rule: str
) -> None:
    network = create_network(stack)
    bad = struct_pb2.Struct()
    bad.update({"device_mac_address": device_mac})
    direct = binding_pb2.VNIC_TYPE_DIRECT_PHYSICAL
    port = port_pb2.Port(
        network_id=network.id,
        admin_state_up=True,
        binding=binding_pb2.PortBinding(host_id="sriov-1", vnic_type=direct, profile=bad),
    )
    found = failure(lambda: stack.ports.CreatePort(port_service_pb2.CreatePortRequest(port=port)))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "port.binding.profile.device_mac_address"
    assert rule in found.message
    assert all_ports(stack) == []

    created = create_port(stack, network.id, host="ovs-1")
    created.binding.profile.update({"device_mac_address": device_mac})
    found = failure(lambda: update_port(stack, created, "binding.profile"))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.metadata["field"] == "port.binding.profile.device_mac_address"
    [stored] = all_ports(stack)
    assert (stored.binding.generation, dict(stored.binding.profile)) == (1, {})
