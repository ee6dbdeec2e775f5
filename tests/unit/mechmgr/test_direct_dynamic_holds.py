"""A level 0 driver that binds a dynamic segment as level 0 was offered it (one of the network's
dynamic segments in use, which this resolution did not allocate) makes mechmgr record the
port's hold on it with typemgr before the result leaves; when typemgr released it meanwhile,
the resolution runs again offering what typemgr holds for the port instead (or nothing)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from ml2_contract import values, vocabulary

from services.mechmgr import manager, metrics
from services.mechmgr import resolver as res
from tests.unit.mechmgr import fakes

VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001, network_id="net-1")
KNOWN = values.Segment("dyn-1", "vlan", "physnet1", 101, "net-1", 1500, is_dynamic=True)
OTHER = values.Segment("dyn-2", "vlan", "physnet1", 101, "net-1", 1500, is_dynamic=True)


def ovs(ctx: values.BindingContext) -> values.Proposal:
    """Binds the first VLAN it is offered, at any level."""
    vlans = [s for s in ctx.segments_to_bind if s.network_type == "vlan"]
    if not vlans:
        return fakes.decline("NETWORK_TYPE_UNSUPPORTED", "binds VLANs only")
    return values.Complete(vlans[0].id, "ovs")


@dataclass
class Typemgr:
    """Answers each allocation with ``answer(call number)``, remembering each call."""

    answer: Callable[[int], values.Segment]
    calls: list[tuple[str, values.SegmentSpec, str, int]] = field(default_factory=list)

    def allocate_dynamic(
        self,
        network_id: str,
        spec: values.SegmentSpec,
        holder: str = "",
        generation: int = 0,
        deadline: float | None = None,
    ) -> values.Segment:
        self.calls.append((network_id, spec, holder, generation))
        return self.answer(len(self.calls))


def returning(segment: values.Segment) -> Callable[[int], values.Segment]:
    return lambda _: segment


def refusing(_: int) -> values.Segment:
    raise RuntimeError("typemgr refused")


def resolve(typemgr: Typemgr, mode: str) -> tuple[values.BindingResult, fakes.FakeDriver]:
    driver = fakes.FakeDriver("openvswitch", ovs)
    mechanisms = manager.MechanismManager(
        [fakes.ManagerClient("openvswitch", driver)],  # type: ignore[list-item]
        fakes.NoAgents(),  # type: ignore[arg-type]
        typemgr,  # type: ignore[arg-type]
    )
    request = res.BindingRequest(
        "port-1", "net-1", "compute-1", (VXLAN, KNOWN), binding_generation=3
    )
    if mode == "async":
        return asyncio.run(mechanisms.resolve_async(request)), driver
    return mechanisms.resolve(request), driver


def counted(result: str) -> float:
    return metrics.DIRECT_DYNAMIC_HOLDS.labels(result)._value.get()


HOLD_OF_KNOWN = ("net-1", values.SegmentSpec("vlan", "physnet1", 101), "port-1", 3)

MODES = pytest.mark.parametrize("mode", ["sync", "async"])


@MODES
def test_a_dynamic_segment_bound_at_level_0_as_offered_is_held_for_the_port(mode: str) -> None:
    typemgr = Typemgr(returning(KNOWN))
    held = counted("held")

    result, _ = resolve(typemgr, mode)

    assert result.state == vocabulary.BOUND
    assert [(lv.level, lv.segment) for lv in result.levels] == [(0, KNOWN)]
    # The hold carries the generation being resolved, as an allocation's does.
    assert typemgr.calls == [HOLD_OF_KNOWN]
    assert counted("held") == held + 1


@MODES
def test_a_released_segment_is_replaced_by_the_one_typemgr_holds_for_the_port(mode: str) -> None:
    typemgr = Typemgr(returning(OTHER))
    differed = counted("differed")

    result, driver = resolve(typemgr, mode)

    assert result.state == vocabulary.BOUND
    assert [(lv.level, lv.segment) for lv in result.levels] == [(0, OTHER)]
    assert [ctx.segments_to_bind for ctx in driver.calls] == [(VXLAN, KNOWN), (VXLAN, OTHER)]
    assert typemgr.calls == [HOLD_OF_KNOWN, HOLD_OF_KNOWN]
    assert counted("differed") == differed + 1


@MODES
def test_a_segment_typemgr_will_not_hold_is_offered_no_more(mode: str) -> None:
    typemgr = Typemgr(refusing)

    result, driver = resolve(typemgr, mode)

    # Without the VLAN openvswitch binds nothing here: the port is not bound on a segment it
    # does not hold.
    assert result.state == vocabulary.FAILED
    assert [ctx.segments_to_bind for ctx in driver.calls] == [(VXLAN, KNOWN), (VXLAN,)]
    assert typemgr.calls == [HOLD_OF_KNOWN]


@MODES
def test_a_binding_typemgr_keeps_answering_differently_fails(mode: str) -> None:
    made = [
        values.Segment(f"dyn-{n}", "vlan", "physnet1", 101, "net-1", 1500, is_dynamic=True)
        for n in range(10, 20)
    ]
    typemgr = Typemgr(lambda n: made[n])

    result, _ = resolve(typemgr, mode)

    assert result.state == vocabulary.FAILED
    [reason] = [r for v in result.trace for r in v.reasons]
    assert reason.code == vocabulary.DYNAMIC_SEGMENT_UNAVAILABLE
    assert len(typemgr.calls) == manager.HOLD_TRIES


@MODES
def test_a_segment_allocated_while_resolving_is_not_asked_for_twice(mode: str) -> None:
    """Below the fabric the segment was allocated, the hold taken, in this resolution."""

    def fabric(ctx: values.BindingContext) -> values.Proposal:
        if ctx.level > 0:
            return fakes.decline("NETWORK_TYPE_UNSUPPORTED", "not a tunnel")
        return values.Continue(VXLAN.id, dynamic_segments=(values.SegmentSpec("vlan", "physnet1"),))

    typemgr = Typemgr(returning(KNOWN))
    mechanisms = manager.MechanismManager(
        [
            fakes.ManagerClient("fabric", fakes.FakeDriver("fabric", fabric)),
            fakes.ManagerClient("openvswitch", fakes.FakeDriver("openvswitch", ovs)),
        ],  # type: ignore[list-item]
        fakes.NoAgents(),  # type: ignore[arg-type]
        typemgr,  # type: ignore[arg-type]
    )
    request = res.BindingRequest("port-1", "net-1", "compute-1", (VXLAN,), binding_generation=3)
    if mode == "async":
        result = asyncio.run(mechanisms.resolve_async(request))
    else:
        result = mechanisms.resolve(request)

    assert [(lv.level, lv.segment) for lv in result.levels] == [(0, VXLAN), (1, KNOWN)]
    assert typemgr.calls == [("net-1", values.SegmentSpec("vlan", "physnet1"), "port-1", 3)]
