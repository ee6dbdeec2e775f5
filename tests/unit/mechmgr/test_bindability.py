"""The batched binding loop: every host's loop runs at once and each driver is asked about all
the hosts waiting for it in one call; dynamic segments are placeholders, never allocated."""

from __future__ import annotations

from ml2_contract import values

from services.mechmgr import resolver
from tests.unit.mechmgr import fakes
from tests.unit.mechmgr.fakes import FakeBatchDriver, FakeDriver

VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001, network_id="net-1")
VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101, network_id="net-1")


def requests(*hosts: str, segment: values.Segment = VLAN) -> list[resolver.BindingRequest]:
    return [
        resolver.BindingRequest(port_id="", network_id="net-1", host=h, segments=(segment,))
        for h in hosts
    ]


def on_hosts(hosts: set[str], vif_type: str):
    def answer(ctx: values.BindingContext) -> values.Proposal:
        if ctx.host in hosts:
            return values.Complete(ctx.segments_to_bind[0].id, vif_type)
        return fakes.decline("NO_AGENT", f"no agent on {ctx.host}")

    return answer


def fabric(ctx: values.BindingContext) -> values.Proposal:
    if ctx.level == 0:
        spec = values.SegmentSpec("vlan", "physnet2")
        return values.Continue(ctx.segments_to_bind[0].id, dynamic_segments=(spec,))
    return fakes.decline("NETWORK_TYPE_UNSUPPORTED", "fabric binds tunnels")


def test_each_driver_is_asked_about_every_waiting_host_in_one_call_in_driver_order():
    ovs = FakeBatchDriver("openvswitch", on_hosts({"h1", "h3"}, "ovs"))
    lb = FakeBatchDriver("linuxbridge", on_hosts({"h2"}, "bridge"))

    answers = resolver.resolve_bindabilities(requests("h1", "h2", "h3", "h4"), [ovs, lb])

    assert [[c.host for c in batch] for batch in ovs.batches] == [["h1", "h2", "h3", "h4"]]
    assert [[c.host for c in batch] for batch in lb.batches] == [["h2", "h4"]]
    assert [(a.host, a.bindable, a.result.vif_type) for a in answers] == [
        ("h1", True, "ovs"),
        ("h2", True, "bridge"),
        ("h3", True, "ovs"),
        ("h4", False, "binding_failed"),
    ]
    assert answers[0].reason == ""
    assert answers[3].reason == (
        "no mechanism driver could bind on host h4: openvswitch: NO_AGENT (no agent on h4); "
        "linuxbridge: NO_AGENT (no agent on h4)"
    )
    assert [(v.driver, v.outcome) for v in answers[1].result.trace] == [
        ("openvswitch", "DECLINE"),
        ("linuxbridge", "COMPLETE"),
    ]


def test_each_answer_equals_what_resolving_that_host_alone_gives():
    answer_ovs, answer_lb = on_hosts({"h1"}, "ovs"), on_hosts({"h2"}, "bridge")
    batch = [FakeBatchDriver("openvswitch", answer_ovs), FakeBatchDriver("linuxbridge", answer_lb)]
    reqs = requests("h1", "h2", "h3")

    answers = resolver.resolve_bindabilities(reqs, batch, clock=lambda: 0.0)

    for req, answer in zip(reqs, answers, strict=True):
        single = [FakeDriver("openvswitch", answer_ovs), FakeDriver("linuxbridge", answer_lb)]
        alone = resolver.resolve_binding(req, single, fakes.Allocator(), clock=lambda: 0.0)
        assert answer.result == alone


def test_a_dynamic_segment_is_a_placeholder_offered_to_the_next_level_and_noted():
    fab = FakeBatchDriver("fabric", fabric)
    ovs = FakeBatchDriver("openvswitch", on_hosts({"h1"}, "ovs"))

    answers = resolver.resolve_bindabilities(requests("h1", "h2", segment=VXLAN), [fab, ovs])

    bound, failed = answers
    assert bound.bindable and bound.result.vif_type == "ovs"
    placeholder = bound.result.levels[1].segment
    assert placeholder == values.Segment(
        "dynamic:vlan:physnet2", "vlan", "physnet2", 0, "net-1", is_dynamic=True
    )
    assert bound.needs == (
        resolver.DynamicNeed(0, "fabric", values.SegmentSpec("vlan", "physnet2")),
    )
    assert bound.reason == (
        "level 0 fabric would allocate a dynamic vlan on physnet2 segment for level 1"
    )
    assert not failed.bindable and failed.needs == ()
    assert "level 1 openvswitch: NO_AGENT (no agent on h2)" in failed.reason
    # fabric: level 0 and level 1 for both hosts; openvswitch: level 1 for both, then level 0
    # for h2, whose level 1 failed
    assert [len(b) for b in fab.batches] == [2, 2]
    assert [[(c.host, c.level) for c in b] for b in ovs.batches] == [
        [("h1", 1), ("h2", 1)],
        [("h2", 0)],
    ]
    assert ovs.batches[0][0].segments_to_bind == (placeholder,)


def test_a_driver_that_raises_declines_every_host_it_was_asked_about():
    broken = FakeBatchDriver("openvswitch", fakes.decline(), fail=RuntimeError("boom"))
    lb = FakeBatchDriver("linuxbridge", on_hosts({"h1"}, "bridge"))

    answers = resolver.resolve_bindabilities(requests("h1", "h2"), [broken, lb])

    assert [a.bindable for a in answers] == [True, False]
    first = answers[1].result.trace[0]
    assert (first.driver, first.reasons[0].code) == ("openvswitch", "DRIVER_ERROR")
    assert "boom" in first.reasons[0].message


def test_a_driver_that_answers_too_few_proposals_declines_with_driver_error():
    class Short(FakeBatchDriver):
        def propose_many(self, contexts):
            return super().propose_many(contexts)[:1]

    short = Short("openvswitch", fakes.complete_first())

    answers = resolver.resolve_bindabilities(requests("h1", "h2"), [short])

    assert [a.bindable for a in answers] == [False, False]
    assert answers[0].result.trace[0].reasons[0].code == "DRIVER_ERROR"


def test_every_verdict_of_a_round_carries_the_time_of_its_call():
    ovs = FakeBatchDriver("openvswitch", fakes.complete_first())

    answers = resolver.resolve_bindabilities(
        requests("h1", "h2"), [ovs], clock=fakes.TickClock(step=0.25)
    )

    assert [a.result.trace[0].duration for a in answers] == [0.25, 0.25]
