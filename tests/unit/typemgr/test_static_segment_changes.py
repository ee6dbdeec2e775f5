"""Changing the static segments of an existing network: a new segmentation id, a segment added,
a segment removed. Each runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import pytest
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import errors
from tests.unit.typemgr.conftest import ManagerFactory


def new_id() -> str:
    return str(uuid.uuid4())


def test_a_new_vlan_id_is_reserved_the_old_one_freed_and_the_segment_keeps_its_id(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = new_id()
    [segment] = manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 100)])
    updated = manager.update_segmentation_id(segment.id, 200)
    assert (updated.id, updated.segmentation_id, updated.network_id) == (
        segment.id,
        200,
        network_id,
    )
    assert manager.list_network_segments(network_id, include_dynamic=False) == [updated]
    # 100 is free again, 200 is taken.
    manager.create_network_segments(new_id(), [SegmentSpec("vlan", "physnet1", 100)])
    with pytest.raises(errors.SegmentationIdInUse):
        manager.create_network_segments(new_id(), [SegmentSpec("vlan", "physnet1", 200)])


def test_asking_for_the_id_a_segment_has_changes_nothing(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    [segment] = manager.create_network_segments(new_id(), [SegmentSpec("vlan", "physnet1", 100)])
    assert manager.update_segmentation_id(segment.id, 100) == segment


def test_a_taken_id_is_refused_as_at_creation_and_the_segment_keeps_its_own(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = new_id()
    [segment] = manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 100)])
    manager.create_network_segments(new_id(), [SegmentSpec("vlan", "physnet1", 200)])
    with pytest.raises(errors.SegmentationIdInUse) as caught:
        manager.update_segmentation_id(segment.id, 200)
    assert caught.value.metadata["segmentation_id"] == "200"
    assert manager.list_network_segments(network_id, include_dynamic=False) == [segment]
    with pytest.raises(errors.SegmentationIdInUse):  # 100 is still held by the segment
        manager.create_network_segments(new_id(), [SegmentSpec("vlan", "physnet1", 100)])


def test_an_out_of_range_id_names_segmentation_id(make_manager: ManagerFactory) -> None:
    manager = make_manager()
    network_id = new_id()
    [segment] = manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 100)])
    with pytest.raises(InvalidArgument) as caught:
        manager.update_segmentation_id(segment.id, 4095)
    assert caught.value.field == "segmentation_id"
    assert caught.value.message.startswith("segmentation_id: VLAN id must be between 1 and 4094")
    assert manager.list_network_segments(network_id, include_dynamic=False) == [segment]


def test_segments_without_ids_and_dynamic_segments_cannot_change_their_id(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = new_id()
    [flat] = manager.create_network_segments(network_id, [SegmentSpec("flat", "physnet1")])
    with pytest.raises(errors.SegmentationIdNotUpdatable):
        manager.update_segmentation_id(flat.id, 5)
    dynamic = manager.allocate_dynamic_segment(network_id, SegmentSpec("vlan", "physnet1"))
    with pytest.raises(errors.SegmentIsDynamic):
        manager.update_segmentation_id(dynamic.id, 5)
    with pytest.raises(errors.SegmentNotFound):
        manager.update_segmentation_id(new_id(), 5)


def test_concurrent_updates_to_one_id_give_it_to_exactly_one_segment(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    segments = [
        manager.create_network_segments(new_id(), [SegmentSpec("vlan", "physnet1", 10 + i)])[0]
        for i in range(6)
    ]
    barrier = threading.Barrier(len(segments))
    won: list[str] = []
    lost: list[str] = []

    def worker(segment_id: str) -> None:
        barrier.wait()
        try:
            manager.update_segmentation_id(segment_id, 3000)
            won.append(segment_id)
        except (errors.SegmentationIdInUse, errors.ConcurrentChanges):
            lost.append(segment_id)

    threads = [threading.Thread(target=worker, args=(s.id,)) for s in segments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and len(lost) == len(segments) - 1
    holders = [
        s
        for seg in segments
        for s in manager.list_network_segments(seg.network_id, include_dynamic=False)
        if s.segmentation_id == 3000
    ]
    assert [s.id for s in holders] == won


def test_a_segment_is_added_after_the_last_and_a_retry_returns_it(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = new_id()
    [first] = manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 100)])
    segment_id = new_id()
    added, after = manager.add_static_segment(network_id, segment_id, SegmentSpec("vxlan"))
    assert (added.id, added.segment_index, added.is_dynamic) == (segment_id, 1, False)
    assert after == [first, added]
    again, after_again = manager.add_static_segment(network_id, segment_id, SegmentSpec("vxlan"))
    assert again == added and after_again == after
    assert manager.list_network_segments(network_id, include_dynamic=False) == [first, added]


def test_adding_a_taken_id_or_to_an_unknown_network_is_refused(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = new_id()
    [first] = manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 100)])
    with pytest.raises(errors.SegmentationIdInUse):
        manager.add_static_segment(network_id, new_id(), SegmentSpec("vlan", "physnet1", 100))
    with pytest.raises(InvalidArgument) as caught:
        manager.add_static_segment(network_id, new_id(), SegmentSpec("vlan", "physnet1", 0))
    assert caught.value.field == "segment.segmentation_id"
    with pytest.raises(errors.NetworkNotFound):
        manager.add_static_segment(new_id(), new_id(), SegmentSpec("vxlan"))
    assert manager.list_network_segments(network_id, include_dynamic=False) == [first]


def test_a_segment_is_removed_and_its_id_freed_but_never_the_last(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager()
    network_id = new_id()
    first, second = manager.create_network_segments(
        network_id, [SegmentSpec("vlan", "physnet1", 100), SegmentSpec("vlan", "physnet1", 101)]
    )
    removed, after = manager.remove_static_segment(network_id, first.id)
    assert removed == first and after == [second]
    assert manager.remove_static_segment(network_id, first.id) == (None, [second])
    with pytest.raises(errors.LastStaticSegment) as caught:
        manager.remove_static_segment(network_id, second.id)
    assert "last static segment" in caught.value.message
    manager.create_network_segments(new_id(), [SegmentSpec("vlan", "physnet1", 100)])
    with pytest.raises(errors.SegmentNotFound):
        manager.remove_static_segment(new_id(), second.id)


def test_a_segment_with_a_smaller_mtu_than_asked_for_is_refused_before_anything_is_reserved(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(vxlan_vni_ranges="9:9")
    network_id = new_id()
    [first] = manager.create_network_segments(network_id, [SegmentSpec("vlan", "physnet1", 100)])
    with pytest.raises(InvalidArgument) as caught:
        manager.add_static_segment(network_id, new_id(), SegmentSpec("vxlan"), minimum_mtu=1500)
    assert caught.value.reason == "MTU_TOO_BIG" and caught.value.field == "segment"
    assert caught.value.message.startswith("segment: Requested MTU is too big, maximum is 1450")
    assert manager.list_network_segments(network_id, include_dynamic=False) == [first]
    added, _ = manager.add_static_segment(
        network_id, new_id(), SegmentSpec("vxlan"), minimum_mtu=1450
    )
    assert added.segmentation_id == 9  # the only id was still free
