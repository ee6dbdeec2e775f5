"""The binding level loop (Neutron's ``MechanismManager._bind_port_level``), as a pure function.

``resolve_binding`` offers the network's segments to the ordered drivers at level 0. The first
driver that completes ends the binding; a driver that continues binds that level and the loop
goes one level deeper with the segments it named (plus dynamic segments, allocated through
``allocate_dynamic``); if no driver can bind the deeper level, that level is undone and the next
driver of the upper level is asked. At most ``MAX_BINDING_LEVELS`` levels. A driver that bound
one of the offered segments at a higher level is skipped (loop prevention). A port has no IP
addresses, so at every level only drivers whose connectivity is ``l2`` are asked; the others are
recorded as declining with L2_CONNECTIVITY_REQUIRED, and with none left the level fails.

Drivers are untrusted: an exception or a proposal the contract forbids (a segment that was not
offered, an empty vif_type, a decline without reasons) counts as a decline with DRIVER_ERROR.
Every verdict, with the segments it was offered and how long the driver took, goes into the
trace, each decline reason with the agent and segment it names in full (so that the trace alone
says which agent, how long dead, which mappings it has and which segment was wanted); a failure
carries a one-line summary of every decline.

The loop is written once, as a generator per port (``_Run.bind_level``) that yields each
question for a driver and is sent the answer. ``resolve_binding`` answers each question at once
with one ``propose`` call; ``resolve_bindabilities`` runs the generators of many hosts in
lock-step and asks each driver about every host waiting for it in one ``propose_many`` call, so
that checking 1,000 hosts costs a few driver calls, not thousands. A check allocates nothing:
its ``allocate_dynamic`` returns a placeholder segment (``placeholder_segment``) that the next
level is offered as if it had been allocated.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, cast

from ml2_contract import values, vocabulary

logger = logging.getLogger(__name__)

MAX_BINDING_LEVELS = 10


class Proposer(Protocol):
    """A mechanism driver as the resolver sees it: a name and a ``propose`` call."""

    name: str

    def propose(self, ctx: values.BindingContext) -> values.Proposal:
        """Returns the driver's proposal for ``ctx``."""
        ...


class AsyncProposer(Protocol):
    """A mechanism driver asked from a coroutine."""

    name: str

    async def propose(self, ctx: values.BindingContext) -> values.Proposal:
        """Returns the driver's proposal for ``ctx``."""
        ...


Offload = Callable[[Callable[[], Any]], Awaitable[Any]]
"""Runs a blocking function away from the event loop (in a thread); returns its result."""


class BatchProposer(Protocol):
    """A mechanism driver asked about many binding contexts in one call."""

    name: str

    def propose_many(self, contexts: Sequence[values.BindingContext]) -> list[values.Proposal]:
        """Returns one proposal per context, in order."""
        ...


AllocateDynamic = Callable[[str, values.SegmentSpec], values.Segment]
"""``(network_id, spec) -> segment``; raises any exception if it cannot allocate."""

DYNAMIC_PLACEHOLDER_PREFIX = "dynamic:"
"""How the id of a dynamic segment a check did not allocate starts."""

_Ask = tuple[Proposer | BatchProposer | AsyncProposer, values.BindingContext]
"""A question of the loop: which driver, about which context."""
_Answer = tuple[object, float]
"""A driver's answer (anything; the loop checks it) and the seconds it took."""
_Steps = Generator[_Ask, _Answer, "values.Complete | None"]


@dataclass(frozen=True)
class BindingRequest:
    """What to bind: the port, its host and binding inputs, the network's static segments and
    the agents registered from the host."""

    port_id: str
    network_id: str
    host: str
    segments: tuple[values.Segment, ...]
    vnic_type: str = vocabulary.VNIC_NORMAL
    profile: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    host_agents: tuple[values.Agent, ...] = ()
    agent_down_time: float = 0.0
    binding_generation: int = 0
    """The generation of the port's binding inputs; dynamic segment holds carry it."""
    host_links: tuple[values.HostLink, ...] = ()
    """The switch ports the operator's topology says the host is wired to."""
    driver_connectivity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """The connectivity each driver describes itself with, by driver name; a driver missing
    here (it has not described itself yet) is asked."""
    original: values.OriginalBinding | None = None
    """The port's binding before its inputs last changed, when it was bound; every driver
    sees it (``BindingContext.original``)."""


def resolve_binding(
    request: BindingRequest,
    drivers: Sequence[Proposer],
    allocate_dynamic: AllocateDynamic,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> values.BindingResult:
    """Resolves a binding for ``request`` with ``drivers`` in order. Never raises for driver
    failures; returns a FAILED result instead."""
    run = _Run(request, tuple(drivers), allocate_dynamic)
    steps = run.bind_level(0, request.segments)
    try:
        driver, ctx = next(steps)
        while True:
            started = clock()
            proposal = _ask(cast(Proposer, driver), ctx)
            driver, ctx = steps.send((proposal, clock() - started))
    except StopIteration as stop:
        return run.result(stop.value)


async def resolve_binding_async(
    request: BindingRequest,
    drivers: Sequence[AsyncProposer],
    allocate_dynamic: AllocateDynamic,
    offload: Offload,
    *,
    clock: Callable[[], float] = time.perf_counter,
    blocks: Callable[[values.Continue], bool] | None = None,
) -> values.BindingResult:
    """``resolve_binding`` as a coroutine: each driver is asked with ``await``, in the same
    order, and the loop runs on the caller's event loop; only a step that allocates dynamic
    segments (``allocate_dynamic`` blocks) runs through ``offload``, unless ``blocks`` says
    allocating the continuing proposal's segments does not block. Never raises for driver
    failures."""
    run = _Run(request, tuple(drivers), allocate_dynamic)
    steps = run.bind_level(0, request.segments)

    def send(answer: _Answer) -> tuple[bool, Any]:
        try:
            return False, steps.send(answer)
        except StopIteration as stop:  # not raised through a future
            return True, stop.value

    done, value = False, None
    try:
        question = next(steps)
    except StopIteration as stop:
        done, value = True, stop.value
    while not done:
        driver, ctx = question
        started = clock()
        proposal = await _ask_async(cast(AsyncProposer, driver), ctx)
        answer = (proposal, clock() - started)
        if (
            isinstance(proposal, values.Continue)
            and proposal.dynamic_segments
            and (blocks is None or blocks(proposal))
        ):
            done, value = await offload(lambda answer=answer: send(answer))  # type: ignore[misc]
        else:
            done, value = send(answer)
        question = value
    return run.result(value)


@dataclass(frozen=True)
class DynamicNeed:
    """A dynamic segment a binding would allocate: asked for by ``driver`` at ``level`` and
    offered to the level below."""

    level: int
    driver: str
    spec: values.SegmentSpec


@dataclass(frozen=True)
class Bindability:
    """Whether a port could bind on ``host``: the result binding would give (with placeholder
    dynamic segments), the dynamic segments it would need, and one line saying why not (or, when
    bindable, which dynamic segments it needs; empty if none)."""

    host: str
    result: values.BindingResult
    needs: tuple[DynamicNeed, ...] = ()
    reason: str = ""

    @property
    def bindable(self) -> bool:
        """True if a port would bind on the host."""
        return self.result.bound


def resolve_bindabilities(
    requests: Sequence[BindingRequest],
    drivers: Sequence[BatchProposer],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> list[Bindability]:
    """Runs the binding loop of every request at once, asking each driver about all the
    requests waiting for it in one ``propose_many`` call; returns one Bindability per request,
    in order. Allocates nothing: a level that continues with dynamic segments offers the next
    level placeholders (``placeholder_segment``). Never raises for driver failures."""
    runs = [_Run(req, tuple(drivers), placeholder_segment) for req in requests]
    steps = [run.bind_level(0, run.request.segments) for run in runs]
    done: dict[int, values.Complete | None] = {}
    waiting: dict[int, _Ask] = {}
    for i, step in enumerate(steps):
        _advance(i, step, None, waiting, done)
    while waiting:
        asked, waiting = waiting, {}
        for driver, indexes in _by_driver(asked, drivers):
            contexts = [asked[i][1] for i in indexes]
            started = clock()
            proposals = _ask_many(driver, contexts)
            took = clock() - started
            for i, proposal in zip(indexes, proposals, strict=True):
                _advance(i, steps[i], (proposal, took), waiting, done)
    return [_bindability(run, done[i]) for i, run in enumerate(runs)]


def placeholder_segment(network_id: str, spec: values.SegmentSpec) -> values.Segment:
    """Returns the segment a check offers in place of allocating ``spec``: dynamic, with an id
    made of ``DYNAMIC_PLACEHOLDER_PREFIX``, the network type and physical network (the same
    spec gives the same id, as typemgr gives the same segment), and no segmentation id unless
    the spec names one."""
    seg_id = f"{DYNAMIC_PLACEHOLDER_PREFIX}{spec.network_type}:{spec.physical_network}"
    if spec.segmentation_id is not None:
        seg_id += f":{spec.segmentation_id}"
    return values.Segment(
        seg_id,
        spec.network_type,
        spec.physical_network,
        spec.segmentation_id or 0,
        network_id=network_id,
        is_dynamic=True,
    )


def _advance(
    i: int,
    steps: _Steps,
    answer: _Answer | None,
    waiting: dict[int, _Ask],
    done: dict[int, values.Complete | None],
) -> None:
    """Sends ``answer`` to (or, for None, starts) the loop ``i``; records its next question or
    its end."""
    try:
        waiting[i] = next(steps) if answer is None else steps.send(answer)
    except StopIteration as stop:
        done[i] = stop.value


def _by_driver(
    asked: Mapping[int, _Ask], drivers: Sequence[BatchProposer]
) -> list[tuple[BatchProposer, list[int]]]:
    """Groups the waiting loops by the driver they ask, in the configured driver order."""
    groups: dict[str, list[int]] = {}
    for i, (driver, _) in asked.items():
        groups.setdefault(driver.name, []).append(i)
    return [(d, groups[d.name]) for d in drivers if d.name in groups]


def _ask_many(driver: BatchProposer, contexts: Sequence[values.BindingContext]) -> Sequence[object]:
    try:
        proposals = driver.propose_many(contexts)
    except Exception as exc:
        logger.warning("mechanism driver %s failed: %s", driver.name, exc, exc_info=True)
        return [_driver_error(f"{driver.name} failed: {type(exc).__name__}: {exc}")] * len(contexts)
    if len(proposals) != len(contexts):
        error = _driver_error(
            f"{driver.name} answered {len(proposals)} proposals to {len(contexts)} questions"
        )
        return [error] * len(contexts)
    return proposals


def _ask(driver: Proposer, ctx: values.BindingContext) -> object:
    try:
        return driver.propose(ctx)
    except Exception as exc:
        logger.warning("mechanism driver %s failed: %s", driver.name, exc, exc_info=True)
        return _driver_error(f"{driver.name} failed: {type(exc).__name__}: {exc}")


async def _ask_async(driver: AsyncProposer, ctx: values.BindingContext) -> object:
    try:
        return await driver.propose(ctx)
    except Exception as exc:
        logger.warning("mechanism driver %s failed: %s", driver.name, exc, exc_info=True)
        return _driver_error(f"{driver.name} failed: {type(exc).__name__}: {exc}")


def _bindability(run: _Run, complete: values.Complete | None) -> Bindability:
    result = run.result(complete)
    host = run.request.host
    if not result.bound:
        return Bindability(
            host,
            result,
            reason=f"no mechanism driver could bind on host "
            f"{host}: {decline_summary(result.trace)}",
        )
    needs = tuple(
        DynamicNeed(
            lvl.level - 1,
            result.levels[lvl.level - 1].driver,
            values.SegmentSpec(lvl.segment.network_type, lvl.segment.physical_network),
        )
        for lvl in result.levels
        if lvl.level > 0 and lvl.segment.id.startswith(DYNAMIC_PLACEHOLDER_PREFIX)
    )
    reason = "; ".join(
        f"level {n.level} {n.driver} would allocate a dynamic "
        f"{values.Segment('', n.spec.network_type, n.spec.physical_network).describe()} "
        f"segment for level {n.level + 1}"
        for n in needs
    )
    return Bindability(host, result, needs, reason)


def failure_message(request: BindingRequest, trace: Sequence[values.Verdict]) -> str:
    """Returns the one-line summary of a failed binding: every decline, deeper levels prefixed."""
    return (
        f"no mechanism driver could bind port {request.port_id} on host {request.host}: "
        f"{decline_summary(trace)}"
    )


def decline_summary(trace: Sequence[values.Verdict]) -> str:
    """Returns every decline of ``trace`` once, deeper levels prefixed, separated by ``; ``."""
    parts: list[str] = []
    for verdict in trace:
        if verdict.outcome != vocabulary.DECLINE:
            continue
        where = verdict.driver if verdict.level == 0 else f"level {verdict.level} {verdict.driver}"
        why = ", ".join(f"{r.code} ({r.message})" for r in verdict.reasons)
        part = f"{where}: {why}"
        if part not in parts:
            parts.append(part)
    return "; ".join(parts) if parts else "no mechanism driver answered"


class _Run:
    """The state of one resolution: the bound levels so far and the trace."""

    def __init__(
        self,
        request: BindingRequest,
        drivers: tuple[Proposer, ...] | tuple[BatchProposer, ...] | tuple[AsyncProposer, ...],
        allocate_dynamic: AllocateDynamic,
    ) -> None:
        self.request = request
        self.drivers = drivers
        self.allocate_dynamic = allocate_dynamic
        self.levels: list[values.BindingLevel] = []
        self.trace: list[values.Verdict] = []

    def result(self, done: values.Complete | None) -> values.BindingResult:
        """Returns the result of the loop that ended with ``done``."""
        trace = tuple(self.trace)
        if done is None:
            return values.BindingResult(
                vocabulary.FAILED,
                vocabulary.VIF_TYPE_BINDING_FAILED,
                trace=trace,
                failure_message=failure_message(self.request, trace),
            )
        levels = tuple(self.levels)
        return values.BindingResult(
            vocabulary.BOUND,
            done.vif_type,
            with_bound_drivers(done.vif_details, levels),
            levels,
            trace,
            port_status=done.port_status,
        )

    def bind_level(self, level: int, segments: tuple[values.Segment, ...]) -> _Steps:
        """Binds ``level`` and below, yielding each question for a driver and sent its answer;
        returns the bottom Complete, or None with levels undone."""
        for driver in self.drivers:
            connectivity = self.request.driver_connectivity.get(driver.name)
            if connectivity is not None and connectivity != vocabulary.CONNECTIVITY_L2:
                refusal = _not_l2(driver.name, connectivity)
                self._record(level, driver.name, refusal, 0.0, segments)
                continue
            if self._bound_above(driver.name, segments):
                self._record(level, driver.name, _loop_prevented(driver.name), 0.0, segments)
                continue
            answer, duration = yield driver, self._context(level, segments)
            proposal = _checked(answer, segments, level)
            next_segments: tuple[values.Segment, ...] = ()
            if isinstance(proposal, values.Continue):
                allocated = self._next_segments(proposal)
                if isinstance(allocated, values.Decline):
                    proposal = allocated
                else:
                    next_segments = allocated
            self._record(level, driver.name, proposal, duration, segments)
            if isinstance(proposal, values.Decline):
                continue
            self.levels.append(values.BindingLevel(level, driver.name, _find(segments, proposal)))
            if isinstance(proposal, values.Complete):
                return proposal
            done = yield from self.bind_level(level + 1, next_segments)
            if done is not None:
                return done
            self.levels.pop()
        return None

    def _context(self, level: int, segments: tuple[values.Segment, ...]) -> values.BindingContext:
        req = self.request
        return values.BindingContext(
            port_id=req.port_id,
            network_id=req.network_id,
            host=req.host,
            level=level,
            segments_to_bind=segments,
            vnic_type=req.vnic_type,
            profile=req.profile,
            bound_levels=tuple(self.levels),
            host_agents=req.host_agents,
            agent_down_time=req.agent_down_time,
            host_links=req.host_links,
            original=req.original,
        )

    def _next_segments(
        self, proposal: values.Continue
    ) -> tuple[values.Segment, ...] | values.Decline:
        allocated = []
        for spec in proposal.dynamic_segments:
            try:
                allocated.append(self.allocate_dynamic(self.request.network_id, spec))
            except Exception as exc:
                wanted = values.Segment("", spec.network_type, spec.physical_network).describe()
                return values.Decline(
                    (
                        values.DeclineReason(
                            vocabulary.DYNAMIC_SEGMENT_UNAVAILABLE,
                            f"no dynamic {wanted} segment could be allocated: {exc}",
                            details={
                                "network_type": spec.network_type,
                                "physical_network": spec.physical_network,
                            },
                        ),
                    )
                )
        return (*proposal.next_segments, *allocated)

    def _bound_above(self, driver: str, segments: tuple[values.Segment, ...]) -> bool:
        ids = {s.id for s in segments}
        return any(lvl.driver == driver and lvl.segment.id in ids for lvl in self.levels)

    def _record(
        self,
        level: int,
        driver: str,
        proposal: values.Proposal,
        duration: float,
        segments: tuple[values.Segment, ...],
    ) -> None:
        outcome = values.outcome_of(proposal)
        if isinstance(proposal, values.Decline):
            reasons = tuple(self._with_facts(r, segments) for r in proposal.reasons)
            verdict = values.Verdict(
                level,
                driver,
                outcome,
                reasons=reasons,
                duration=duration,
                offered_segments=segments,
            )
        else:
            verdict = values.Verdict(
                level,
                driver,
                outcome,
                proposal.segment_id,
                duration=duration,
                offered_segments=segments,
            )
        self.trace.append(verdict)

    def _with_facts(
        self, reason: values.DeclineReason, segments: tuple[values.Segment, ...]
    ) -> values.DeclineReason:
        """Returns ``reason`` with the agent its ``agent_id`` detail names and the segment its
        ``segment_id`` names, as this resolution saw them (None where it names none it knows):
        what a driver said of them is replaced."""
        agent_id = reason.details.get("agent_id", "")
        agent = next((a for a in self.request.host_agents if agent_id and a.id == agent_id), None)
        segment = next(
            (s for s in segments if reason.segment_id and s.id == reason.segment_id), None
        )
        if agent is reason.agent and segment is reason.segment:
            return reason
        return dataclasses.replace(reason, agent=agent, segment=segment)


def _checked(proposal: object, segments: tuple[values.Segment, ...], level: int) -> values.Proposal:
    """Returns ``proposal`` if the contract allows it, else a DRIVER_ERROR (or
    MAX_LEVELS_REACHED) decline saying what was wrong."""
    if isinstance(proposal, values.Decline):
        if proposal.reasons and all(r.code for r in proposal.reasons):
            return proposal
        return _driver_error("declined without a reason code")
    if not isinstance(proposal, values.Complete | values.Continue):
        return _driver_error(f"answered {type(proposal).__name__}, not a proposal")
    offered = [s.id for s in segments]
    if proposal.segment_id not in offered:
        return _driver_error(
            f"proposed segment {proposal.segment_id or '(none)'}, which was not offered "
            f"(offered: {', '.join(offered)})"
        )
    if isinstance(proposal, values.Complete):
        if not proposal.vif_type or proposal.vif_type in vocabulary.RESERVED_VIF_TYPES:
            return _driver_error(f"completed with an invalid vif_type {proposal.vif_type!r}")
        if proposal.port_status not in vocabulary.DRIVER_PORT_STATUSES:
            return _driver_error(
                f"completed with port_status {proposal.port_status!r}: a driver may only leave "
                f"it unset or set {vocabulary.PORT_STATUS_ACTIVE}"
            )
        return proposal
    return _checked_continue(proposal, level)


def _checked_continue(proposal: values.Continue, level: int) -> values.Proposal:
    if not proposal.next_segments and not proposal.dynamic_segments:
        return _driver_error("continued without naming a segment for the next level")
    if any(not s.id or not s.network_type for s in proposal.next_segments):
        return _driver_error("continued with a next segment that has no id or network_type")
    if any(not s.network_type for s in proposal.dynamic_segments):
        return _driver_error("continued with a dynamic segment that has no network_type")
    if level + 1 >= MAX_BINDING_LEVELS:
        return values.Decline(
            (
                values.DeclineReason(
                    vocabulary.MAX_LEVELS_REACHED,
                    f"continued at level {level}, but a binding has at most "
                    f"{MAX_BINDING_LEVELS} levels",
                ),
            )
        )
    return proposal


def _find(
    segments: tuple[values.Segment, ...], proposal: values.Complete | values.Continue
) -> values.Segment:
    return next(s for s in segments if s.id == proposal.segment_id)


def _driver_error(message: str) -> values.Decline:
    return values.Decline((values.DeclineReason(vocabulary.DRIVER_ERROR, message),))


def with_bound_drivers(
    vif_details: Mapping[str, Any], levels: Sequence[values.BindingLevel]
) -> dict[str, Any]:
    """Returns ``vif_details`` with ``bound_drivers``: the driver of every bound level, keyed by
    the level as a string (``{"0": "fabric", "1": "openvswitch"}``), replacing any a driver set."""
    details = dict(vif_details)
    details[vocabulary.VIF_DETAILS_BOUND_DRIVERS] = {str(lvl.level): lvl.driver for lvl in levels}
    return details


def _not_l2(driver: str, connectivity: str) -> values.Decline:
    return values.Decline(
        (
            values.DeclineReason(
                vocabulary.L2_CONNECTIVITY_REQUIRED,
                f"{driver} provides {connectivity or 'unknown'} connectivity; a port without IP "
                f"addresses can only be bound by a driver with l2 connectivity",
                details={"connectivity": connectivity},
            ),
        )
    )


def _loop_prevented(driver: str) -> values.Decline:
    return values.Decline(
        (
            values.DeclineReason(
                vocabulary.LOOP_PREVENTED,
                f"{driver} already bound one of the offered segments at a higher level",
            ),
        )
    )
