"""The operator's topology: which switch port each host is wired to (``ml2 topology``).

One link per host, set (inserted or replaced in one ``INSERT ... ON CONFLICT DO UPDATE``),
deleted and listed by operators through TopologyService, and read by mechmgr for every binding:
the host's links go to the drivers in the binding request beside the host's agents, so that a
driver that binds without an L2 agent (an SDN controller, bare metal) knows where the host is
cabled. Thread-safe: every call opens its own connection or session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from ml2_contract import values
from sqlalchemy import Engine, Row, Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.mechmgr import errors
from services.mechmgr.agents import utcnow
from services.mechmgr.db import models

_T = cast(Table, models.HostLinkRow.__table__)
_BY_HOST = select(_T).where(_T.c.host == bindparam("host"))
_BY_HOSTS = select(_T).where(_T.c.host.in_(bindparam("hosts", expanding=True)))


@dataclass(frozen=True)
class LinkPage:
    """One page of links; ``next_after`` is the host to continue after, or None."""

    links: tuple[values.HostLink, ...]
    next_after: str | None


class Topology:
    """Stores the host links."""

    def __init__(
        self, factory: sessionmaker[Session], clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self._factory = factory
        self._clock = clock
        engine: Engine = factory.kw["bind"]
        postgres = engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if postgres else sqlite.insert
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else engine
        )

    def set(self, link: values.HostLink) -> tuple[values.HostLink, bool]:
        """Records ``link`` as its host's, replacing the one it had; returns the stored link
        and whether the host had none."""
        now = self._clock()
        fields = {
            "switch_id": link.switch_id,
            "port_id": link.port_id,
            "switch_info": link.switch_info,
            "physical_network": link.physical_network,
            "updated_at": now,
        }
        with sql.write_session(self._factory) as session:
            existed = session.execute(_BY_HOST, {"host": link.host}).one_or_none() is not None
            stmt = self._insert(_T).values(host=link.host, **fields)
            upsert = stmt.on_conflict_do_update(index_elements=[_T.c.host], set_=fields)
            session.execute(upsert.returning(*_T.c)).one()
        return _link(link.host, fields), not existed

    def delete(self, host: str) -> values.HostLink:
        """Removes the link of ``host`` and returns it. Raises HostLinkNotFound."""
        stmt = delete(_T).where(_T.c.host == host).returning(*_T.c)
        with sql.write_session(self._factory) as session:
            row = session.execute(stmt).one_or_none()
        if row is None:
            raise errors.HostLinkNotFound(host)
        return _of(row)

    def list_links(self, *, host: str = "", limit: int = 100, after: str | None = None) -> LinkPage:
        """Returns up to ``limit`` links in host order, after the host ``after``."""
        stmt = sql.keyset_page(
            select(_T), (_T.c.host,), {"host": host}, None if after is None else (after,), limit + 1
        )
        rows = self._read(stmt)
        links = tuple(_of(r) for r in rows[:limit])
        return LinkPage(links, links[-1].host if len(rows) > limit else None)

    def host_links(self, host: str) -> tuple[values.HostLink, ...]:
        """Returns the links of ``host`` (none or one): one query."""
        return tuple(_of(r) for r in self._read(_BY_HOST, {"host": host}))

    def links_by_host(self, hosts: Sequence[str]) -> dict[str, tuple[values.HostLink, ...]]:
        """Returns the links of each of ``hosts`` in one query; a host without one maps to
        ``()``."""
        found: dict[str, list[values.HostLink]] = {host: [] for host in hosts}
        if not found:
            return {}
        for row in self._read(_BY_HOSTS, {"hosts": list(found)}):
            found[row.host].append(_of(row))
        return {host: tuple(links) for host, links in found.items()}

    def _read(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        with self._reader.connect() as conn:
            return list(conn.execute(stmt, params).all())


def _link(host: str, fields: dict[str, Any]) -> values.HostLink:
    return values.HostLink(
        host=host,
        switch_id=fields["switch_id"],
        port_id=fields["port_id"],
        switch_info=fields["switch_info"],
        physical_network=fields["physical_network"],
        updated_at=fields["updated_at"].replace(tzinfo=dt.UTC),
    )


def _of(row: Row[Any]) -> values.HostLink:
    return _link(row.host, row._asdict())
