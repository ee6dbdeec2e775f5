"""SegmentManager against a real SQLite file: transactions, idempotency, convergence."""

from __future__ import annotations

import threading
import uuid

import pytest
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import errors
from tests.unit.typemgr.conftest import ManagerFactory


def net() -> str:
    return str(uuid.uuid4())


def test_tenant_network_gets_one_segment_of_the_first_tenant_type(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = net()
    [segment] = manager.create_network_segments(network_id, [])
    assert (segment.network_type, segment.physical_network, segment.mtu) == ("vxlan", "", 1450)
    assert 1000 <= segment.segmentation_id <= 1999
    assert (segment.network_id, segment.segment_index, segment.is_dynamic) == (network_id, 0, False)


def test_creating_again_returns_the_same_segments(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    network_id = net()
    first = manager.create_network_segments(network_id, [])
    assert manager.create_network_segments(network_id, []) == first
    provider = net()
    specs = [SegmentSpec("vlan", "physnet1", 7), SegmentSpec("vxlan")]
    created = manager.create_network_segments(provider, specs)
    assert manager.create_network_segments(provider, specs) == created


def test_creating_other_segments_for_a_network_is_refused(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    network_id = net()
    manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 7)])
    with pytest.raises(errors.NetworkSegmentsDiffer) as caught:
        manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 8)])
    assert "already has other segments: vlan physnet1 7" in caught.value.message


def test_tenant_types_are_walked_in_order_until_all_are_exhausted(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(
        tenant_network_types="vlan,vxlan",
        network_vlan_ranges="physnet1:10:11",
        vxlan_vni_ranges="5:5",
    )
    types = [manager.create_network_segments(net(), [])[0].network_type for _ in range(3)]
    assert types == ["vlan", "vlan", "vxlan"]
    with pytest.raises(errors.NoTenantNetworkAvailable) as caught:
        manager.create_network_segments(net(), [])
    assert (
        caught.value.message
        == "no tenant network is available: every pool of vlan, vxlan is exhausted"
    )


def test_vlan_tenant_pools_are_tried_in_physnet_order(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        tenant_network_types="vlan", network_vlan_ranges="physnet2:5:5,physnet1:7:7"
    )
    got = [manager.create_network_segments(net(), [])[0] for _ in range(2)]
    assert [(s.physical_network, s.segmentation_id) for s in got] == [
        ("physnet2", 5),
        ("physnet1", 7),
    ]


def test_no_tenant_types_refuses_tenant_networks_but_not_provider_ones(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(tenant_network_types="")
    with pytest.raises(errors.NoTenantNetworkTypes):
        manager.create_network_segments(net(), [])
    assert (
        manager.create_network_segments(net(), [SegmentSpec("vxlan", "", 77)])[0].segmentation_id
        == 77
    )


def test_provider_id_in_use_names_type_physnet_and_id(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet1", 150)])
    with pytest.raises(errors.SegmentationIdInUse) as caught:
        manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet1", 150)])
    assert caught.value.metadata == {
        "network_type": "vlan",
        "physical_network": "physnet1",
        "segmentation_id": "150",
    }


def test_one_flat_network_per_physical_network(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    [segment] = manager.create_network_segments(net(), [SegmentSpec("flat", "physnet1")])
    assert (segment.segmentation_id, segment.mtu) == (0, 1500)
    with pytest.raises(errors.FlatNetworkInUse) as caught:
        manager.create_network_segments(net(), [SegmentSpec("flat", "physnet1")])
    assert caught.value.reason == "FLAT_NETWORK_IN_USE"
    manager.create_network_segments(net(), [SegmentSpec("flat", "physnet2")])


def test_flat_and_local_segments_given_id_0_are_stored_without_one(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network = net()
    specs = [SegmentSpec("flat", "physnet1", 0), SegmentSpec("local", "", 0)]
    created = manager.create_network_segments(network, specs)
    assert [(s.network_type, s.physical_network, s.segmentation_id) for s in created] == [
        ("flat", "physnet1", 0),
        ("local", "", 0),
    ]
    assert manager.list_network_segments(network, include_dynamic=False) == created
    # Asking again, with or without the 0, finds the same segments.
    assert manager.create_network_segments(network, specs) == created
    assert (
        manager.create_network_segments(
            network, [SegmentSpec("flat", "physnet1"), SegmentSpec("local")]
        )
        == created
    )


def test_a_failure_in_a_later_segment_leaves_nothing_behind(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    holder = net()
    manager.create_network_segments(holder, [SegmentSpec("vxlan", "", 5000)])
    network_id = net()
    specs = [
        SegmentSpec("vlan", "physnet1", 120),
        SegmentSpec("flat", "physnet1"),
        SegmentSpec("vxlan", "", 5000),
    ]
    with pytest.raises(errors.SegmentationIdInUse):
        manager.create_network_segments(network_id, specs)
    assert manager.list_network_segments(network_id, include_dynamic=True) == []
    # Nothing was reserved: the same vlan id and the flat physnet are free.
    other = manager.create_network_segments(net(), specs[:2])
    assert [s.network_type for s in other] == ["vlan", "flat"]


def test_invalid_specs_are_refused_before_anything_is_written(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    network_id = net()
    with pytest.raises(InvalidArgument) as caught:
        manager.create_network_segments(
            network_id, [SegmentSpec("vxlan"), SegmentSpec("vlan", "physnet1", 4095)]
        )
    assert caught.value.field == "segments[1].segmentation_id"
    assert manager.list_network_segments(network_id, include_dynamic=True) == []


def test_pool_exhaustion_names_type_and_physnet(make_manager: ManagerFactory) -> None:
    manager = make_manager(network_vlan_ranges="physnet1:10:10")
    manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet1")])
    with pytest.raises(errors.NoSegmentAvailable) as caught:
        manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet1")])
    assert (
        caught.value.message == "no vlan segmentation id is available on physical network physnet1"
    )


def test_release_frees_ids_for_reuse_and_is_idempotent(make_manager: ManagerFactory) -> None:
    manager = make_manager(vxlan_vni_ranges="9:9")
    network_id = net()
    [segment] = manager.create_network_segments(network_id, [])
    dynamic = manager.allocate_dynamic_segment(network_id, SegmentSpec("vlan", "physnet1"))
    released = manager.release_network_segments(network_id)
    assert {s.id for s in released} == {segment.id, dynamic.id}
    assert manager.release_network_segments(network_id) == []
    assert manager.create_network_segments(net(), [])[0].segmentation_id == 9


def test_dynamic_segment_is_returned_again_for_the_same_physnet(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = net()
    manager.create_network_segments(network_id, [])
    first = manager.allocate_dynamic_segment(network_id, SegmentSpec("vlan", "physnet1"))
    assert first.is_dynamic and 100 <= first.segmentation_id <= 199
    assert manager.allocate_dynamic_segment(network_id, SegmentSpec("vlan", "physnet1")) == first
    assert (
        manager.allocate_dynamic_segment(
            network_id, SegmentSpec("vlan", "physnet1", first.segmentation_id)
        )
        == first
    )
    with pytest.raises(errors.DynamicSegmentDiffers):
        manager.allocate_dynamic_segment(network_id, SegmentSpec("vlan", "physnet1", 3000))
    assert len(manager.list_network_segments(network_id, include_dynamic=True)) == 2
    assert len(manager.list_network_segments(network_id, include_dynamic=False)) == 1


def test_dynamic_segment_rules(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    with pytest.raises(errors.NetworkNotFound):
        manager.allocate_dynamic_segment(net(), SegmentSpec("vlan", "physnet1"))
    network_id = net()
    [static] = manager.create_network_segments(network_id, [])
    with pytest.raises(InvalidArgument) as caught:
        manager.allocate_dynamic_segment(network_id, SegmentSpec("vlan"))
    assert caught.value.field == "segment.physical_network"
    with pytest.raises(errors.SegmentIsStatic):
        manager.release_dynamic_segment(static.id)
    with pytest.raises(errors.SegmentNotFound):
        manager.release_dynamic_segment(str(uuid.uuid4()))
    dynamic = manager.allocate_dynamic_segment(network_id, SegmentSpec("vlan", "physnet1"))
    assert manager.release_dynamic_segment(dynamic.id) == dynamic
    assert manager.list_network_segments(network_id, include_dynamic=True) == [static]


def test_threads_sharing_one_sqlite_file_never_get_the_same_id(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(tenant_network_types="vlan", network_vlan_ranges="physnet1:1:30")
    got: list[int] = []
    failures: list[BaseException] = []

    def worker() -> None:
        for _ in range(10):
            try:
                got.append(manager.create_network_segments(net(), [])[0].segmentation_id)
            except errors.NoTenantNetworkAvailable:
                return
            except BaseException as exc:  # reported below
                failures.append(exc)
                return

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(got) == list(range(1, 31))


def test_creating_again_returns_the_segments_even_when_the_pool_is_exhausted(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(vxlan_vni_ranges="5:5")
    network_id = net()
    first = manager.create_network_segments(network_id, [])
    assert manager.create_network_segments(network_id, []) == first
    assert manager.create_network_segments(network_id, [SegmentSpec("vxlan")]) == first
    with pytest.raises(errors.NoTenantNetworkAvailable):
        manager.create_network_segments(net(), [])
