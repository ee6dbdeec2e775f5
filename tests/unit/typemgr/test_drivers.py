from __future__ import annotations

import pytest
from ml2_contract.values import SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.typemgr.drivers import base, flat, geneve, gre, local, vlan, vxlan
from services.typemgr.segments import IdRange

MTU = base.MtuSettings()


def invalid(driver: base.TypeDriver, spec: SegmentSpec) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        driver.validate(spec, "segments[1]")
    return caught.value


def vlan_driver() -> vlan.VlanTypeDriver:
    return vlan.VlanTypeDriver(MTU, ("physnet1", "physnet2"), (IdRange("physnet1", 100, 199),))


class TestFlat:
    def test_accepts_an_allowed_physical_network(self) -> None:
        flat.FlatTypeDriver(MTU, ("physnet1",)).validate(SegmentSpec("flat", "physnet1"), "s")
        flat.FlatTypeDriver(MTU, ("*",)).validate(SegmentSpec("flat", "anything"), "s")

    def test_requires_a_physical_network(self) -> None:
        err = invalid(flat.FlatTypeDriver(MTU), SegmentSpec("flat"))
        assert err.field == "segments[1].physical_network"
        assert "is required for a flat segment" in err.message

    def test_forbids_a_non_zero_segmentation_id(self) -> None:
        err = invalid(flat.FlatTypeDriver(MTU), SegmentSpec("flat", "physnet1", 5))
        assert err.field == "segments[1].segmentation_id"
        assert "must not be set for a flat segment (0 counts as unset), got 5" in err.message

    def test_segmentation_id_0_is_ignored_as_neutron_ignores_falsy_values(self) -> None:
        flat.FlatTypeDriver(MTU).validate(SegmentSpec("flat", "physnet1", 0), "s")

    def test_refuses_a_physical_network_not_listed(self) -> None:
        err = invalid(flat.FlatTypeDriver(MTU, ("physnet1",)), SegmentSpec("flat", "physnet9"))
        assert err.field == "segments[1].physical_network"
        assert "'physnet9' is not allowed for flat networks; allowed: physnet1" in err.message

    def test_empty_list_disables_flat(self) -> None:
        err = invalid(flat.FlatTypeDriver(MTU, ()), SegmentSpec("flat", "physnet1"))
        assert err.field == "segments[1].network_type"
        assert "flat networks are disabled" in err.message

    def test_is_never_partial_and_reserves_the_physnet(self) -> None:
        driver = flat.FlatTypeDriver(MTU)
        assert not driver.is_partial(SegmentSpec("flat", "physnet1"))
        assert driver.allocation is base.Allocation.PHYSNET


class TestVlan:
    @pytest.mark.parametrize("seg_id", [0, 4095, 5000])
    def test_refuses_ids_outside_1_to_4094(self, seg_id: int) -> None:
        err = invalid(vlan_driver(), SegmentSpec("vlan", "physnet1", seg_id))
        assert err.field == "segments[1].segmentation_id"
        assert (
            err.message
            == f"segments[1].segmentation_id: VLAN id must be between 1 and 4094, got {seg_id}"
        )

    def test_accepts_ids_outside_the_tenant_ranges(self) -> None:
        vlan_driver().validate(SegmentSpec("vlan", "physnet1", 1), "s")
        vlan_driver().validate(SegmentSpec("vlan", "physnet1", 4094), "s")

    def test_a_segmentation_id_requires_a_physical_network(self) -> None:
        err = invalid(vlan_driver(), SegmentSpec("vlan", "", 100))
        assert err.field == "segments[1].physical_network"
        assert "required when a vlan segment has a segmentation_id" in err.message

    def test_refuses_an_unconfigured_physical_network(self) -> None:
        err = invalid(vlan_driver(), SegmentSpec("vlan", "physnet9", 100))
        assert err.field == "segments[1].physical_network"
        assert (
            "unknown physical network 'physnet9' for vlan; configured: physnet1, physnet2"
            in err.message
        )

    def test_provider_only_physnet_takes_given_ids(self) -> None:
        driver = vlan_driver()
        driver.validate(SegmentSpec("vlan", "physnet2", 7), "s")
        # Whether physnet2 has ranges to allocate from is for the database to say.
        driver.validate(SegmentSpec("vlan", "physnet2"), "s")

    def test_partial_segments_and_pools_in_configured_order(self) -> None:
        driver = vlan_driver()
        assert driver.is_partial(SegmentSpec("vlan", "physnet1"))
        assert driver.is_partial(SegmentSpec("vlan"))
        assert not driver.is_partial(SegmentSpec("vlan", "physnet1", 5))
        assert driver.pools_for(SegmentSpec("vlan")) == ("physnet1", "physnet2")
        assert driver.pools_for(SegmentSpec("vlan", "physnet2")) == ("physnet2",)
        assert driver.ranges() == (IdRange("physnet1", 100, 199),)


class TestVxlan:
    def test_forbids_a_physical_network(self) -> None:
        err = invalid(vxlan.VxlanTypeDriver(MTU), SegmentSpec("vxlan", "physnet1"))
        assert err.field == "segments[1].physical_network"
        assert "must not be set for a vxlan segment" in err.message

    @pytest.mark.parametrize("seg_id", [0, 2**24])
    def test_refuses_provider_ids_beyond_the_protocol(self, seg_id: int) -> None:
        err = invalid(vxlan.VxlanTypeDriver(MTU), SegmentSpec("vxlan", "", seg_id))
        assert err.field == "segments[1].segmentation_id"
        assert f"VXLAN id must be between 1 and 16777215, got {seg_id}" in err.message

    def test_accepts_provider_ids_outside_the_tenant_ranges(self) -> None:
        driver = vxlan.VxlanTypeDriver(MTU, (IdRange("", 1000, 1999),))
        driver.validate(SegmentSpec("vxlan", "", 16777215), "s")
        assert driver.pools_for(SegmentSpec("vxlan")) == ("",)


class TestGre:
    def test_keys_are_32_bit_unsigned(self) -> None:
        driver = gre.GreTypeDriver(MTU)
        driver.validate(SegmentSpec("gre", "", 1), "s")
        driver.validate(SegmentSpec("gre", "", 2**32 - 1), "s")
        driver.validate(SegmentSpec("gre"), "s")
        assert driver.is_partial(SegmentSpec("gre"))
        for seg_id in (0, 2**32):
            err = invalid(driver, SegmentSpec("gre", "", seg_id))
            assert err.field == "segments[1].segmentation_id"
            assert f"GRE key must be between 1 and 4294967295, got {seg_id}" in err.message

    def test_forbids_a_physical_network(self) -> None:
        err = invalid(gre.GreTypeDriver(MTU), SegmentSpec("gre", "physnet1", 5))
        assert err.field == "segments[1].physical_network"
        assert "must not be set for a gre segment" in err.message


class TestGeneve:
    def test_vnis_are_24_bit(self) -> None:
        driver = geneve.GeneveTypeDriver(MTU)
        driver.validate(SegmentSpec("geneve", "", 16777215), "s")
        err = invalid(driver, SegmentSpec("geneve", "", 2**24))
        assert "Geneve VNI must be between 1 and 16777215, got 16777216" in err.message
        err = invalid(driver, SegmentSpec("geneve", "physnet1"))
        assert err.field == "segments[1].physical_network"


class TestLocal:
    def test_forbids_physical_network_and_segmentation_id(self) -> None:
        driver = local.LocalTypeDriver(MTU)
        driver.validate(SegmentSpec("local"), "s")
        assert not driver.is_partial(SegmentSpec("local"))
        assert driver.allocation is base.Allocation.NONE
        err = invalid(driver, SegmentSpec("local", "physnet1"))
        assert err.field == "segments[1].physical_network"
        assert "must not be set for a local segment" in err.message
        err = invalid(driver, SegmentSpec("local", "", 7))
        assert err.field == "segments[1].segmentation_id"
        assert "must not be set for a local segment (0 counts as unset), got 7" in err.message

    def test_segmentation_id_0_is_ignored_as_neutron_ignores_falsy_values(self) -> None:
        local.LocalTypeDriver(MTU).validate(SegmentSpec("local", "", 0), "s")


class TestMtu:
    def test_physical_types_use_the_smaller_of_global_and_physnet_mtu(self) -> None:
        mtu = base.MtuSettings(
            global_physnet_mtu=1500, physical_network_mtus={"big": 9000, "small": 1400}
        )
        assert vlan.VlanTypeDriver(mtu).mtu("physnet1") == 1500
        assert vlan.VlanTypeDriver(mtu).mtu("big") == 1500
        assert flat.FlatTypeDriver(mtu).mtu("small") == 1400
        jumbo = base.MtuSettings(global_physnet_mtu=9000, physical_network_mtus={"small": 1400})
        assert vlan.VlanTypeDriver(jumbo).mtu("physnet1") == 9000

    def test_vxlan_subtracts_ip_header_and_30_bytes(self) -> None:
        assert vxlan.VxlanTypeDriver(base.MtuSettings()).mtu("") == 1450
        assert vxlan.VxlanTypeDriver(base.MtuSettings(overlay_ip_version=6)).mtu("") == 1430

    def test_vxlan_uses_the_smaller_of_global_and_path_mtu(self) -> None:
        assert (
            vxlan.VxlanTypeDriver(base.MtuSettings(global_physnet_mtu=9000, path_mtu=1600)).mtu("")
            == 1550
        )
        assert (
            vxlan.VxlanTypeDriver(base.MtuSettings(global_physnet_mtu=1500, path_mtu=9000)).mtu("")
            == 1450
        )

    def test_gre_subtracts_ip_header_and_22_bytes(self) -> None:
        assert gre.GreTypeDriver(base.MtuSettings()).mtu("") == 1458
        assert gre.GreTypeDriver(base.MtuSettings(overlay_ip_version=6)).mtu("") == 1438
        assert gre.GreTypeDriver(base.MtuSettings(path_mtu=1400)).mtu("") == 1358

    def test_geneve_subtracts_ip_header_and_the_configured_header_size(self) -> None:
        assert geneve.GeneveTypeDriver(base.MtuSettings()).mtu("") == 1450
        assert geneve.GeneveTypeDriver(base.MtuSettings(), (), 38).mtu("") == 1442
        v6 = base.MtuSettings(global_physnet_mtu=9000, overlay_ip_version=6)
        assert geneve.GeneveTypeDriver(v6, (), 38).mtu("") == 8922

    def test_local_has_no_mtu(self) -> None:
        assert local.LocalTypeDriver(base.MtuSettings()).mtu("") == 0

    def test_a_global_mtu_of_0_is_not_set_and_the_other_settings_decide(self) -> None:
        unset = base.MtuSettings(
            global_physnet_mtu=0, path_mtu=1400, physical_network_mtus={"jumbo": 9000}
        )
        assert vlan.VlanTypeDriver(unset).mtu("jumbo") == 9000
        assert flat.FlatTypeDriver(unset).mtu("other") == 0
        assert vxlan.VxlanTypeDriver(unset).mtu("") == 1400 - 20 - 30
        assert gre.GreTypeDriver(unset).mtu("") == 1400 - 20 - 22

    def test_a_physical_network_mtu_of_0_is_not_set(self) -> None:
        mtu = base.MtuSettings(global_physnet_mtu=1500, physical_network_mtus={"physnet1": 0})
        assert vlan.VlanTypeDriver(mtu).mtu("physnet1") == 1500

    def test_a_network_of_unknown_mtus_under_an_unset_global_mtu_has_mtu_0(self) -> None:
        from services.typemgr.config import Settings
        from services.typemgr.type_manager import TypeManager

        types = TypeManager.from_settings(
            Settings.from_env({"TYPEMGR_GLOBAL_PHYSNET_MTU": "0", "TYPEMGR_PATH_MTU": "1600"})
        )
        assert types.mtu(SegmentSpec("vlan", "physnet1", 100)) == 0
        assert types.mtu(SegmentSpec("vxlan", "", 1000)) == 1550

    def test_unknown_mtu_is_zero(self) -> None:
        unset = base.MtuSettings(global_physnet_mtu=0)
        assert vlan.VlanTypeDriver(unset).mtu("physnet1") == 0
        assert vxlan.VxlanTypeDriver(unset).mtu("") == 0
