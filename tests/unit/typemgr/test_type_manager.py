from __future__ import annotations

import pytest
from ml2_contract.values import Segment, SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr.config import Settings
from services.typemgr.type_manager import TypeManager


def manager(**variables: str) -> TypeManager:
    return TypeManager.from_settings(Settings.from_env(variables))


def segment(mtu: int, dynamic: bool = False) -> Segment:
    return Segment("s", "vlan", "physnet1", 100, "n", mtu, dynamic, 0)


def test_unknown_and_disabled_types_name_the_field() -> None:
    types = manager(TYPEMGR_TYPE_DRIVERS="vlan,vxlan")
    with pytest.raises(InvalidArgument) as caught:
        types.validate(SegmentSpec("flat", "physnet1"), "segments[0]")
    assert caught.value.message == (
        "segments[0].network_type: network type 'flat' is not enabled "
        "(TYPEMGR_TYPE_DRIVERS: vlan, vxlan)"
    )
    with pytest.raises(InvalidArgument) as caught:
        types.validate(SegmentSpec("ethernet"), "segment")
    assert (
        caught.value.message
        == "segment.network_type: unknown network type 'ethernet'; enabled: vlan, vxlan"
    )
    with pytest.raises(InvalidArgument) as caught:
        types.validate(SegmentSpec(""), "segment")
    assert caught.value.message == "segment.network_type: is required"


def test_duplicate_fully_specified_segments_are_refused() -> None:
    types = manager()
    specs = [
        SegmentSpec("vlan", "physnet1", 5),
        SegmentSpec("vxlan"),
        SegmentSpec("vlan", "physnet1", 5),
    ]
    with pytest.raises(InvalidArgument) as caught:
        types.validate_all(specs, "segments")
    assert caught.value.field == "segments[2]"
    assert "duplicates segments[0] (vlan physnet1 5)" in caught.value.message


def test_partial_segments_may_repeat() -> None:
    manager().validate_all([SegmentSpec("vxlan"), SegmentSpec("vxlan")], "segments")


def test_two_flat_segments_on_one_physnet_are_duplicates() -> None:
    with pytest.raises(InvalidArgument) as caught:
        manager().validate_all([SegmentSpec("flat", "p"), SegmentSpec("flat", "p")], "segments")
    assert caught.value.field == "segments[1]"


def test_validate_all_names_the_index_of_the_bad_segment() -> None:
    with pytest.raises(InvalidArgument) as caught:
        manager().validate_all(
            [SegmentSpec("vxlan"), SegmentSpec("vlan", "physnet1", 0)], "segments"
        )
    assert caught.value.field == "segments[1].segmentation_id"


def test_network_mtu_is_the_smallest_static_segment_mtu() -> None:
    types = manager()
    assert types.network_mtu([segment(1500), segment(1450), segment(1000, dynamic=True)]) == 1450
    assert types.network_mtu([segment(0)]) == 1500
    assert types.network_mtu([]) == 0


def test_segment_mtu_follows_the_type() -> None:
    types = manager(TYPEMGR_PHYSICAL_NETWORK_MTUS="physnet1:1400", TYPEMGR_OVERLAY_IP_VERSION="6")
    assert types.mtu(SegmentSpec("vlan", "physnet1", 5)) == 1400
    assert types.mtu(SegmentSpec("flat", "physnet2")) == 1500
    assert types.mtu(SegmentSpec("vxlan")) == 1430


def test_configured_ranges_cover_every_enabled_type() -> None:
    types = manager(
        TYPEMGR_NETWORK_VLAN_RANGES="physnet1:1:10,physnet2", TYPEMGR_VXLAN_VNI_RANGES="5:6,8:9"
    )
    assert [(t, str(r)) for t, r in types.configured_ranges()] == [
        ("vlan", "physnet1:1:10"),
        ("vxlan", "5:6"),
        ("vxlan", "8:9"),
    ]
