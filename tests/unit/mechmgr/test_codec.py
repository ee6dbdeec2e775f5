from __future__ import annotations

import datetime as dt

from services.mechmgr.drivers import base, codec, context

SEG = context.Segment(
    "s1", "vlan", "physnet1", 101, "n1", mtu=1500, is_dynamic=True, segment_index=2
)
AGENT = context.Agent(
    "a1",
    "openvswitch",
    "compute-1",
    "ml2-agent",
    context.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"},
        tunnel_types=("vxlan",),
        local_ip="192.0.2.1",
        integration_bridge="br-int",
        datapath_type="netdev",
        ovs_hybrid_plug=True,
        port_filter=True,
        iface_types=("dpdkvhostuserclient",),
        vhostuser_socket_dir="/run/ovs",
    ),
    admin_state_up=False,
    alive=False,
    heartbeat_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
    created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
)


def test_a_binding_context_survives_the_wire():
    ctx = context.BindingContext(
        port_id="p1",
        network_id="n1",
        host="compute-1",
        level=1,
        segments_to_bind=(SEG,),
        vnic_type="direct-physical",
        profile={"pci_slot": "0000:01:00.1", "trusted": True},
        bound_levels=(context.BindingLevel(0, "fabric", SEG),),
        host_agents=(AGENT,),
        agent_down_time=2.5,
    )

    assert codec.context_from_proto(codec.context_to_proto(ctx)) == ctx


def test_proposals_survive_the_wire_with_typed_vif_details():
    complete = base.Complete("s1", "ovs", {"port_filter": True, "bridge_name": "br-int"})
    cont = base.Continue(
        "s1", (SEG,), (context.SegmentSpec("vlan", "physnet1"), context.SegmentSpec("vxlan", "", 7))
    )
    decline = base.Decline((base.DeclineReason("AGENT_DEAD", "dead", "s1", {"agent_id": "a1"}),))

    for proposal in (complete, cont, decline):
        assert codec.proposal_from_proto(codec.proposal_to_proto(proposal)) == proposal
    assert codec.proposal_to_proto(complete).complete.vif_details["port_filter"] is True


def test_vnic_types_map_to_the_contract_enum_and_back():
    for value in range(12):
        name = codec.vnic_type_name(value)
        assert codec.vnic_type_value(name) == (value or 1)
    assert codec.vnic_type_name(0) == "normal"
    assert codec.vnic_type_name(5) == "direct-physical"
