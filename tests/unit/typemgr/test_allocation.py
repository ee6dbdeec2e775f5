"""Allocation queries against a real SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr.db import allocation, schema
from services.typemgr.db.models import NetworkSegment, SegmentAllocation, SegmentRange
from services.typemgr.segments import IdRange

VLAN1 = allocation.Pool("vlan", "physnet1")


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = sql.make_engine(f"sqlite:///{tmp_path / 'alloc.db'}")
    made = sql.session_factory(engine)
    schema.initialize(
        made,
        [("vlan", "physnet1", 10, 14), ("vlan", "physnet1", 20, 21), ("vxlan", "", 1, 16777215)],
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
    schema.initialize(factory, sorted(before))
    assert stored() == before
    schema.initialize(factory, [("vlan", "physnet1", 10, 30)])
    assert stored() == {("vlan", "physnet1", 10, 30)}


def test_range_sync_keeps_allocations_of_removed_ranges(factory: sessionmaker[Session]) -> None:
    with sql.write_session(factory) as session:
        take(session, VLAN1, 20)
    schema.initialize(factory, [("vlan", "physnet1", 10, 14)])
    with sql.read_session(factory) as session:
        assert allocation.allocated_counts(session) == {VLAN1: 1}
        assert allocation.allocated_in_ranges(session) == {}
