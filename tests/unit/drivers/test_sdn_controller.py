"""The sdn-controller driver, rule by rule: it continues a tunnel segment at level 0 with a
dynamic VLAN on the physical network of the host's link, and declines everything else with a
reason naming the host."""

from __future__ import annotations

import pytest
from ml2_contract import values, vocabulary

from services.drivers.sdn_controller import driver as sdn

VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001)
GRE = values.Segment("seg-gre", "gre", segmentation_id=7)
GENEVE = values.Segment("seg-geneve", "geneve", segmentation_id=9)
VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101)
FLAT = values.Segment("seg-flat", "flat", "physnet1")
LINK = values.HostLink("compute-1", "52:54:00:aa:bb:cc", "Ethernet1/7", "tor-1", "physnet2")


def ctx(
    *segments: values.Segment,
    links: tuple[values.HostLink, ...] = (LINK,),
    level: int = 0,
    vnic: str = vocabulary.VNIC_NORMAL,
) -> values.BindingContext:
    return values.BindingContext(
        "port-1",
        "net-1",
        "compute-1",
        level,
        segments or (VXLAN,),
        vnic_type=vnic,
        host_links=links,
    )


def codes(proposal: values.Proposal) -> list[str]:
    assert isinstance(proposal, values.Decline)
    return [r.code for r in proposal.reasons]


def test_describes_itself_as_an_agentless_driver_of_tunnel_types_that_never_completes():
    d = sdn.SdnControllerDriver().describe()

    assert d.name == "sdn-controller"
    assert d.agent_type == ""
    assert d.vif_types == ()
    assert set(d.supported_network_types) == {"vxlan", "gre", "geneve"}
    assert vocabulary.VNIC_NORMAL in d.supported_vnic_types


@pytest.mark.parametrize("segment", [VXLAN, GRE, GENEVE])
def test_continues_a_tunnel_segment_with_a_dynamic_vlan_on_the_links_physical_network(segment):
    proposal = sdn.SdnControllerDriver().propose_binding(ctx(segment))

    assert proposal == values.Continue(
        segment.id, dynamic_segments=(values.SegmentSpec("vlan", "physnet2"),)
    )


def test_continues_the_first_offered_tunnel_segment_skipping_physical_ones():
    proposal = sdn.SdnControllerDriver().propose_binding(ctx(VLAN, GENEVE, VXLAN))

    assert isinstance(proposal, values.Continue)
    assert proposal.segment_id == GENEVE.id


def test_a_host_without_a_link_is_declined_naming_the_host_and_the_command_to_add_it():
    proposal = sdn.SdnControllerDriver().propose_binding(ctx(links=()))

    assert isinstance(proposal, values.Decline)
    [reason] = proposal.reasons
    assert reason.code == vocabulary.HOST_NOT_LINKED
    assert reason.details == {"host": "compute-1"}
    assert "compute-1" in reason.message and "ml2 topology set compute-1" in reason.message


def test_a_link_without_a_physical_network_is_declined_saying_to_set_one():
    bare = values.HostLink("compute-1", "sw-1", "Ethernet1/7")

    proposal = sdn.SdnControllerDriver().propose_binding(ctx(links=(bare,)))

    assert isinstance(proposal, values.Decline)
    [reason] = proposal.reasons
    assert reason.code == vocabulary.PHYSNET_NOT_LINKED
    assert reason.details["host"] == "compute-1"
    assert (reason.details["switch_id"], reason.details["port_id"]) == ("sw-1", "Ethernet1/7")
    assert "--physical-network" in reason.message


def test_uses_the_first_link_that_names_a_physical_network():
    bare = values.HostLink("compute-1", "sw-1", "Ethernet1/7")

    proposal = sdn.SdnControllerDriver().propose_binding(ctx(links=(bare, LINK)))

    assert isinstance(proposal, values.Continue)
    assert proposal.dynamic_segments == (values.SegmentSpec("vlan", "physnet2"),)


def test_binds_at_level_0_only():
    proposal = sdn.SdnControllerDriver().propose_binding(ctx(VXLAN, level=1))

    assert codes(proposal) == [vocabulary.NETWORK_TYPE_UNSUPPORTED]
    assert proposal.reasons[0].details["level"] == "1"  # type: ignore[union-attr]


def test_declines_physical_segments_so_it_never_binds_the_vlan_it_asked_for():
    proposal = sdn.SdnControllerDriver().propose_binding(ctx(VLAN, FLAT, level=1))

    assert codes(proposal) == [vocabulary.NETWORK_TYPE_UNSUPPORTED] * 2


def test_declines_vnic_types_it_does_not_list():
    proposal = sdn.SdnControllerDriver().propose_binding(ctx(vnic=vocabulary.VNIC_SMARTNIC))

    assert codes(proposal) == [vocabulary.VNIC_TYPE_UNSUPPORTED]


@pytest.mark.parametrize(
    "vnic",
    [
        vocabulary.VNIC_NORMAL,
        vocabulary.VNIC_DIRECT,
        vocabulary.VNIC_MACVTAP,
        vocabulary.VNIC_DIRECT_PHYSICAL,
        vocabulary.VNIC_BAREMETAL,
    ],
)
def test_continues_for_every_vnic_type_a_level_1_driver_binds_on_a_vlan(vnic):
    assert isinstance(sdn.SdnControllerDriver().propose_binding(ctx(vnic=vnic)), values.Continue)


def test_with_an_empty_topology_every_port_is_declined():
    driver = sdn.SdnControllerDriver()

    for segment in (VXLAN, GRE, GENEVE):
        assert codes(driver.propose_binding(ctx(segment, links=()))) == [vocabulary.HOST_NOT_LINKED]
