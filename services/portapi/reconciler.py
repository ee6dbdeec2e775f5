"""Finishing the work requests left unfinished: bindings, network creations and deletions, and
segment releases typemgr missed.

A request can end between two of its writes: portapi is killed, or the caller's deadline cuts
a peer call short. What it leaves is always recorded with the time it began waiting
(``pending_since``):

* a binding whose inputs (with a host) were recorded but whose result was not committed;
* a network left CREATING (typemgr may or may not have allocated its segments) or DELETING
  (typemgr may or may not have released them);
* a release of a network's segments that typemgr did not confirm (``network_releases``);
* a change of a network's static segments (a new segmentation id, a segment added or removed)
  whose answer from typemgr was not cached (``segments_pending_since``).

Every ``interval`` seconds, and once at start, one thread of each replica takes every item that
has been pending longer than ``grace`` seconds, oldest first, ``BATCH`` of each kind per pass,
and finishes it:

* a binding is claimed and then resolved and committed through the normal ``Binder``, so the
  port ends BOUND, or ``binding_failed`` with its reasons (mechmgr unreachable included),
  exactly as if the request had finished; the compare-and-set on the generation keeps a
  concurrent UpdatePort's newer inputs. The port may have held dynamic segments before, so the
  holds are synced after the commit.
* a network CREATING or DELETING is rolled back or finished the same way: deleted, with the
  release of its segments recorded in the same transaction, then released. A creation is
  rolled back rather than finished because its caller never got the network: it saw an error
  or no answer, and a retry without ``request_id`` would create a second one (with
  ``request_id`` it creates it again). Typemgr releases idempotently, whether it allocated or
  not.
* a pending release is claimed and sent again.
* a pending segment change is claimed and the network's static segments are read from typemgr
  and cached, with the MTU they allow (or the requested one): whatever typemgr did, the cache
  ends as typemgr's segments are (``segment_changes``).

In flight or abandoned: ``grace`` is longer than any request may take without a caller's
deadline (``PORTAPI_BIND_MAX_TRIES`` x ``PORTAPI_MECHMGR_TIMEOUT_SECONDS`` +
``PORTAPI_TYPEMGR_TIMEOUT_SECONDS`` for a bind, twice the typemgr timeout for a network;
``config.Settings`` refuses a shorter one), so an item older than that has no request left
working on it.

Replicas do not fight: a replica claims an item with one compare-and-set statement on
``pending_since < now - grace`` that moves it to now (a network is claimed by the statement that
deletes it), so of two replicas that see one item exactly one wins it and the other skips it.
The claim lasts one grace period, longer than a repair takes; if the claimer stops, the item
is claimed again after it. The replicas' clocks must agree to well within the grace period.

Bound: an item left at time t is finished by t + grace + interval + the time of its repair
(at most the longest request, above), provided its peers answer; a repair whose peer fails is
counted ``failed`` and tried again one grace period later. Each item a replica claims is counted
in ``ml2_portapi_reconciler_repairs_total{kind,result}``.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from ml2_driver_sdk.runtime import errors
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import metrics
from services.portapi import resources as r
from services.portapi.binding import Binder
from services.portapi.db import bindings, codec, pending
from services.portapi.db import repository as repo
from services.portapi.db import segment_changes as segment_rows
from services.portapi.networks import NetworkManager
from services.portapi.periodic import PeriodicThread

logger = logging.getLogger(__name__)

BATCH = 100
"""Items of each kind taken per pass."""

BINDING = "binding"
NETWORK_CREATE = "network_create"
NETWORK_DELETE = "network_delete"
NETWORK_RELEASE = "network_release"
NETWORK_SEGMENTS = "network_segments"

REPAIRED = "repaired"
SUPERSEDED = "superseded"
FAILED = "failed"


class Reconciler(PeriodicThread):
    """The background thread that finishes abandoned work (its first pass runs at once), and
    one pass of it."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        binder: Binder,
        networks: NetworkManager,
        *,
        interval: float,
        grace: float,
        clock: Callable[[], datetime] = codec.now,
    ) -> None:
        super().__init__("reconciler", interval, first_at_start=True)
        self._factory = factory
        self._binder = binder
        self._networks = networks
        self._grace = timedelta(seconds=grace)
        self._clock = clock

    def run_once(self) -> dict[str, int]:
        """Runs one pass; returns how many items of each kind this replica claimed."""
        now = self._clock()
        cutoff = now - self._grace
        done = {
            BINDING: 0,
            NETWORK_CREATE: 0,
            NETWORK_DELETE: 0,
            NETWORK_RELEASE: 0,
            NETWORK_SEGMENTS: 0,
        }
        with sql.read_session(self._factory) as session:
            ports = pending.due_bindings(session, cutoff, BATCH)
            networks = pending.due_networks(session, cutoff, BATCH)
            changed = segment_rows.due(session, cutoff, BATCH)
        for network_id in changed:
            if self._stop.is_set():
                return done
            done[NETWORK_SEGMENTS] += self._repair_segments(network_id, cutoff, now)
        for port_id in ports:
            if self._stop.is_set():
                return done
            done[BINDING] += self._repair_binding(port_id, cutoff, now)
        for network_id in networks:
            if self._stop.is_set():
                return done
            kind = self._repair_network(network_id, cutoff, now)
            if kind:
                done[kind] += 1
        # Releases recorded above were sent already; take those still pending afterwards.
        with sql.read_session(self._factory) as session:
            releases = pending.due_releases(session, cutoff, BATCH)
        for network_id in releases:
            if self._stop.is_set():
                return done
            done[NETWORK_RELEASE] += self._repair_release(network_id, cutoff, now)
        if any(done.values()):
            logger.info("reconciler took over %s", done)
        return done

    def _repair_binding(self, port_id: str, cutoff: datetime, now: datetime) -> bool:
        claim = functools.partial(_claim_binding, port_id=port_id, cutoff=cutoff, now=now)
        ticket = repo.run_write(self._factory, claim)
        if ticket is None:
            return False
        started = time.perf_counter()
        logger.info(
            "binding port %s left pending at generation %d",
            port_id,
            ticket.generation,
            extra={"port_id": port_id},
        )
        try:
            port, committed = self._binder.bind_committed(ticket, started, wait=False)
        except (errors.ServiceError, SQLAlchemyError) as exc:
            logger.warning("cannot finish the binding of port %s: %s", port_id, exc)
            metrics.RECONCILER_REPAIRS.labels(BINDING, FAILED).inc()
            return True
        result = REPAIRED if committed else SUPERSEDED
        metrics.RECONCILER_REPAIRS.labels(BINDING, result).inc()
        if port is not None and committed:
            logger.info(
                "finished the binding of port %s: %s",
                port_id,
                port.binding.result.state,
                extra={"port_id": port_id},
            )
        return True

    def _repair_network(self, network_id: str, cutoff: datetime, now: datetime) -> str:
        status = repo.run_write(
            self._factory,
            functools.partial(
                pending.abandon_network, network_id=network_id, cutoff=cutoff, now=now
            ),
        )
        if status is None:
            return ""
        kind = NETWORK_DELETE if status == "DELETING" else NETWORK_CREATE
        action = "deleting" if kind == NETWORK_DELETE else "rolling back"
        logger.info(
            "%s network %s left %s", action, network_id, status, extra={"network_id": network_id}
        )
        released = self._networks.release_recorded(network_id)
        metrics.RECONCILER_REPAIRS.labels(kind, REPAIRED if released else FAILED).inc()
        return kind

    def _repair_release(self, network_id: str, cutoff: datetime, now: datetime) -> bool:
        claimed = repo.run_write(
            self._factory,
            functools.partial(pending.claim_release, network_id=network_id, cutoff=cutoff, now=now),
        )
        if not claimed:
            return False
        released = self._networks.release_recorded(network_id)
        metrics.RECONCILER_REPAIRS.labels(NETWORK_RELEASE, REPAIRED if released else FAILED).inc()
        return True

    def _repair_segments(self, network_id: str, cutoff: datetime, now: datetime) -> bool:
        claimed = repo.run_write(
            self._factory,
            functools.partial(segment_rows.claim, network_id=network_id, cutoff=cutoff, now=now),
        )
        if not claimed:
            return False
        logger.info(
            "reading back the segments of network %s, left changing",
            network_id,
            extra={"network_id": network_id},
        )
        try:
            refreshed = self._networks.segment_changes.refresh(network_id)
        except (errors.ServiceError, SQLAlchemyError) as exc:
            logger.warning("cannot cache the segments of network %s: %s", network_id, exc)
            refreshed = False
        metrics.RECONCILER_REPAIRS.labels(NETWORK_SEGMENTS, REPAIRED if refreshed else FAILED).inc()
        return True

    def _tick(self) -> None:
        try:
            self.run_once()
            metrics.RECONCILER_PASSES.labels("ok").inc()
        except SQLAlchemyError as exc:
            metrics.RECONCILER_PASSES.labels("failed").inc()
            logger.warning("reconciler pass failed: %s", exc)


def _claim_binding(
    session: Session, *, port_id: str, cutoff: datetime, now: datetime
) -> r.BindTicket | None:
    """Claims the port's pending binding; returns the ticket to bind it (as possibly holding
    dynamic segments), or None if another replica or a request got to it first."""
    if not pending.claim_binding(session, port_id, cutoff, now):
        return None
    current = bindings.binding_state(session, port_id)
    if current is None:
        return None
    return replace(current[1], may_hold_dynamic=True)
