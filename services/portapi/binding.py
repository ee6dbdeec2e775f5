"""The bind flow: resolve a binding for one generation of a port's inputs and commit it only if
those inputs are still current.

    record inputs (gen g) ─► ResolveBinding(inputs of g) ─► UPDATE ... WHERE generation = g
                                       ▲                                │ 0 rows
                                       └────── reload inputs (g') ◄─────┘

1. The caller records the binding inputs and bumps the generation in one write (or, to retry a
   failed or pending binding, keeps the generation) and hands over a ``BindTicket``.
2. ``Binder.bind`` asks the resolver (mechmgr) outside any transaction, with a deadline.
3. It commits the result with a compare-and-set on the generation, checking the row count. When
   the inputs changed meanwhile it reloads them in the same transaction and resolves again, at
   most ``max_tries`` times, then raises BindingConflict (ABORTED). It stops early, without
   error, when the port was deleted, unbound, or already has a result for its current inputs
   (another request committed it).

Dynamic segments are reference counted by typemgr: mechmgr records the port as a holder of every
dynamic segment it allocates while resolving, and of every one a level bound as level 0 was offered
it (``manager.take_holds``), before it returns the result; after a commit that may concern them (a
driver continued the binding, or the port held dynamic segments before) ``Binder`` tells typemgr
which dynamic segments the committed levels use (``SyncDynamicSegmentHolds`` with the binding
generation); typemgr releases the ones no port holds any more. The commit records that sync in the
hold outbox (``db.hold_outbox``) in the same transaction, and a successful sync deletes it: if
typemgr cannot be reached, or portapi stops in between, the holds stay as they were (nothing is
released too early) and ``HoldSyncRetrier`` sends the sync again later. A resolution that may have
allocated dynamic segments and whose result is not committed (``_settle_lost``: a newer one, or
another request, committed first, or the port went) syncs the port's holds to those of the committed
binding, through the outbox too, so that what only it allocated is released.

Level 0 is offered the network's static segments, in order, then its dynamic ones, as Neutron
offers them since LP#2144501: with holds tracked, ``Binder`` reads the dynamic segments from
portapi's own record before each resolution (``offered``, ``db.dynamic_segments``): those that
a committed binding of the network's ports uses, in the order they were first used, so a bind
makes no call to typemgr for them. The commit that first uses a dynamic segment records it; a
hold sync whose answer says typemgr released a segment deletes its record.

When the sync can only confirm holds typemgr already records (``only_confirms``: the port held no
dynamic segment before, and the bound levels use exactly the dynamic segments the levels below 0
were offered, which mechmgr allocated for it), it is sent after the answer, by a background sender
(``DeferredSyncs``), rather than before it. Nothing is lost by waiting: typemgr recorded each hold
in the transaction that allocated the segment, so no release, by any replica, can take a segment
the port uses while its sync waits; and the sync is in the outbox, so a portapi stopped before
sending it sends it at its next start. Every other sync (one that may drop a hold: a rebind of a
port that held dynamic segments, a failed binding, an unbinding, a deletion) is sent before the
answer, so that a segment the port no longer uses is released by then.

A ``direct-physical`` port bound takes its device's MAC address, ``binding.profile``'s
``device_mac_address``, in the commit's transaction, as Neutron's commit does. When another port
of the network has that address the binding is committed failed instead, with reason
DEVICE_MAC_ADDRESS_IN_USE naming the port, so that MAC addresses stay unique per network; also
when a concurrent transaction gives another port the address after the check (the unique
constraint refuses the write, a savepoint undoes the result with it, and the failure is
committed instead).

A binding whose request ends before a result is committed (portapi stopped, or the caller's
deadline cut ResolveBinding short: DEADLINE_EXCEEDED, nothing committed) stays pending with its
inputs recorded; the reconciler (``reconciler``) binds it through ``bind_committed`` once it has
been pending longer than a request may take.

Failure is a state, never silence: when mechmgr cannot be reached (down, or no answer within
the deadline) the port is committed ``binding_failed`` with one verdict of driver ``mechmgr``
whose reason is MECHANISM_MANAGER_UNAVAILABLE, and the RPC succeeds; GetPort shows the reason and
any later update of the port binds it again. A FAILED result without reasons, or a BOUND one
without levels, is stored as FAILED with reason MECHANISM_MANAGER_ERROR.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import errors
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import changes, deadline, macs, metrics, status
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi.clients import BindingResolver, HoldSyncer
from services.portapi.db import bindings, codec, hold_outbox
from services.portapi.db import dynamic_segments as dynamic_rows
from services.portapi.db import repository as repo
from services.portapi.db import segment_changes as segment_rows

logger = logging.getLogger(__name__)

DEFAULT_MAX_TRIES = 10
DEVICE_MAC_TRIES = 3
"""Times a commit checks a device MAC address again after a concurrent write took it."""
SEGMENT_CHANGE_WAIT = 10.0
"""Seconds a request's binding waits at most for a new segmentation id its driver cannot
follow (twice typemgr's default call deadline, which bounds the change)."""
FOLLOWS_NEW_SEGMENTATION_ID = frozenset(
    vocabulary.RESERVED_VIF_TYPES
    | {
        vif_type
        for vif_type, attributes in vocabulary.PROVIDER_ATTRIBUTE_UPDATES.items()
        if segment_rows.SEGMENTATION_ID in attributes
    }
)
"""The vif types a port may be bound with while its network's segment gets a new segmentation
id (``segment_changes.vif_types_allowing``)."""
DEFERRED_SYNC_LIMIT = 10000
"""Hold syncs waiting for the background sender at most; more wait in the outbox."""


class Binder:
    """Runs the bind flow for one port at a time; safe to share between threads."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        resolver: BindingResolver,
        max_tries: int = DEFAULT_MAX_TRIES,
        holds: HoldSyncer | None = None,
        segment_change_wait: float = SEGMENT_CHANGE_WAIT,
    ) -> None:
        self._factory = factory
        self._resolver = resolver
        self._max_tries = max_tries
        self._holds = holds
        self._segment_change_wait = segment_change_wait
        self._deferred = DeferredSyncs(self.sync_holds) if holds is not None else None

    def bind(self, ticket: r.BindTicket, started: float | None = None) -> r.Port | None:
        """Resolves and commits the binding of ``ticket``'s port, following changed inputs.

        Returns the port as the last transaction left it (None if it was deleted meanwhile).
        ``started`` is when the inputs were recorded (perf_counter), for the latency metric.
        Raises BindingConflict when the inputs changed during every one of max_tries attempts,
        and DeadlineExceeded, committing nothing, when the caller's deadline cut the resolution
        short.
        """
        return self.bind_committed(ticket, started)[0]

    def bind_committed(
        self, ticket: r.BindTicket, started: float | None = None, *, wait: bool = True
    ) -> tuple[r.Port | None, bool]:
        """Like ``bind``; also returns whether this call committed a result (False when another
        request did, or the port was unbound or deleted meanwhile). ``wait`` False: a binding
        that would wait for a new segmentation id of its network (``await_segment_change``)
        raises BindingWaitsForSegmentChange at once (the reconciler's and the rebinder's
        bindings, which are retried later anyway)."""
        start = time.perf_counter() if started is None else started
        committed = False
        for attempt in range(1, self._max_tries + 1):
            ticket = self.offered(ticket)
            result = self._resolve(ticket)
            resolved = ticket
            pending = None
            if self.tracks_holds and (ticket.may_hold_dynamic or may_hold_dynamic(result, ticket)):
                pending = hold_outbox.PendingSync(
                    ticket.port_id, tuple(dynamic_segment_ids(result)), ticket.generation
                )
            outcome = repo.run_write(
                self._factory,
                functools.partial(_commit, ticket=ticket, result=result, pending=pending),
            )
            if outcome.committed:
                committed = True
                if outcome.result is not None:  # failed instead: the port holds nothing
                    result = outcome.result
                    if pending is not None:
                        pending = replace(pending, segment_ids=())
                metrics.record_result(result, time.perf_counter() - start)
                _log_result(ticket, result, attempt)
                if pending is not None:
                    if self._deferred is not None and only_confirms(ticket, result):
                        self._deferred.send(pending)
                    else:
                        self.sync_holds(pending)
            if outcome.waits:
                self.await_segment_change(ticket, result.vif_type, wait)
                with sql.read_session(self._factory) as session:
                    outcome = _current(session, port_id=ticket.port_id)
                if outcome.retry is None:
                    self._settle_lost(ticket, result)
                    return outcome.port, committed
                held = ticket.may_hold_dynamic or may_hold_dynamic(result, ticket)
                ticket = replace(
                    outcome.retry, may_hold_dynamic=held or outcome.retry.may_hold_dynamic
                )
                continue
            if outcome.retry is None:
                if not outcome.committed:
                    self._settle_lost(ticket, result)
                return outcome.port, committed
            metrics.CAS_RETRIES.inc()
            logger.info(
                "binding inputs of port %s changed from generation %d to %d while binding; "
                "binding again",
                ticket.port_id,
                ticket.generation,
                outcome.retry.generation,
            )
            held = ticket.may_hold_dynamic or may_hold_dynamic(result, ticket)
            ticket = replace(outcome.retry, may_hold_dynamic=held or outcome.retry.may_hold_dynamic)
        self._settle_lost(resolved, result, settled=False)
        metrics.BIND_ABORTS.inc()
        logger.warning(
            "gave up binding port %s after %d tries: its inputs kept changing",
            ticket.port_id,
            self._max_tries,
        )
        raise portapi_errors.BindingConflict(ticket.port_id, self._max_tries)

    def _settle_lost(
        self, ticket: r.BindTicket, result: values.BindingResult, *, settled: bool = True
    ) -> None:
        """Tells typemgr which dynamic segments the port uses now, after a resolution whose
        result was not committed and that may have allocated dynamic segments for the port
        (mechmgr records a hold for each as it allocates): the port's holds become those of
        its committed binding (none when it is gone), so that a segment only the lost
        resolution allocated is released. The sync goes through the outbox like every other.

        ``settled``: no newer inputs wait for a result (a newer resolution, or another request,
        committed; the port was unbound or deleted), so the sync is as of the current
        generation and also drops a hold the lost resolution took after the winner's sync.
        Otherwise (the flow gave up while newer inputs are being resolved) it is as of the
        lost ticket's generation, so that it cannot drop a hold the newer resolution takes."""
        if not self.tracks_holds:
            return
        if not (ticket.may_hold_dynamic or may_hold_dynamic(result, ticket)):
            return
        try:
            pending = repo.run_write(
                self._factory,
                functools.partial(
                    _record_current,
                    port_id=ticket.port_id,
                    generation=None if settled else ticket.generation,
                ),
            )
        except SQLAlchemyError as exc:
            logger.warning(
                "cannot record the hold sync of port %s after a lost resolution: %s",
                ticket.port_id,
                exc,
            )
            return
        if pending is None:
            return
        metrics.LOST_RESOLUTION_SYNCS.inc()
        logger.info(
            "binding of port %s (generation %d) was not committed; syncing its holds as of "
            "generation %d",
            ticket.port_id,
            ticket.generation,
            pending.generation,
            extra={"port_id": ticket.port_id},
        )
        self.sync_holds(pending)

    def await_segment_change(self, ticket: r.BindTicket, vif_type: str, wait: bool) -> None:
        """Waits until ticket's network has no new segmentation id pending, polling its mark,
        for at most ``SEGMENT_CHANGE_WAIT`` seconds (cut to the caller's deadline). Raises
        BindingWaitsForSegmentChange when it is still pending then (or at once unless
        ``wait``), DeadlineExceeded when the caller's deadline came first; the binding stays
        pending, its inputs recorded, for the reconciler."""
        began = time.monotonic()
        budget = self._segment_change_wait if wait else 0.0
        left = deadline.remaining()
        by_deadline = left is not None and left - deadline.RESERVE < budget
        if by_deadline:
            assert left is not None
            budget = max(left - deadline.RESERVE, 0.0)
        logger.info(
            "binding of port %s (vif_type %s) waits for network %s to finish changing its "
            "segmentation id",
            ticket.port_id,
            vif_type,
            ticket.network_id,
            extra={"port_id": ticket.port_id},
        )
        pause = 0.005
        while True:
            with sql.read_session(self._factory) as session:
                change = segment_rows.pending_change(session, ticket.network_id)
            if change != segment_rows.SEGMENTATION_ID:
                metrics.SEGMENT_CHANGE_WAITS.labels("done").inc()
                return
            waited = time.monotonic() - began
            if waited >= budget:
                break
            time.sleep(min(pause, budget - waited))
            pause = min(pause * 2, 0.1)
        metrics.SEGMENT_CHANGE_WAITS.labels("gave_up").inc()
        if by_deadline:
            raise portapi_errors.DeadlineExceeded(
                f"binding of port {ticket.port_id} left pending for the reconciler: network "
                f"{ticket.network_id} was still changing its segmentation id when the caller's "
                "deadline came",
                "",
            )
        raise portapi_errors.BindingWaitsForSegmentChange(
            ticket.port_id, ticket.network_id, vif_type, waited
        )

    @property
    def tracks_holds(self) -> bool:
        """True if typemgr is told which dynamic segments ports use."""
        return self._holds is not None

    def close(self, timeout: float = 5.0) -> None:
        """Sends the deferred hold syncs still waiting (for at most ``timeout`` seconds) and
        stops the sender; the ones left stay in the outbox for ``HoldSyncRetrier``."""
        if self._deferred is not None:
            self._deferred.close(timeout)

    def sync_holds(
        self, pending: hold_outbox.PendingSync, *, retry: bool = False, when: str = "now"
    ) -> bool:
        """Tells typemgr which dynamic segments the port uses as of the pending sync's
        generation (0 for a deleted port) and deletes it from the outbox; returns True if typemgr
        was told. Never raises: when typemgr cannot be told, the holds stay as they are and the
        outbox keeps the sync for ``HoldSyncRetrier``. ``when`` labels the metric: ``now``
        (before the answer), ``deferred`` (after it) or ``retry`` (implied by ``retry``)."""
        if self._holds is None:
            return False
        when = "retry" if retry else when
        try:
            released = self._holds.sync_dynamic_segment_holds(
                pending.port_id, list(pending.segment_ids), pending.generation
            )
        except errors.ServiceError as exc:
            metrics.HOLD_SYNCS.labels("failed", when).inc()
            logger.warning(
                "cannot tell typemgr which dynamic segments port %s uses (generation %d): %s; "
                "it will be told again later",
                pending.port_id,
                pending.generation,
                exc,
                extra={"port_id": pending.port_id},
            )
            return False
        metrics.HOLD_SYNCS.labels("synced", when).inc()
        try:
            repo.run_write(
                self._factory,
                functools.partial(_sync_done, pending=pending, released=tuple(released or ())),
            )
        except SQLAlchemyError as exc:  # the sync stays pending: sending it again is harmless
            logger.warning("cannot mark the hold sync of port %s done: %s", pending.port_id, exc)
        return True

    def offered(self, ticket: r.BindTicket) -> r.BindTicket:
        """Returns ``ticket`` with the network's dynamic segments in use after its static ones,
        the segments level 0 is offered (read from portapi's record, ``dynamic_rows.in_use``);
        unchanged when holds are not tracked or the network has none."""
        if self._holds is None:
            return ticket
        with sql.read_session(self._factory) as session:
            dynamic = dynamic_rows.in_use(session, ticket.network_id)
        if not dynamic:
            return ticket
        known = {s.id for s in ticket.segments}
        extra = tuple(s for s in dynamic if s.id not in known)
        return replace(ticket, segments=ticket.segments + extra) if extra else ticket

    def _resolve(self, ticket: r.BindTicket) -> values.BindingResult:
        start = time.perf_counter()
        try:
            result = checked(self._resolver.resolve(ticket))
            outcome = "ok"
        except portapi_errors.DeadlineExceeded as exc:
            metrics.RESOLVE_LATENCY.labels("deadline").observe(time.perf_counter() - start)
            logger.warning(
                "binding of port %s left pending for the reconciler: %s",
                ticket.port_id,
                exc.message,
                extra={"port_id": ticket.port_id},
            )
            raise
        except errors.Unavailable as exc:
            logger.warning("cannot resolve the binding of port %s: %s", ticket.port_id, exc)
            result = failed(
                vocabulary.MECHANISM_MANAGER_UNAVAILABLE,
                f"the mechanism manager did not answer: {exc.message}",
            )
            outcome = "unavailable"
        except errors.ServiceError as exc:
            logger.error("mechmgr refused to resolve port %s: %s", ticket.port_id, exc)
            result = failed(
                vocabulary.MECHANISM_MANAGER_ERROR,
                f"the mechanism manager refused the request: {exc.code.name}: {exc.message}",
            )
            outcome = "error"
        metrics.RESOLVE_LATENCY.labels(outcome).observe(time.perf_counter() - start)
        return result


@dataclass(frozen=True)
class _Attempt:
    """What one compare-and-set transaction found."""

    committed: bool
    retry: r.BindTicket | None = None
    """The inputs to resolve next, when newer inputs still wait for a result."""
    port: r.Port | None = None
    """The port as the transaction left it, when there is nothing left to do."""
    result: values.BindingResult | None = None
    """The result committed, when it is not the one resolved (a device MAC in use)."""
    waits: bool = False
    """Nothing was written: the result's vif type cannot follow the new segmentation id the
    network's segment is getting; the binder waits for it, then binds again."""


def _commit(
    session: Session,
    *,
    ticket: r.BindTicket,
    result: values.BindingResult,
    pending: hold_outbox.PendingSync | None,
) -> _Attempt:
    """Commits ``result`` if ticket's generation is current, with the ``pending`` hold sync it
    decides. Otherwise finds out whether newer inputs wait for a result. Reads the port in the
    same transaction when the flow ends, so that the caller needs no further round trip.

    The port and binding rows are locked first, together, as every other port write locks
    them (the status written after the result is on the port row): taking the binding's lock
    first would deadlock against a device report holding the port's.

    A bound result takes a key-share lock on the network row before them (the order segment
    changes lock in), so that a change of the network's segments cannot check the ports'
    bindings while this one is being committed: it begins after this commit and sees it, or
    before, and this commit sees its mark. While a new segmentation id is pending a result
    whose vif type cannot follow it is not committed (``waits``), as the change would retag
    it on the port behind its driver's back."""
    if result.state == vocabulary.BOUND:
        change = segment_rows.pending_change(session, ticket.network_id, lock=True)
        if (
            change == segment_rows.SEGMENTATION_ID
            and result.vif_type not in FOLLOWS_NEW_SEGMENTATION_ID
        ):
            return _Attempt(False, waits=True)
    repo.lock_port_rows(session, ticket.port_id)
    resolved = result
    mac = device_mac(ticket, result)
    stored = (
        _commit_taking_mac(session, ticket, result, mac)
        if mac
        else _commit_plain(session, ticket, result)
    )
    if stored is not None:
        result = stored
        # A dynamic segment level 0 was offered is in portapi's record already.
        recorded = {s.id for s in ticket.segments if s.is_dynamic}
        unrecorded = [
            level.segment
            for level in result.levels
            if level.segment.is_dynamic and level.segment.id not in recorded
        ]
        if unrecorded:
            dynamic_rows.record(session, ticket.network_id, unrecorded, codec.now())
        if pending is not None and result is not resolved:
            pending = replace(pending, segment_ids=())
        if pending is not None:
            hold_outbox.record(session, pending)
        changed = None if result is resolved else result
        return _Attempt(True, port=_settled(session, ticket.port_id), result=changed)
    return _current(session, port_id=ticket.port_id)


def _record_current(
    session: Session, *, port_id: str, generation: int | None
) -> hold_outbox.PendingSync | None:
    """Records in the outbox, under the port's row lock, the hold sync of the port's committed
    binding: the dynamic segments its levels use, as of ``generation`` (None: its current
    one; 0, holding nothing, when the port is gone); returns it. Records nothing, returning
    None, when the outbox has a newer sync of the port already (it drops what this one would)."""
    repo.lock_port_rows(session, port_id)
    port = repo.get_port(session, port_id)
    if port is None:
        pending = hold_outbox.PendingSync(port_id, (), 0)
    else:
        pending = hold_outbox.PendingSync(
            port_id,
            tuple(dynamic_segment_ids(port.binding.result)),
            port.binding.generation if generation is None else generation,
        )
    if pending.generation and hold_outbox.has_newer(session, pending):
        return None
    hold_outbox.record(session, pending)
    return pending


def _current(session: Session, *, port_id: str) -> _Attempt:
    """Finds out, when no result was committed, whether the port's current inputs still wait
    for one (``retry``) or the flow ends (``port``)."""
    current = bindings.binding_state(session, port_id)
    if current is None:
        return _Attempt(False)  # the port was deleted
    state, fresh = current
    if fresh.inputs.host_id and state == vocabulary.UNBOUND:
        return _Attempt(False, retry=fresh)
    # Unbound meanwhile, or another request committed a result for the current inputs.
    return _Attempt(False, port=repo.get_port(session, port_id))


def _commit_plain(
    session: Session, ticket: r.BindTicket, result: values.BindingResult
) -> values.BindingResult | None:
    """Stores ``result`` at ticket's generation; returns it, or None if the generation moved."""
    if bindings.commit_result(session, ticket.port_id, ticket.generation, result):
        return result
    return None


def _commit_taking_mac(
    session: Session, ticket: r.BindTicket, result: values.BindingResult, mac: str
) -> values.BindingResult | None:
    """Stores the BOUND ``result`` of a direct-physical port with its device's MAC address
    ``mac`` as the port's, or the DEVICE_MAC_ADDRESS_IN_USE failure when another port of the
    network has it; returns what it stored, or None if the generation moved.

    The check is not enough alone: on PostgreSQL another transaction can give a port that
    address after it (a CreatePort or UpdatePort naming it, another device's binding), and the
    write then breaks the network's unique MAC constraint. The result and the address are
    written in a savepoint, so such a violation undoes both and nothing else; the holder,
    committed by then, is read again and the failure stored instead."""
    for _ in range(DEVICE_MAC_TRIES):
        holder = repo.port_with_mac(session, ticket.network_id, mac)
        if holder is not None and holder != ticket.port_id:
            return _commit_plain(session, ticket, device_mac_in_use(result, ticket, mac, holder))
        try:
            with session.begin_nested():
                if not bindings.commit_result(session, ticket.port_id, ticket.generation, result):
                    return None
                repo.update_port_fields(session, ticket.port_id, {"mac_address": mac})
        except IntegrityError as exc:
            if not sql.is_unique_violation(exc):
                raise
            logger.info(
                "port %s lost device MAC address %s to a concurrent write; checking again",
                ticket.port_id,
                mac,
                extra={"port_id": ticket.port_id},
            )
            continue
        return result
    # The address kept being taken and freed again: no holder to name, but the port cannot
    # have it now.
    return _commit_plain(session, ticket, device_mac_in_use(result, ticket, mac, ""))


def _sync_done(
    session: Session, *, pending: hold_outbox.PendingSync, released: tuple[str, ...]
) -> None:
    """Deletes a sent hold sync from the outbox and forgets the dynamic segments typemgr
    released with it."""
    hold_outbox.done(session, pending=pending)
    if released:
        dynamic_rows.forget(session, released)


def _settled(session: Session, port_id: str) -> r.Port | None:
    """Sets the status of a port whose binding result was just committed (BUILD once bound,
    DOWN when binding failed) and stages the change's event; the host did not change."""
    port = repo.get_port(session, port_id)
    if port is None:
        return None
    target = status.base(port)
    settled = changes.set_status(session, port, target, status.base_agent(target))
    changes.record(session, changes.Before.of(port), settled)
    return settled


def may_hold_dynamic(result: values.BindingResult, ticket: r.BindTicket | None = None) -> bool:
    """True if resolving ``result`` may have made the port hold dynamic segments: mechmgr
    allocates them only after a driver continued the binding to a further level, takes a hold
    on each one a level binds as level 0 was offered it, and, when typemgr had released such a
    segment, holds the one typemgr returned instead and offers it to level 0 (a dynamic segment
    level 0 was offered that ``ticket`` did not offer). Holds are synchronised only then (or
    when the port held some before), sparing typemgr a call per bind on networks without
    hierarchical binding."""
    if any(verdict.outcome == vocabulary.CONTINUE for verdict in result.trace) or any(
        level.segment.is_dynamic for level in result.levels
    ):
        return True
    if ticket is None:
        return False
    known = {s.id for s in ticket.segments}
    return any(
        s.is_dynamic and s.id not in known
        for verdict in result.trace
        if verdict.level == 0
        for s in verdict.offered_segments
    )


def only_confirms(ticket: r.BindTicket, result: values.BindingResult) -> bool:
    """True if the hold sync after committing ``result`` can only confirm holds typemgr already
    records: the port held no dynamic segment before this binding (``may_hold_dynamic``), the
    result is BOUND on dynamic segments, and it uses exactly the dynamic segments the levels
    below 0 were offered (so mechmgr allocated none that the binding left unused, and each one
    it uses was allocated, its hold taken, for this binding), with no allocation that failed
    midway (which may have left one it allocated before unoffered).

    Only the segments offered below level 0 are judged: the dynamic segments level 0 is offered
    come from portapi's record of the network's (``offered``), and one a level 0 driver bound
    as offered gets its hold from mechmgr after the drivers answered (``manager.take_holds``),
    which this check does not see in the trace. So a binding whose levels use a dynamic segment
    that no level below 0 was offered is never only confirming (its sync is sent before the
    answer), and one that uses, below level 0, the segment its network's record offered level 0
    too (the second port of a network bound through the fabric) is."""
    if ticket.may_hold_dynamic or result.state != vocabulary.BOUND:
        return False
    used = set(dynamic_segment_ids(result))
    if not used:
        return False
    allocated: set[str] = set()
    for verdict in result.trace:
        if verdict.level > 0:
            allocated.update(s.id for s in verdict.offered_segments if s.is_dynamic)
        if any(r.code == vocabulary.DYNAMIC_SEGMENT_UNAVAILABLE for r in verdict.reasons):
            return False
    return allocated == used


class DeferredSyncs:
    """Sends hold syncs after the answer, in order, on one background thread started with the
    first one. A sync it cannot take (more than ``limit`` waiting) or could not send stays in
    the outbox for ``HoldSyncRetrier``."""

    def __init__(self, sync: Callable[..., bool], limit: int = DEFERRED_SYNC_LIMIT) -> None:
        self._sync = sync
        self._queue: queue.Queue[hold_outbox.PendingSync | None] = queue.Queue(limit)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def send(self, pending: hold_outbox.PendingSync) -> None:
        """Queues ``pending`` for the sender; never blocks."""
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="hold-sync-sender", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait(pending)
        except queue.Full:
            logger.info(
                "hold sync of port %s left to the retrier: %d syncs wait already",
                pending.port_id,
                self._queue.maxsize,
            )

    def close(self, timeout: float) -> None:
        """Stops taking syncs, sends the queued ones for at most ``timeout`` seconds, stops."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        thread.join(timeout)

    def _run(self) -> None:
        while True:
            pending = self._queue.get()
            if pending is None:
                return
            self._sync(pending, when="deferred")


def dynamic_segment_ids(result: values.BindingResult) -> list[str]:
    """Returns the ids of the dynamic segments the result's levels bind, in level order."""
    ids: list[str] = []
    for level in result.levels:
        if level.segment.is_dynamic and level.segment.id not in ids:
            ids.append(level.segment.id)
    return ids


def device_mac(ticket: r.BindTicket, result: values.BindingResult) -> str:
    """Returns the MAC address a direct-physical port bound by ``result`` takes: its profile's
    ``device_mac_address``, normalized; empty when there is none (or it is no MAC address)."""
    if result.state != vocabulary.BOUND:
        return ""
    if ticket.inputs.vnic_type != vocabulary.VNIC_DIRECT_PHYSICAL:
        return ""
    given = ticket.inputs.profile.get("device_mac_address")
    if not isinstance(given, str):
        return ""
    mac = macs.normalize(given)
    return "" if macs.problem(mac) else mac


def device_mac_in_use(
    result: values.BindingResult, ticket: r.BindTicket, mac: str, holder: str
) -> values.BindingResult:
    """Returns the FAILED result committed instead of ``result`` when the device MAC address
    the port would take is another port's: the drivers' trace, then portapi's verdict."""
    whose = f"port {holder}" if holder else "another port"
    message = (
        f"binding.profile.device_mac_address: {mac} is the MAC address of {whose} of "
        f"network {ticket.network_id}; a direct-physical port takes its device's address"
    )
    reason = values.DeclineReason(
        code=vocabulary.DEVICE_MAC_ADDRESS_IN_USE,
        message=message,
        details={"mac_address": mac, "port_id": holder},
    )
    verdict = values.Verdict(
        level=0, driver=vocabulary.PORT_API, outcome=vocabulary.DECLINE, reasons=(reason,)
    )
    return values.BindingResult(
        state=vocabulary.FAILED,
        vif_type=vocabulary.VIF_TYPE_BINDING_FAILED,
        trace=(*result.trace, verdict),
        failure_message=message,
    )


def failed(code: str, message: str) -> values.BindingResult:
    """Returns a FAILED result whose trace holds one verdict of portapi about mechmgr."""
    return values.manager_failure(code, message)


def checked(result: values.BindingResult) -> values.BindingResult:
    """Returns ``result`` if it is a coherent BOUND or FAILED result; otherwise a FAILED result
    with reason MECHANISM_MANAGER_ERROR saying what was wrong. A FAILED result always leaves
    with at least one reason and a failure message."""
    if result.state == vocabulary.BOUND:
        if result.levels and result.vif_type not in (
            "",
            vocabulary.VIF_TYPE_UNBOUND,
            vocabulary.VIF_TYPE_BINDING_FAILED,
        ):
            return result
        return failed(
            vocabulary.MECHANISM_MANAGER_ERROR,
            f"the mechanism manager returned a bound result without levels or with vif_type "
            f"{result.vif_type!r}",
        )
    if result.state != vocabulary.FAILED:
        return failed(
            vocabulary.MECHANISM_MANAGER_ERROR,
            f"the mechanism manager returned binding state {result.state!r}",
        )
    has_reason = any(verdict.reasons for verdict in result.trace)
    if not has_reason:
        missing = failed(
            vocabulary.MECHANISM_MANAGER_ERROR,
            "the mechanism manager reported a failed binding without reasons",
        )
        result = replace(result, trace=(*result.trace, *missing.trace))
    message = result.failure_message or _summary(result)
    return replace(
        result, vif_type=vocabulary.VIF_TYPE_BINDING_FAILED, levels=(), failure_message=message
    )


def _summary(result: values.BindingResult) -> str:
    parts = [
        f"{verdict.driver}: {reason.message or reason.code}"
        for verdict in result.trace
        for reason in verdict.reasons
    ]
    return "; ".join(parts)


def _log_result(ticket: r.BindTicket, result: values.BindingResult, attempt: int) -> None:
    if result.state == vocabulary.BOUND:
        logger.debug(
            "bound port %s on host %s: vif_type %s (generation %d, attempt %d)",
            ticket.port_id,
            ticket.inputs.host_id,
            result.vif_type,
            ticket.generation,
            attempt,
        )
    else:
        logger.warning(
            "binding port %s on host %s failed: %s (generation %d)",
            ticket.port_id,
            ticket.inputs.host_id,
            result.failure_message,
            ticket.generation,
        )
