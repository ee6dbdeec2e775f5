from __future__ import annotations

import datetime as dt

import pytest
from ml2_contract import values, vocabulary

from services.drivers.linuxbridge import driver as lb
from services.drivers.openvswitch import driver as ovs

VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101)
FLAT2 = values.Segment("seg-flat", "flat", "physnet2")
VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001)
GRE = values.Segment("seg-gre", "gre", segmentation_id=5)
LOCAL = values.Segment("seg-local", "local")
BEAT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def agent(agent_type="openvswitch", **kw) -> values.Agent:
    caps = kw.pop("caps", values.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}))
    return values.Agent(
        kw.pop("id", "agent-1"), agent_type, "compute-1", capabilities=caps, heartbeat_at=BEAT, **kw
    )


def ctx(*segments, agents=(), vnic="normal", network_id="net-1") -> values.BindingContext:
    return values.BindingContext(
        port_id="3f2a9c4e-1111-2222-3333-444455556666",
        network_id=network_id,
        host="compute-1",
        level=0,
        segments_to_bind=segments or (VLAN,),
        vnic_type=vnic,
        host_agents=tuple(agents),
        agent_down_time=75.0,
    )


def only_reason(proposal: values.Proposal) -> values.DeclineReason:
    assert isinstance(proposal, values.Decline)
    (reason,) = proposal.reasons
    return reason


def test_ovs_binds_a_mapped_vlan_with_neutron_vif_details_as_typed_values():
    caps = values.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"}, integration_bridge="br-int"
    )
    proposal = ovs.OpenvswitchDriver().propose_binding(ctx(VLAN, agents=[agent(caps=caps)]))

    assert proposal == values.Complete(
        VLAN.id,
        "ovs",
        {
            "port_filter": False,
            "ovs_hybrid_plug": False,
            "datapath_type": "system",
            "bridge_name": "br-int",
            "connectivity": "l2",
        },
    )


def test_ovs_vif_details_follow_the_agent_capabilities():
    caps = values.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"},
        integration_bridge="br-int2",
        datapath_type="netdev",
        ovs_hybrid_plug=True,
        port_filter=True,
    )

    proposal = ovs.OpenvswitchDriver().propose_binding(ctx(VLAN, agents=[agent(caps=caps)]))

    assert isinstance(proposal, values.Complete)
    assert proposal.vif_type == "ovs"
    assert proposal.vif_details["bridge_name"] == "br-int2"
    assert proposal.vif_details["datapath_type"] == "netdev"
    assert proposal.vif_details["ovs_hybrid_plug"] is True
    assert proposal.vif_details["port_filter"] is True


@pytest.mark.parametrize(
    ("iface", "mode"), [("dpdkvhostuserclient", "server"), ("dpdkvhostuser", "client")]
)
def test_ovs_binds_vhostuser_on_a_netdev_datapath_with_vhostuser_ports(iface, mode):
    caps = values.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"},
        datapath_type="netdev",
        iface_types=(iface,),
        vhostuser_socket_dir="/run/vhost/",
        port_filter=True,
    )

    proposal = ovs.OpenvswitchDriver().propose_binding(ctx(VLAN, agents=[agent(caps=caps)]))

    assert isinstance(proposal, values.Complete)
    assert proposal.vif_type == "vhostuser"
    assert proposal.vif_details["vhostuser_socket"] == "/run/vhost/vhu3f2a9c4e-11"
    assert proposal.vif_details["vhostuser_mode"] == mode
    assert proposal.vif_details["vhostuser_ovs_plug"] is True
    assert proposal.vif_details["port_filter"] is False


def test_linuxbridge_sends_neutrons_vif_details_and_no_bridge_name():
    lb_agent = agent(
        "linuxbridge", caps=values.HostCapabilities(interface_mappings={"physnet1": "eth1"})
    )

    proposal = lb.LinuxbridgeDriver().propose_binding(
        ctx(VLAN, agents=[lb_agent], network_id="0d6e4a3c-6a2b-4b43-9f44-0123456789ab")
    )

    assert proposal == values.Complete(
        VLAN.id,
        "bridge",
        {"port_filter": False, "connectivity": "l2"},
    )


def test_linuxbridge_maps_physical_networks_through_interfaces_and_bridges():
    caps = values.HostCapabilities(
        interface_mappings={"physnet1": "eth1"}, bridge_mappings={"physnet2": "br2"}
    )
    lb_agent = agent("linuxbridge", caps=caps)

    proposal = lb.LinuxbridgeDriver().propose_binding(ctx(FLAT2, agents=[lb_agent]))

    assert isinstance(proposal, values.Complete)
    assert proposal.segment_id == FLAT2.id


def test_declines_vnic_types_it_does_not_bind():
    reason = only_reason(
        ovs.OpenvswitchDriver().propose_binding(ctx(agents=[agent()], vnic="macvtap"))
    )

    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert "macvtap" in reason.message


def test_declines_with_no_agent_when_only_agents_of_other_types_run_on_the_host():
    reason = only_reason(lb.LinuxbridgeDriver().propose_binding(ctx(agents=[agent("openvswitch")])))

    assert reason.code == vocabulary.NO_AGENT
    assert reason.message == "no linuxbridge agent on host compute-1"
    assert reason.details == {"host": "compute-1", "agent_type": "linuxbridge"}


def test_declines_a_dead_agent_naming_it_its_last_heartbeat_and_the_down_time():
    reason = only_reason(
        ovs.OpenvswitchDriver().propose_binding(ctx(agents=[agent(id="agent-7", alive=False)]))
    )

    assert reason.code == vocabulary.AGENT_DEAD
    assert "agent-7" in reason.message
    assert "2026-01-02T03:04:05.000Z" in reason.message
    assert "75s" in reason.message
    assert reason.details["agent_id"] == "agent-7"
    assert reason.details["last_heartbeat"] == "2026-01-02T03:04:05.000Z"
    assert reason.details["agent_down_time_seconds"] == "75"


def test_declines_an_administratively_down_agent():
    reason = only_reason(
        ovs.OpenvswitchDriver().propose_binding(ctx(agents=[agent(admin_state_up=False)]))
    )

    assert reason.code == vocabulary.AGENT_ADMIN_DOWN
    assert reason.details["agent_id"] == "agent-1"


def test_declines_a_network_type_the_agent_does_not_carry():
    caps = values.HostCapabilities(tunnel_types=("vxlan",), local_ip="192.0.2.1")

    reason = only_reason(
        ovs.OpenvswitchDriver().propose_binding(ctx(GRE, agents=[agent(caps=caps)]))
    )

    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED
    assert reason.segment_id == GRE.id
    assert reason.details["allowed_network_types"] == "flat,local,vlan,vxlan"


def test_declines_an_unmapped_physical_network_naming_it_and_the_agent_mappings():
    reason = only_reason(ovs.OpenvswitchDriver().propose_binding(ctx(FLAT2, agents=[agent()])))

    assert reason.code == vocabulary.PHYSNET_NOT_MAPPED
    assert "physnet2" in reason.message
    assert "physnet1:br-eth1" in reason.message
    assert reason.details["mappings"] == "physnet1:br-eth1"
    assert reason.details["physical_network"] == "physnet2"


def test_binds_a_tunnel_type_the_agent_carries_and_local_segments_without_mappings():
    caps = values.HostCapabilities(tunnel_types=("vxlan",), local_ip="192.0.2.1")
    driver = ovs.OpenvswitchDriver()

    vxlan = driver.propose_binding(ctx(VXLAN, agents=[agent(caps=caps)]))
    local = driver.propose_binding(ctx(LOCAL, agents=[agent(caps=caps)]))

    assert isinstance(vxlan, values.Complete) and vxlan.segment_id == VXLAN.id
    assert isinstance(local, values.Complete) and local.segment_id == LOCAL.id


def test_binds_the_first_reachable_segment_in_the_offered_order():
    proposal = ovs.OpenvswitchDriver().propose_binding(ctx(FLAT2, GRE, VLAN, agents=[agent()]))

    assert isinstance(proposal, values.Complete)
    assert proposal.segment_id == VLAN.id


def test_gives_every_reason_when_no_segment_is_reachable():
    proposal = ovs.OpenvswitchDriver().propose_binding(ctx(FLAT2, GRE, agents=[agent()]))

    assert isinstance(proposal, values.Decline)
    assert [(r.code, r.segment_id) for r in proposal.reasons] == [
        (vocabulary.PHYSNET_NOT_MAPPED, FLAT2.id),
        (vocabulary.NETWORK_TYPE_UNSUPPORTED, GRE.id),
    ]


def test_describe_names_the_agent_type_vnic_types_and_vif_types():
    desc = ovs.OpenvswitchDriver().describe()

    assert desc.name == desc.agent_type == "openvswitch"
    assert desc.supported_vnic_types == ("normal", "direct", "smart-nic", "vdpa")
    assert set(desc.supported_network_types) == {"local", "flat", "vlan", "gre", "vxlan", "geneve"}
    assert desc.vif_types == ("ovs", "vhostuser")
    assert lb.LinuxbridgeDriver().describe().vif_types == ("bridge",)


def test_linuxbridge_declares_and_carries_only_the_types_its_agent_has():
    driver = lb.LinuxbridgeDriver()
    assert driver.describe().supported_network_types == ("flat", "local", "vlan", "vxlan")
    caps = values.HostCapabilities(
        interface_mappings={"physnet1": "eth1"},
        tunnel_types=("vxlan", "gre", "geneve"),
        local_ip="192.0.2.1",
    )
    lb_agent = agent("linuxbridge", caps=caps)
    reason = only_reason(driver.propose_binding(ctx(GRE, agents=[lb_agent])))
    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED
    assert reason.details["allowed_network_types"] == "flat,local,vlan,vxlan"
    assert isinstance(driver.propose_binding(ctx(VXLAN, agents=[lb_agent])), values.Complete)


@pytest.mark.parametrize(
    ("driver", "agent_type", "caps"),
    [
        (
            lb.LinuxbridgeDriver(),
            "linuxbridge",
            values.HostCapabilities(
                interface_mappings={"physnet1": "eth1"},
                tunnel_types=("vxlan",),
                local_ip="192.0.2.1",
                network_types=("local", "flat", "vxlan"),
            ),
        ),
        (
            ovs.OpenvswitchDriver(),
            "openvswitch",
            values.HostCapabilities(
                bridge_mappings={"physnet1": "br-eth1"},
                tunnel_types=("vxlan",),
                local_ip="192.0.2.1",
                network_types=("local", "flat", "vxlan"),
            ),
        ),
    ],
    ids=["linuxbridge", "openvswitch"],
)
def test_declines_a_network_type_the_agent_reports_it_cannot_realise(driver, agent_type, caps):
    host_agent = agent(agent_type, caps=caps)

    reason = only_reason(driver.propose_binding(ctx(VLAN, agents=[host_agent])))

    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED_BY_AGENT
    assert reason.segment_id == VLAN.id
    assert reason.details == {
        "agent_id": "agent-1",
        "host": "compute-1",
        "network_type": "vlan",
        "agent_network_types": "local,flat,vxlan",
    }
    assert "vlan" in reason.message and "agent-1" in reason.message
    assert "compute-1" in reason.message
    flat = values.Segment("seg-flat1", "flat", "physnet1")
    for segment in (flat, VXLAN, LOCAL):
        bound = driver.propose_binding(ctx(segment, agents=[host_agent]))
        assert isinstance(bound, values.Complete) and bound.segment_id == segment.id


def test_an_agent_reporting_no_network_types_carries_every_type_of_its_mechanism():
    caps = values.HostCapabilities(interface_mappings={"physnet1": "eth1"})

    proposal = lb.LinuxbridgeDriver().propose_binding(
        ctx(VLAN, agents=[agent("linuxbridge", caps=caps)])
    )

    assert isinstance(proposal, values.Complete) and proposal.segment_id == VLAN.id


def test_a_reported_type_the_mechanism_cannot_carry_is_still_declined_as_unsupported():
    caps = values.HostCapabilities(
        tunnel_types=("vxlan",), local_ip="192.0.2.1", network_types=("gre", "vxlan")
    )

    reason = only_reason(
        lb.LinuxbridgeDriver().propose_binding(ctx(GRE, agents=[agent("linuxbridge", caps=caps)]))
    )

    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED


def test_the_next_segment_binds_when_the_agent_cannot_realise_the_first():
    caps = values.HostCapabilities(
        interface_mappings={"physnet1": "eth1"},
        tunnel_types=("vxlan",),
        local_ip="192.0.2.1",
        network_types=("flat", "vxlan"),
    )

    proposal = lb.LinuxbridgeDriver().propose_binding(
        ctx(VLAN, VXLAN, agents=[agent("linuxbridge", caps=caps)])
    )

    assert isinstance(proposal, values.Complete) and proposal.segment_id == VXLAN.id
