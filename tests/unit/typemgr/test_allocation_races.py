"""Concurrent allocators on a nearly full pool whose free ids sit far apart (so that every
search gallops over long runs), on SQLite and PostgreSQL: every free id is handed out exactly
once, and nobody is told the pool is exhausted while an id is still free."""

from __future__ import annotations

import threading
import uuid

from ml2_contract.values import SegmentSpec
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.typemgr import errors
from services.typemgr.db.models import NetworkSegment, SegmentAllocation
from tests.unit.typemgr.conftest import ManagerFactory

SIZE = 12_000
FREE = list(range(300, SIZE, 600))  # 20 free ids, 599 allocated ones between each


def fill_all_but_free(factory: sessionmaker[Session]) -> None:
    taken = [i for i in range(1, SIZE + 1) if i not in set(FREE)]
    with sql.write_session(factory) as session:
        session.execute(
            insert(NetworkSegment),
            [
                {
                    "id": f"f{i}",
                    "network_id": f"f{i}",
                    "network_type": "vxlan",
                    "physical_network": "",
                    "segmentation_id": i,
                }
                for i in taken
            ],
        )
        session.execute(
            insert(SegmentAllocation),
            [
                {
                    "network_type": "vxlan",
                    "physical_network": "",
                    "segmentation_id": i,
                    "segment_id": f"f{i}",
                }
                for i in taken
            ],
        )


def test_racing_allocators_get_every_far_apart_free_id_once(
    make_manager: ManagerFactory, database_url: str
) -> None:
    manager = make_manager(database_url, vxlan_vni_ranges=f"1:{SIZE}")
    fill_all_but_free(manager.factory)
    got: list[int] = []
    problems: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def allocate() -> None:
        barrier.wait()
        while True:
            try:
                [segment] = manager.create_network_segments(
                    str(uuid.uuid4()), [SegmentSpec("vxlan")]
                )
            except errors.NoSegmentAvailable:
                return
            except Exception as exc:
                problems.append(repr(exc))
                return
            with lock:
                got.append(segment.segmentation_id)

    threads = [threading.Thread(target=allocate) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert sorted(got) == FREE
