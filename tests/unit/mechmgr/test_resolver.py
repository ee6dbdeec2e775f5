from __future__ import annotations

import asyncio
import threading

import pytest
from ml2_contract import values, vocabulary

from services.mechmgr import resolver
from tests.unit.mechmgr import fakes
from tests.unit.mechmgr.fakes import FakeDriver

VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001, network_id="net-1")
VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101, network_id="net-1")


def request(*segments: values.Segment, host: str = "compute-1") -> resolver.BindingRequest:
    return resolver.BindingRequest(
        port_id="port-1", network_id="net-1", host=host, segments=segments or (VLAN,)
    )


_MODE = ["sync"]


@pytest.fixture(autouse=True, params=["sync", "async"])
def mode(request: pytest.FixtureRequest):
    """Every test runs the loop twice: ``resolve_binding``, and ``resolve_binding_async`` (as
    mechmgr's ResolveBinding does on its event loop), which must give the same result."""
    _MODE[0] = request.param
    yield request.param
    _MODE[0] = "sync"


def resolve(req, drivers, allocate=None, clock=None):
    allocate = allocate or fakes.Allocator()
    clock = clock or fakes.TickClock()
    if _MODE[0] == "sync":
        return resolver.resolve_binding(req, drivers, allocate, clock=clock)
    return asyncio.run(resolve_async(req, drivers, allocate, clock))


class AsyncDriver:
    """A driver asked with ``await``."""

    def __init__(self, driver) -> None:
        self.name = driver.name
        self._driver = driver

    async def propose(self, ctx: values.BindingContext) -> values.Proposal:
        await asyncio.sleep(0)  # the answer comes in a later turn of the loop, as a call's does
        return self._driver.propose(ctx)


async def resolve_async(req, drivers, allocate, clock):
    """``resolve_binding_async``, checking that a dynamic segment is only ever allocated in a
    step given to ``offload`` (a thread), never on the event loop."""
    offloaded = threading.local()

    def allocate_in_thread(network_id: str, spec: values.SegmentSpec) -> values.Segment:
        assert getattr(offloaded, "inside", False), "allocated on the event loop"
        return allocate(network_id, spec)

    def inside(call):
        offloaded.inside = True
        return call()

    async def offload(call):
        return await asyncio.to_thread(inside, call)

    return await resolver.resolve_binding_async(
        req, [AsyncDriver(d) for d in drivers], allocate_in_thread, offload, clock=clock
    )


def test_first_driver_that_completes_binds_and_later_drivers_are_not_asked():
    first = FakeDriver("openvswitch", fakes.decline())
    second = FakeDriver("linuxbridge", fakes.complete_first("bridge"))
    third = FakeDriver("noop", fakes.complete_first("other"))

    result = resolve(request(), [first, second, third])

    assert result.bound
    assert result.vif_type == "bridge"
    assert result.vif_details == {"port_filter": True, "bound_drivers": {"0": "linuxbridge"}}
    assert result.levels == (values.BindingLevel(0, "linuxbridge", VLAN),)
    assert [(v.driver, v.outcome) for v in result.trace] == [
        ("openvswitch", "DECLINE"),
        ("linuxbridge", "COMPLETE"),
    ]
    assert third.calls == []
    assert result.failure_message == ""


def test_every_verdict_carries_the_time_the_driver_took():
    drivers = [FakeDriver("a", fakes.decline()), FakeDriver("b", fakes.complete_first())]

    result = resolve(request(), drivers, clock=fakes.TickClock(step=0.25))

    assert [v.duration for v in result.trace] == [0.25, 0.25]


def test_driver_is_given_the_port_context_of_the_level():
    driver = FakeDriver("a", fakes.complete_first())
    agent = values.Agent("agent-1", "openvswitch", "compute-1")
    req = resolver.BindingRequest(
        port_id="port-1",
        network_id="net-1",
        host="compute-1",
        segments=(VXLAN, VLAN),
        vnic_type="direct",
        profile={"pci_slot": "0000:01:00.1"},
        host_agents=(agent,),
        agent_down_time=75.0,
    )

    resolve(req, [driver])

    (ctx,) = driver.calls
    assert (ctx.port_id, ctx.network_id, ctx.host, ctx.level) == ("port-1", "net-1", "compute-1", 0)
    assert ctx.segments_to_bind == (VXLAN, VLAN)
    assert ctx.vnic_type == "direct"
    assert ctx.profile == {"pci_slot": "0000:01:00.1"}
    assert ctx.host_agents == (agent,)
    assert ctx.agent_down_time == 75.0
    assert ctx.bound_levels == ()


def test_continue_allocates_the_dynamic_segment_and_the_next_level_binds_it():
    fabric = FakeDriver(
        "fabric",
        lambda ctx: (
            values.Continue(VXLAN.id, dynamic_segments=(values.SegmentSpec("vlan", "physnet1"),))
            if ctx.level == 0
            else fakes.decline("NETWORK_TYPE_UNSUPPORTED")
        ),
    )
    ovs = FakeDriver(
        "openvswitch",
        lambda ctx: fakes.complete_first()(ctx) if ctx.level == 1 else fakes.decline(),
    )
    allocate = fakes.Allocator()

    result = resolve(request(VXLAN), [fabric, ovs], allocate)

    assert result.bound
    assert allocate.requests == [("net-1", values.SegmentSpec("vlan", "physnet1"))]
    dynamic = values.Segment("dyn-1", "vlan", "physnet1", 101, "net-1", is_dynamic=True)
    assert result.levels == (
        values.BindingLevel(0, "fabric", VXLAN),
        values.BindingLevel(1, "openvswitch", dynamic),
    )
    level1 = ovs.calls[-1]
    assert level1.level == 1
    assert level1.segments_to_bind == (dynamic,)
    assert level1.bound_levels == (values.BindingLevel(0, "fabric", VXLAN),)
    assert [(v.level, v.driver, v.outcome) for v in result.trace] == [
        (0, "fabric", "CONTINUE"),
        (1, "fabric", "DECLINE"),
        (1, "openvswitch", "COMPLETE"),
    ]


def test_continue_with_existing_next_segments_offers_them_in_order_before_dynamic_ones():
    other = values.Segment("seg-2", "vlan", "physnet2", 7)
    fabric = FakeDriver(
        "fabric",
        lambda ctx: (
            values.Continue(VXLAN.id, (other,), (values.SegmentSpec("vlan", "physnet1"),))
            if ctx.level == 0
            else fakes.decline()
        ),
    )
    leaf = FakeDriver(
        "leaf", lambda ctx: fakes.complete_first()(ctx) if ctx.level else fakes.decline()
    )

    result = resolve(request(VXLAN), [fabric, leaf])

    assert [s.id for s in leaf.calls[-1].segments_to_bind] == ["seg-2", "dyn-1"]
    assert result.levels[-1] == values.BindingLevel(1, "leaf", other)


def test_when_a_deeper_level_fails_that_level_is_undone_and_the_next_driver_is_asked():
    fabric = FakeDriver(
        "fabric",
        lambda ctx: values.Continue(VXLAN.id, (VLAN,)) if ctx.level == 0 else fakes.decline(),
    )
    leaf = FakeDriver("leaf", fakes.decline("PHYSNET_NOT_MAPPED", "physnet1 not mapped"))
    fallback = FakeDriver(
        "fallback",
        lambda ctx: fakes.complete_first("other")(ctx) if ctx.level == 0 else fakes.decline(),
    )

    result = resolve(request(VXLAN), [fabric, leaf, fallback])

    assert result.bound
    assert result.vif_type == "other"
    assert result.levels == (values.BindingLevel(0, "fallback", VXLAN),)
    assert [(v.level, v.driver, v.outcome) for v in result.trace] == [
        (0, "fabric", "CONTINUE"),
        (1, "fabric", "DECLINE"),
        (1, "leaf", "DECLINE"),
        (1, "fallback", "DECLINE"),
        (0, "leaf", "DECLINE"),
        (0, "fallback", "COMPLETE"),
    ]


def test_a_driver_that_bound_an_offered_segment_at_a_higher_level_is_skipped():
    looping = FakeDriver(
        "looping", lambda ctx: values.Continue(ctx.segments_to_bind[0].id, (VLAN,))
    )
    leaf = FakeDriver(
        "leaf", lambda ctx: fakes.complete_first()(ctx) if ctx.level else fakes.decline()
    )

    result = resolve(request(VLAN), [looping, leaf])

    assert result.bound
    assert len(looping.calls) == 1
    skipped = result.trace[1]
    assert (skipped.level, skipped.driver, skipped.outcome) == (1, "looping", "DECLINE")
    assert skipped.reasons[0].code == vocabulary.LOOP_PREVENTED
    assert result.levels == (
        values.BindingLevel(0, "looping", VLAN),
        values.BindingLevel(1, "leaf", VLAN),
    )


def test_binding_stops_at_the_maximum_number_of_levels():
    def deeper(ctx: values.BindingContext) -> values.Proposal:
        nxt = values.Segment(f"seg-{ctx.level + 1}", "vlan", "physnet1", ctx.level + 1)
        return values.Continue(ctx.segments_to_bind[0].id, (nxt,))

    always = FakeDriver("always", deeper)

    result = resolve(request(VLAN), [always])

    assert not result.bound
    assert len(always.calls) == resolver.MAX_BINDING_LEVELS
    assert [c.level for c in always.calls] == list(range(resolver.MAX_BINDING_LEVELS))
    last = result.trace[-1]
    assert last.level == resolver.MAX_BINDING_LEVELS - 1
    assert last.reasons[0].code == vocabulary.MAX_LEVELS_REACHED
    assert result.levels == ()
    assert "MAX_LEVELS_REACHED" in result.failure_message


def test_a_driver_that_raises_is_a_decline_with_driver_error_and_the_next_driver_is_asked():
    def broken(ctx: values.BindingContext) -> values.Proposal:
        raise RuntimeError("boom")

    result = resolve(
        request(), [FakeDriver("broken", broken), FakeDriver("ok", fakes.complete_first())]
    )

    assert result.bound
    first = result.trace[0]
    assert first.outcome == "DECLINE"
    assert first.reasons[0].code == vocabulary.DRIVER_ERROR
    assert "RuntimeError: boom" in first.reasons[0].message


@pytest.mark.parametrize(
    ("proposal", "expected"),
    [
        (values.Complete("seg-unknown", "ovs"), "not offered"),
        (values.Complete(VLAN.id, ""), "invalid vif_type"),
        (values.Complete(VLAN.id, "binding_failed"), "invalid vif_type"),
        (values.Complete(VLAN.id, "unbound"), "invalid vif_type"),
        (values.Complete(VLAN.id, "ovs", port_status="BUILD"), "port_status 'BUILD'"),
        (values.Continue("seg-unknown", (VXLAN,)), "not offered"),
        (values.Continue(VLAN.id), "without naming a segment"),
        (values.Continue(VLAN.id, (values.Segment("", "vlan"),)), "no id"),
        (values.Continue(VLAN.id, dynamic_segments=(values.SegmentSpec(""),)), "no network_type"),
        (values.Decline(()), "without a reason"),
        (values.Decline((values.DeclineReason("", "why"),)), "without a reason"),
        ("not a proposal", "not a proposal"),
    ],
)
def test_a_proposal_the_contract_forbids_is_a_decline_with_driver_error(proposal, expected):
    bad = FakeDriver("bad", proposal)
    good = FakeDriver("good", fakes.complete_first())

    result = resolve(request(VLAN), [bad, good])

    assert result.levels == (values.BindingLevel(0, "good", VLAN),)
    reason = result.trace[0].reasons[0]
    assert reason.code == vocabulary.DRIVER_ERROR
    assert expected in reason.message


def test_a_dynamic_segment_that_cannot_be_allocated_turns_the_continue_into_a_decline():
    fabric = FakeDriver(
        "fabric",
        values.Continue(VXLAN.id, dynamic_segments=(values.SegmentSpec("vlan", "physnet9"),)),
    )
    fallback = FakeDriver("fallback", fakes.complete_first("other"))
    allocate = fakes.Allocator(fail=RuntimeError("no free VLAN on physnet9"))

    result = resolve(request(VXLAN), [fabric, fallback], allocate)

    assert result.levels == (values.BindingLevel(0, "fallback", VXLAN),)
    verdict = result.trace[0]
    assert (verdict.driver, verdict.outcome) == ("fabric", "DECLINE")
    assert verdict.reasons[0].code == vocabulary.DYNAMIC_SEGMENT_UNAVAILABLE
    assert "vlan on physnet9" in verdict.reasons[0].message
    assert "no free VLAN on physnet9" in verdict.reasons[0].message


def test_nothing_binds_gives_failed_with_a_one_line_summary_of_every_decline():
    drivers = [
        FakeDriver(
            "openvswitch", fakes.decline("NO_AGENT", "no openvswitch agent on host compute-bare")
        ),
        FakeDriver(
            "linuxbridge", fakes.decline("NO_AGENT", "no linuxbridge agent on host compute-bare")
        ),
    ]

    result = resolve(request(host="compute-bare"), drivers)

    assert not result.bound
    assert result.vif_type == "binding_failed"
    assert result.vif_details == {}
    assert result.levels == ()
    assert result.failure_message == (
        "no mechanism driver could bind port port-1 on host compute-bare: "
        "openvswitch: NO_AGENT (no openvswitch agent on host compute-bare); "
        "linuxbridge: NO_AGENT (no linuxbridge agent on host compute-bare)"
    )
    assert "\n" not in result.failure_message


def test_failure_summary_names_deeper_levels_and_every_reason_of_a_driver():
    fabric = FakeDriver(
        "fabric",
        lambda ctx: (
            values.Continue(VXLAN.id, (VLAN,)) if ctx.level == 0 else fakes.decline("X", "x")
        ),
    )
    leaf = FakeDriver(
        "leaf",
        values.Decline(
            (
                values.DeclineReason("AGENT_DEAD", "dead"),
                values.DeclineReason("AGENT_ADMIN_DOWN", "down"),
            )
        ),
    )

    result = resolve(request(VXLAN), [fabric, leaf])

    assert not result.bound
    assert "level 1 leaf: AGENT_DEAD (dead), AGENT_ADMIN_DOWN (down)" in result.failure_message
    assert "; leaf: AGENT_DEAD (dead)" in result.failure_message


def test_each_verdict_carries_its_offered_segments_and_each_reason_its_agent_and_segment():
    agent = values.Agent("a1", "openvswitch", "compute-1", alive=False)
    stranger = values.Agent("a9", "openvswitch", "compute-9")
    reasons = (
        values.DeclineReason("AGENT_DEAD", "dead", VLAN.id, {"agent_id": "a1"}, agent=stranger),
        values.DeclineReason("NO_AGENT", "none", "seg-unknown", {"agent_id": "a-unknown"}),
    )
    req = resolver.BindingRequest(
        port_id="port-1",
        network_id="net-1",
        host="compute-1",
        segments=(VLAN, VXLAN),
        host_agents=(agent,),
    )

    result = resolve(req, [FakeDriver("openvswitch", values.Decline(reasons))])

    (verdict,) = result.trace
    assert verdict.offered_segments == (VLAN, VXLAN)
    named, unknown = verdict.reasons
    # What the driver said of the agent is replaced by what mechmgr saw.
    assert (named.agent, named.segment) == (agent, VLAN)
    assert (unknown.agent, unknown.segment) == (None, None)


def test_the_levels_below_a_continue_are_offered_what_it_continued_with():
    dynamic = values.SegmentSpec("vlan", "physnet1")
    top = FakeDriver(
        "tor",
        lambda ctx: (
            values.Continue(ctx.segments_to_bind[0].id, dynamic_segments=(dynamic,))
            if ctx.level == 0
            else fakes.decline()
        ),
    )
    bottom = FakeDriver("openvswitch", fakes.complete_first())

    result = resolve(request(VXLAN), [top, bottom])

    assert [(v.level, v.driver, [s.id for s in v.offered_segments]) for v in result.trace] == [
        (0, "tor", ["seg-vxlan"]),
        (1, "tor", ["dyn-1"]),
        (1, "openvswitch", ["dyn-1"]),
    ]


def connectivity_request(**connectivity: str) -> resolver.BindingRequest:
    return resolver.BindingRequest(
        port_id="port-1",
        network_id="net-1",
        host="compute-1",
        segments=(VLAN,),
        driver_connectivity=connectivity,
    )


def test_a_driver_without_l2_connectivity_is_not_asked_and_declines_with_the_reason():
    calico = FakeDriver("calico", fakes.complete_first("tap"))
    ovs = FakeDriver("openvswitch", fakes.complete_first("ovs"))

    result = resolve(connectivity_request(calico="l3", openvswitch="l2"), [calico, ovs])

    assert result.bound
    assert result.levels == (values.BindingLevel(0, "openvswitch", VLAN),)
    assert calico.calls == []
    declined = result.trace[0]
    assert (declined.driver, declined.outcome) == ("calico", "DECLINE")
    assert [r.code for r in declined.reasons] == [vocabulary.L2_CONNECTIVITY_REQUIRED]
    assert declined.reasons[0].details == {"connectivity": "l3"}
    assert "l2 connectivity" in declined.reasons[0].message


def test_with_no_l2_driver_left_the_binding_fails_with_the_connectivity_reason():
    legacy = FakeDriver("legacy", fakes.complete_first("ovs"))
    l3 = FakeDriver("routed", fakes.complete_first("tap"))

    result = resolve(connectivity_request(legacy="legacy", routed="l3"), [legacy, l3])

    assert not result.bound
    assert result.vif_type == vocabulary.VIF_TYPE_BINDING_FAILED
    assert legacy.calls == [] and l3.calls == []
    assert {r.code for v in result.trace for r in v.reasons} == {
        vocabulary.L2_CONNECTIVITY_REQUIRED
    }
    assert "L2_CONNECTIVITY_REQUIRED" in result.failure_message


def test_the_connectivity_rule_applies_at_every_level():
    fabric = FakeDriver(
        "fabric",
        lambda ctx: values.Continue(VXLAN.id, (VLAN,)) if ctx.level == 0 else fakes.decline(),
    )
    routed = FakeDriver("routed", fakes.complete_first("tap"))

    result = resolve(
        resolver.BindingRequest(
            port_id="port-1",
            network_id="net-1",
            host="compute-1",
            segments=(VXLAN,),
            driver_connectivity={"fabric": "l2", "routed": "l3"},
        ),
        [fabric, routed],
    )

    assert not result.bound
    assert routed.calls == []
    routed_verdicts = sorted(
        (v.level, v.reasons[0].code) for v in result.trace if v.driver == "routed"
    )
    assert routed_verdicts == [
        (0, vocabulary.L2_CONNECTIVITY_REQUIRED),
        (1, vocabulary.L2_CONNECTIVITY_REQUIRED),
    ]


def test_a_driver_whose_connectivity_is_unknown_is_asked():
    driver = FakeDriver("openvswitch", fakes.complete_first("ovs"))

    result = resolve(connectivity_request(), [driver])

    assert result.bound and len(driver.calls) == 1


def test_every_bound_port_names_the_driver_of_each_level_in_bound_drivers():
    fabric = FakeDriver(
        "fabric",
        lambda ctx: values.Continue(VXLAN.id, (VLAN,)) if ctx.level == 0 else fakes.decline(),
    )
    ovs = FakeDriver(
        "openvswitch",
        lambda ctx: (
            values.Complete(
                VLAN.id, "ovs", {"port_filter": True, "bound_drivers": {"9": "made-up"}}
            )
            if ctx.level == 1
            else fakes.decline()
        ),
    )

    result = resolve(request(VXLAN), [fabric, ovs])

    assert result.bound
    assert result.vif_details == {
        "port_filter": True,
        "bound_drivers": {"0": "fabric", "1": "openvswitch"},
    }


def test_a_failed_binding_has_no_bound_drivers():
    result = resolve(request(), [FakeDriver("openvswitch", fakes.decline())])

    assert "bound_drivers" not in result.vif_details


def test_the_status_of_the_driver_that_completes_is_the_results():
    active = values.Complete(VLAN.id, "hostdev_physical", port_status="ACTIVE")

    result = resolve(request(), [FakeDriver("sriovnicswitch", active)])

    assert result.bound and result.port_status == "ACTIVE"
    assert resolve(request(), [FakeDriver("a", fakes.complete_first())]).port_status == ""


def test_every_level_is_shown_the_original_binding():
    before = values.OriginalBinding(
        "compute-0", "macvtap", profile={"migrating_to": "compute-1"}, segment=VLAN
    )
    fabric = FakeDriver("fabric", values.Continue(VXLAN.id, (VLAN,)))
    leaf = FakeDriver("leaf", fakes.complete_first())
    req = resolver.BindingRequest(
        port_id="port-1",
        network_id="net-1",
        host="compute-1",
        segments=(VXLAN,),
        original=before,
    )

    result = resolve(req, [fabric, leaf])

    assert [level.driver for level in result.levels] == ["fabric", "leaf"]
    asked = fabric.calls + leaf.calls
    assert {c.level for c in asked} == {0, 1}
    assert all(c.original == before for c in asked)
