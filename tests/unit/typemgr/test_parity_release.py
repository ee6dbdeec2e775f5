"""Section 1.8 of the Neutron reference, release per type: an id inside the ranges goes back to
its pool, one outside them goes back to none (it may be reserved again as a provider id), a flat
network's physical network is free again, and a local network holds nothing."""

from __future__ import annotations

import uuid

import pytest
from ml2_contract.values import SegmentSpec

from services.typemgr import errors
from tests.unit.typemgr.conftest import ManagerFactory


def net() -> str:
    return str(uuid.uuid4())


def test_a_released_vlan_id_of_a_range_goes_back_to_the_tenant_pool(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(tenant_network_types="vlan", network_vlan_ranges="physnet1:10:10")
    first = net()
    [segment] = manager.create_network_segments(first, [])
    assert (segment.physical_network, segment.segmentation_id) == ("physnet1", 10)
    with pytest.raises(errors.NoTenantNetworkAvailable):
        manager.create_network_segments(net(), [])

    manager.release_network_segments(first)

    [again] = manager.create_network_segments(net(), [])
    assert (again.physical_network, again.segmentation_id) == ("physnet1", 10)


@pytest.mark.parametrize(
    ("types", "spec"),
    [
        ("vlan", SegmentSpec("vlan", "physnet1", 300)),
        ("vxlan", SegmentSpec("vxlan", "", 70000)),
        ("gre", SegmentSpec("gre", "", 4000000000)),
    ],
    ids=["vlan", "vxlan", "gre"],
)
def test_a_released_provider_id_outside_the_ranges_enters_no_pool_and_may_be_reserved_again(
    make_manager: ManagerFactory, types: str, spec: SegmentSpec
) -> None:
    manager = make_manager(
        tenant_network_types=types,
        network_vlan_ranges="physnet1:10:10",
        vxlan_vni_ranges="10:10",
        gre_tunnel_id_ranges="10:10",
    )
    provider = net()
    manager.create_network_segments(provider, [spec])

    manager.release_network_segments(provider)

    [tenant] = manager.create_network_segments(net(), [])
    assert tenant.segmentation_id == 10
    with pytest.raises(errors.NoTenantNetworkAvailable):
        manager.create_network_segments(net(), [])
    [reserved] = manager.create_network_segments(net(), [spec])
    assert reserved.segmentation_id == spec.segmentation_id


def test_a_released_flat_network_frees_its_physical_network(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    first = net()
    manager.create_network_segments(first, [SegmentSpec("flat", "physnet1")])
    with pytest.raises(errors.FlatNetworkInUse):
        manager.create_network_segments(net(), [SegmentSpec("flat", "physnet1")])

    manager.release_network_segments(first)

    [segment] = manager.create_network_segments(net(), [SegmentSpec("flat", "physnet1")])
    assert (segment.network_type, segment.physical_network) == ("flat", "physnet1")


def test_local_networks_hold_nothing_so_any_number_come_and_go(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    networks = [net() for _ in range(3)]
    for network_id in networks:
        manager.create_network_segments(network_id, [SegmentSpec("local")])

    released = manager.release_network_segments(networks[0])

    assert [s.network_type for s in released] == ["local"]
    assert manager.release_network_segments(networks[0]) == []
    manager.create_network_segments(net(), [SegmentSpec("local")])
