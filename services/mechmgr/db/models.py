"""The tables mechmgr owns (SQLAlchemy 2.0 declarative). Only mechmgr reads them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The declarative base of mechmgr's tables."""

    metadata = MetaData()


class AgentRow(Base):
    """One L2 agent: at most one per (host, agent_type).

    A row is written when an agent registers (insert, or update of the same host and type, which
    keeps its id, creation time and admin state) and for heartbeats (``heartbeat_at`` only, most
    of them in batches: ``services.mechmgr.agents``);
    it is removed only by DeleteAgent. Times are naive UTC. Liveness is not stored: an agent is
    alive while ``heartbeat_at`` is within the configured down time of now.

    ``revision`` starts at 1 and moves forward (in the statement that makes the change) whenever
    the agent may bind ports it could not before: it registers again with other capabilities,
    or after being dead; a heartbeat brings it back alive; an administrator allows binding to
    it again. portapi retries the failed bindings of the agent's host when it moves.
    """

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_type: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255), default="")
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revision: Mapped[int] = mapped_column(BigInteger, default=1)

    __table_args__ = (
        # host first: resolutions look agents up by host, lists page by (host, agent_type).
        UniqueConstraint("host", "agent_type", name="uq_agents_host_agent_type"),
        # A list of one agent type pages in host order.
        Index("ix_agents_agent_type_host", "agent_type", "host"),
    )


class HostLinkRow(Base):
    """The switch port one host is wired to, as the operator recorded it (``ml2 topology set``).

    One row per host, replaced by every SetHostLink and removed by DeleteHostLink; mechmgr reads
    the host's row for every binding and passes it to the drivers. Times are naive UTC.
    """

    __tablename__ = "host_links"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    switch_id: Mapped[str] = mapped_column(String(255))
    port_id: Mapped[str] = mapped_column(String(255))
    switch_info: Mapped[str] = mapped_column(String(255), default="")
    physical_network: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


metadata = Base.metadata
