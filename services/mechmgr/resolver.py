"""The binding level loop (Neutron's ``MechanismManager._bind_port_level``), as a pure function.

``resolve_binding`` offers the network's segments to the ordered drivers at level 0. The first
driver that completes ends the binding; a driver that continues binds that level and the loop
goes one level deeper with the segments it named (plus dynamic segments, allocated through
``allocate_dynamic``); if no driver can bind the deeper level, that level is undone and the next
driver of the upper level is asked. At most ``MAX_BINDING_LEVELS`` levels. A driver that bound
one of the offered segments at a higher level is skipped (loop prevention).

Drivers are untrusted: an exception or a proposal the contract forbids (a segment that was not
offered, an empty vif_type, a decline without reasons) counts as a decline with DRIVER_ERROR.
Every verdict, with the segments it was offered and how long the driver took, goes into the
trace, each decline reason with the agent and segment it names in full (so that the trace alone
says which agent, how long dead, which mappings it has and which segment was wanted); a failure
carries a one-line summary of every decline.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from ml2_contract import values, vocabulary

logger = logging.getLogger(__name__)

MAX_BINDING_LEVELS = 10


class Proposer(Protocol):
    """A mechanism driver as the resolver sees it: a name and a ``propose`` call."""

    name: str

    def propose(self, ctx: values.BindingContext) -> values.Proposal:
        """Returns the driver's proposal for ``ctx``."""
        ...


AllocateDynamic = Callable[[str, values.SegmentSpec], values.Segment]
"""``(network_id, spec) -> segment``; raises any exception if it cannot allocate."""


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


def resolve_binding(
    request: BindingRequest,
    drivers: Sequence[Proposer],
    allocate_dynamic: AllocateDynamic,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> values.BindingResult:
    """Resolves a binding for ``request`` with ``drivers`` in order. Never raises for driver
    failures; returns a FAILED result instead."""
    run = _Run(request, tuple(drivers), allocate_dynamic, clock)
    done = run.bind_level(0, request.segments)
    trace = tuple(run.trace)
    if done is None:
        return values.BindingResult(
            vocabulary.FAILED,
            vocabulary.VIF_TYPE_BINDING_FAILED,
            trace=trace,
            failure_message=failure_message(request, trace),
        )
    return values.BindingResult(
        vocabulary.BOUND, done.vif_type, done.vif_details, tuple(run.levels), trace
    )


def failure_message(request: BindingRequest, trace: Sequence[values.Verdict]) -> str:
    """Returns the one-line summary of a failed binding: every decline, deeper levels prefixed."""
    parts: list[str] = []
    for verdict in trace:
        if verdict.outcome != vocabulary.DECLINE:
            continue
        where = verdict.driver if verdict.level == 0 else f"level {verdict.level} {verdict.driver}"
        why = ", ".join(f"{r.code} ({r.message})" for r in verdict.reasons)
        part = f"{where}: {why}"
        if part not in parts:
            parts.append(part)
    summary = "; ".join(parts) if parts else "no mechanism driver answered"
    return (
        f"no mechanism driver could bind port {request.port_id} on host {request.host}: {summary}"
    )


class _Run:
    """The state of one resolution: the bound levels so far and the trace."""

    def __init__(
        self,
        request: BindingRequest,
        drivers: tuple[Proposer, ...],
        allocate_dynamic: AllocateDynamic,
        clock: Callable[[], float],
    ) -> None:
        self.request = request
        self.drivers = drivers
        self.allocate_dynamic = allocate_dynamic
        self.clock = clock
        self.levels: list[values.BindingLevel] = []
        self.trace: list[values.Verdict] = []

    def bind_level(
        self, level: int, segments: tuple[values.Segment, ...]
    ) -> values.Complete | None:
        """Binds ``level`` and below; returns the bottom Complete, or None with levels undone."""
        for driver in self.drivers:
            if self._bound_above(driver.name, segments):
                self._record(level, driver.name, _loop_prevented(driver.name), 0.0, segments)
                continue
            started = self.clock()
            proposal = _checked(self._ask(driver, level, segments), segments, level)
            duration = self.clock() - started
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
            done = self.bind_level(level + 1, next_segments)
            if done is not None:
                return done
            self.levels.pop()
        return None

    def _ask(
        self, driver: Proposer, level: int, segments: tuple[values.Segment, ...]
    ) -> values.Proposal:
        req = self.request
        ctx = values.BindingContext(
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
        )
        try:
            return driver.propose(ctx)
        except Exception as exc:
            logger.warning("mechanism driver %s failed: %s", driver.name, exc, exc_info=True)
            return _driver_error(f"{driver.name} failed: {type(exc).__name__}: {exc}")

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


def _loop_prevented(driver: str) -> values.Decline:
    return values.Decline(
        (
            values.DeclineReason(
                vocabulary.LOOP_PREVENTED,
                f"{driver} already bound one of the offered segments at a higher level",
            ),
        )
    )
