"""The operations behind SegmentRangeService: ranges created, read, changed and deleted at run
time, each change reported before (dry run) or as it is made.

A change never takes an allocated id away from its network. Shrinking or deleting a range
leaves the ids it held outside every range ("orphaned"): they stay allocated, are listed by
``ListSegmentAllocations(outside_ranges=true)``, and when released they simply stop being
allocated. Growing a range over ids allocated outside every range ("adopted") counts them as
used. Writes take the ranges lock (``db.ranges.lock``), so overlapping ranges are refused even
when two replicas create them at the same moment.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr import errors, range_rules
from services.typemgr.config import RANGE_SETTINGS
from services.typemgr.db import ranges as range_rows
from services.typemgr.db import transaction, usage
from services.typemgr.ranges import (
    MAX_ORPHANS_REPORTED,
    Allocation,
    RangeChange,
    RangeFilters,
    RangeSpec,
    RangeUpdate,
    SegmentRange,
)
from services.typemgr.type_manager import TypeManager

logger = logging.getLogger(__name__)

T = TypeVar("T")


class RangeManager:
    """Creates, lists, changes and deletes segment ranges."""

    def __init__(self, types: TypeManager, factory: sessionmaker[Session]) -> None:
        self.types = types
        self.factory = factory

    def create(self, spec: RangeSpec) -> SegmentRange:
        """Creates a range. Raises InvalidArgument, or SegmentRangeOverlaps naming the range of
        the pool it would overlap."""
        range_rules.check_spec(self.types, spec)
        created = SegmentRange(
            id=str(uuid.uuid4()),
            default=False,
            **dataclasses.asdict(spec),
        )

        def work(session: Session) -> SegmentRange:
            range_rows.lock(session)
            _refuse_overlap(session, created)
            range_rows.add(session, created)
            return _with_usage(session, range_rows.get(session, created.id) or created)

        stored = self._write(work)
        logger.info("created segment range %s", stored.describe())
        return stored

    def get(self, range_id: str) -> SegmentRange:
        """Returns the range with its usage. Raises SegmentRangeNotFound."""
        with sql.read_session(self.factory) as session:
            return _with_usage(session, _existing(session, range_id))

    def list_page(
        self, filters: RangeFilters, after: range_rows.ListPosition | None, limit: int
    ) -> list[SegmentRange]:
        """Returns up to ``limit`` ranges matching ``filters`` after ``after``, with usage."""
        with sql.read_session(self.factory) as session:
            found = range_rows.listed(session, filters, after, limit)
            used = range_rows.usage(session, found)
        return [dataclasses.replace(r, used=used.get(r.id, 0)) for r in found]

    def update(
        self, range_id: str, change: RangeUpdate, dry_run: bool
    ) -> tuple[SegmentRange, RangeChange]:
        """Changes the name or bounds of a range (or, with ``dry_run``, only reports what the
        change would do). Raises SegmentRangeNotFound, DefaultRangeReadOnly, InvalidArgument or
        SegmentRangeOverlaps."""
        if change.name is not None:
            range_rules.check_name(change.name)

        def work(session: Session) -> tuple[SegmentRange, RangeChange]:
            if not dry_run:
                range_rows.lock(session)
            old = _mutable(session, range_id)
            new = dataclasses.replace(
                old,
                name=old.name if change.name is None else change.name,
                minimum=old.minimum if change.minimum is None else change.minimum,
                maximum=old.maximum if change.maximum is None else change.maximum,
            )
            range_rules.check_bounds(new.network_type, new.minimum, new.maximum)
            _refuse_overlap(session, new)
            report = _report(session, old, new, dry_run)
            if not dry_run:
                values = {"name": new.name, "minimum": new.minimum, "maximum": new.maximum}
                range_rows.change(session, range_id, values)
            return _with_usage(session, new), report

        updated, report = self._run(work, dry_run)
        if not dry_run:
            logger.info(
                "updated segment range %s; %d allocated ids left outside every range",
                updated.describe(),
                report.orphaned_count,
            )
        return updated, report

    def delete(self, range_id: str, dry_run: bool) -> tuple[SegmentRange, RangeChange]:
        """Deletes a range (or, with ``dry_run``, only reports what the deletion would do);
        returns it as it was. Raises SegmentRangeNotFound or DefaultRangeReadOnly."""

        def work(session: Session) -> tuple[SegmentRange, RangeChange]:
            if not dry_run:
                range_rows.lock(session)
            old = _with_usage(session, _mutable(session, range_id))
            report = _report(session, old, None, dry_run)
            if not dry_run:
                range_rows.remove(session, [range_id])
            return old, report

        deleted, report = self._run(work, dry_run)
        if not dry_run:
            logger.info(
                "deleted segment range %s; %d allocated ids left outside every range",
                deleted.describe(),
                report.orphaned_count,
            )
        return deleted, report

    def list_allocations(
        self,
        network_type: str,
        physical_network: str,
        outside_ranges: bool,
        after: usage.Position | None,
        limit: int,
    ) -> list[Allocation]:
        """Returns up to ``limit`` allocated ids after ``after``, by type, physical network and
        id; with ``outside_ranges`` only those that lie outside every range."""
        with sql.read_session(self.factory) as session:
            return usage.listed(
                session, network_type, physical_network, outside_ranges, after, limit
            )

    def _run(self, work: Callable[[Session], T], dry_run: bool) -> T:
        if dry_run:
            with sql.read_session(self.factory) as session:
                return work(session)
        return self._write(work)

    def _write(self, work: Callable[[Session], T]) -> T:
        try:
            return transaction.run(self.factory, work)
        except transaction.RetriesExhausted:
            raise errors.ConcurrentChanges() from None


def _existing(session: Session, range_id: str) -> SegmentRange:
    found = range_rows.get(session, range_id)
    if found is None:
        raise errors.SegmentRangeNotFound(range_id)
    return found


def _mutable(session: Session, range_id: str) -> SegmentRange:
    found = _existing(session, range_id)
    if found.default:
        raise errors.DefaultRangeReadOnly(range_id, RANGE_SETTINGS[found.network_type])
    return found


def _with_usage(session: Session, found: SegmentRange) -> SegmentRange:
    pool = (found.network_type, found.physical_network)
    used = range_rows.count_allocated(session, pool, found.minimum, found.maximum)
    return dataclasses.replace(found, used=used)


def _refuse_overlap(session: Session, wanted: SegmentRange) -> None:
    pool = (wanted.network_type, wanted.physical_network)
    other = range_rows.overlapping(session, pool, wanted.minimum, wanted.maximum, wanted.id)
    if other is not None:
        where = f" {wanted.physical_network}" if wanted.physical_network else ""
        asked = f"{wanted.network_type}{where} {wanted.minimum}:{wanted.maximum}"
        raise errors.SegmentRangeOverlaps(asked, other.describe(), other.id)


def _report(
    session: Session, old: SegmentRange, new: SegmentRange | None, dry_run: bool
) -> RangeChange:
    """Returns what replacing ``old`` by ``new`` (None: deleting it) does to the pool. Ranges of
    a pool never overlap, so ids of ``old`` outside ``new`` are outside every range after the
    change, and ids of ``new`` outside ``old`` were outside every range before it."""
    pool = (old.network_type, old.physical_network)
    before = sum(r.size for r in range_rows.of_pool(session, pool))
    after = before - old.size + (new.size if new is not None else 0)
    lost = _difference(old, new)
    gained = _difference(new, old) if new is not None else []
    orphans: list[int] = []
    for low, high in lost:
        orphans += range_rows.allocated_ids(
            session, pool, low, high, MAX_ORPHANS_REPORTED - len(orphans)
        )
    return RangeChange(
        dry_run=dry_run,
        pool_size_before=before,
        pool_size_after=after,
        orphaned_count=sum(range_rows.count_allocated(session, pool, lo, hi) for lo, hi in lost),
        orphaned_ids=tuple(orphans),
        adopted_count=sum(range_rows.count_allocated(session, pool, lo, hi) for lo, hi in gained),
    )


def _difference(first: SegmentRange, second: SegmentRange | None) -> list[tuple[int, int]]:
    """Returns the parts of ``first`` outside ``second``, as (low, high) intervals."""
    if second is None or second.maximum < first.minimum or first.maximum < second.minimum:
        return [(first.minimum, first.maximum)]
    parts = []
    if first.minimum < second.minimum:
        parts.append((first.minimum, second.minimum - 1))
    if second.maximum < first.maximum:
        parts.append((second.maximum + 1, first.maximum))
    return parts
