"""Networks: creation with segments from typemgr, reads, and deletion that releases them.

CreateNetwork inserts the network as CREATING, asks typemgr for its segments (provider segments
as given, or one tenant segment), then caches them and makes it ACTIVE. When typemgr refuses,
the network row is deleted again, so nothing remains, and typemgr's error passes through
unchanged. When typemgr cannot be reached or the caller's deadline cuts the call short, typemgr
may have allocated segments nobody will use: the row is deleted and the release of its segments
recorded (``network_releases``) in one transaction, then typemgr is asked to release them with
whatever time is left of the caller's deadline; a release it misses is sent again by the
reconciler. So the request answers within its deadline and no id is left allocated. A retry with
the same ``request_id`` returns the first network, and finishes it if it is still CREATING
(typemgr's CreateNetworkSegments is idempotent); the reconciler rolls back a network left
CREATING for longer than a request may take (portapi stopped meanwhile).

A requested MTU (``network.mtu``) follows Neutron's rule: the largest MTU a network may have is
the smallest MTU of its segments, else the global physical network MTU, as typemgr computes it
with the segments; a larger request is refused (INVALID_ARGUMENT naming ``network.mtu`` and the
maximum), and 0 asks for that maximum. At creation the maximum is only known once typemgr gave
the segments, so a refused MTU gives them back as a network typemgr failed to create does, and
nothing remains. UpdateNetwork asks typemgr for the maximum before writing anything, then sets
name, admin state and MTU in one transaction; when typemgr cannot be asked, nothing is written.

DeleteNetwork marks the network DELETING in the same transaction that checks it has no ports
(which keeps ports from being created on it), releases its segments in typemgr, then deletes the
row; if typemgr fails the network is restored and the error passes through. When the caller's
deadline cuts the release short (typemgr may have released), the deletion is finished as above:
row deleted, release recorded and sent again later. A network left DELETING by a stopped portapi
is finished by the reconciler.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import cast

from ml2_driver_sdk.runtime import errors
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import deadline
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi.clients import SegmentAllocator
from services.portapi.db import pending
from services.portapi.db import repository as repo
from services.portapi.segment_changes import SegmentChanges
from services.rpc import paging

logger = logging.getLogger(__name__)

NetworkCheck = Callable[[r.Network], None]
"""Raises unless the caller may go on with the network as stored (before anything changes)."""

LIST_NETWORKS = paging.Listing("ml2.v1.NetworkService/ListNetworks", (datetime, str))
"""Page tokens of ListNetworks: the (create_time, id) of a page's last item."""


class NetworkManager:
    """Creates, reads and deletes networks."""

    def __init__(self, factory: sessionmaker[Session], segments: SegmentAllocator) -> None:
        self._factory = factory
        self._segments = segments
        self.segment_changes = SegmentChanges(factory, segments)

    def create(self, spec: r.NetworkSpec, request_id: str | None) -> r.Network:
        """Creates a network with its segments. Raises what typemgr raised (INVALID_ARGUMENT
        naming ``segments[i]...``, RESOURCE_EXHAUSTED, ALREADY_EXISTS, UNAVAILABLE) or
        DeadlineExceeded."""
        deadline.ensure_time_left("CreateNetwork")
        network_id = str(uuid.uuid4())
        try:
            repo.run_write(
                self._factory, lambda s: repo.insert_network(s, network_id, spec, request_id)
            )
        except sa_exc.IntegrityError as exc:
            if request_id is None or not sql.is_unique_violation(exc):
                raise
            existing = self._by_request_id(request_id)
            if existing.status != r.NETWORK_CREATING:
                return existing
            network_id = existing.id
            spec = r.NetworkSpec(
                existing.name,
                existing.project_id,
                existing.shared,
                existing.admin_state_up,
                spec.segments,
                spec.mtu,
            )
        self._allocate(network_id, spec)
        return self.get(network_id)

    def _by_request_id(self, request_id: str) -> r.Network:
        with sql.read_session(self._factory) as session:
            existing = repo.network_by_request_id(session, request_id)
        if existing is None:
            raise errors.Aborted(
                f"the network of request_id {request_id!r} was deleted while this request "
                "retried it; retry with a new request_id",
                request_id=request_id,
            )
        return existing

    def _allocate(self, network_id: str, spec: r.NetworkSpec) -> None:
        try:
            segments, mtu = self._segments.create_network_segments(
                network_id, spec.project_id, spec.segments
            )
        except (errors.Unavailable, portapi_errors.DeadlineExceeded):
            # typemgr may have allocated before the call failed: give the ids back.
            repo.run_write(self._factory, lambda s: _discard(s, network_id))
            self.release_recorded(network_id)
            raise
        except errors.ServiceError:
            repo.run_write(self._factory, lambda s: repo.delete_network(s, network_id))
            raise
        try:
            mtu = network_mtu(spec.mtu, mtu)
        except errors.InvalidArgument:
            repo.run_write(self._factory, lambda s: _discard(s, network_id))
            self.release_recorded(network_id)
            raise
        stored = repo.run_write(
            self._factory, lambda s: repo.store_segments(s, network_id, segments, mtu)
        )
        if stored:
            return
        with sql.read_session(self._factory) as session:
            current = repo.get_network(session, network_id)
        if current is not None and current.status == r.NETWORK_ACTIVE:
            return  # a retry with the same request_id finished it first
        repo.run_write(self._factory, lambda s: pending.record_release(s, network_id))
        self.release_recorded(network_id)
        raise errors.Aborted(
            f"network {network_id!r} was deleted while it was being created",
            reason="NETWORK_DELETED",
            network_id=network_id,
        )

    def release_recorded(self, network_id: str) -> bool:
        """Asks typemgr to release the segments of a network whose release is recorded, and
        deletes the record; returns True if typemgr released them. Never raises a peer's error:
        a release typemgr misses stays recorded for the reconciler."""
        try:
            self._segments.release_network_segments(network_id)
        except errors.ServiceError as exc:
            logger.warning(
                "network %s: typemgr did not release its segments: %s; the reconciler asks "
                "again later",
                network_id,
                exc.message,
                extra={"network_id": network_id},
            )
            return False
        repo.run_write(self._factory, lambda s: pending.release_done(s, network_id))
        return True

    def get(self, network_id: str) -> r.Network:
        """Returns the network; raises NetworkNotFound."""
        with sql.read_session(self._factory) as session:
            network = repo.get_network(session, network_id)
        if network is None:
            raise portapi_errors.NetworkNotFound(network_id)
        return network

    def list_page(
        self,
        project_id: str,
        page_size: int,
        page_token: str,
        within: tuple[str, bool] | None = None,
    ) -> tuple[list[r.Network], str]:
        """Returns one page of networks in creation order and the next page's token (empty on
        the last page). With ``project_id``, that project's networks and shared ones.
        ``within`` (project, shared) narrows the listing to what a caller may see: that
        project's networks (none for an empty project) and, if shared, the shared ones."""
        filters: dict[str, object] = {"project_id": project_id}
        if within is not None:
            filters["within"] = f"{within[0]}|{within[1]}"
        after = LIST_NETWORKS.decode(page_token, filters)
        limit = LIST_NETWORKS.size(page_size)
        position = None if after is None else (cast(datetime, after[0]), cast(str, after[1]))
        with sql.read_session(self._factory) as session:
            if within is None:
                found = repo.list_networks(session, project_id, position, limit + 1)
            else:
                found = repo.list_networks_within(session, *within, position, limit + 1)
        return LIST_NETWORKS.page(found, limit, lambda n: (n.create_time, n.id), filters)

    def update(
        self, network_id: str, change: r.NetworkUpdate, check: NetworkCheck | None = None
    ) -> r.Network:
        """Sets the fields ``change`` names and returns the network. Raises NetworkNotFound,
        NetworkNotActive, InvalidArgument naming ``network.mtu`` for an MTU the segments do not
        allow, SegmentationIdNotUpdatable, typemgr's error (UNAVAILABLE: nothing changed, or
        a new segmentation id left for the reconciler to read back) or DeadlineExceeded. The
        MTU is checked before a new segmentation id is asked for, which is asked for before
        the other fields are written; ``check`` may refuse the network before anything."""
        deadline.ensure_time_left("UpdateNetwork")
        network = self.get(network_id)
        if check is not None:
            check(network)
        if network.status != r.NETWORK_ACTIVE:
            raise portapi_errors.NetworkNotActive(
                network_id, network.status, "it cannot be updated"
            )
        columns: dict[str, object] = {}
        if change.name is not None:
            columns["name"] = change.name
        if change.admin_state_up is not None:
            columns["admin_state_up"] = change.admin_state_up
        if change.mtu is not None:
            columns["mtu"] = network_mtu(change.mtu, self._segments.network_mtu(network_id))
            columns["mtu_requested"] = change.mtu
        if change.segmentation_id is not None:
            self.segment_changes.change_segmentation_id(network_id, change.segmentation_id)

        def work(session: Session) -> None:
            current = repo.get_network(session, network_id, lock="update")
            if current is None:
                raise portapi_errors.NetworkNotFound(network_id)
            if current.status != r.NETWORK_ACTIVE:
                raise portapi_errors.NetworkNotActive(
                    network_id, current.status, "it cannot be updated"
                )
            repo.update_network_fields(session, network_id, columns)

        repo.run_write(self._factory, work)
        logger.info(
            "updated network %s: %s",
            network_id,
            ", ".join(sorted(columns)) or "nothing",
            extra={"network_id": network_id},
        )
        return self.get(network_id)

    def delete(self, network_id: str, check: NetworkCheck | None = None) -> r.Network:
        """Deletes a network without ports and releases its segments; ``check`` may refuse it
        first. Raises NetworkNotFound, NetworkInUse (naming the port count), typemgr's error
        or DeadlineExceeded."""
        deadline.ensure_time_left("DeleteNetwork")
        network = repo.run_write(self._factory, lambda s: _begin_delete(s, network_id, check))
        try:
            self._segments.release_network_segments(network_id)
        except portapi_errors.DeadlineExceeded:
            # typemgr may have released them: finish the deletion, release again later.
            repo.run_write(self._factory, lambda s: _discard(s, network_id))
            raise
        except errors.ServiceError:
            restored = r.NETWORK_ACTIVE if network.status == r.NETWORK_DELETING else network.status
            repo.run_write(
                self._factory, lambda s: repo.set_network_status(s, network_id, restored)
            )
            raise
        repo.run_write(self._factory, lambda s: repo.delete_network(s, network_id))
        logger.info("deleted network %s", network_id, extra={"network_id": network_id})
        return network


def network_mtu(requested: int, maximum: int) -> int:
    """Returns the MTU a network gets, as Neutron's ML2 plugin decides it: the requested one
    when set, else ``maximum`` (the smallest MTU of its segments, else the global physical
    network MTU). Raises InvalidArgument naming ``network.mtu`` when the request is larger than
    a known maximum."""
    if requested and maximum and requested > maximum:
        raise errors.InvalidArgument(
            "network.mtu",
            f"Requested MTU is too big, maximum is {maximum}",
            reason="MTU_TOO_BIG",
            maximum=maximum,
            requested=requested,
        )
    return requested or maximum


def _begin_delete(
    session: Session, network_id: str, check: NetworkCheck | None = None
) -> r.Network:
    network = repo.get_network(session, network_id, lock="update")
    if network is None:
        raise portapi_errors.NetworkNotFound(network_id)
    if check is not None:
        check(network)
    count = repo.count_ports(session, network_id)
    if count:
        raise portapi_errors.NetworkInUse(network_id, count)
    repo.set_network_status(session, network_id, r.NETWORK_DELETING)
    return network


def _discard(session: Session, network_id: str) -> None:
    """Deletes the network row and records the release of whatever segments typemgr holds for
    it, in one transaction."""
    repo.delete_network(session, network_id)
    pending.record_release(session, network_id)
