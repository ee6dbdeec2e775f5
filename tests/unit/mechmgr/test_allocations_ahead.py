"""A resolution on the event loop offers the next level a dynamic segment level 0 was offered
already without waiting for typemgr's allocation, and resolves again, waiting for typemgr, when
the allocation returns another segment."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

from ml2_contract import values, vocabulary

from services.mechmgr import manager, metrics
from services.mechmgr import resolver as res
from tests.unit.mechmgr import fakes

VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001, network_id="net-1")
KNOWN = values.Segment("dyn-1", "vlan", "physnet1", 101, "net-1", 1500, is_dynamic=True)
OTHER = values.Segment("dyn-2", "vlan", "physnet1", 102, "net-1", 1500, is_dynamic=True)


def fabric(ctx: values.BindingContext) -> values.Proposal:
    if ctx.level > 0:
        return fakes.decline("NETWORK_TYPE_UNSUPPORTED", "not a tunnel")
    return values.Continue(VXLAN.id, dynamic_segments=(values.SegmentSpec("vlan", "physnet1"),))


def ovs(ctx: values.BindingContext) -> values.Proposal:
    vlans = [s for s in ctx.segments_to_bind if s.network_type == "vlan"]
    if ctx.level == 0 or not vlans:
        return fakes.decline("NETWORK_TYPE_UNSUPPORTED", "binds below the fabric")
    return values.Complete(vlans[0].id, "ovs")


@dataclass
class Typemgr:
    """Allocates ``segment`` once ``answer`` is set, remembering each call."""

    segment: values.Segment
    answer: threading.Event = field(default_factory=threading.Event)
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
        assert self.answer.wait(10)
        return self.segment


def setup(typemgr: Typemgr) -> tuple[manager.MechanismManager, fakes.FakeDriver]:
    ovs_driver = fakes.FakeDriver("openvswitch", ovs)
    clients = [
        fakes.ManagerClient("fabric", fakes.FakeDriver("fabric", fabric)),
        fakes.ManagerClient("ovs", ovs_driver),
    ]
    mechanisms = manager.MechanismManager(
        clients,  # type: ignore[arg-type]
        fakes.NoAgents(),  # type: ignore[arg-type]
        typemgr,  # type: ignore[arg-type]
    )
    return mechanisms, ovs_driver


def request(*segments: values.Segment) -> res.BindingRequest:
    return res.BindingRequest("port-1", "net-1", "compute-1", segments, binding_generation=3)


def counted(result: str) -> float:
    return metrics.DYNAMIC_SEGMENTS_AHEAD.labels(result)._value.get()


def test_level_1_is_asked_about_the_segment_level_0_was_offered_before_typemgr_answers() -> None:
    typemgr = Typemgr(KNOWN)
    mechanisms, ovs_driver = setup(typemgr)
    confirmed = counted("confirmed")

    async def run() -> values.BindingResult:
        resolution = asyncio.ensure_future(mechanisms.resolve_async(request(VXLAN, KNOWN)))
        waited = asyncio.get_running_loop().time() + 5
        while not any(ctx.level == 1 for ctx in ovs_driver.calls):
            assert asyncio.get_running_loop().time() < waited, "level 1 waited for typemgr"
            await asyncio.sleep(0.001)
        # openvswitch was asked at level 1 while typemgr has not answered yet.
        assert not resolution.done()
        typemgr.answer.set()
        return await resolution

    result = asyncio.run(run())
    assert result.state == vocabulary.BOUND
    assert [(lv.level, lv.segment) for lv in result.levels] == [(0, VXLAN), (1, KNOWN)]
    # The port's hold is still taken, as of the generation being resolved.
    assert typemgr.calls == [("net-1", values.SegmentSpec("vlan", "physnet1"), "port-1", 3)]
    assert counted("confirmed") == confirmed + 1


def test_another_segment_from_typemgr_makes_the_resolution_run_again_with_it() -> None:
    """typemgr released the segment level 0 was offered and allocated another: the drivers
    are asked again, about the one typemgr allocated."""
    typemgr = Typemgr(OTHER)
    typemgr.answer.set()
    mechanisms, ovs_driver = setup(typemgr)
    differed = counted("differed")

    result = asyncio.run(mechanisms.resolve_async(request(VXLAN, KNOWN)))

    assert result.state == vocabulary.BOUND
    assert [(lv.level, lv.segment) for lv in result.levels] == [(0, VXLAN), (1, OTHER)]
    assert [v.offered_segments for v in result.trace if v.level == 1] == [(OTHER,)] * 2
    assert [ctx.segments_to_bind for ctx in ovs_driver.calls if ctx.level == 1] == [
        (KNOWN,),
        (OTHER,),
    ]
    assert len(typemgr.calls) == 2
    assert counted("differed") == differed + 1


def test_a_segment_level_0_was_not_offered_is_waited_for() -> None:
    typemgr = Typemgr(KNOWN)
    typemgr.answer.set()
    mechanisms, _ = setup(typemgr)
    ahead = counted("confirmed") + counted("differed")

    result = asyncio.run(mechanisms.resolve_async(request(VXLAN)))

    assert [(lv.level, lv.segment) for lv in result.levels] == [(0, VXLAN), (1, KNOWN)]
    assert len(typemgr.calls) == 1
    assert counted("confirmed") + counted("differed") == ahead
