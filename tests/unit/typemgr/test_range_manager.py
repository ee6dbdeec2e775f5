"""Segment ranges managed at run time: rules, overlaps, project reservations, and what changing
or deleting a range does to the ids allocated from it."""

from __future__ import annotations

import uuid

import pytest
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import errors
from services.typemgr.db import schema
from services.typemgr.ranges import DefaultRange, RangeFilters, RangeSpec, RangeUpdate
from tests.unit.typemgr.conftest import ManagerFactory, ranges_of

CONFIG = {
    "network_vlan_ranges": "physnet1:100:109,physnet2",
    "vxlan_vni_ranges": "1000:1009",
    "gre_tunnel_id_ranges": "",
}


def net() -> str:
    return str(uuid.uuid4())


def vxlan(low: int, high: int, **kwargs: object) -> RangeSpec:
    return RangeSpec("vxlan", "", low, high, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "field", "rule"),
    [
        (RangeSpec("flat", "physnet1", 1, 2), "network_type", "ranges exist for vlan, gre"),
        (RangeSpec("", "", 1, 2), "network_type", "is required"),
        (RangeSpec("vlan", "", 1, 2), "physical_network", "is required for a vlan range"),
        (RangeSpec("vlan", "physnet9", 1, 2), "physical_network", "unknown physical network"),
        (RangeSpec("vxlan", "physnet1", 1, 2), "physical_network", "must not be set for a vxlan"),
        (RangeSpec("vlan", "physnet2", 0, 2), "minimum", "between 1 and 4094, got 0"),
        (RangeSpec("vlan", "physnet2", 1, 4095), "maximum", "between 1 and 4094, got 4095"),
        (vxlan(1, 2**24), "maximum", "between 1 and 16777215, got 16777216"),
        (RangeSpec("gre", "", 1, 2**32), "maximum", "between 1 and 4294967295"),
        (vxlan(5, 4), "maximum", "must be at least minimum 5, got 4"),
        (vxlan(1, 2, project_id="p"), "project_id", "must be empty for a shared range"),
        (vxlan(1, 2, shared=False), "project_id", "is required for a range that is not shared"),
        (vxlan(1, 2, name="x" * 256), "name", "at most 255 characters"),
    ],
)
def test_bad_ranges_are_refused_naming_the_field(
    make_manager: ManagerFactory, spec: RangeSpec, field: str, rule: str
) -> None:
    ranges = ranges_of(make_manager(**CONFIG))
    with pytest.raises(InvalidArgument) as caught:
        ranges.create(spec)
    assert caught.value.field == f"segment_range.{field}"
    assert rule in caught.value.message
    assert len(ranges.list_page(RangeFilters(), None, 100)) == 2


def test_overlapping_ranges_of_one_pool_are_refused_naming_the_other(
    make_manager: ManagerFactory,
) -> None:
    ranges = ranges_of(make_manager(**CONFIG))
    blue = ranges.create(vxlan(2000, 2999, name="blue"))
    with pytest.raises(errors.SegmentRangeOverlaps) as caught:
        ranges.create(vxlan(2999, 3500, shared=False, project_id="p1"))
    assert f"overlaps range vxlan 2000:2999 (range {blue.id}, 'blue')" in caught.value.message
    assert caught.value.metadata["segment_range_id"] == blue.id
    with pytest.raises(errors.SegmentRangeOverlaps, match="TYPEMGR_VXLAN_VNI_RANGES"):
        ranges.create(vxlan(1, 1000))
    ranges.create(vxlan(3000, 3000))
    ranges.create(RangeSpec("vlan", "physnet2", 100, 109))
    ranges.create(RangeSpec("geneve", "", 2000, 2999))


def test_projects_take_their_own_ranges_first_then_shared_never_anothers(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(**{**CONFIG, "vxlan_vni_ranges": "1000:1000"})
    ranges = ranges_of(manager)
    ranges.create(vxlan(5, 5, shared=False, project_id="p1"))
    ranges.create(vxlan(7, 7, shared=False, project_id="p2"))

    def tenant(project: str) -> int:
        return manager.create_network_segments(net(), [], project)[0].segmentation_id

    assert [tenant("p1"), tenant("p1")] == [5, 1000]
    with pytest.raises(errors.NoTenantNetworkAvailable):
        tenant("p1")
    with pytest.raises(errors.NoTenantNetworkAvailable):
        tenant("")
    assert tenant("p2") == 7


def test_a_project_range_on_another_physnet_comes_before_shared_ranges(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(**CONFIG, tenant_network_types="vlan")
    ranges_of(manager).create(RangeSpec("vlan", "physnet2", 7, 7, shared=False, project_id="p"))
    [segment] = manager.create_network_segments(net(), [], "p")
    assert (segment.physical_network, segment.segmentation_id) == ("physnet2", 7)
    [segment] = manager.create_network_segments(net(), [], "p")
    assert segment.physical_network == "physnet1"


def test_a_range_on_a_provider_only_physnet_makes_it_allocatable(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(**CONFIG)
    with pytest.raises(InvalidArgument, match="no range to allocate from"):
        manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet2")])
    ranges_of(manager).create(RangeSpec("vlan", "physnet2", 300, 300))
    [segment] = manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet2")])
    assert segment.segmentation_id == 300


def test_shrinking_a_range_keeps_its_ids_allocated_and_reports_them(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(**CONFIG)
    ranges = ranges_of(manager)
    wide = ranges.create(vxlan(1, 10))
    held = {}
    for seg_id in (2, 3, 9):
        network_id = net()
        manager.create_network_segments(network_id, [SegmentSpec("vxlan", "", seg_id)])
        held[seg_id] = network_id

    dry, report = ranges.update(wide.id, RangeUpdate(minimum=3, maximum=8), dry_run=True)
    assert (dry.minimum, dry.maximum, dry.used) == (3, 8, 1)
    assert report.dry_run
    assert (report.pool_size_before, report.pool_size_after) == (20, 16)
    assert (report.orphaned_count, report.orphaned_ids) == (2, (2, 9))
    assert ranges.get(wide.id).maximum == 10

    updated, report = ranges.update(wide.id, RangeUpdate(minimum=3, maximum=8), dry_run=False)
    assert (updated.minimum, updated.maximum, report.orphaned_ids) == (3, 8, (2, 9))
    assert not report.dry_run
    orphans = ranges.list_allocations("vxlan", "", True, None, 100)
    assert [(a.segmentation_id, a.network_id, a.segment_range_id) for a in orphans] == [
        (2, held[2], ""),
        (9, held[9], ""),
    ]
    # Growing it again adopts the id that was left outside.
    _, report = ranges.update(wide.id, RangeUpdate(maximum=9), dry_run=False)
    assert (report.adopted_count, report.orphaned_count) == (1, 0)


def test_deleting_a_range_keeps_its_ids_and_releasing_them_frees_nothing_into_a_pool(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(**CONFIG)
    ranges = ranges_of(manager)
    only = ranges.create(vxlan(50, 50, shared=False, project_id="p"))
    network_id = net()
    [segment] = manager.create_network_segments(network_id, [], "p")
    assert segment.segmentation_id == 50

    deleted, report = ranges.delete(only.id, dry_run=False)
    assert (deleted.id, deleted.used, report.orphaned_ids) == (only.id, 1, (50,))
    assert (report.pool_size_before, report.pool_size_after) == (11, 10)
    with pytest.raises(errors.SegmentRangeNotFound):
        ranges.get(only.id)
    assert manager.list_network_segments(network_id, False) == [segment]
    manager.release_network_segments(network_id)
    assert ranges.list_allocations("vxlan", "", False, None, 100) == []


def test_default_ranges_are_read_only_through_the_api(make_manager: ManagerFactory) -> None:
    ranges = ranges_of(make_manager(**CONFIG))
    [default] = ranges.list_page(RangeFilters(network_type="vxlan", default=True), None, 10)
    assert (default.name, default.shared, default.minimum, default.maximum) == (
        "TYPEMGR_VXLAN_VNI_RANGES",
        True,
        1000,
        1009,
    )
    for call in (
        lambda: ranges.update(default.id, RangeUpdate(name="x"), dry_run=True),
        lambda: ranges.delete(default.id, dry_run=False),
    ):
        with pytest.raises(errors.DefaultRangeReadOnly, match="TYPEMGR_VXLAN_VNI_RANGES"):
            call()


def test_a_configuration_change_touches_default_ranges_only(make_manager: ManagerFactory) -> None:
    manager = make_manager(**CONFIG)
    ranges = ranges_of(manager)
    mine = ranges.create(vxlan(5000, 5999, name="mine"))
    schema.initialize(
        manager.factory, [DefaultRange("vxlan", "", 1, 10, "TYPEMGR_VXLAN_VNI_RANGES")]
    )
    listed = ranges.list_page(RangeFilters(), None, 10)
    assert [(r.minimum, r.maximum, r.default) for r in listed] == [
        (1, 10, True),
        (5000, 5999, False),
    ]
    assert ranges.get(mine.id).name == "mine"
    with pytest.raises(schema.DefaultRangeConflict, match="overlaps vxlan 5000:5999"):
        schema.initialize(manager.factory, [DefaultRange("vxlan", "", 5500, 6000, "X")])
    assert len(ranges.list_page(RangeFilters(), None, 10)) == 2


def test_list_filters_and_pages(make_manager: ManagerFactory) -> None:
    ranges = ranges_of(make_manager(**CONFIG))
    for low in (10, 20, 30):
        ranges.create(vxlan(low, low + 1, shared=False, project_id="p"))
    mine = ranges.list_page(RangeFilters(project_id="p"), None, 2)
    assert [r.minimum for r in mine] == [10, 20]
    after = (mine[-1].network_type, mine[-1].physical_network, mine[-1].minimum)
    assert [r.minimum for r in ranges.list_page(RangeFilters(project_id="p"), after, 2)] == [30]
    assert len(ranges.list_page(RangeFilters(shared=True), None, 10)) == 2
    assert [r.network_type for r in ranges.list_page(RangeFilters(default=True), None, 10)] == [
        "vlan",
        "vxlan",
    ]
