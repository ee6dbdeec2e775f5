"""The baremetal driver, rule by rule (networking-baremetal's: vnic type baremetal, flat and
vlan, vif_type other with connectivity l2), with the node found by its local_link_information
or, without it, by the host's link in the topology."""

from __future__ import annotations

from typing import Any

import pytest
from ml2_contract import values, vocabulary

from services.drivers.baremetal import driver as bm

VLAN1 = values.Segment("seg-vlan1", "vlan", "physnet1", 101)
VLAN2 = values.Segment("seg-vlan2", "vlan", "physnet2", 201)
FLAT1 = values.Segment("seg-flat1", "flat", "physnet1")
VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001)
LLI = [{"switch_id": "52:54:00:aa:bb:cc", "port_id": "Ethernet1/7", "switch_info": "tor-1"}]
LINK1 = values.HostLink("node-1", "52:54:00:aa:bb:cc", "Ethernet1/7", "tor-1", "physnet1")
UNKNOWN_PHYSNET = values.HostLink("node-1", "52:54:00:aa:bb:cc", "Ethernet1/7")


def ctx(
    *segments: values.Segment,
    profile: dict[str, Any] | None = None,
    links: tuple[values.HostLink, ...] = (),
    vnic: str = vocabulary.VNIC_BAREMETAL,
) -> values.BindingContext:
    return values.BindingContext(
        "port-1",
        "net-1",
        "node-1",
        0,
        segments or (VLAN1,),
        vnic_type=vnic,
        profile=profile if profile is not None else {"local_link_information": LLI},
        host_links=links,
    )


def complete(segment: values.Segment) -> values.Complete:
    return values.Complete(segment.id, "other", {"connectivity": "l2"}, "ACTIVE")


def reasons(proposal: values.Proposal) -> tuple[values.DeclineReason, ...]:
    assert isinstance(proposal, values.Decline)
    return proposal.reasons


def test_describes_vnic_baremetal_on_flat_and_vlan_with_vif_type_other_and_no_agent():
    d = bm.BaremetalDriver().describe()

    assert d.name == "baremetal"
    assert d.supported_vnic_types == ("baremetal",)
    assert set(d.supported_network_types) == {"flat", "vlan"}
    assert d.vif_types == ("other",)
    assert d.agent_type == ""


@pytest.mark.parametrize("segment", [VLAN1, FLAT1])
def test_binds_a_port_with_local_link_information_on_flat_and_vlan(segment):
    assert bm.BaremetalDriver().propose_binding(ctx(segment)) == complete(segment)


def test_binds_by_the_hosts_link_in_the_topology_when_the_profile_has_no_link_information():
    proposal = bm.BaremetalDriver().propose_binding(ctx(VLAN1, profile={}, links=(LINK1,)))

    assert proposal == complete(VLAN1)


def test_an_empty_local_link_information_falls_back_to_the_topology():
    profile = {"local_link_information": []}

    found = bm.BaremetalDriver().propose_binding(ctx(profile=profile, links=(LINK1,)))
    missing = bm.BaremetalDriver().propose_binding(ctx(profile=profile))

    assert found == complete(VLAN1)
    assert [r.code for r in reasons(missing)] == [vocabulary.HOST_NOT_LINKED]


def test_without_link_information_nor_a_link_it_declines_naming_the_host():
    [reason] = reasons(bm.BaremetalDriver().propose_binding(ctx(profile={})))

    assert reason.code == vocabulary.HOST_NOT_LINKED
    assert reason.details == {"host": "node-1"}
    assert "ml2 topology set node-1" in reason.message


def test_only_segments_of_the_links_physical_network_are_bound():
    proposal = bm.BaremetalDriver().propose_binding(ctx(VLAN2, VLAN1, links=(LINK1,)))

    assert proposal == complete(VLAN1)


def test_a_segment_of_another_physical_network_is_declined_with_the_links_facts():
    [reason] = reasons(bm.BaremetalDriver().propose_binding(ctx(VLAN2, links=(LINK1,))))

    assert reason.code == vocabulary.PHYSNET_NOT_LINKED
    assert reason.segment_id == VLAN2.id
    assert reason.details == {
        "host": "node-1",
        "physical_network": "physnet2",
        "link_physical_network": "physnet1",
        "switch_id": "52:54:00:aa:bb:cc",
        "port_id": "Ethernet1/7",
    }


def test_a_link_without_a_physical_network_reaches_every_physical_network():
    proposal = bm.BaremetalDriver().propose_binding(ctx(VLAN2, links=(UNKNOWN_PHYSNET,)))

    assert proposal == complete(VLAN2)


def test_without_a_topology_link_the_physical_network_is_unknown_and_any_is_bound():
    assert bm.BaremetalDriver().propose_binding(ctx(VLAN2)) == complete(VLAN2)


@pytest.mark.parametrize(
    ("lli", "where", "said"),
    [
        ("52:54:00:aa:bb:cc", "", "must be a list"),
        (["Ethernet1/7"], "local_link_information[0]", "must be an object"),
        ([{"port_id": "Ethernet1/7"}], "local_link_information[0]", "names no switch"),
        ([{"switch_id": "sw", "port_id": ""}], "local_link_information[0]", "no switch port"),
        ([LLI[0], {"switch_info": "tor-2"}], "local_link_information[1]", "no switch port"),
    ],
)
def test_malformed_local_link_information_is_declined_naming_the_link(lli, where, said):
    [reason] = reasons(
        bm.BaremetalDriver().propose_binding(
            ctx(profile={"local_link_information": lli}, links=(LINK1,))
        )
    )

    assert reason.code == vocabulary.LINK_INFORMATION_INVALID
    assert reason.details == {"host": "node-1", "link": where}
    assert said in reason.message


def test_a_link_named_by_switch_info_alone_is_enough():
    profile = {"local_link_information": [{"switch_info": "tor-1", "port_id": "Ethernet1/7"}]}

    assert bm.BaremetalDriver().propose_binding(ctx(profile=profile)) == complete(VLAN1)


@pytest.mark.parametrize("vnic", [vocabulary.VNIC_NORMAL, vocabulary.VNIC_DIRECT])
def test_declines_other_vnic_types(vnic):
    [reason] = reasons(bm.BaremetalDriver().propose_binding(ctx(vnic=vnic)))

    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED


def test_declines_tunnel_segments():
    [reason] = reasons(bm.BaremetalDriver().propose_binding(ctx(VXLAN)))

    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED


def test_binds_the_dynamic_vlan_an_sdn_controller_continued_with_at_level_1():
    dynamic = values.Segment("seg-dyn", "vlan", "physnet1", 150, is_dynamic=True)
    context = values.BindingContext(
        "port-1",
        "net-1",
        "node-1",
        1,
        (dynamic,),
        vnic_type=vocabulary.VNIC_BAREMETAL,
        bound_levels=(values.BindingLevel(0, "sdn-controller", VXLAN),),
        host_links=(LINK1,),
    )

    assert bm.BaremetalDriver().propose_binding(context) == complete(dynamic)


def test_a_bound_bare_metal_port_is_active_at_once_no_agent_reports_it():
    proposal = bm.BaremetalDriver().propose_binding(ctx(VLAN1, links=(LINK1,)))

    assert isinstance(proposal, values.Complete)
    assert proposal.port_status == "ACTIVE"
