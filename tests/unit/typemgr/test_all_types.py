"""Every network type end to end through the SegmentManager: gre, geneve and local next to flat,
vlan and vxlan; the protocol limits; MTU per segment and per network. On SQLite and PostgreSQL,
since GRE keys above 2**31 - 1 must survive a signed 32-bit column nowhere."""

from __future__ import annotations

import uuid

import pytest
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr import errors
from tests.unit.typemgr.conftest import ManagerFactory

MAX_GRE = 2**32 - 1


def net() -> str:
    return str(uuid.uuid4())


def test_gre_keys_use_the_full_unsigned_32_bit_space(
    make_manager: ManagerFactory, database_url: str
) -> None:
    manager = make_manager(
        database_url, tenant_network_types="gre", gre_tunnel_id_ranges=f"{MAX_GRE - 1}:{MAX_GRE}"
    )
    tenant = {manager.create_network_segments(net(), [])[0].segmentation_id for _ in range(2)}
    assert tenant == {MAX_GRE - 1, MAX_GRE}
    with pytest.raises(errors.NoTenantNetworkAvailable):
        manager.create_network_segments(net(), [])
    network_id = net()
    [provider] = manager.create_network_segments(network_id, [SegmentSpec("gre", "", 2**31)])
    assert (provider.segmentation_id, provider.mtu) == (2**31, 1458)
    assert manager.list_network_segments(network_id, False) == [provider]
    with pytest.raises(errors.SegmentationIdInUse):
        manager.create_network_segments(net(), [SegmentSpec("gre", "", 2**31)])


def test_geneve_allocates_from_its_ranges_with_its_header_size(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(
        tenant_network_types="geneve", geneve_vni_ranges="7:7", geneve_max_header_size="38"
    )
    [segment] = manager.create_network_segments(net(), [])
    assert (segment.network_type, segment.segmentation_id, segment.mtu) == ("geneve", 7, 1442)
    with pytest.raises(InvalidArgument) as caught:
        manager.create_network_segments(net(), [SegmentSpec("geneve", "", 2**24)])
    assert caught.value.field == "segments[0].segmentation_id"


def test_local_networks_reserve_nothing_and_take_the_global_mtu(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(tenant_network_types="local,vxlan", global_physnet_mtu="9000")
    first = manager.create_network_segments(net(), [])
    second = manager.create_network_segments(net(), [SegmentSpec("local")])
    for [segment] in (first, second):
        assert (segment.network_type, segment.physical_network) == ("local", "")
        assert (segment.segmentation_id, segment.mtu) == (0, 0)
    assert manager.types.network_mtu(first) == 9000


def test_network_mtu_is_the_smallest_of_every_type(make_manager: ManagerFactory) -> None:
    manager = make_manager(
        physical_network_mtus="physnet1:9000",
        global_physnet_mtu="9000",
        path_mtu="1500",
        overlay_ip_version="6",
    )
    specs = [
        SegmentSpec("vlan", "physnet1", 10),
        SegmentSpec("gre", "", 10),
        SegmentSpec("vxlan", "", 10),
        SegmentSpec("geneve", "", 10),
        SegmentSpec("local"),
    ]
    created = manager.create_network_segments(net(), specs)
    # IPv6 underlay: 40 bytes of outer header; path MTU 1500 caps the tunnels.
    assert [s.mtu for s in created] == [9000, 1438, 1430, 1430, 0]
    assert manager.types.network_mtu(created) == 1430


def test_a_partial_segment_of_a_pool_without_ranges_names_the_field(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(network_vlan_ranges="physnet1:10:10,physnet2")
    with pytest.raises(InvalidArgument) as caught:
        manager.create_network_segments(net(), [SegmentSpec("vxlan"), SegmentSpec("gre")])
    assert caught.value.field == "segments[1].segmentation_id"
    assert "is required on gre: it has no range" in caught.value.message
    with pytest.raises(InvalidArgument) as caught:
        manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet2")])
    assert "is required on physical network 'physnet2'" in caught.value.message
    assert manager.list_network_segments(net(), True) == []


def test_a_missing_range_tells_the_operator_how_to_create_one(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(network_vlan_ranges="physnet1:10:10,physnet2")
    with pytest.raises(InvalidArgument) as caught:
        manager.create_network_segments(net(), [SegmentSpec("geneve")])
    message = caught.value.message
    assert "`ml2 range create --network-type geneve --minimum MIN --maximum MAX" in message
    assert "TYPEMGR_GENEVE_VNI_RANGES=MIN:MAX" in message
    assert "SegmentRangeService" not in message
    with pytest.raises(InvalidArgument) as caught:
        manager.create_network_segments(net(), [SegmentSpec("vlan", "physnet2")])
    assert "--network-type vlan --physical-network physnet2" in caught.value.message
    assert "add physnet2:MIN:MAX to TYPEMGR_NETWORK_VLAN_RANGES" in caught.value.message


def test_a_tenant_type_without_ranges_is_named_as_such_not_as_exhausted(
    make_manager: ManagerFactory,
) -> None:
    manager = make_manager(tenant_network_types="vxlan,geneve", vxlan_vni_ranges="5:5")
    manager.create_network_segments(net(), [])
    with pytest.raises(errors.NoTenantNetworkAvailable) as caught:
        manager.create_network_segments(net(), [])
    assert caught.value.message == (
        "no tenant network is available: every pool of vxlan is exhausted; geneve has no "
        "segment range: create one with `ml2 range create --network-type geneve --minimum MIN "
        "--maximum MAX --shared`, or set TYPEMGR_GENEVE_VNI_RANGES=MIN:MAX"
    )
