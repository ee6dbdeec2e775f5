"""``AgentlessDriver``: a driver of one method. The base describes it from its declaration,
declines a vnic type or the network types it does not declare with the contract's codes, and
asks ``bind`` only with the offered segments it may bind, in order."""

from __future__ import annotations

from collections.abc import Sequence

from ml2_contract import values, vocabulary
from ml2_driver_sdk import base


class Recorder(base.AgentlessDriver):
    name = "recorder"
    vif_types = (vocabulary.VIF_TYPE_OTHER,)
    supported_vnic_types = (vocabulary.VNIC_NORMAL, vocabulary.VNIC_DIRECT)
    supported_network_types = (vocabulary.TYPE_VLAN, vocabulary.TYPE_VXLAN)

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def bind(
        self, ctx: values.BindingContext, segments: Sequence[values.Segment]
    ) -> values.Proposal:
        self.asked.append(tuple(s.id for s in segments))
        return values.Complete(segments[-1].id, vocabulary.VIF_TYPE_OTHER, {"k": "v"})


FLAT = values.Segment("f", vocabulary.TYPE_FLAT, "physnet1")
VLAN = values.Segment("v", vocabulary.TYPE_VLAN, "physnet1", 7)
VXLAN = values.Segment("x", vocabulary.TYPE_VXLAN, segmentation_id=9)


def _ctx(*segments: values.Segment, vnic: str = vocabulary.VNIC_NORMAL) -> values.BindingContext:
    return values.BindingContext("p", "n", "h", 0, segments, vnic_type=vnic)


def test_it_describes_itself_from_its_declaration() -> None:
    assert Recorder().describe() == values.DriverDescription(
        name="recorder",
        supported_vnic_types=("normal", "direct"),
        supported_network_types=("vlan", "vxlan"),
        agent_type="",
        connectivity=vocabulary.CONNECTIVITY_L2,
        vif_types=("other",),
    )


def test_bind_gets_only_the_segments_it_declares_in_the_offered_order() -> None:
    driver = Recorder()
    assert driver.propose_binding(_ctx(VXLAN, FLAT, VLAN)) == values.Complete(
        "v", "other", {"k": "v"}
    )
    assert driver.asked == [("x", "v")]


def test_an_undeclared_vnic_type_is_declined_without_asking_bind() -> None:
    driver = Recorder()
    answer = driver.propose_binding(_ctx(VLAN, vnic=vocabulary.VNIC_MACVTAP))
    assert isinstance(answer, values.Decline)
    (reason,) = answer.reasons
    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert reason.details == {"vnic_type": "macvtap", "supported": "normal,direct"}
    assert driver.asked == []


def test_only_undeclared_network_types_are_declined_one_reason_per_segment() -> None:
    driver = Recorder()
    other = values.Segment("g", vocabulary.TYPE_GRE, segmentation_id=3)
    answer = driver.propose_binding(_ctx(FLAT, other))
    assert isinstance(answer, values.Decline)
    assert [(r.code, r.segment_id) for r in answer.reasons] == [
        (vocabulary.NETWORK_TYPE_UNSUPPORTED, "f"),
        (vocabulary.NETWORK_TYPE_UNSUPPORTED, "g"),
    ]
    assert all(r.message for r in answer.reasons)
    assert driver.asked == []


class PassThrough(Recorder):
    """A driver whose ports nothing on the host wires: they are ACTIVE once bound."""

    def bind(
        self, ctx: values.BindingContext, segments: Sequence[values.Segment]
    ) -> values.Proposal:
        done = values.Complete(segments[0].id, vocabulary.VIF_TYPE_OTHER, {"k": "v"})
        return base.active_at_once(done)


def test_active_at_once_marks_the_port_active_once_bound_and_keeps_the_binding() -> None:
    proposal = PassThrough().propose_binding(_ctx(VLAN))

    assert proposal == values.Complete(
        "v", vocabulary.VIF_TYPE_OTHER, {"k": "v"}, vocabulary.PORT_STATUS_ACTIVE
    )


def test_a_complete_leaves_the_status_to_the_agent_by_default() -> None:
    proposal = Recorder().propose_binding(_ctx(VLAN))

    assert isinstance(proposal, values.Complete)
    assert proposal.port_status == ""


def test_the_status_crosses_the_wire_both_ways() -> None:
    from ml2.v1 import port_pb2
    from ml2_contract import convert

    done = base.active_at_once(values.Complete("v", vocabulary.VIF_TYPE_OTHER))
    message = convert.proposal_to_proto(done)

    assert message.complete.port_status == port_pb2.PORT_STATUS_ACTIVE
    assert convert.proposal_from_proto(message) == done
