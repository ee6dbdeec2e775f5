"""Small fakes for mechmgr's unit tests: drivers answering from a function, a settable clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from ml2_contract import values, vocabulary

Answer = values.Proposal | Callable[[values.BindingContext], values.Proposal]


class FakeDriver:
    """A driver that answers every call with ``answer`` (a proposal, or a function of the
    context) and remembers the contexts it was given."""

    def __init__(self, name: str, answer: Answer) -> None:
        self.name = name
        self.answer = answer
        self.calls: list[values.BindingContext] = []

    def propose(self, ctx: values.BindingContext) -> values.Proposal:
        self.calls.append(ctx)
        return self.answer(ctx) if callable(self.answer) else self.answer


def decline(code: str = "NO_AGENT", message: str = "no agent") -> values.Decline:
    return values.Decline((values.DeclineReason(code, message),))


def complete_first(vif_type: str = "ovs") -> Callable[[values.BindingContext], values.Proposal]:
    """Completes on the first offered segment."""
    return lambda ctx: values.Complete(ctx.segments_to_bind[0].id, vif_type, {"port_filter": True})


class Allocator:
    """Allocates dynamic segments with increasing VLAN ids, remembering every request."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.requests: list[tuple[str, values.SegmentSpec]] = []
        self.fail = fail

    def __call__(self, network_id: str, spec: values.SegmentSpec) -> values.Segment:
        self.requests.append((network_id, spec))
        if self.fail is not None:
            raise self.fail
        n = len(self.requests)
        return values.Segment(
            f"dyn-{n}",
            spec.network_type,
            spec.physical_network,
            100 + n,
            network_id,
            is_dynamic=True,
        )


class TickClock:
    """A clock that advances by ``step`` seconds every time it is read."""

    def __init__(self, step: float = 0.5) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class FakeBatchDriver:
    """A driver asked many contexts at once: answers each as ``answer`` does and remembers each
    call's contexts. ``fail`` makes every call raise it."""

    def __init__(self, name: str, answer: Answer, fail: Exception | None = None) -> None:
        self.name = name
        self.single = FakeDriver(name, answer)
        self.batches: list[list[values.BindingContext]] = []
        self.fail = fail

    def propose_many(self, contexts: list[values.BindingContext]) -> list[values.Proposal]:
        self.batches.append(list(contexts))
        if self.fail is not None:
            raise self.fail
        return [self.single.propose(ctx) for ctx in contexts]


@dataclass
class ManagerClient:
    """A driver client as the manager asks it, on the event loop or not, answering with
    ``driver``'s proposals."""

    name: str
    driver: FakeDriver
    connectivity: str | None = vocabulary.CONNECTIVITY_L2

    def propose(
        self, ctx: values.BindingContext, deadline: float | None, agents: object
    ) -> values.Proposal:
        return self.driver.propose(ctx)

    async def propose_async(
        self, ctx: values.BindingContext, deadline: float | None, agents: object
    ) -> values.Proposal:
        await asyncio.sleep(0)
        return self.driver.propose(ctx)


class NoAgents:
    """An agent registry with no agent on any host."""

    local_database = True
    down_time = 75.0

    def host_agents(self, host: str) -> tuple[values.Agent, ...]:
        return ()
