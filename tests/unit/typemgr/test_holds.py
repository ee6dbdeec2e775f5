"""Reference-counted dynamic segments, on SQLite and PostgreSQL: holders share a segment, the
last one to let go releases it, stale syncs change nothing, and a new hold racing a release
never ends up on a released segment."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy
from ml2_contract.values import SegmentSpec

from services import sql
from services.typemgr import errors
from services.typemgr.db import usage
from services.typemgr.holds import HoldManager
from services.typemgr.segment_manager import SegmentManager
from tests.unit.typemgr.conftest import ManagerFactory

DYNAMIC = SegmentSpec("vlan", "physnet1")


@pytest.fixture
def managers(
    make_manager: ManagerFactory, database_url: str
) -> Iterator[tuple[SegmentManager, HoldManager]]:
    manager = make_manager(database_url, network_vlan_ranges="physnet1:100:100")
    yield manager, HoldManager(manager.factory)


def network(manager: SegmentManager) -> str:
    network_id = str(uuid.uuid4())
    manager.create_network_segments(network_id, [])
    return network_id


def dynamic_ids(manager: SegmentManager, network_id: str) -> list[str]:
    return [s.id for s in manager.list_network_segments(network_id, True) if s.is_dynamic]


def test_holders_share_a_segment_and_the_last_to_let_go_releases_it(
    managers: tuple[SegmentManager, HoldManager],
) -> None:
    manager, holds = managers
    network_id = network(manager)
    first = manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-1")
    second = manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-2")
    assert first == second
    assert manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-2") == first
    assert [h.holder for h in holds.list(first.id, "")] == ["port-1", "port-2"]

    result = holds.sync("port-1", [], 2)
    assert (result.held, result.released, result.stale) == ((), (), False)
    assert dynamic_ids(manager, network_id) == [first.id]

    result = holds.sync("port-2", [first.id], 5)
    assert result.held == (first.id,)
    assert holds.list("", "port-2")[0].generation == 5
    result = holds.sync("port-2", [], 6)
    assert [s.id for s in result.released] == [first.id]
    assert dynamic_ids(manager, network_id) == []
    # The only VLAN id of the pool is free again.
    again = manager.allocate_dynamic_segment(network(manager), DYNAMIC, "port-3")
    assert again.segmentation_id == first.segmentation_id == 100


def test_stale_syncs_change_nothing_and_unknown_ids_are_reported(
    managers: tuple[SegmentManager, HoldManager],
) -> None:
    manager, holds = managers
    network_id = network(manager)
    segment = manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-1")
    holds.sync("port-1", [segment.id], 7)
    stale = holds.sync("port-1", [], 6)
    assert (stale.stale, stale.held) == (True, (segment.id,))
    assert dynamic_ids(manager, network_id) == [segment.id]
    other = str(uuid.uuid4())
    result = holds.sync("port-1", [segment.id, other], 8)
    assert (result.held, result.not_held) == ((segment.id,), (other,))
    # Generation 0 applies whatever came before (a deleted port).
    assert holds.sync("port-1", [], 0).released[0].id == segment.id


def test_a_hold_taken_for_a_newer_generation_survives_a_late_older_sync(
    managers: tuple[SegmentManager, HoldManager],
) -> None:
    """Generation 4 of port-1's binding allocates the segment while the sync of generation 3,
    which used no dynamic segment, is still on its way: that sync must not release it."""
    manager, holds = managers
    network_id = network(manager)
    segment = manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-1", 4)
    late = holds.sync("port-1", [], 3)
    assert (late.stale, late.held, late.released) == (True, (segment.id,), ())
    assert dynamic_ids(manager, network_id) == [segment.id]
    # Taking the hold again for an older generation does not lower it.
    manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-1", 2)
    assert [h.generation for h in holds.list("", "port-1")] == [4]
    # Generation 4's own sync decides.
    assert [s.id for s in holds.sync("port-1", [], 4).released] == [segment.id]
    assert dynamic_ids(manager, network_id) == []


def test_a_held_segment_is_not_released_by_hand_but_goes_with_its_network(
    managers: tuple[SegmentManager, HoldManager],
) -> None:
    manager, holds = managers
    network_id = network(manager)
    segment = manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-1")
    with pytest.raises(errors.DynamicSegmentInUse, match="held by port-1"):
        manager.release_dynamic_segment(segment.id)
    released = manager.release_network_segments(network_id)
    assert segment in released
    assert holds.list("", "port-1") == []
    unheld = manager.allocate_dynamic_segment(network(manager), DYNAMIC)
    assert manager.release_dynamic_segment(unheld.id) == unheld


def test_new_holds_racing_releases_never_land_on_a_released_segment(
    managers: tuple[SegmentManager, HoldManager],
) -> None:
    """Many holders take and drop the one dynamic segment of a network at once. Whoever holds
    it must find it in place; at the end nothing is held, nothing is left, nothing leaked."""
    manager, holds = managers
    network_id = network(manager)
    problems: list[str] = []
    barrier = threading.Barrier(6)

    def holder(name: str) -> None:
        barrier.wait()
        try:
            take_and_drop(name)
        except Exception as exc:
            problems.append(f"{name} failed: {exc!r}")

    def take_and_drop(name: str) -> None:
        for generation in range(1, 25, 2):
            segment = manager.allocate_dynamic_segment(network_id, DYNAMIC, name)
            confirmed = holds.sync(name, [segment.id], generation)
            if confirmed.held != (segment.id,):
                problems.append(f"{name} lost its hold on {segment.id}: {confirmed}")
            if segment.id not in dynamic_ids(manager, network_id):
                problems.append(f"{name} holds {segment.id} but it was released")
            holds.sync(name, [], generation + 1)

    threads = [threading.Thread(target=holder, args=(f"port-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert dynamic_ids(manager, network_id) == []
    with sql.read_session(manager.factory) as session:
        counts = usage.allocated_counts(session)
    assert counts == {("vxlan", ""): 1}


def test_a_sync_that_only_confirms_locks_no_network_and_writes_only_a_lower_generation(
    managers: tuple[SegmentManager, HoldManager],
) -> None:
    """The sync after a binding that uses what was allocated for it drops nothing: it does not
    lock the network's segments, and writes nothing when the hold has its generation."""
    manager, holds = managers
    network_id = network(manager)
    segment = manager.allocate_dynamic_segment(network_id, DYNAMIC, "port-1", 4)
    engine = manager.factory.kw["bind"]
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        statements.append(" ".join(statement.split()).upper())

    sqlalchemy.event.listen(engine, "before_cursor_execute", seen)
    try:
        result = holds.sync("port-1", [segment.id], 4)
        confirming = list(statements)
        statements.clear()
        raised = holds.sync("port-1", [segment.id], 5)
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", seen)

    assert (result.held, result.released, result.stale) == ((segment.id,), (), False)
    assert not any("NETWORK_SEGMENTS" in s for s in confirming)
    assert not any(s.startswith(("UPDATE", "INSERT", "DELETE")) for s in confirming)
    assert raised.held == (segment.id,)
    assert [s.split()[0] for s in statements if s.startswith(("UPDATE", "INSERT", "DELETE"))] == [
        "UPDATE"
    ]
    assert holds.list("", "port-1")[0].generation == 5
    assert dynamic_ids(manager, network_id) == [segment.id]
