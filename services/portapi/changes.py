"""What every transaction that changes a port does last: settle the port's status from its new
admin state and binding (``status.base``) when those changed, and stage the change's event
(``db.events``), which the transaction writes just before it commits.

The event carries the port as the transaction leaves it (as it was, for a deletion) and, when
the change moved the port to another host, the host it had before, so that the old host's agent
learns to unwire it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from services.portapi import convert, status
from services.portapi import resources as r
from services.portapi.db import codec
from services.portapi.db import events as db_events
from services.portapi.db import repository as repo


@dataclass(frozen=True)
class Before:
    """What a port was before the change: its status and binding host."""

    status: str
    host_id: str

    @classmethod
    def of(cls, port: r.Port) -> Before:
        """The status and host of ``port``."""
        return cls(port.status, port.binding.inputs.host_id)


def settle(session: Session, port_id: str, before: Before | None, *, rebase: bool) -> r.Port | None:
    """Reads the changed port, with ``rebase`` sets its status from its admin state and binding,
    and stages its event (CREATED when ``before`` is None). Returns the port, or None if it is
    gone."""
    port = repo.get_port(session, port_id)
    if port is None:
        return None
    if rebase:
        target = status.base(port)
        port = set_status(session, port, target, status.base_agent(target))
    record(session, before, port)
    return port


def set_status(
    session: Session, port: r.Port, target: status.Status, agent_id: str | None = None
) -> r.Port:
    """Stores ``target`` (and ``agent_id`` as the reporting agent, when given) unless the port
    already has them; returns the port as it now is."""
    agent = port.status_agent_id if agent_id is None else agent_id
    if (target.status, target.message, agent) == (
        port.status,
        port.status_message,
        port.status_agent_id,
    ):
        return port
    stamp = codec.now()
    repo.set_status(session, port.id, target.status, target.message, agent, stamp)
    return replace(
        port,
        status=target.status,
        status_message=target.message,
        status_agent_id=agent,
        update_time=stamp,
    )


def record(session: Session, before: Before | None, port: r.Port, *, deleted: bool = False) -> None:
    """Stages the event of a change from ``before`` (None: created) to ``port`` (with
    ``deleted``, the port as it was before its deletion)."""
    after = None if deleted else port.status
    kind = status.event_type(before.status if before is not None else None, after)
    host = port.binding.inputs.host_id
    previous = before.host_id if before is not None and before.host_id != host else ""
    db_events.stage(
        session,
        port_id=port.id,
        type=kind,
        port=convert.port_msg(port).SerializeToString(),
        network_id=port.network_id,
        host_id=host,
        previous_host_id=previous,
    )
