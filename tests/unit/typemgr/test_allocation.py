"""Allocation queries against a real SQLite file."""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr.db import allocation, schema, usage
from services.typemgr.db.models import NetworkSegment, SegmentAllocation, SegmentRange
from services.typemgr.ranges import DefaultRange
from services.typemgr.segments import IdRange

VLAN1 = allocation.Pool("vlan", "physnet1")


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = sql.make_engine(f"sqlite:///{tmp_path / 'alloc.db'}")
    made = sql.session_factory(engine)
    schema.initialize(
        made,
        [
            DefaultRange("vlan", "physnet1", 10, 14),
            DefaultRange("vlan", "physnet1", 20, 21),
            DefaultRange("vxlan", "", 1, 16777215),
        ],
    )
    yield made
    engine.dispose()


def add_segment(session: Session, segment_id: str) -> None:
    session.add(
        NetworkSegment(
            id=segment_id,
            network_id=str(uuid.uuid4()),
            network_type="vlan",
            physical_network="physnet1",
        )
    )


def take(session: Session, pool: allocation.Pool, seg_id: int) -> None:
    segment_id = str(uuid.uuid4())
    add_segment(session, segment_id)
    allocation.allocate_specific(session, pool, seg_id, segment_id)


def test_pool_hands_out_every_id_of_every_range_once_then_none(
    factory: sessionmaker[Session],
) -> None:
    got = []
    with sql.write_session(factory) as session:
        for _ in range(7):
            segment_id = str(uuid.uuid4())
            found = allocation.allocate_from_pool(session, VLAN1, segment_id)
            assert found is not None
            add_segment(session, segment_id)
            got.append(found)
        assert allocation.allocate_from_pool(session, VLAN1, str(uuid.uuid4())) is None
    assert sorted(got) == [10, 11, 12, 13, 14, 20, 21]


def test_first_free_id_finds_gaps_from_allocated_rows(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session:
        for seg_id in (10, 11, 13, 14):
            take(session, VLAN1, seg_id)
        assert allocation.first_free_id(session, VLAN1, 10, 14) == 12
        assert allocation.first_free_id(session, VLAN1, 13, 14) is None
        assert allocation.first_free_id(session, VLAN1, 14, 20) == 15
        assert allocation.first_free_id(session, VLAN1, 9, 14) == 9


def test_a_huge_range_is_stored_as_one_row_and_searched_without_scanning(
    factory: sessionmaker[Session],
) -> None:
    pool = allocation.Pool("vxlan", "")
    with sql.write_session(factory) as session:
        for seg_id in range(1, 50):
            take(session, pool, seg_id)
        assert allocation.first_free_id(session, pool, 1, 16777215) == 50
        assert (
            session.scalar(
                select(func.count())
                .select_from(SegmentRange)
                .where(SegmentRange.network_type == "vxlan")
            )
            == 1
        )
        assert session.scalar(select(func.count()).select_from(SegmentAllocation)) == 49


def test_specific_id_taken_twice_is_refused(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session:
        take(session, VLAN1, 12)
        with pytest.raises(allocation.IdTaken):
            take(session, VLAN1, 12)
        # The same id on another physical network is another id.
        take(session, allocation.Pool("vlan", "physnet2"), 12)


def test_ids_outside_the_ranges_never_enter_the_pool(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session:
        take(session, VLAN1, 5)
        got = set()
        while (
            found := allocation.allocate_from_pool(session, VLAN1, sid := str(uuid.uuid4()))
        ) is not None:
            add_segment(session, sid)
            got.add(found)
    assert 5 not in got
    assert len(got) == 7


def test_release_frees_the_ids_of_the_segments(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session:
        segment_id = str(uuid.uuid4())
        add_segment(session, segment_id)
        allocation.allocate_specific(session, VLAN1, 10, segment_id)
        assert allocation.release(session, [segment_id]) == 1
        assert allocation.first_free_id(session, VLAN1, 10, 14) == 10


def test_find_free_id_wraps_around_to_earlier_ranges(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session:
        for seg_id in (11, 12, 13, 14, 20, 21):
            take(session, VLAN1, seg_id)
        ranges = allocation.pool_ranges(session, VLAN1)
        assert ranges == [IdRange("physnet1", 10, 14), IdRange("physnet1", 20, 21)]
        for _ in range(20):
            assert allocation.find_free_id(session, VLAN1, ranges) == 10


def test_range_sync_is_idempotent_and_follows_the_configuration(
    factory: sessionmaker[Session],
) -> None:
    def stored() -> set[tuple[str, str, int, int]]:
        with sql.read_session(factory) as session:
            return {
                (r.network_type, r.physical_network, r.minimum, r.maximum)
                for r in session.scalars(select(SegmentRange))
            }

    before = stored()
    schema.initialize(factory, [DefaultRange(*key) for key in sorted(before)])
    assert stored() == before
    schema.initialize(factory, [DefaultRange("vlan", "physnet1", 10, 30)])
    assert stored() == {("vlan", "physnet1", 10, 30)}


def test_range_sync_keeps_allocations_of_removed_ranges(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session:
        take(session, VLAN1, 20)
    schema.initialize(factory, [DefaultRange("vlan", "physnet1", 10, 14)])
    with sql.read_session(factory) as session:
        assert usage.allocated_counts(session) == {("vlan", "physnet1"): 1}
        assert [r.used for r in usage.ranges_with_usage(session)] == [0]


def fill(session: Session, pool: allocation.Pool, ids: Iterable[int]) -> None:
    """Allocates ``ids`` in bulk, each to its own segment (as a full pool would hold them)."""
    segments, allocations = [], []
    for seg_id in ids:
        segment_id = str(uuid.uuid4())
        segments.append(
            {
                "id": segment_id,
                "network_id": segment_id,
                "network_type": pool.network_type,
                "physical_network": pool.physical_network,
                "segmentation_id": seg_id,
            }
        )
        allocations.append(
            {
                "network_type": pool.network_type,
                "physical_network": pool.physical_network,
                "segmentation_id": seg_id,
                "segment_id": segment_id,
            }
        )
    session.execute(insert(NetworkSegment), segments)
    session.execute(insert(SegmentAllocation), allocations)


class VmSteps:
    """Counts SQLite virtual machine instructions: a measure of the rows a query reads that does
    not depend on the speed of the machine."""

    def __init__(self, session: Session) -> None:
        raw = session.connection().connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        self.raw = raw
        self.steps = 0

    def _tick(self) -> int:
        self.steps += 1000
        return 0

    def __enter__(self) -> VmSteps:
        self.raw.set_progress_handler(self._tick, 1000)
        return self

    def __exit__(self, *exc: object) -> None:
        self.raw.set_progress_handler(None, 0)


VXLAN = allocation.Pool("vxlan", "")


@pytest.mark.parametrize("hole", [2, 64, 65, 66, 130, 1000, 4097, 19999])
def test_first_free_id_finds_the_one_hole_of_a_long_dense_run(
    factory: sessionmaker[Session], hole: int
) -> None:
    with sql.write_session(factory) as session:
        fill(session, VXLAN, (i for i in range(1, 20001) if i != hole))
        assert allocation.first_free_id(session, VXLAN, 1, 20000) == hole
        assert allocation.first_free_id(session, VXLAN, 1, hole - 1) is None
        assert allocation.first_free_id(session, VXLAN, hole + 1, 20000) is None
        assert allocation.first_free_id(session, VXLAN, hole + 1, 20001) == 20001


def test_the_last_free_id_of_a_full_pool_is_found_from_any_probe(
    factory: sessionmaker[Session],
) -> None:
    pool = allocation.Pool("vlan", "physnet1")
    with sql.write_session(factory) as session:
        fill(session, pool, [10, 11, 13, 14, 20, 21])
        ranges = allocation.pool_ranges(session, pool)
        assert {allocation.find_free_id(session, pool, ranges) for _ in range(30)} == {12}
        fill(session, pool, [12])
        assert allocation.find_free_id(session, pool, ranges) is None
        assert allocation.allocate_from_pool(session, pool, str(uuid.uuid4())) is None


def test_single_id_ranges_are_each_handed_out_once(tmp_path: Path) -> None:
    engine = sql.make_engine(f"sqlite:///{tmp_path / 'single.db'}")
    made = sql.session_factory(engine)
    schema.initialize(made, [DefaultRange("gre", "", n, n) for n in (5, 7, 2**32 - 1)])
    pool = allocation.Pool("gre", "")
    with sql.write_session(made) as session:
        got = []
        for _ in range(3):
            segment_id = str(uuid.uuid4())
            got.append(allocation.allocate_from_pool(session, pool, segment_id))
            add_segment(session, segment_id)
        assert sorted(got) == [5, 7, 2**32 - 1]  # type: ignore[type-var]
        assert allocation.allocate_from_pool(session, pool, str(uuid.uuid4())) is None
    engine.dispose()


def test_a_pool_without_ranges_says_so(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session, pytest.raises(allocation.NoRanges):
        allocation.allocate_from_pool(session, allocation.Pool("vlan", "physnet9"), "x")


@pytest.mark.parametrize("fill_ratio", [0.5, 0.99, 0.999])
def test_allocation_reads_a_small_part_of_a_filled_pool(
    factory: sessionmaker[Session], fill_ratio: float
) -> None:
    """Finding a free id costs far less than reading the allocated ids once, at any fill."""
    size = 40_000
    rng = random.Random(7)
    taken = rng.sample(range(1, size + 1), int(size * fill_ratio))
    ranges = [IdRange("", 1, size)]
    with sql.write_session(factory) as session:
        fill(session, VXLAN, taken)
        with VmSteps(session) as scan:
            session.execute(select(func.sum(SegmentAllocation.segmentation_id))).scalar()
        found = set()
        with VmSteps(session) as search:
            for _ in range(20):
                free = allocation.find_free_id(session, VXLAN, ranges)
                assert free is not None
                found.add(free)
    assert not found & set(taken)
    # Measured: about 1/40 of a full read at 50%, 1/60 at 99%, 1/11 at 99.9% (40 free ids).
    assert search.steps / 20 < scan.steps / 5, (search.steps, scan.steps)


def test_a_gap_filled_during_the_search_is_passed_over_not_taken_for_exhaustion(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent caller takes the free id the search has just located by galloping; the
    search must go on to the next free id instead of reporting the window full."""
    with sql.write_session(factory) as session:
        fill(session, VXLAN, (i for i in range(1, 5001) if i not in (1000, 3000)))
        dense = allocation._dense
        raced = []

        def dense_then_race(session_: Session, pool: allocation.Pool, after: int, n: int) -> bool:
            result = dense(session_, pool, after, n)
            if not result and not raced:
                raced.append(after)
                fill(session, VXLAN, [1000])  # another caller wins the gap just found
            return result

        monkeypatch.setattr(allocation, "_dense", dense_then_race)
        assert allocation.first_gap(session, VXLAN, 1, 5000) == (3000, 3000)
        assert raced
