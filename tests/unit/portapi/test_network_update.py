"""A network's requested MTU at creation, and UpdateNetwork (name, admin state, MTU), over real
gRPC with fakes of typemgr (VXLAN segments carry 1450, VLAN and flat 1500) and mechmgr."""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from ml2.v1 import admin_state_pb2, network_pb2, network_service_pb2, segment_pb2
from ml2_driver_sdk.runtime import errors

from .conftest import Stack
from .rpcerrors import failure
from .test_services import all_networks

VLAN = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")


def create(stack: Stack, mtu: int, *specs: segment_pb2.SegmentSpec) -> network_pb2.Network:
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name="net", project_id="proj", mtu=mtu), segments=list(specs)
    )
    return stack.networks.CreateNetwork(request).network


def update(stack: Stack, network: network_pb2.Network, *paths: str) -> network_pb2.Network:
    request = network_service_pb2.UpdateNetworkRequest(
        network=network, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
    )
    return stack.networks.UpdateNetwork(request).network


def get(stack: Stack, network_id: str) -> network_pb2.Network:
    request = network_service_pb2.GetNetworkRequest(network_id=network_id)
    return stack.networks.GetNetwork(request).network


# ------------------------------------------------------------------------- MTU at creation


def test_without_a_requested_mtu_the_network_gets_the_smallest_of_its_segments(
    stack: Stack,
) -> None:
    assert create(stack, 0).mtu == 1450
    assert create(stack, 0, VLAN).mtu == 1500


def test_a_requested_mtu_below_the_maximum_is_kept(stack: Stack) -> None:
    network = create(stack, 1400)
    assert network.mtu == 1400 and get(stack, network.id).mtu == 1400
    assert create(stack, 1450).mtu == 1450  # the maximum itself is allowed
    assert create(stack, 1).mtu == 1  # as in Neutron, a network MTU has no lower bound


def test_a_requested_mtu_above_the_maximum_is_refused_and_gives_the_segments_back(
    stack: Stack,
) -> None:
    found = failure(lambda: create(stack, 1451))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message == "network.mtu: Requested MTU is too big, maximum is 1450"
    assert found.reason == "MTU_TOO_BIG"
    assert found.metadata["field"] == "network.mtu" and found.metadata["maximum"] == "1450"
    assert all_networks(stack) == []
    assert stack.peers.segments.networks == {}  # the segment typemgr gave was released
    found = failure(lambda: create(stack, 1501, VLAN))
    assert found.message == "network.mtu: Requested MTU is too big, maximum is 1500"
    assert all_networks(stack) == [] and stack.peers.segments.networks == {}


def test_an_mtu_the_database_cannot_hold_is_refused_before_typemgr_is_asked(
    stack: Stack,
) -> None:
    found = failure(lambda: create(stack, 2**31))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message == "network.mtu: must be at most 2147483647, got 2147483648"
    assert all_networks(stack) == [] and stack.peers.segments.calls == []


# ---------------------------------------------------------------------------- UpdateNetwork


def test_update_sets_the_name_admin_state_and_mtu_the_mask_names(stack: Stack) -> None:
    network = create(stack, 0)
    changed = network_pb2.Network(
        id=network.id, name="renamed", admin_state=admin_state_pb2.ADMIN_STATE_DOWN, mtu=1300
    )
    assert update(stack, changed, "name").name == "renamed"
    after = get(stack, network.id)
    assert after.admin_state == admin_state_pb2.ADMIN_STATE_UP and after.mtu == 1450
    after = update(stack, changed, "admin_state", "mtu")
    assert after.admin_state == admin_state_pb2.ADMIN_STATE_DOWN and not after.admin_state_up
    assert after.mtu == 1300 and get(stack, network.id) == after
    up = network_pb2.Network(id=network.id, admin_state_up=True)
    assert update(stack, up, "admin_state_up").admin_state == admin_state_pb2.ADMIN_STATE_UP


def test_an_mtu_of_zero_asks_for_the_maximum_again(stack: Stack) -> None:
    network = create(stack, 1200, VLAN)
    assert update(stack, network_pb2.Network(id=network.id, mtu=0), "mtu").mtu == 1500


def test_an_mtu_above_the_segments_maximum_is_refused_and_changes_nothing(
    stack: Stack,
) -> None:
    network = create(stack, 1400)
    changed = network_pb2.Network(id=network.id, name="renamed", mtu=1451)
    found = failure(lambda: update(stack, changed, "name", "mtu"))
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert found.message == "network.mtu: Requested MTU is too big, maximum is 1450"
    assert found.metadata["field"] == "network.mtu"
    assert get(stack, network.id) == network


def test_typemgr_unreachable_fails_an_mtu_update_and_changes_nothing(stack: Stack) -> None:
    network = create(stack, 0)
    stack.peers.segments.fail_with = errors.Unavailable("typemgr is restarting")
    changed = network_pb2.Network(id=network.id, name="renamed", mtu=1400)
    found = failure(lambda: update(stack, changed, "name", "mtu"))
    assert found.code == grpc.StatusCode.UNAVAILABLE
    assert get(stack, network.id) == network
    # an update that needs no segment facts does not ask typemgr
    assert update(stack, changed, "name").name == "renamed"


def test_bad_update_requests_name_the_field_and_change_nothing(stack: Stack) -> None:
    network = create(stack, 0)
    cases = [
        (network_pb2.Network(id=network.id), (), "update_mask"),
        (network_pb2.Network(id=network.id), ("segments",), "update_mask.paths[0]"),
        (network_pb2.Network(id=network.id), ("name", "shared"), "update_mask.paths[1]"),
        (network_pb2.Network(id=network.id), ("colour",), "update_mask.paths[0]"),
        (network_pb2.Network(name="x"), ("name",), "network.id"),
        (network_pb2.Network(id=network.id, name="n" * 256), ("name",), "network.name"),
        (network_pb2.Network(id=network.id), ("admin_state",), "network.admin_state"),
        (
            network_pb2.Network(
                id=network.id, admin_state=admin_state_pb2.ADMIN_STATE_DOWN, admin_state_up=True
            ),
            ("admin_state", "admin_state_up"),
            "update_mask",
        ),
        (network_pb2.Network(id=network.id, mtu=2**31), ("mtu",), "network.mtu"),
    ]
    for message, paths, field in cases:
        found = failure(lambda m=message, p=paths: update(stack, m, *p))
        assert found.code == grpc.StatusCode.INVALID_ARGUMENT, (paths, found)
        assert found.metadata["field"] == field, (paths, found)
    assert get(stack, network.id) == network


def test_updating_an_unknown_network_is_not_found(stack: Stack) -> None:
    missing = network_pb2.Network(id="no-such-network", name="x")
    assert failure(lambda: update(stack, missing, "name")).code == grpc.StatusCode.NOT_FOUND
