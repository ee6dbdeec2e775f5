"""Changing the static segments of an existing network: a new VLAN segmentation id
(UpdateNetwork), a segment added (AddNetworkSegment) or removed (RemoveNetworkSegment).

The rules, as Neutron's ML2 plugin and segments plugin apply them:

* only a network with exactly one static segment may change a provider attribute, only its
  ``segmentation_id``, and only if that segment is ``vlan``;
* and only while every port of the network has vif_type ``unbound`` or ``binding_failed``, or a
  vif type whose driver declares it follows the change on bound ports
  (``vocabulary.PROVIDER_ATTRIBUTE_UPDATES``: ``ovs`` and ``vhostuser``, the openvswitch
  driver's). A taken or out-of-range id is refused by
  typemgr as at creation (ALREADY_EXISTS, INVALID_ARGUMENT naming ``segmentation_id``);
* a segment is removed only while no port is bound through it (no binding level references it:
  SegmentInUse) and never the network's last static one;
* after a segment is added or removed the network's MTU is the smallest of its segments' again,
  unless an MTU was requested (at creation or by UpdateNetwork): that one is kept, and a segment
  whose MTU is smaller than it is refused before anything is reserved (INVALID_ARGUMENT,
  Neutron's "Requested MTU is too big"). Removing a segment never makes a requested MTU too big.

Every change takes two writes around one typemgr call. The first locks the network, checks the
rules and marks the change pending (``segments_pending_since``) in one transaction; a removed
segment leaves the cached segments at once, so that no new binding is offered it. typemgr then
changes its segments in one transaction of its own. The second write caches the segments typemgr
answered with, sets the MTU, rewrites the binding levels on a retagged segment (and writes those
ports' events, so that agents retag them), ends the pending mark and restarts the bindings still
being resolved on the network, so that none commits a result resolved on the old segments.

The mark records which change is pending (``segments_pending_change``). While a new
segmentation id is pending, the bind commit (``binding._commit``) does not commit a bound
result whose vif type cannot follow it (it would be retagged behind its driver's back): the
binder waits for the change to end and binds again on the new id. A bound result's commit
takes a key-share lock on the network row first, so the rules' check, which locks the row for
update, never runs while a binding is being committed: it sees every binding committed before
it, and every later commit sees its mark.

One change of a network's segments runs at a time: while one waits for typemgr, another is
refused with ABORTED (SEGMENT_CHANGE_IN_PROGRESS; retry), so that answers are cached in the
order typemgr gave them. When typemgr refuses, nothing changed there: the mark is ended and the
cache restored. When the call fails otherwise (typemgr unreachable, the caller's deadline) or
portapi stops between the writes, the network stays marked; the reconciler reads its segments
from typemgr once the mark is older than its grace period and caches them, so the cache ends as
typemgr's segments are: an added segment is never leaked (it becomes the network's) and no
network keeps pointing at a
released id. AddNetworkSegment's ``request_id`` names the segment's id (a UUID derived from the
network and the request id), so a retry returns the segment the first request added.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence

from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import errors
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import changes, deadline
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi.clients import SegmentAllocator
from services.portapi.db import codec
from services.portapi.db import repository as repo
from services.portapi.db import segment_changes as rows

logger = logging.getLogger(__name__)

SEGMENTATION_ID = "segmentation_id"
REQUEST_NAMESPACE = uuid.UUID("5b0c2f1e-8d0e-4d55-9a57-3f1c0f6d2a41")
"""Segment ids of AddNetworkSegment requests are derived in this namespace."""
SHOWN_PORTS = 4


def vif_types_allowing(attribute: str) -> frozenset[str]:
    """Returns the vif types a port may have while the provider ``attribute`` of its network
    changes: unbound, binding_failed, and those whose drivers declare they follow it."""
    declared = {
        vif_type
        for vif_type, attributes in vocabulary.PROVIDER_ATTRIBUTE_UPDATES.items()
        if attribute in attributes
    }
    return frozenset(vocabulary.RESERVED_VIF_TYPES | declared)


def check_segmentation_id_update(
    network: r.Network, refusing_ports: Sequence[tuple[str, str]]
) -> values.Segment:
    """Returns the segment whose segmentation id may change; raises SegmentationIdNotUpdatable
    naming the rule the network breaks. ``refusing_ports`` are (port id, vif type) of ports
    whose vif type is not in ``vif_types_allowing("segmentation_id")``."""
    static = [s for s in network.segments if not s.is_dynamic]
    if len(static) != 1:
        raise portapi_errors.SegmentationIdNotUpdatable(
            network.id,
            f"it has {len(static)} static segments; only a network with exactly one static "
            "segment may change its segmentation_id",
            rule="SINGLE_SEGMENT",
        )
    [segment] = static
    if segment.network_type != vocabulary.TYPE_VLAN:
        raise portapi_errors.SegmentationIdNotUpdatable(
            network.id,
            f"its segment is of type {segment.network_type}; only a vlan segment may change "
            "its segmentation_id",
            rule="VLAN_ONLY",
        )
    if refusing_ports:
        allowed = ", ".join(sorted(vif_types_allowing(SEGMENTATION_ID)))
        shown = ", ".join(f"{p} ({v})" for p, v in refusing_ports[:3])
        raise portapi_errors.SegmentationIdNotUpdatable(
            network.id,
            f"ports are bound with a vif type whose driver does not support changing the "
            f"segmentation_id: {shown}; every port must have vif_type {allowed}",
            rule="PORT_VIF_TYPE",
            port_ids=",".join(p for p, _ in refusing_ports[:3]),
        )
    return segment


def segment_id_for(network_id: str, request_id: str | None) -> str:
    """Returns the id an added segment gets: derived from the request id when there is one (so
    that a retry names the same segment), else a new one."""
    if request_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(REQUEST_NAMESPACE, f"{network_id}/{request_id}"))


class SegmentChanges:
    """Changes the static segments of networks, with typemgr."""

    def __init__(self, factory: sessionmaker[Session], segments: SegmentAllocator) -> None:
        self._factory = factory
        self._segments = segments

    # ------------------------------------------------------------------- segmentation id

    def change_segmentation_id(self, network_id: str, segmentation_id: int) -> None:
        """Gives the network's only static (vlan) segment a new segmentation id. Raises
        NetworkNotFound, NetworkNotActive, SegmentationIdNotUpdatable, typemgr's error."""
        deadline.ensure_time_left("UpdateNetwork")
        allowed = vif_types_allowing(SEGMENTATION_ID)

        def begin(session: Session) -> values.Segment | None:
            current = _locked_active(session, network_id, "its segments cannot change")
            refusing = rows.ports_with_vif_types_other_than(
                session, network_id, allowed, SHOWN_PORTS
            )
            segment = check_segmentation_id_update(current, refusing)
            if segment.segmentation_id == segmentation_id:
                return None
            rows.mark_pending(
                session, network_id, current.segments, codec.now(), rows.SEGMENTATION_ID
            )
            return segment

        segment = repo.run_write(self._factory, begin)
        if segment is None:
            return
        try:
            updated = self._segments.update_segmentation_id(segment.id, segmentation_id)
        except (errors.Unavailable, portapi_errors.DeadlineExceeded):
            raise  # typemgr may have changed it: the reconciler reads it back
        except errors.ServiceError:
            repo.run_write(self._factory, lambda s: rows.clear_pending(s, network_id))
            raise
        self._store(network_id, (updated,), 0)
        logger.info(
            "network %s: segment %s now has segmentation id %d (was %d)",
            network_id,
            segment.id,
            segmentation_id,
            segment.segmentation_id,
            extra={"network_id": network_id},
        )

    # ------------------------------------------------------------------------ add, remove

    def add(
        self, network_id: str, spec: values.SegmentSpec, request_id: str | None
    ) -> tuple[r.Network, values.Segment]:
        """Adds a static segment to the network; returns the network and the segment. Raises
        NetworkNotFound, NetworkNotActive, InvalidArgument naming ``segment`` (typemgr's rules,
        or a requested MTU larger than the segment's), typemgr's error."""
        deadline.ensure_time_left("AddNetworkSegment")
        network = _active(self._factory, network_id, "its segments cannot change")
        segment_id = segment_id_for(network_id, request_id)
        known = next((s for s in network.segments if s.id == segment_id), None)
        if known is not None:
            return network, known  # a retry of a request that finished

        def begin(session: Session) -> None:
            current = _locked_active(session, network_id, "its segments cannot change")
            rows.mark_pending(session, network_id, current.segments, codec.now(), rows.ADD)

        repo.run_write(self._factory, begin)
        try:
            after, maximum = self._segments.add_static_segment(
                network_id, segment_id, spec, network.project_id, network.mtu_requested
            )
        except (errors.Unavailable, portapi_errors.DeadlineExceeded):
            raise
        except errors.ServiceError:
            repo.run_write(self._factory, lambda s: rows.clear_pending(s, network_id))
            raise
        network = self._store(network_id, after, maximum)
        added = next(s for s in after if s.id == segment_id)
        logger.info(
            "network %s: added segment %s (%s)",
            network_id,
            segment_id,
            spec.describe(),
            extra={"network_id": network_id},
        )
        return network, added

    def remove(self, network_id: str, segment_id: str) -> r.Network:
        """Removes a static segment of the network; returns the network. Raises
        NetworkNotFound, NetworkNotActive, SegmentNotFound, LastStaticSegment, SegmentInUse,
        typemgr's error."""
        deadline.ensure_time_left("RemoveNetworkSegment")

        def begin(session: Session) -> None:
            current = _locked_active(session, network_id, "its segments cannot change")
            static = [s for s in current.segments if not s.is_dynamic]
            if all(s.id != segment_id for s in static):
                raise portapi_errors.SegmentNotFound(network_id, segment_id)
            if len(static) == 1:
                raise portapi_errors.LastStaticSegment(network_id, segment_id)
            bound = rows.ports_bound_through(session, segment_id, SHOWN_PORTS)
            if bound:
                raise portapi_errors.SegmentInUse(segment_id, bound)
            remaining = [s for s in current.segments if s.id != segment_id]
            rows.mark_pending(session, network_id, remaining, codec.now(), rows.REMOVE)
            rows.restart_in_flight(session, network_id)

        repo.run_write(self._factory, begin)
        try:
            after, maximum = self._segments.remove_static_segment(network_id, segment_id)
        except (errors.Unavailable, portapi_errors.DeadlineExceeded):
            raise
        except errors.ServiceError:
            self.refresh(network_id)  # typemgr kept it: cache it again
            raise
        network = self._store(network_id, after, maximum)
        logger.info(
            "network %s: removed segment %s",
            network_id,
            segment_id,
            extra={"network_id": network_id},
        )
        return network

    # ---------------------------------------------------------------------- the cache

    def refresh(self, network_id: str) -> bool:
        """Caches the network's static segments as typemgr has them and ends its pending
        change; returns False (leaving it pending) when typemgr cannot be asked."""
        try:
            found, maximum = self._segments.static_segments(network_id)
        except errors.ServiceError as exc:
            logger.warning(
                "network %s: cannot read its segments from typemgr: %s; the reconciler asks "
                "again later",
                network_id,
                exc.message,
                extra={"network_id": network_id},
            )
            return False
        if not found:
            return True  # typemgr released the network: it is being deleted
        self._store(network_id, found, maximum)
        return True

    def _store(self, network_id: str, found: Collection[values.Segment], maximum: int) -> r.Network:
        """Caches ``found`` as the network's static segments with its MTU (the requested one,
        else ``maximum``; 0 keeps the MTU it has) and writes the events of the ports whose
        levels changed; returns the network."""

        def work(session: Session) -> r.Network:
            current = repo.get_network(session, network_id, lock="update")
            if current is None:
                raise portapi_errors.NetworkNotFound(network_id)
            mtu = current.mtu_requested or maximum or current.mtu
            ordered = sorted(found, key=lambda s: s.segment_index)
            for port_id in rows.store(session, network_id, ordered, mtu):
                port = repo.get_port(session, port_id)
                if port is not None:
                    changes.record(session, changes.Before.of(port), port)
            stored = repo.get_network(session, network_id)
            assert stored is not None
            return stored

        return repo.run_write(self._factory, work)


def _active(factory: sessionmaker[Session], network_id: str, refused: str) -> r.Network:
    with sql.read_session(factory) as session:
        network = repo.get_network(session, network_id)
    if network is None:
        raise portapi_errors.NetworkNotFound(network_id)
    if network.status != r.NETWORK_ACTIVE:
        raise portapi_errors.NetworkNotActive(network_id, network.status, refused)
    return network


def _locked_active(session: Session, network_id: str, refused: str) -> r.Network:
    """Locks the network for a change of its segments; raises NetworkNotFound,
    NetworkNotActive, or SegmentChangeInProgress while another change waits for typemgr (one
    change at a time per network, so that typemgr's answers are cached in the order it gave
    them)."""
    network = repo.get_network(session, network_id, lock="update")
    if network is None:
        raise portapi_errors.NetworkNotFound(network_id)
    if network.status != r.NETWORK_ACTIVE:
        raise portapi_errors.NetworkNotActive(network_id, network.status, refused)
    if network.segments_pending:
        raise portapi_errors.SegmentChangeInProgress(network_id)
    return network
