"""The one-statement tenant allocation on a real PostgreSQL database: what it stores, which pool
it takes from, and that it stores nothing whenever it leaves the decision to the general path."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from services import sql
from services.typemgr.db import allocation, schema, single_statement
from services.typemgr.db.models import NetworkSegment, SegmentAllocation, SegmentRange
from services.typemgr.ranges import DefaultRange

Candidate = single_statement.Candidate
SHARED_VLAN = [Candidate("physnet1", "", 1500)]


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    made = sql.make_engine(postgres_url)
    schema.initialize(
        sql.session_factory(made),
        [
            DefaultRange("vlan", "physnet1", 10, 14),
            DefaultRange("vlan", "physnet1", 20, 21),
            DefaultRange("vxlan", "", 1, 16777215),
        ],
    )
    yield made.execution_options(isolation_level="AUTOCOMMIT")
    made.dispose()


def allocate(
    engine: Engine,
    candidates: list[Candidate],
    network_type: str = "vlan",
    network_id: str = "",
) -> single_statement.Allocated | None:
    with engine.connect() as connection:
        return single_statement.allocate_tenant_segment(
            connection,
            network_id=network_id or str(uuid.uuid4()),
            segment_id=str(uuid.uuid4()),
            network_type=network_type,
            candidates=candidates,
        )


def stored(engine: Engine) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """(segments, allocations) as sorted (id, physical network, segmentation id) rows."""
    with engine.connect() as connection:
        segments = connection.execute(
            select(
                NetworkSegment.id,
                NetworkSegment.physical_network,
                NetworkSegment.segmentation_id,
            ).where(NetworkSegment.network_type != "flat")
        ).all()
        allocations = connection.execute(
            select(
                SegmentAllocation.segment_id,
                SegmentAllocation.physical_network,
                SegmentAllocation.segmentation_id,
            )
        ).all()
    return sorted(map(tuple, segments)), sorted(map(tuple, allocations))


def add_range(engine: Engine, network_type: str, physnet: str, low: int, high: int, project: str):
    with engine.connect() as connection:
        connection.execute(
            SegmentRange.__table__.insert(),
            {
                "id": str(uuid.uuid4()),
                "name": "",
                "network_type": network_type,
                "physical_network": physnet,
                "minimum": low,
                "maximum": high,
                "shared": not project,
                "project_id": project,
                "is_default": False,
            },
        )


def test_it_stores_the_segment_and_its_allocation_together(engine: Engine) -> None:
    network_id = str(uuid.uuid4())
    got = allocate(engine, [Candidate("", "", 1450)], "vxlan", network_id)
    assert got is not None and 1 <= got.segmentation_id <= 16777215
    assert (got.physical_network, got.mtu) == ("", 1450)
    segments, allocations = stored(engine)
    assert segments == allocations
    assert [row[2] for row in segments] == [got.segmentation_id]
    with engine.connect() as connection:
        row = connection.execute(select(NetworkSegment)).one()
    assert (row.network_id, row.segment_index, row.is_dynamic, row.mtu) == (
        network_id,
        0,
        False,
        1450,
    )


def test_ids_are_spread_over_the_range(engine: Engine) -> None:
    ids = []
    for _ in range(40):
        got = allocate(engine, [Candidate("", "", 1450)], "vxlan")
        assert got is not None
        ids.append(got.segmentation_id)
    assert len(set(ids)) == 40
    assert max(ids) - min(ids) > 16777215 // 2  # random starts, not the lowest free ids


def test_it_takes_only_ids_of_the_ranges_and_stores_nothing_when_it_finds_none(
    engine: Engine,
) -> None:
    handed_out = set()
    for _ in range(200):
        got = allocate(engine, SHARED_VLAN)
        if got is not None:
            assert got.segmentation_id not in handed_out
            handed_out.add(got.segmentation_id)
    assert handed_out <= {10, 11, 12, 13, 14, 20, 21}
    # The statement gives up on dense windows; the general path finds what is left, and then
    # the statement finds nothing and stores nothing.
    factory = sql.session_factory(engine.execution_options(isolation_level="READ COMMITTED"))
    while True:
        with sql.write_session(factory) as session:
            segment_id = str(uuid.uuid4())
            found = allocation.allocate_from_pool(
                session, allocation.Pool("vlan", "physnet1"), segment_id
            )
            if found is None:
                break
            session.add(
                NetworkSegment(
                    id=segment_id,
                    network_id=str(uuid.uuid4()),
                    network_type="vlan",
                    physical_network="physnet1",
                    segmentation_id=found,
                )
            )
    before = stored(engine)
    assert sorted(row[2] for row in before[1]) == [10, 11, 12, 13, 14, 20, 21]
    assert all(allocate(engine, SHARED_VLAN) is None for _ in range(20))
    assert stored(engine) == before


def test_a_projects_own_ranges_come_first_and_other_projects_ranges_never(
    engine: Engine,
) -> None:
    add_range(engine, "vlan", "physnet1", 100, 109, "project-a")
    add_range(engine, "vlan", "physnet1", 200, 209, "project-b")
    project_first = [Candidate("physnet1", "project-a", 1500), *SHARED_VLAN]
    # A random start on a taken id with no free id after it in its range gives up (see
    # test_a_start_with_only_taken_ids_after_it_in_its_range_gives_up): count what the
    # statement stores, not how often it is called.
    own = []
    for _ in range(100):
        got = allocate(engine, project_first)
        if got is not None:
            assert 100 <= got.segmentation_id <= 109
            own.append(got.segmentation_id)
        if len(own) == 5:
            break
    assert len(own) == len(set(own)) == 5
    for _ in range(5):
        got = allocate(engine, [Candidate("physnet1", "project-c", 1500), *SHARED_VLAN])
        assert got is None or got.segmentation_id in {10, 11, 12, 13, 14, 20, 21}
    _, allocations = stored(engine)
    assert not [row for row in allocations if 200 <= row[2] <= 209]


class FixedRandom:
    """Stands in for the statement's random source: every draw is ``value``."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def test_a_start_with_only_taken_ids_after_it_in_its_range_gives_up(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The window runs from the random start to at most the end of the start's range; it does
    # not wrap around. Start on 14, the last id of 10-14, twice: the second time the window
    # holds only 14, taken, so the statement stores nothing although 10-13 and 20-21 are free,
    # and leaves them to the general path, whose gap search wraps around all the ranges.
    monkeypatch.setattr(single_statement, "_random", FixedRandom(0.6))  # 0.6 * 7 ids: the 5th
    got = allocate(engine, SHARED_VLAN)
    assert got is not None and got.segmentation_id == 14
    before = stored(engine)
    assert allocate(engine, SHARED_VLAN) is None
    assert stored(engine) == before
    monkeypatch.setattr(single_statement, "_random", FixedRandom(0.0))
    got = allocate(engine, SHARED_VLAN)
    assert got is not None and got.segmentation_id == 10


def test_the_first_candidate_pool_with_a_range_is_used_with_its_mtu(engine: Engine) -> None:
    add_range(engine, "vlan", "physnet3", 300, 309, "")
    candidates = [
        Candidate("physnet2", "", 9000),  # no range at all
        Candidate("physnet3", "", 1400),
        Candidate("physnet1", "", 1500),
    ]
    got = allocate(engine, candidates)
    assert got is not None
    assert (got.physical_network, got.mtu) == ("physnet3", 1400)
    assert 300 <= got.segmentation_id <= 309
    assert allocate(engine, [Candidate("physnet2", "", 9000)]) is None


def test_a_network_with_a_segment_already_is_refused_and_nothing_is_stored(
    engine: Engine,
) -> None:
    network_id = str(uuid.uuid4())
    assert allocate(engine, [Candidate("", "", 1450)], "vxlan", network_id) is not None
    before = stored(engine)
    with pytest.raises(IntegrityError):
        allocate(engine, [Candidate("", "", 1450)], "vxlan", network_id)
    assert stored(engine) == before


def waiting_on_a_lock(engine: Engine) -> bool:
    """Whether a backend of this database waits for a lock (asked outside any transaction:
    within one, PostgreSQL answers from the snapshot of the first question)."""
    with engine.connect() as connection:
        count = connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
        )
    return bool(count)


def test_an_id_taken_by_a_concurrent_transaction_stores_nothing(engine: Engine) -> None:
    add_range(engine, "gre", "", 7, 7, "")
    segment_id = str(uuid.uuid4())
    results: list[single_statement.Allocated | None] = []
    with engine.connect() as other:
        # Another transaction inserts the only id of the pool and has not committed yet: the
        # statement's snapshot sees the id free, its insert waits for the other transaction,
        # then finds the id taken.
        other.execute(text("BEGIN"))
        other.execute(
            SegmentAllocation.__table__.insert(),
            {
                "network_type": "gre",
                "physical_network": "",
                "segmentation_id": 7,
                "segment_id": segment_id,
            },
        )
        other.execute(
            NetworkSegment.__table__.insert(),
            {
                "id": segment_id,
                "network_id": str(uuid.uuid4()),
                "network_type": "gre",
                "segmentation_id": 7,
            },
        )
        worker = threading.Thread(
            target=lambda: results.append(allocate(engine, [Candidate("", "", 1458)], "gre"))
        )
        worker.start()
        # The statement waits on the uncommitted id: its backend shows as waiting on a lock.
        deadline = time.monotonic() + 30
        while not waiting_on_a_lock(engine):
            assert worker.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        assert worker.is_alive()
        other.execute(text("COMMIT"))
        worker.join(timeout=10)
    assert results == [None]
    with engine.connect() as connection:
        count = connection.scalar(
            select(func.count())
            .select_from(NetworkSegment)
            .where(NetworkSegment.network_type == "gre")
        )
    assert count == 1
