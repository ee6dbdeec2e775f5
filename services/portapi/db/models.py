"""The tables portapi owns, in SQLAlchemy 2.0 style.

    networks 1──* ports 1──1 port_bindings 1──* port_binding_levels
    hold_syncs (a port's dynamic segment holds still to be told to typemgr; no foreign key)
    port_events (the change log WatchPorts streams; no foreign key) ─ port_event_counter (1 row)
    network_releases (networks whose segments typemgr still has to release; no foreign key)
    agent_rebinds (the agent revisions whose host's failed bindings were retried; no foreign key)

JSON documents (segments, profile, vif_details, trace, a level's segment) are stored as compact
JSON text so that SQLite and PostgreSQL hold the same bytes and the 4095-character profile limit
applies to exactly what is stored. Times are naive UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME_LEN = 255
ID_LEN = 36


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (so migrations can refer to them)."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class NetworkRow(Base):
    """A network and the static segments typemgr gave it, cached for binding.

    ``status`` is CREATING from the insert until typemgr's segments are stored, ACTIVE after, and
    DELETING while its segments are released; only ACTIVE networks accept ports. A retried
    CreateNetwork with the same ``request_id`` finishes a network left CREATING.
    ``pending_since`` is when the network entered CREATING or DELETING (NULL while ACTIVE): one
    left there longer than the reconciler's grace period was abandoned, and the reconciler
    claims it by moving this time forward (``reconciler``).

    ``mtu`` is the MTU in force; ``mtu_requested`` the one asked for at creation or by
    UpdateNetwork (0: the largest the segments allow, so ``mtu`` follows the segments when they
    change). ``segments_pending_since`` is when a change of the static segments (a new
    segmentation id, a segment added or removed) began waiting for typemgr; NULL once the
    cached ``segments`` are typemgr's again. The reconciler reads the segments of a network
    left pending from typemgr. ``segments_pending_change`` says which change is pending
    (``segmentation_id``, ``add`` or ``remove``; empty when none): while a new segmentation id
    is pending, a binding whose driver cannot follow it is not committed.
    """

    __tablename__ = "networks"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    project_id: Mapped[str] = mapped_column(String(NAME_LEN))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    mtu: Mapped[int] = mapped_column(Integer, default=0)
    segments: Mapped[str] = mapped_column(Text, default="[]")
    status: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[datetime] = mapped_column(DateTime)
    request_id: Mapped[str | None] = mapped_column(String(NAME_LEN), unique=True, nullable=True)
    pending_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    mtu_requested: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    segments_pending_since: Mapped[datetime | None] = mapped_column(
        DateTime, nullable=True, index=True
    )
    segments_pending_change: Mapped[str] = mapped_column(
        String(16), default="", server_default=text("''")
    )

    # ListNetworks reads in (create_time, id) order: all networks, or a project's networks
    # merged with the shared ones; each index serves one of those reads at any depth.
    __table_args__ = (
        Index("ix_networks_create_time_id", "create_time", "id"),
        Index("ix_networks_project_id_create_time_id", "project_id", "create_time", "id"),
        Index("ix_networks_shared_create_time_id", "shared", "create_time", "id"),
    )


class PortRow(Base):
    """A port. Its MAC address is unique within its network; a network with ports cannot be
    deleted (RESTRICT).

    ListPorts reads in (create_time, id) order; each filter it offers has an index that starts
    with the filter's column and continues with that order, so a page costs its size at any
    depth (the host filter's index is on port_bindings, which copies create_time).

    ``status`` follows the lifecycle of ``status.py``; ``status_message`` says why, for people;
    ``status_agent_id`` is the agent that last reported the port's device (whose death takes the
    port DOWN, found through the (status_agent_id, status) index); ``status_time`` is when the
    status last changed (ports stuck in BUILD are counted through the (status, status_time)
    index). ``admin_state_up`` stores the AdminState: true for UP.
    """

    __tablename__ = "ports"

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    network_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("networks.id", ondelete="RESTRICT")
    )
    project_id: Mapped[str] = mapped_column(String(NAME_LEN))
    name: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    mac_address: Mapped[str] = mapped_column(String(17))
    device_id: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    device_owner: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[datetime] = mapped_column(DateTime)
    update_time: Mapped[datetime] = mapped_column(DateTime)
    request_id: Mapped[str | None] = mapped_column(String(NAME_LEN), unique=True, nullable=True)
    status_message: Mapped[str] = mapped_column(Text, default="")
    status_agent_id: Mapped[str] = mapped_column(String(ID_LEN), default="")
    status_time: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("network_id", "mac_address"),
        Index("ix_ports_status_agent_id_status", "status_agent_id", "status"),
        Index("ix_ports_status_status_time", "status", "status_time"),
        Index("ix_ports_create_time_id", "create_time", "id"),
        Index("ix_ports_network_id_create_time_id", "network_id", "create_time", "id"),
        Index("ix_ports_project_id_create_time_id", "project_id", "create_time", "id"),
        Index("ix_ports_device_id_create_time_id", "device_id", "create_time", "id"),
    )


class PortBindingRow(Base):
    """The binding of a port (exactly one per port): inputs, their generation, and the result.

    Every change of the inputs bumps ``generation`` and resets the result to UNBOUND in the same
    write; a result is stored only by a compare-and-set on the generation it was resolved for.
    So a BOUND or FAILED row always describes the inputs stored beside it.

    ``pending_since`` is when inputs with a host were recorded and the binding began waiting for
    its result; committing a result or unbinding clears it. A binding pending for longer than
    the reconciler's grace period was abandoned (portapi stopped while binding it), and the
    reconciler claims it by moving this time forward (``reconciler``).

    ``create_time`` is the port's, copied at insert and never changed, so that listing a host's
    ports in creation order is served by one index on this table.

    ``original`` is the binding as it was when the inputs last changed, if it was bound then
    (kept through changes made while no result was bound, cleared by unbinding): the drivers
    see it as the port's original binding.
    """

    __tablename__ = "port_bindings"

    port_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True
    )
    host_id: Mapped[str] = mapped_column(String(NAME_LEN), default="")
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    profile: Mapped[str] = mapped_column(Text, default="{}")
    vif_type: Mapped[str] = mapped_column(String(64), default="unbound")
    vif_details: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(16), default="UNBOUND")
    trace: Mapped[str] = mapped_column(Text, default="[]")
    failure_message: Mapped[str] = mapped_column(Text, default="")
    generation: Mapped[int] = mapped_column(BigInteger, default=1)
    pending_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    create_time: Mapped[datetime] = mapped_column(DateTime)
    port_status: Mapped[str] = mapped_column(String(16), default="")
    """The status the completing driver gave the port (``ACTIVE``), ``""`` when its host's agent
    reports it; reset with the result."""
    original: Mapped[str] = mapped_column(Text, default="")
    """The binding before the inputs last changed, as JSON (``codec.original_dict``), when it
    was bound; ``""`` when there is none."""

    __table_args__ = (
        Index("ix_port_bindings_host_id_create_time_port_id", "host_id", "create_time", "port_id"),
    )


class PortBindingLevelRow(Base):
    """One level of a committed binding; level 0 is closest to the fabric. Replaced as a whole
    with every committed result, deleted when the inputs change."""

    __tablename__ = "port_binding_levels"

    # References the binding (not the port) so that inserting levels only key-locks the binding
    # row the committing transaction already holds.
    port_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("port_bindings.port_id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    driver: Mapped[str] = mapped_column(String(64))
    segment_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    segment: Mapped[str] = mapped_column(Text)


class NetworkDynamicSegmentRow(Base):
    """A dynamic segment a committed binding of one of the network's ports used, as that
    binding gave it, recorded by the first commit that used it (``first_used``: the order
    level 0 is offered them in, as typemgr orders them by creation). Level 0 is offered those
    that a committed binding level still uses (``bindings.dynamic_segments``), so no bind asks
    typemgr for them; a row is deleted once typemgr reports the segment released (a hold
    sync's answer), and with its network."""

    __tablename__ = "network_dynamic_segments"

    segment_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    network_id: Mapped[str] = mapped_column(
        String(ID_LEN), ForeignKey("networks.id", ondelete="CASCADE")
    )
    segment: Mapped[str] = mapped_column(Text)
    first_used: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        Index(
            "ix_network_dynamic_segments_network_id_first_used",
            "network_id",
            "first_used",
            "segment_id",
        ),
    )


class HoldSyncRow(Base):
    """The dynamic segments a port uses as of one binding generation, still to be told to
    typemgr (``SyncDynamicSegmentHolds``). Written in the transaction that decides them (a
    committed binding, an unbinding, a deletion with generation 0), deleted once typemgr has
    been told; a row left behind by a crash or an unreachable typemgr is sent again later. One
    row per port, the newest; no foreign key, so that a deleted port's row outlives it."""

    __tablename__ = "hold_syncs"

    port_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    segment_ids: Mapped[str] = mapped_column(Text, default="[]")
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
    written_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class NetworkReleaseRow(Base):
    """A network whose segments typemgr must still release (``ReleaseNetworkSegments``):
    written in the transaction that deletes a network that may hold segments (a failed or
    abandoned creation, an abandoned deletion), deleted once typemgr has released them. The
    reconciler sends releases pending longer than its grace period again, claiming each by
    moving ``pending_since`` forward."""

    __tablename__ = "network_releases"

    network_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    pending_since: Mapped[datetime] = mapped_column(DateTime, index=True)


class AgentRebindRow(Base):
    """The newest revision of one L2 agent (mechmgr's ``Agent.revision``) for which the failed
    bindings of its host were retried (``rebind``). A replica claims a newer revision with one
    compare-and-set upsert on ``revision < new``, in the transaction that marks the host's failed
    bindings pending, so that of several replicas exactly one retries them, and a claim whose
    retries portapi could not finish leaves them to the reconciler. Rows of agents mechmgr no
    longer lists are deleted."""

    __tablename__ = "agent_rebinds"

    agent_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    host: Mapped[str] = mapped_column(String(NAME_LEN))
    revision: Mapped[int] = mapped_column(BigInteger)
    rebound_at: Mapped[datetime] = mapped_column(DateTime)


class PortEventRow(Base):
    """One committed change of one port, as WatchPorts streams it (``db.events``).

    ``revision`` comes from ``port_event_counter`` in the transaction that makes the change, so
    revisions are dense and in commit order across replicas. ``port`` is the serialized Port
    message after the change (before it, for a deletion); ``network_id``, ``host_id`` (after)
    and ``previous_host_id`` (before, when it differs) are copied out of it so that watchers'
    filters are matched without decoding. Pruned from the oldest by count and age."""

    __tablename__ = "port_events"

    revision: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    port_id: Mapped[str] = mapped_column(String(ID_LEN))
    type: Mapped[str] = mapped_column(String(16))
    port: Mapped[bytes] = mapped_column(LargeBinary)
    network_id: Mapped[str] = mapped_column(String(ID_LEN))
    host_id: Mapped[str] = mapped_column(String(NAME_LEN))
    previous_host_id: Mapped[str] = mapped_column(String(NAME_LEN))
    time: Mapped[datetime] = mapped_column(DateTime, index=True)


class PortEventCounterRow(Base):
    """The one row (id 1) holding the revision of the newest port event. Every transaction
    that writes an event increments it first, which row-locks it until commit: see
    ``db.events`` for why that orders revisions by commit."""

    __tablename__ = "port_event_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    revision: Mapped[int] = mapped_column(BigInteger)


networks = cast(Table, NetworkRow.__table__)
ports = cast(Table, PortRow.__table__)
port_bindings = cast(Table, PortBindingRow.__table__)
port_binding_levels = cast(Table, PortBindingLevelRow.__table__)
hold_syncs = cast(Table, HoldSyncRow.__table__)
network_releases = cast(Table, NetworkReleaseRow.__table__)
port_events = cast(Table, PortEventRow.__table__)
port_event_counter = cast(Table, PortEventCounterRow.__table__)
agent_rebinds = cast(Table, AgentRebindRow.__table__)
network_dynamic_segments = cast(Table, NetworkDynamicSegmentRow.__table__)
