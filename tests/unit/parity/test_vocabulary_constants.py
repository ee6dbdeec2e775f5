"""Section 3 of the Neutron reference: the vif types, vif_details keys and values, network types
and limits the contract spells must be Neutron's (neutron-lib's portbindings and constants), or
a compute node reading a binding would not understand it."""

from __future__ import annotations

import pytest
from ml2_contract import convert, vocabulary

from services.mechmgr import resolver
from services.portapi import binding


@pytest.mark.parametrize(
    ("constant", "neutron"),
    [
        ("VIF_TYPE_UNBOUND", "unbound"),
        ("VIF_TYPE_BINDING_FAILED", "binding_failed"),
        ("VIF_TYPE_OVS", "ovs"),
        ("VIF_TYPE_VHOST_USER", "vhostuser"),
        ("VIF_TYPE_BRIDGE", "bridge"),
        ("VIF_TYPE_OTHER", "other"),
        ("VIF_TYPE_HW_VEB", "hw_veb"),
        ("VIF_TYPE_HOSTDEV_PHYSICAL", "hostdev_physical"),
        ("VIF_TYPE_MACVTAP", "macvtap"),
        ("VIF_TYPE_HYPERV", "hyperv"),
    ],
)
def test_vif_types_are_spelled_as_neutron_spells_them(constant: str, neutron: str) -> None:
    assert getattr(vocabulary, constant) == neutron


def test_the_vif_types_only_the_manager_sets_are_neutrons_unplugged_types() -> None:
    assert frozenset({"unbound", "binding_failed"}) == vocabulary.RESERVED_VIF_TYPES


@pytest.mark.parametrize(
    ("constant", "neutron"),
    [
        ("CAP_PORT_FILTER", "port_filter"),
        ("OVS_HYBRID_PLUG", "ovs_hybrid_plug"),
        ("OVS_DATAPATH_TYPE", "datapath_type"),
        ("VIF_DETAILS_BRIDGE_NAME", "bridge_name"),
        ("VIF_DETAILS_CONNECTIVITY", "connectivity"),
        ("VHOST_USER_SOCKET", "vhostuser_socket"),
        ("VHOST_USER_MODE", "vhostuser_mode"),
        ("VHOST_USER_OVS_PLUG", "vhostuser_ovs_plug"),
        ("VIF_DETAILS_VLAN", "vlan"),
        ("VIF_DETAILS_PHYSICAL_INTERFACE", "physical_interface"),
        ("VIF_DETAILS_MACVTAP_SOURCE", "macvtap_source"),
        ("VIF_DETAILS_MACVTAP_MODE", "macvtap_mode"),
        ("OVS_CREATE_TAP", "ovs_create_tap"),
        ("VIF_DETAILS_BOUND_DRIVERS", "bound_drivers"),
    ],
)
def test_vif_details_keys_are_spelled_as_neutron_spells_them(constant: str, neutron: str) -> None:
    assert getattr(vocabulary, constant) == neutron


def test_connectivity_and_datapath_values_are_neutrons() -> None:
    assert (
        vocabulary.CONNECTIVITY_L2,
        vocabulary.CONNECTIVITY_L3,
        vocabulary.CONNECTIVITY_LEGACY,
    ) == ("l2", "l3", "legacy")
    assert (vocabulary.DATAPATH_SYSTEM, vocabulary.DATAPATH_NETDEV) == ("system", "netdev")


def test_device_names_are_cut_to_neutrons_and_novas_14_characters() -> None:
    assert vocabulary.DEVICE_NAME_LENGTH == 14


def test_network_types_and_their_groups_are_neutrons() -> None:
    assert set(vocabulary.NETWORK_TYPES) == {"local", "flat", "vlan", "gre", "vxlan", "geneve"}
    assert frozenset({"flat", "vlan"}) == vocabulary.PHYSICAL_TYPES
    # neutron-lib's TYPE_TUNNELLED also names ip6gre, which is no ML2 type driver.
    assert frozenset({"gre", "vxlan", "geneve"}) == vocabulary.TUNNEL_TYPES


def test_profiles_and_vif_details_are_held_to_neutrons_4095_characters() -> None:
    assert convert.STRUCT_MAX_JSON_CHARS == 4095


def test_binding_levels_and_bind_tries_are_bounded_by_neutrons_10() -> None:
    assert resolver.MAX_BINDING_LEVELS == 10
    assert binding.DEFAULT_MAX_TRIES == 10


def test_the_default_vnic_type_is_normal() -> None:
    assert vocabulary.VNIC_NORMAL == "normal"
    assert vocabulary.VNIC_TYPES[0] == "normal"
