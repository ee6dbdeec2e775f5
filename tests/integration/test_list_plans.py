"""Every list RPC's page query is served by an index at any depth, on SQLite and PostgreSQL.

Each statement a list RPC runs, for every filter combination the RPC offers and with a keyset
position (a page deep in the listing), is explained by the real database after the services'
migrations:

- SQLite (``EXPLAIN QUERY PLAN``): every table is reached by ``SEARCH`` through an index (never
  a full ``SCAN``), and there is no ``USE TEMP B-TREE`` (no sort of the rows found).
- PostgreSQL (``EXPLAIN (FORMAT JSON)``, after filling the tables with rows and ``ANALYZE``,
  with sequential scans, bitmap scans, sorts, hash and merge joins disabled so that only a plan
  an index can serve in order is cheap): the top node is the ``Limit``, there is no ``Sort``,
  no ``Seq Scan``, and every scan is an index scan with an ``Index Cond``: the first one with
  the keyset position in it, each one inside a join looked up by the row it joins.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, insert, text

from services import migrations
from services.mechmgr import agents
from services.mechmgr.db import models as mechmgr_models
from services.portapi.db import models as portapi_models
from services.portapi.db import repository
from services.typemgr.db import holds, ranges, usage
from services.typemgr.db import models as typemgr_models
from services.typemgr.ranges import RangeFilters

AFTER = (datetime(2026, 1, 1, 12), "00000000-0000-0000-0000-000000000500")
LIMIT = 101
# Values the filled rows hold (see _fill), so that PostgreSQL's estimates are of real matches.
PORT_FILTER_VALUES = {
    "network_id": str(uuid.UUID(int=1)),
    "host_id": "h1",
    "device_id": "d1",
    "project_id": "p1",
}


def _statements() -> Iterator[tuple[str, Any]]:
    for project in ("", "p1"):
        for i, stmt in enumerate(repository.list_networks_statements(project)):
            yield f"ListNetworks project_id={project!r} #{i}", stmt
    for n in range(len(repository.PORT_FILTERS) + 1):
        for combo in itertools.combinations(repository.PORT_FILTERS, n):
            filters = {name: PORT_FILTER_VALUES[name] for name in combo}
            yield (
                f"ListPorts {'+'.join(combo) or 'all'}",
                repository.page_ids(filters, AFTER, LIMIT),
            )
    for host, agent_type in itertools.product(("", "h1"), ("", "openvswitch")):
        stmt = agents.list_statement(host, agent_type, ("h0", "linuxbridge"), LIMIT)
        yield f"ListAgents host={host!r} agent_type={agent_type!r}", stmt
    range_filters = [
        RangeFilters(),
        RangeFilters(network_type="vlan"),
        RangeFilters(physical_network="physnet1"),
        RangeFilters(network_type="vlan", physical_network="physnet1"),
        RangeFilters(project_id="p1", shared=False, default=False),
        RangeFilters(network_type="vxlan", shared=True),
    ]
    for f in range_filters:
        yield f"ListSegmentRanges {f}", ranges.listed_statement(f, ("vlan", "physnet1", 1), LIMIT)
    for network_type, physnet, outside in itertools.product(
        ("", "vlan"), ("", "physnet1"), (False, True)
    ):
        stmt = usage.listed_statement(
            network_type, physnet, outside, ("vlan", "physnet1", 7), LIMIT
        )
        yield f"ListSegmentAllocations {network_type!r} {physnet!r} outside={outside}", stmt
    segment = str(uuid.UUID(int=10_001))
    for segment_id, holder in (("", "port-1"), (segment, ""), (segment, "port-1")):
        stmt = holds.listed_statement(segment_id, holder, (segment, "port-0"), LIMIT)
        yield f"ListDynamicSegmentHolds segment_id={segment_id!r} holder={holder!r}", stmt


STATEMENTS = dict(_statements())
# Both of an agent's unique columns fixed: one row at most, no position to start after.
ONE_ROW = {
    "ListAgents host='h1' agent_type='openvswitch'",
    f"ListDynamicSegmentHolds segment_id={str(uuid.UUID(int=10_001))!r} holder='port-1'",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """Every service's schema, migrated, in one database; on PostgreSQL with rows, analyzed."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'plans.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database()
    for service in ("portapi", "mechmgr", "typemgr"):
        migrations.upgrade(url, service)
    engine = create_engine(url)
    if request.param == "postgres":
        _fill(engine)
    yield engine
    engine.dispose()
    if request.param == "postgres":
        request.getfixturevalue("postgres_server").drop_database(url)


def _fill(engine: Engine) -> None:
    """Rows enough for PostgreSQL's statistics to tell what the filters select: 4000 ports on
    8 networks, 40 hosts, 400 devices and 8 projects; 400 agents; 1000 allocated VLAN ids;
    2000 holds of 50 holders on 40 segments."""
    start = datetime(2026, 1, 1)
    networks = [str(uuid.UUID(int=i)) for i in range(8)]
    ports = [
        {
            "id": str(uuid.UUID(int=1000 + i)),
            "network_id": networks[i % 8],
            "project_id": f"p{i % 8}",
            "name": "",
            "mac_address": f"fa:16:3e:00:{i // 256:02x}:{i % 256:02x}",
            "device_id": f"d{i % 400}",
            "device_owner": "",
            "admin_state_up": True,
            "status": "DOWN",
            "create_time": start + timedelta(seconds=i),
            "update_time": start,
            "status_time": start,
        }
        for i in range(4000)
    ]
    segments = [
        {
            "id": str(uuid.UUID(int=10_000 + i)),
            "network_id": str(uuid.UUID(int=20_000 + i)),
            "network_type": "vlan",
            "physical_network": f"physnet{i % 2}",
            "segmentation_id": 1 + i // 2,
        }
        for i in range(1000)
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(portapi_models.networks),
            [
                {
                    "id": n,
                    "project_id": f"p{i}",
                    "shared": i == 0,
                    "status": "ACTIVE",
                    "create_time": start + timedelta(seconds=i),
                }
                for i, n in enumerate(networks)
            ],
        )
        conn.execute(insert(portapi_models.ports), ports)
        conn.execute(
            insert(portapi_models.port_bindings),
            [
                {"port_id": p["id"], "host_id": f"h{i % 40}", "create_time": p["create_time"]}
                for i, p in enumerate(ports)
            ],
        )
        conn.execute(
            insert(mechmgr_models.AgentRow.__table__),
            [
                {
                    "id": str(uuid.UUID(int=30_000 + i)),
                    "agent_type": ("openvswitch", "linuxbridge")[i % 2],
                    "host": f"h{i // 2}",
                    "capabilities": {},
                    "heartbeat_at": start,
                    "created_at": start,
                }
                for i in range(400)
            ],
        )
        conn.execute(insert(typemgr_models.NetworkSegment.__table__), segments)
        conn.execute(
            insert(typemgr_models.SegmentAllocation.__table__),
            [
                {
                    "network_type": s["network_type"],
                    "physical_network": s["physical_network"],
                    "segmentation_id": s["segmentation_id"],
                    "segment_id": s["id"],
                }
                for s in segments
            ],
        )
        conn.execute(
            insert(typemgr_models.DynamicSegmentHold.__table__),
            [
                {"segment_id": s["id"], "holder": f"port-{h}", "generation": 1}
                for s in segments[:40]
                for h in range(50)
            ],
        )
        conn.execute(
            insert(typemgr_models.SegmentRange.__table__),
            [
                {
                    "id": str(uuid.UUID(int=40_000 + i)),
                    "network_type": "vlan",
                    "physical_network": f"physnet{i % 2}",
                    "minimum": 1 + 100 * (i // 2),
                    "maximum": 50 + 100 * (i // 2),
                }
                for i in range(20)
            ],
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def explain(engine: Engine, stmt: Any) -> Any:
    """Returns the database's plan of ``stmt``, bound with its parameters as SQLAlchemy binds
    them when it runs the statement (which it then also does)."""
    postgres = engine.dialect.name == "postgresql"
    prefix = "EXPLAIN (FORMAT JSON) " if postgres else "EXPLAIN QUERY PLAN "
    plans: list[Any] = []

    def capture(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        cursor.execute(prefix + statement, parameters)
        plans.append(cursor.fetchall())

    with engine.connect() as conn:
        if postgres:
            for setting in ("seqscan", "bitmapscan", "sort", "hashjoin", "mergejoin", "material"):
                conn.exec_driver_sql(f"SET enable_{setting} = off")
        event.listen(conn, "before_cursor_execute", capture)
        conn.execute(stmt).all()
    (plan,) = plans
    return plan[0][0][0]["Plan"] if postgres else [row[3] for row in plan]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _check_postgres(name: str, plan: dict[str, Any]) -> None:
    shown = json.dumps(plan, indent=1)
    assert plan["Node Type"] == "Limit", f"{name}: {shown}"
    nodes = list(_nodes(plan))
    kinds = {n["Node Type"] for n in nodes}
    assert not kinds & {"Sort", "Incremental Sort", "Seq Scan", "Bitmap Heap Scan"}, shown
    scans = [n for n in nodes if "Relation Name" in n]
    assert all(n["Node Type"] in ("Index Scan", "Index Only Scan") for n in scans), shown
    assert all("Index Cond" in n for n in scans), f"{name}: a scan without Index Cond: {shown}"
    assert name in ONE_ROW or ">" in scans[0]["Index Cond"], f"{name}: no position: {shown}"
    for inner in scans[1:]:
        others = {n["Relation Name"] for n in scans} - {inner["Relation Name"]}
        assert any(f"{t}." in inner["Index Cond"] for t in others), (
            f"{name}: {inner['Relation Name']} is not looked up by the row it joins: {shown}"
        )


def _check_sqlite(name: str, plan: list[str]) -> None:
    shown = "\n".join(plan)
    assert not any("TEMP B-TREE" in line for line in plan), f"{name}:\n{shown}"
    tables = [line for line in plan if line.startswith(("SCAN", "SEARCH"))]
    assert tables and all(line.startswith("SEARCH") for line in tables), f"{name}:\n{shown}"
    assert all(" USING " in line and "INDEX" in line for line in tables), f"{name}:\n{shown}"
    assert name in ONE_ROW or ">" in tables[0], (
        f"{name}: the page does not start at its position:\n{shown}"
    )


@pytest.mark.parametrize("name", sorted(STATEMENTS))
def test_every_list_page_is_one_index_range_without_a_sort(engine: Engine, name: str) -> None:
    plan = explain(engine, STATEMENTS[name])
    if engine.dialect.name == "postgresql":
        _check_postgres(name, plan)
    else:
        _check_sqlite(name, plan)


def test_a_page_of_ports_is_read_by_primary_key(engine: Engine) -> None:
    """The second query of ListPorts: the page's ports, bindings and levels by id."""
    ids = [str(uuid.UUID(int=1000 + i)) for i in range(5)]
    stmt = repository.PORTS_BY_ID.params(ids=ids)
    plan = explain(engine, stmt)
    if engine.dialect.name == "postgresql":
        nodes = list(_nodes(plan))
        scans = [n for n in nodes if "Relation Name" in n]
        assert {n["Node Type"] for n in nodes}.isdisjoint({"Seq Scan", "Sort"}), plan
        assert all("Index Cond" in n for n in scans), plan
    else:
        assert all(line.startswith("SEARCH") for line in plan if line[:4] in ("SCAN", "SEAR")), plan


def test_the_migration_copies_each_ports_create_time_to_its_binding(
    database_url: str,
) -> None:
    """Ports that exist before revision 0004 get their create_time on their binding."""
    migrations.upgrade(database_url, "portapi", "0003")
    engine = create_engine(database_url)
    stamp = datetime(2025, 5, 6, 7, 8, 9, 123456)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO networks (id, name, project_id, shared, admin_state_up, mtu,"
                " segments, status, create_time) VALUES ('n', '', 'p', false, true, 0, '[]',"
                " 'ACTIVE', :t)"
            ),
            {"t": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO ports (id, network_id, project_id, name, mac_address, device_id,"
                " device_owner, admin_state_up, status, create_time, update_time) VALUES"
                " ('p', 'n', 'p', '', 'fa:16:3e:00:00:01', '', '', true, 'DOWN', :t, :t)"
            ),
            {"t": stamp},
        )
        conn.execute(
            text(
                "INSERT INTO port_bindings (port_id, host_id, vnic_type, profile, vif_type,"
                " vif_details, state, trace, failure_message, generation) VALUES"
                " ('p', 'h', 'normal', '{}', 'unbound', '{}', 'UNBOUND', '[]', '', 1)"
            )
        )
    engine.dispose()
    migrations.upgrade(database_url, "portapi")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        row = conn.execute(portapi_models.port_bindings.select()).one()
    engine.dispose()
    assert row.create_time == stamp
