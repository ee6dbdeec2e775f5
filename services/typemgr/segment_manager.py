"""The operations behind SegmentService, each one transaction over segments and allocations.

Everything one request writes commits together or not at all: a failed reservation of the third
provider segment leaves no trace of the first two. Concurrent callers converge: two creations of
one network's segments return the same segments, two allocations of one dynamic segment return
the same segment, and a lost race is retried a bounded number of times (``db.transaction``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from ml2_contract.values import Segment, SegmentSpec
from ml2_driver_sdk.runtime.errors import InvalidArgument, ServiceError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr import errors, metrics
from services.typemgr.db import allocation, single_statement, transaction
from services.typemgr.db import holds as hold_rows
from services.typemgr.db import segments as segment_rows
from services.typemgr.drivers import base
from services.typemgr.type_manager import Claim, TypeManager

logger = logging.getLogger(__name__)

T = TypeVar("T")


class SegmentManager:
    """Creates, lists and releases the segments of networks."""

    def __init__(self, types: TypeManager, factory: sessionmaker[Session]) -> None:
        self.types = types
        self.factory = factory
        bind = factory.kw.get("bind")
        # On PostgreSQL a new network's tenant segment is first tried in one statement.
        self.autocommit: Engine | None = None
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            self.autocommit = bind.execution_options(isolation_level="AUTOCOMMIT")

    def create_network_segments(
        self, network_id: str, specs: Sequence[SegmentSpec], project_id: str = ""
    ) -> list[Segment]:
        """Creates the static segments of a network: one per spec in order, or one tenant
        segment if ``specs`` is empty. Ids are taken from the ranges reserved for
        ``project_id`` first, then from the shared ranges. If the network already has static
        segments that satisfy the request they are returned unchanged; other segments raise
        NetworkSegmentsDiffer. Specs are validated as ``segments[i]``."""
        self.types.validate_all(specs, "segments")
        if not specs and not self.types.tenant_network_types:
            raise errors.NoTenantNetworkTypes()
        quick = self._single_statement(network_id, specs, project_id)
        if quick is not None:
            found, created = [quick], True
        else:
            found, created = self._create_or_find(network_id, specs, project_id)
        if created:
            logger.info(
                "network %s has segments %s",
                network_id,
                ", ".join(_describe(s) for s in found),
                extra={"network_id": network_id},
            )
        return found

    def _create_or_find(
        self, network_id: str, specs: Sequence[SegmentSpec], project_id: str
    ) -> tuple[list[Segment], bool]:
        """The general path: returns the network's segments and whether this call created them
        (in one transaction, retried on lost races)."""
        # The first attempt inserts straight away: a network's static segments are unique per
        # index, so one that exists already makes the insert fail, and the next attempt reads
        # what is there first. A new network (the common case) is spared that read.
        look_first = [False]

        def existing(session: Session) -> list[Segment]:
            found = segment_rows.of_network(session, network_id, include_dynamic=False)
            if found:
                _check_matches(network_id, found, specs)
            return found

        def work(session: Session) -> tuple[list[Segment], bool]:
            if look_first[0] and (found := existing(session)):
                return found, False
            try:
                return self._add_all(session, network_id, specs, project_id), True
            except transaction.Retry:
                look_first[0] = True
                raise

        return self._run(work)

    def _add_all(
        self, session: Session, network_id: str, specs: Sequence[SegmentSpec], project_id: str
    ) -> list[Segment]:
        added: list[Segment] = []
        try:
            for index, spec in enumerate(specs or [None]):
                added.append(self._add(session, network_id, index, spec, project_id=project_id))
        except ServiceError:
            # The network may exist already (created earlier, or concurrently, maybe holding
            # the very id asked for): then its segments are the answer, not this error.
            mine = {s.id for s in added}
            found = segment_rows.of_network(session, network_id, include_dynamic=False)
            if any(s.id not in mine for s in found):
                raise transaction.Retry() from None
            raise
        return added

    def _single_statement(
        self, network_id: str, specs: Sequence[SegmentSpec], project_id: str
    ) -> Segment | None:
        """Tries the one-statement path for a network with one partial segment (or a tenant
        segment of the first tenant type); returns the stored segment, or None when the general
        path must run (not PostgreSQL, other requests, or the statement found nothing)."""
        if self.autocommit is None or len(specs) > 1:
            return None
        spec = specs[0] if specs else SegmentSpec(self.types.tenant_network_types[0])
        driver = self.types.drivers[spec.network_type]
        if driver.allocation is not base.Allocation.POOL or spec.segmentation_id is not None:
            return None
        candidates = [
            single_statement.Candidate(physnet, owner, driver.mtu(physnet))
            for owner in ((project_id,) if project_id else ()) + ("",)
            for physnet in driver.pools_for(spec)
        ]
        segment_id = str(uuid.uuid4())
        started = time.perf_counter()
        try:
            with self.autocommit.connect() as connection:
                stored = single_statement.allocate_tenant_segment(
                    connection,
                    network_id=network_id,
                    segment_id=segment_id,
                    network_type=spec.network_type,
                    candidates=candidates,
                )
        except IntegrityError:
            stored = None  # the network has segments already: the general path answers
        if stored is None:
            metrics.SINGLE_STATEMENT.labels(spec.network_type, "general").inc()
            return None
        metrics.SINGLE_STATEMENT.labels(spec.network_type, "allocated").inc()
        metrics.ALLOCATIONS.labels(spec.network_type, "allocated").inc()
        metrics.ALLOCATION_ATTEMPTS.labels(spec.network_type).observe(1)
        metrics.ALLOCATION_SECONDS.labels(spec.network_type).observe(time.perf_counter() - started)
        return Segment(
            id=segment_id,
            network_id=network_id,
            network_type=spec.network_type,
            physical_network=stored.physical_network,
            segmentation_id=stored.segmentation_id,
            mtu=stored.mtu,
            is_dynamic=False,
            segment_index=0,
        )

    def list_network_segments(self, network_id: str, include_dynamic: bool) -> list[Segment]:
        """Returns the network's segments (static in index order, then dynamic); empty for a
        network typemgr does not know."""
        with sql.read_session(self.factory) as session:
            return segment_rows.of_network(session, network_id, include_dynamic=include_dynamic)

    def release_network_segments(self, network_id: str) -> list[Segment]:
        """Deletes every segment of the network, static and dynamic, and frees their ids;
        returns them. Releasing a network without segments returns nothing."""

        def work(session: Session) -> list[Segment]:
            # Locking the rows (static ones first, as every writer does) makes a concurrent
            # dynamic allocation either finish before this release (and be released with it)
            # or find the network gone.
            found = segment_rows.of_network(session, network_id, include_dynamic=True, lock=True)
            ids = [s.id for s in found]
            hold_rows.drop_segments(session, [s.id for s in found if s.is_dynamic])
            allocation.release(session, ids)
            segment_rows.remove(session, ids)
            return found

        released = self._run(work)
        for segment in released:
            metrics.RELEASES.labels(segment.network_type).inc()
        if released:
            logger.info("released %d segments of network %s", len(released), network_id)
        return released

    def allocate_dynamic_segment(
        self, network_id: str, spec: SegmentSpec, holder: str = "", generation: int = 0
    ) -> Segment:
        """Returns the network's dynamic segment of ``spec``'s type and physical network, allocating
        it if there is none, and records ``holder``'s hold on it (if given) at ``generation`` (or
        the hold's higher one) in the same transaction. Raises NetworkNotFound if the network has no
        static segments, DynamicSegmentDiffers if the existing one has another id than asked for."""
        driver = self.types.validate(spec, "segment")
        if isinstance(driver, base.PhysicalTypeDriver) and not spec.physical_network:
            raise InvalidArgument("segment.physical_network", "is required for a dynamic segment")

        def work(session: Session) -> Segment:
            if not segment_rows.of_network(session, network_id, include_dynamic=False, lock=True):
                raise errors.NetworkNotFound(network_id)
            # Read after the lock, in a statement of its own: on PostgreSQL it sees the dynamic
            # segment that the allocation this one waited for committed.
            found = segment_rows.dynamic_of(
                session, network_id, spec.network_type, spec.physical_network
            )
            if found is None:
                found = self._add(session, network_id, 0, spec, dynamic=True)
            elif spec.segmentation_id not in (None, found.segmentation_id):
                raise errors.DynamicSegmentDiffers(network_id, found.id, found.segmentation_id)
            if holder:
                hold_rows.add(session, found.id, holder, generation)
            return found

        return self._run(work)

    def release_dynamic_segment(self, segment_id: str) -> Segment:
        """Deletes one dynamic segment and frees its id; returns it. Raises SegmentNotFound,
        SegmentIsStatic, or DynamicSegmentInUse while a holder holds it."""

        def work(session: Session) -> Segment:
            found = segment_rows.get(session, segment_id, lock=True)
            if found is None:
                raise errors.SegmentNotFound(segment_id)
            if not found.is_dynamic:
                raise errors.SegmentIsStatic(segment_id)
            holders = hold_rows.listed(session, segment_id=segment_id, limit=4)
            if holders:
                raise errors.DynamicSegmentInUse(segment_id, [h.holder for h in holders])
            allocation.release(session, [segment_id])
            segment_rows.remove(session, [segment_id])
            return found

        released = self._run(work)
        metrics.RELEASES.labels(released.network_type).inc()
        return released

    def update_segmentation_id(self, segment_id: str, segmentation_id: int) -> Segment:
        """Gives a static segment a new segmentation id in one transaction: the new id is
        reserved for the segment (checked as a provider id is at creation, errors naming
        ``segmentation_id``), the old one released, and the segment keeps its id. Asking for
        the id it has changes nothing. Raises SegmentNotFound, SegmentIsDynamic,
        SegmentationIdNotUpdatable (a type without ids), InvalidArgument, SegmentationIdInUse.
        Two concurrent requests for one id cannot both get it: the allocation's primary key
        decides (PostgreSQL makes the second insert wait for the first to commit)."""

        def work(session: Session) -> tuple[Segment, bool]:
            found = segment_rows.get(session, segment_id, lock=True)
            if found is None:
                raise errors.SegmentNotFound(segment_id)
            if found.is_dynamic:
                raise errors.SegmentIsDynamic(segment_id)
            driver = self.types.drivers.get(found.network_type)
            if driver is None or driver.allocation is not base.Allocation.POOL:
                raise errors.SegmentationIdNotUpdatable(segment_id, found.network_type)
            if found.segmentation_id == segmentation_id:
                return found, False
            spec = SegmentSpec(found.network_type, found.physical_network, segmentation_id)
            try:
                self.types.validate(spec, "segment")
            except InvalidArgument as exc:
                raise _renamed(exc, "segment.", "") from None
            allocation.release(session, [segment_id])
            self.types.reserve(session, spec, Claim(segment_id, field="segmentation_id"))
            segment_rows.set_segmentation_id(session, segment_id, segmentation_id)
            return replace(found, segmentation_id=segmentation_id), True

        updated, changed = self._run(work)
        if changed:
            logger.info(
                "segment %s of network %s now has segmentation id %d",
                segment_id,
                updated.network_id,
                segmentation_id,
                extra={"network_id": updated.network_id},
            )
        return updated

    def add_static_segment(
        self,
        network_id: str,
        segment_id: str,
        spec: SegmentSpec,
        project_id: str = "",
        minimum_mtu: int = 0,
    ) -> tuple[Segment, list[Segment]]:
        """Adds a static segment with id ``segment_id`` after the network's last one, reserved
        as a provider segment at creation (errors name ``segment``); returns it and the
        network's static segments after the change. A segment with that id already on the
        network is returned as it is (a retry). Raises NetworkNotFound if the network has no
        static segments, SegmentationIdInUse, FlatNetworkInUse, NoSegmentAvailable, and
        InvalidArgument (MTU_TOO_BIG) if the segment's MTU is smaller than ``minimum_mtu`` (the
        network's requested MTU, which Neutron refuses to leave larger than its segments
        allow)."""
        self.types.validate(spec, "segment")
        mtu = self.types.mtu(spec)
        if minimum_mtu and mtu and minimum_mtu > mtu:
            raise InvalidArgument(
                "segment",
                f"Requested MTU is too big, maximum is {mtu}: the network's requested MTU "
                f"{minimum_mtu} is larger than the MTU of a {spec.network_type} segment",
                reason="MTU_TOO_BIG",
                maximum=mtu,
                requested=minimum_mtu,
            )

        def work(session: Session) -> tuple[Segment, list[Segment]]:
            found = segment_rows.of_network(session, network_id, include_dynamic=False, lock=True)
            if not found:
                raise errors.NetworkNotFound(network_id)
            for existing in found:
                if existing.id == segment_id:
                    return existing, found
            index = max(s.segment_index for s in found) + 1
            added = self._add(
                session,
                network_id,
                index,
                spec,
                project_id=project_id,
                segment_id=segment_id,
                field="segment",
            )
            return added, [*found, added]

        added, after = self._run(work)
        logger.info(
            "network %s has a new segment %s (%s)",
            network_id,
            added.id,
            _describe(added),
            extra={"network_id": network_id},
        )
        return added, after

    def remove_static_segment(
        self, network_id: str, segment_id: str
    ) -> tuple[Segment | None, list[Segment]]:
        """Removes one static segment of the network and frees its id; returns it (None if it
        was gone already) and the network's static segments after the change. Raises
        SegmentIsDynamic, LastStaticSegment, SegmentNotFound if the id names a segment of
        another network."""

        def work(session: Session) -> tuple[Segment | None, list[Segment]]:
            found = segment_rows.of_network(session, network_id, include_dynamic=False, lock=True)
            target = next((s for s in found if s.id == segment_id), None)
            if target is None:
                other = segment_rows.get(session, segment_id)
                if other is not None and other.network_id != network_id:
                    raise errors.SegmentNotFound(segment_id)
                if other is not None and other.is_dynamic:
                    raise errors.SegmentIsDynamic(segment_id)
                return None, found
            if len(found) == 1:
                raise errors.LastStaticSegment(network_id, segment_id)
            allocation.release(session, [segment_id])
            segment_rows.remove(session, [segment_id])
            return target, [s for s in found if s.id != segment_id]

        removed, after = self._run(work)
        if removed is not None:
            metrics.RELEASES.labels(removed.network_type).inc()
            logger.info(
                "removed segment %s (%s) of network %s",
                segment_id,
                _describe(removed),
                network_id,
                extra={"network_id": network_id},
            )
        return removed, after

    def validate_segment(self, spec: SegmentSpec) -> int:
        """Validates a provider segment as ``segment`` without reserving anything; returns the
        MTU it would have."""
        self.types.validate(spec, "segment")
        return self.types.mtu(spec)

    def _add(
        self,
        session: Session,
        network_id: str,
        index: int,
        spec: SegmentSpec | None,
        *,
        dynamic: bool = False,
        project_id: str = "",
        segment_id: str = "",
        field: str = "",
    ) -> Segment:
        segment_id = segment_id or str(uuid.uuid4())
        field = field or ("segment" if dynamic else f"segments[{index}]")
        claim = Claim(segment_id, project_id, field)
        if spec is None:
            reserved = self.types.allocate_tenant(session, claim)
        else:
            reserved = self.types.reserve(session, spec, claim)
        segment = Segment(
            id=segment_id,
            network_id=network_id,
            network_type=reserved.network_type,
            physical_network=reserved.physical_network,
            segmentation_id=reserved.segmentation_id or 0,
            mtu=self.types.mtu(reserved),
            is_dynamic=dynamic,
            segment_index=index,
        )
        try:
            segment_rows.add(session, segment)
        except segment_rows.SegmentExists:
            raise transaction.Retry() from None
        return segment

    def _run(self, work: Callable[[Session], T]) -> T:
        try:
            return transaction.run(self.factory, work, on_retry=metrics.TRANSACTION_RETRIES.inc)
        except transaction.RetriesExhausted:
            raise errors.ConcurrentChanges() from None


def _check_matches(network_id: str, existing: list[Segment], specs: Sequence[SegmentSpec]) -> None:
    if not specs:
        return
    if len(specs) == len(existing) and all(
        s.satisfies(p) for s, p in zip(existing, specs, strict=True)
    ):
        return
    raise errors.NetworkSegmentsDiffer(network_id, ", ".join(_describe(s) for s in existing))


def _renamed(exc: InvalidArgument, prefix: str, replacement: str) -> InvalidArgument:
    """Returns ``exc`` with ``prefix`` of its field (and message) replaced."""
    field = exc.field.replace(prefix, replacement, 1)
    message = exc.message.replace(prefix, replacement, 1)
    metadata = {k: v for k, v in exc.metadata.items() if k != "field"}
    return InvalidArgument.from_message(message, field, reason=exc.reason, **metadata)


def _describe(segment: Segment) -> str:
    physnet = f" {segment.physical_network}" if segment.physical_network else ""
    return f"{segment.network_type}{physnet} {segment.segmentation_id}"
