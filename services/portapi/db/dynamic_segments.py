"""portapi's own record of the dynamic segments its ports' bindings use, per network
(``network_dynamic_segments``): what level 0 is offered after the static segments, read without
asking typemgr.

A commit whose levels use a dynamic segment records it (once: the first commit sets ``first_used``,
the order it is offered in, as typemgr lists dynamic segments in the order it created them; a commit
whose level 0 was offered the segment from this record writes nothing for it). Level 0 is offered
the recorded segments that a committed binding level still uses: those are held, so typemgr cannot
have released them (a port's hold lasts as long as its levels use the segment, also when a level 0
driver bound it as offered: mechmgr takes that port's hold before it returns the result). A row is
deleted when a hold sync's answer says typemgr released the segment, and with its network; one left
behind (an answer lost) is never offered, since no level uses a released segment."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ml2_contract import values
from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.portapi.db import codec, models

D = models.network_dynamic_segments
L = models.port_binding_levels


def _insert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(D).on_conflict_do_nothing(index_elements=[D.c.segment_id])


_INSERT = {name: _insert_statement(name) for name in ("postgresql", "sqlite")}


def record(
    session: Session, network_id: str, segments: Iterable[values.Segment], now: datetime
) -> None:
    """Records the dynamic ``segments`` a binding of the network just committed uses; those
    recorded already keep their row (and their place)."""
    rows = [
        {
            "segment_id": s.id,
            "network_id": network_id,
            "segment": codec.dumps(codec.segment_dict(s)),
            "first_used": now,
        }
        for s in segments
        if s.is_dynamic
    ]
    if rows:
        session.execute(_INSERT[session.get_bind().dialect.name], rows)


def in_use(session: Session, network_id: str) -> tuple[values.Segment, ...]:
    """Returns the network's recorded dynamic segments that a committed binding level uses, in
    the order they were first used."""
    return tuple(
        codec.segment(json.loads(text))
        for text in session.execute(_IN_USE, {"network_id": network_id}).scalars()
    )


_IN_USE = (
    select(D.c.segment)
    .where(
        D.c.network_id == bindparam("network_id"),
        exists().where(L.c.segment_id == D.c.segment_id),
    )
    .order_by(D.c.first_used, D.c.segment_id)
)


def forget(session: Session, segment_ids: Sequence[str]) -> int:
    """Deletes the rows of segments typemgr released; returns how many there were."""
    if not segment_ids:
        return 0
    result = session.execute(_FORGET, {"segment_ids": list(segment_ids)})
    return int(result.rowcount)  # type: ignore[attr-defined]


_FORGET = delete(D).where(D.c.segment_id.in_(bindparam("segment_ids", expanding=True)))
