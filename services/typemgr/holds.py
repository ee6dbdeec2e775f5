"""Reference counting of dynamic segments: who holds each one, and releasing it when the last
holder lets go.

A holder (usually a port) takes a hold on a dynamic segment when ``AllocateDynamicSegment``
returns it (same transaction). ``sync`` then states exactly which dynamic segments the holder
uses, for example after portapi commits a binding: holds on other segments are dropped, and a
segment left without any hold is released at once (its id freed, its row deleted). A segment is
never released while a hold names it, and a hold never names a released segment:

* every path that adds or drops holds locks the static segment rows of the network first (the
  same lock ``AllocateDynamicSegment`` takes), so a new hold and a release on one network take
  turns on PostgreSQL; SQLite's write transactions already do;
* a sync that drops nothing (the holder wants every hold it has, as after a binding that uses
  what was allocated for it) neither adds nor drops a hold: it locks the holder's holds only,
  and writes only where it raises their generation;
* the hold's foreign key has no cascade, so deleting a segment that another transaction has
  just taken a hold on fails, and the sync runs again (``transaction.Retry``) and sees it.

Holds and syncs carry the holder's generation (portapi's binding generation): the hold
``AllocateDynamicSegment`` takes while a generation is being resolved carries that generation,
and a sync older than a hold's generation is stale and changes nothing. So neither a sync
arriving out of order nor one for an older binding can drop a hold a newer resolution took.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ml2_contract.values import Segment
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr import errors, metrics
from services.typemgr.db import allocation, transaction
from services.typemgr.db import holds as hold_rows
from services.typemgr.db import segments as segment_rows
from services.typemgr.segments import Hold

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncResult:
    """What a sync did."""

    held: tuple[str, ...] = ()
    released: tuple[Segment, ...] = ()
    not_held: tuple[str, ...] = ()
    stale: bool = False


class HoldManager:
    """Syncs and lists the holds on dynamic segments."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def sync(self, holder: str, segment_ids: Sequence[str], generation: int) -> SyncResult:
        """Makes ``segment_ids`` (among those the holder holds) exactly the holder's holds and
        releases the segments whose last hold went away. A ``generation`` older than one of the
        holder's holds makes the sync stale: nothing changes. 0 applies unconditionally."""

        def work(session: Session) -> SyncResult:
            try:
                return _sync(session, holder, set(segment_ids), generation)
            except IntegrityError as exc:
                if not hold_rows.is_foreign_key_violation(exc):
                    raise
                # A concurrent allocation took a hold on a segment being released: look again.
                raise transaction.Retry() from None

        try:
            result = transaction.run(self.factory, work, on_retry=metrics.TRANSACTION_RETRIES.inc)
        except transaction.RetriesExhausted:
            raise errors.ConcurrentChanges() from None
        for segment in result.released:
            metrics.RELEASES.labels(segment.network_type).inc()
            logger.info(
                "released dynamic segment %s of network %s: its last holder %s let go",
                segment.id,
                segment.network_id,
                holder,
                extra={"network_id": segment.network_id},
            )
        return result

    def list(
        self,
        segment_id: str,
        holder: str,
        after: tuple[str, str] | None = None,
        limit: int = 1000,
    ) -> list[Hold]:
        """Returns up to ``limit`` holds on ``segment_id`` and/or of ``holder`` after ``after``,
        by segment then holder."""
        with sql.read_session(self.factory) as session:
            return hold_rows.listed(session, segment_id, holder, after, limit)


def _sync(session: Session, holder: str, wanted: set[str], generation: int) -> SyncResult:
    if {h.segment_id for h in hold_rows.of_holder(session, holder)} <= wanted:
        return _confirm(session, holder, wanted, generation)
    for network_id in hold_rows.networks_of_holder(session, holder):
        segment_rows.of_network(session, network_id, include_dynamic=False, lock=True)
    current = hold_rows.of_holder(session, holder, lock=True)
    held = {h.segment_id for h in current}
    if generation and any(h.generation > generation for h in current):
        return SyncResult(held=tuple(sorted(held)), stale=True)
    keep = sorted(wanted & held)
    dropped = sorted(held - wanted)
    hold_rows.confirm(session, holder, keep, generation)
    hold_rows.drop(session, holder, dropped)
    released = [s for s in (release_if_unheld(session, seg_id) for seg_id in dropped) if s]
    return SyncResult(
        held=tuple(keep), released=tuple(released), not_held=tuple(sorted(wanted - held))
    )


def _confirm(session: Session, holder: str, wanted: set[str], generation: int) -> SyncResult:
    """The sync of a holder that wants every hold it has (the sync after a binding that uses
    the segments allocated for it): no hold is dropped and no segment released, so no network
    needs locking; the holder's holds are locked and raised to ``generation`` where lower (no
    write when none is). Raises ``transaction.Retry`` when a hold the holder does not want
    appeared since the first look, so that the next attempt drops it, locking first what a
    drop locks."""
    current = hold_rows.of_holder(session, holder, lock=True)
    held = {h.segment_id for h in current}
    if not held <= wanted:
        raise transaction.Retry()
    if generation and any(h.generation > generation for h in current):
        return SyncResult(held=tuple(sorted(held)), stale=True)
    if any(h.generation < generation for h in current):
        hold_rows.confirm(session, holder, sorted(held), generation)
    return SyncResult(held=tuple(sorted(held)), not_held=tuple(sorted(wanted - held)))


def release_if_unheld(session: Session, segment_id: str) -> Segment | None:
    """Releases the dynamic segment if no hold names it any more; returns it if released."""
    if hold_rows.count(session, segment_id):
        return None
    found = segment_rows.get(session, segment_id, lock=True)
    if found is None or not found.is_dynamic:
        return None
    allocation.release(session, [segment_id])
    segment_rows.remove(session, [segment_id])
    session.flush()
    return found
