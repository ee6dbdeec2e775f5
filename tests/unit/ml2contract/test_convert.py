"""Every value type of the contract survives the wire: value -> message -> value is the identity."""

from __future__ import annotations

import datetime as dt

import pytest
from ml2.v1 import binding_pb2, mechanism_driver_service_pb2, port_pb2, segment_pb2
from ml2_contract import convert, values, vocabulary

SEG = values.Segment(
    "s1", "vlan", "physnet1", 101, "n1", mtu=1500, is_dynamic=True, segment_index=2
)
CAPS = values.HostCapabilities(
    bridge_mappings={"physnet1": "br-eth1"},
    interface_mappings={"physnet2": "eth2"},
    tunnel_types=("vxlan",),
    local_ip="192.0.2.1",
    integration_bridge="br-int",
    datapath_type="netdev",
    ovs_hybrid_plug=True,
    port_filter=True,
    iface_types=("dpdkvhostuserclient",),
    vhostuser_socket_dir="/run/ovs",
    network_types=("flat", "vxlan"),
    vswitch_mappings={"phys.*": "external"},
    device_mappings={"physnet1": ("ens1f0", "ens1f1"), "physnet3": ("ens3f0",)},
    baremetal_smartnic=True,
    hw_offload=True,
    extensions=("qos",),
)
AGENT = values.Agent(
    "a1",
    "openvswitch",
    "compute-1",
    "ml2-agent",
    CAPS,
    admin_state_up=False,
    alive=False,
    heartbeat_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
    created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
)
REASON = values.DeclineReason("AGENT_DEAD", "dead", "s1", {"agent_id": "a1"})


def test_a_segment_survives_the_wire() -> None:
    assert convert.segment_from_proto(convert.segment_to_proto(SEG)) == SEG
    bare = values.Segment("s2", "local")
    assert convert.segment_from_proto(convert.segment_to_proto(bare)) == bare


@pytest.mark.parametrize(
    "spec",
    [
        values.SegmentSpec("vxlan"),
        values.SegmentSpec("vlan", "physnet1"),
        values.SegmentSpec("vlan", "physnet1", 7),
        values.SegmentSpec("flat", "physnet1", 0),
    ],
)
def test_a_segment_spec_survives_the_wire_with_an_unset_id_distinct_from_zero(
    spec: values.SegmentSpec,
) -> None:
    msg = convert.spec_to_proto(spec)
    assert msg.HasField("segmentation_id") == (spec.segmentation_id is not None)
    assert convert.spec_from_proto(msg) == spec


def test_host_capabilities_and_agents_survive_the_wire() -> None:
    assert convert.capabilities_from_proto(convert.capabilities_to_proto(CAPS)) == CAPS
    assert convert.capabilities_from_json(convert.capabilities_to_json(CAPS)) == CAPS
    assert convert.capabilities_from_json({}) == values.HostCapabilities()
    assert convert.agent_from_proto(convert.agent_to_proto(AGENT)) == AGENT
    never = values.Agent("a2", "linuxbridge", "compute-2")
    assert convert.agent_from_proto(convert.agent_to_proto(never)) == never


def test_a_naive_time_is_read_as_utc_and_comes_back_aware() -> None:
    naive = dt.datetime(2026, 3, 4, 5, 6, 7, 123000)
    stamp = convert.timestamp(naive)
    assert stamp is not None
    assert convert.datetime_of(stamp) == naive.replace(tzinfo=dt.UTC)
    other_zone = dt.datetime(2026, 3, 4, 7, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    stamp = convert.timestamp(other_zone)
    assert stamp is not None and convert.datetime_of(stamp) == other_zone
    assert convert.timestamp(None) is None


def test_durations_are_exact_to_the_nanosecond() -> None:
    for seconds in (0.0, 0.0015, 2.5, 1e-9, 75.0):
        assert convert.seconds_of(convert.duration(seconds)) == pytest.approx(seconds, abs=1e-9)
    assert convert.duration(0.0000000016).nanos == 2  # rounded, not truncated


def test_levels_reasons_and_verdicts_survive_the_wire() -> None:
    level = values.BindingLevel(1, "fabric", SEG)
    assert convert.level_from_proto(convert.level_to_proto(level)) == level
    assert convert.reason_from_proto(convert.reason_to_proto(REASON)) == REASON
    for verdict in (
        values.Verdict(0, "openvswitch", vocabulary.DECLINE, reasons=(REASON,), duration=0.002),
        values.Verdict(0, "fabric", vocabulary.CONTINUE, "s1", duration=0.25),
        values.Verdict(1, "linuxbridge", vocabulary.COMPLETE, "s2"),
    ):
        assert convert.verdict_from_proto(convert.verdict_to_proto(verdict)) == verdict


@pytest.mark.parametrize(
    "result",
    [
        values.BindingResult(
            vocabulary.BOUND,
            "ovs",
            {"port_filter": True, "bridge_name": "br-int"},
            (values.BindingLevel(0, "openvswitch", SEG),),
            (values.Verdict(0, "openvswitch", vocabulary.COMPLETE, "s1", duration=0.001),),
        ),
        values.BindingResult(
            vocabulary.FAILED,
            vocabulary.VIF_TYPE_BINDING_FAILED,
            trace=(values.Verdict(0, "openvswitch", vocabulary.DECLINE, reasons=(REASON,)),),
            failure_message="no mechanism driver could bind port p1 on host h1: ...",
        ),
        values.UNBOUND_RESULT,
    ],
)
def test_a_binding_result_survives_the_wire(result: values.BindingResult) -> None:
    msg = convert.binding_result_to_proto(result)
    assert convert.binding_result_from_proto(msg) == result
    # A PortBinding carries a result in the same fields.
    binding = binding_pb2.PortBinding(
        state=msg.state,
        vif_type=msg.vif_type,
        vif_details=msg.vif_details,
        levels=msg.levels,
        trace=msg.trace,
        failure_message=msg.failure_message,
    )
    assert convert.binding_result_from_proto(binding) == result


def test_a_result_of_an_unknown_state_reads_as_failed() -> None:
    msg = binding_pb2.PortBinding(state=binding_pb2.BINDING_STATE_UNSPECIFIED)
    result = convert.binding_result_from_proto(msg)
    assert (result.state, result.vif_type) == (
        vocabulary.FAILED,
        vocabulary.VIF_TYPE_BINDING_FAILED,
    )
    assert not result.bound and result.primary_reason() == vocabulary.NO_REASON


def test_a_binding_context_survives_the_wire() -> None:
    ctx = values.BindingContext(
        port_id="p1",
        network_id="n1",
        host="compute-1",
        level=1,
        segments_to_bind=(SEG,),
        vnic_type="direct-physical",
        profile={"pci_slot": "0000:01:00.1", "trusted": True},
        bound_levels=(values.BindingLevel(0, "fabric", SEG),),
        host_agents=(AGENT,),
        agent_down_time=2.5,
        host_links=(
            values.HostLink("compute-1", "52:54:00:aa:bb:cc", "Ethernet1/7", "tor-1", "physnet1"),
            values.HostLink("compute-1", "sw-2", "Gi 0/1"),
        ),
    )

    assert convert.context_from_proto(convert.context_to_proto(ctx)) == ctx


def test_the_original_binding_of_a_context_survives_the_wire() -> None:
    original = values.OriginalBinding(
        host="compute-0",
        vif_type="macvtap",
        vnic_type="normal",
        profile={"migrating_to": "compute-1"},
        vif_details={"macvtap_source": "eth1.101"},
        segment=SEG,
    )
    ctx = values.BindingContext("p1", "n1", "compute-1", 0, (SEG,), original=original)

    msg = convert.context_to_proto(ctx)

    assert msg.original.host_id == "compute-0"
    assert convert.context_from_proto(msg) == ctx
    bare = values.BindingContext("p1", "n1", "compute-1", 0, (SEG,))
    assert not convert.context_to_proto(bare).HasField("original")
    assert convert.context_from_proto(convert.context_to_proto(bare)).original is None


def test_a_port_status_a_driver_may_not_give_is_refused_both_ways() -> None:
    with pytest.raises(ValueError, match="'BUILD' is not one a driver may give"):
        convert.proposal_to_proto(values.Complete("s1", "ovs", port_status="BUILD"))
    msg = mechanism_driver_service_pb2.ProposeBindingResponse()
    msg.complete.segment_id, msg.complete.vif_type = "s1", "ovs"
    msg.complete.port_status = port_pb2.PORT_STATUS_DOWN
    with pytest.raises(ValueError, match=r"complete\.port_status"):
        convert.proposal_from_proto(msg)


def test_the_status_a_driver_gave_reaches_the_result_only_when_bound() -> None:
    bound = values.BindingResult(
        vocabulary.BOUND,
        "hostdev_physical",
        levels=(values.BindingLevel(0, "sriov", SEG),),
        port_status=vocabulary.PORT_STATUS_ACTIVE,
    )
    msg = convert.binding_result_to_proto(bound)

    assert msg.port_status == port_pb2.PORT_STATUS_ACTIVE
    assert convert.binding_result_from_proto(msg) == bound
    msg.state = binding_pb2.BINDING_STATE_FAILED
    assert convert.binding_result_from_proto(msg).port_status == ""


def test_a_host_link_survives_the_wire_with_every_field() -> None:
    when = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    link = values.HostLink("node-1", "sw-1", "Ethernet1/7", "tor-1", "physnet2", updated_at=when)

    msg = convert.host_link_to_proto(link)

    assert {f.name for f, _ in msg.ListFields()} == set(msg.DESCRIPTOR.fields_by_name)
    assert convert.host_link_from_proto(msg) == link


def test_a_context_of_an_unknown_vnic_type_is_refused() -> None:
    msg = mechanism_driver_service_pb2.ProposeBindingRequest(host="h", vnic_type=99)
    with pytest.raises(ValueError, match="unknown vnic type 99"):
        convert.context_from_proto(msg)


def test_proposals_survive_the_wire_with_typed_vif_details() -> None:
    complete = values.Complete("s1", "ovs", {"port_filter": True, "bridge_name": "br-int"})
    cont = values.Continue(
        "s1", (SEG,), (values.SegmentSpec("vlan", "physnet1"), values.SegmentSpec("vxlan", "", 7))
    )
    decline = values.Decline((REASON,))

    for proposal in (complete, cont, decline):
        assert convert.proposal_from_proto(convert.proposal_to_proto(proposal)) == proposal
    assert convert.proposal_to_proto(complete).complete.vif_details["port_filter"] is True
    assert (
        convert.proposal_from_proto(mechanism_driver_service_pb2.ProposeBindingResponse()) is None
    )


def test_a_driver_description_survives_the_wire() -> None:
    desc = values.DriverDescription(
        name="openvswitch",
        supported_vnic_types=(vocabulary.VNIC_NORMAL, vocabulary.VNIC_DIRECT),
        supported_network_types=("flat", "vlan", "vxlan"),
        agent_type="openvswitch",
        connectivity=vocabulary.CONNECTIVITY_L2,
        vif_types=("ovs", "vhostuser"),
    )
    assert convert.description_from_proto(convert.description_to_proto(desc)) == desc


def test_a_description_leaves_out_vnic_types_this_version_does_not_know() -> None:
    msg = mechanism_driver_service_pb2.DescribeDriverResponse(name="future")
    msg.supported_vnic_types.extend([binding_pb2.VNIC_TYPE_DIRECT, 0, 42])
    assert convert.description_from_proto(msg).supported_vnic_types == (vocabulary.VNIC_DIRECT,)


def test_segment_messages_carry_every_field_the_contract_defines() -> None:
    # A field added to the message but forgotten in the conversion fails here.
    converted = {f for f in convert.segment_to_proto(SEG).ListFields()}
    assert {f.name for f, _ in converted} == set(segment_pb2.Segment.DESCRIPTOR.fields_by_name)
