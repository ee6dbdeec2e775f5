"""Ports: creation (binding it at once when a host is given), reads, updates and deletion.

Every write that changes binding inputs happens in one transaction with the port's row locked,
and hands a ``BindTicket`` to the Binder, which resolves and commits outside that transaction.
A request that cannot finish within its caller's deadline is refused before it writes
(DEADLINE_EXCEEDED); one the deadline cuts short while mechmgr resolves leaves the binding
pending, and the reconciler finishes it.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import cast

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import changes, deadline, macs, status, updates
from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi.binding import Binder
from services.portapi.db import bindings, hold_outbox
from services.portapi.db import repository as repo
from services.rpc import paging

logger = logging.getLogger(__name__)

LIST_PORTS = paging.Listing("ml2.v1.PortService/ListPorts", (datetime, str))
"""Page tokens of ListPorts: the (create_time, id) of a page's last item."""

PortCheck = Callable[[r.Port], None]
"""Raises unless the caller may go on with the port as stored (called in the transaction that
changes it, before anything is written)."""
NetworkCheck = Callable[[r.Network], None]
"""Raises unless the caller may create its port on the network (in the creating transaction)."""

MAC_TRIES = 16
"""How many random MAC addresses CreatePort tries before giving up on a crowded network."""


class PortManager:
    """Creates, reads, updates, deletes and binds ports."""

    def __init__(self, factory: sessionmaker[Session], binder: Binder) -> None:
        self._factory = factory
        self._binder = binder

    def create(
        self, spec: r.PortSpec, request_id: str | None, check: NetworkCheck | None = None
    ) -> r.Port:
        """Creates a port with a generated MAC unless one is given, and binds it if the spec
        has a host. ``check`` may refuse the network (before it is known to be active). Raises
        NetworkNotFound, NetworkNotActive, MacAddressInUse, MacAddressesExhausted,
        BindingConflict or DeadlineExceeded."""
        deadline.ensure_time_left("CreatePort")
        if request_id is not None:
            existing = self._port_id_by_request_id(request_id)
            if existing is not None:
                return self.get(existing)
        for _ in range(MAC_TRIES):
            port_id = str(uuid.uuid4())
            mac = spec.mac_address or macs.generate()
            started = time.perf_counter()
            try:
                ticket, port = repo.run_write(
                    self._factory,
                    functools.partial(
                        _insert,
                        port_id=port_id,
                        spec=spec,
                        mac=mac,
                        request_id=request_id,
                        check=check,
                    ),
                )
            except sa_exc.IntegrityError as exc:
                if not sql.is_unique_violation(exc):
                    raise
                existing = self._port_id_by_request_id(request_id) if request_id else None
                if existing is not None:
                    return self.get(existing)
                if spec.mac_address:
                    raise portapi_errors.MacAddressInUse(spec.network_id, mac) from None
                continue
            if ticket is not None:
                port = self._binder.bind(ticket, started)
            return port if port is not None else self.get(port_id)
        raise portapi_errors.MacAddressesExhausted(spec.network_id, MAC_TRIES)

    def _port_id_by_request_id(self, request_id: str) -> str | None:
        with sql.read_session(self._factory) as session:
            return repo.port_id_by_request_id(session, request_id)

    def get(self, port_id: str) -> r.Port:
        """Returns the port with its binding, levels and trace; raises PortNotFound."""
        with sql.read_session(self._factory) as session:
            port = repo.get_port(session, port_id)
        if port is None:
            raise portapi_errors.PortNotFound(port_id)
        return port

    def network_project(self, port: r.Port) -> str | None:
        """The project of the port's network (None if the network is gone)."""
        return self.network_project_of(port.network_id)

    def network_project_of(self, network_id: str) -> str | None:
        """The project of a network (None if there is none of that id)."""
        with sql.read_session(self._factory) as session:
            network = repo.get_network(session, network_id)
        return None if network is None else network.project_id

    def list_page(
        self, filters: Mapping[str, str], page_size: int, page_token: str
    ) -> tuple[list[r.Port], str]:
        """Returns one page of ports matching every non-empty filter, in creation order, and
        the next page's token (empty on the last page)."""
        after = LIST_PORTS.decode(page_token, filters)
        limit = LIST_PORTS.size(page_size)
        position = None if after is None else (cast(datetime, after[0]), cast(str, after[1]))
        with sql.read_session(self._factory) as session:
            found = repo.list_ports(session, filters, position, limit + 1)
        return LIST_PORTS.page(found, limit, lambda p: (p.create_time, p.id), filters)

    def check_token(self, filters: Mapping[str, str], page_token: str) -> None:
        """Raises InvalidArgument naming ``page_token`` unless it is one of this listing's."""
        LIST_PORTS.decode(page_token, filters)

    def update(self, port_id: str, update: r.PortUpdate, check: PortCheck | None = None) -> r.Port:
        """Applies the update (see ``updates.plan``) and binds the port if it needs a result.
        ``check`` may refuse the port as it is stored, before anything is written.

        Raises PortNotFound, PortInUse, PortBound, MacAddressInUse, BindingConflict or
        DeadlineExceeded.
        """
        deadline.ensure_time_left("UpdatePort")
        started = time.perf_counter()
        holds = self._binder.tracks_holds
        try:
            ticket, port, pending = repo.run_write(
                self._factory, lambda s: _apply(s, port_id, update, holds, check)
            )
        except sa_exc.IntegrityError as exc:
            if update.mac_address is None or not sql.is_unique_violation(exc):
                raise
            network_id = self.get(port_id).network_id
            raise portapi_errors.MacAddressInUse(network_id, update.mac_address) from None
        if ticket is not None:
            port = self._binder.bind(ticket, started)
        elif pending is not None:
            self._binder.sync_holds(pending)
        if port is None:
            raise portapi_errors.PortNotFound(port_id)  # deleted while it was being bound
        return port

    def delete(self, port_id: str, check: PortCheck | None = None) -> r.Port:
        """Deletes the port with its binding; returns it as it was. ``check`` may refuse the
        port first. Raises PortNotFound."""
        holds = self._binder.tracks_holds
        port, pending = repo.run_write(self._factory, lambda s: _delete(s, port_id, holds, check))
        logger.info("deleted port %s", port_id, extra={"port_id": port_id})
        if pending is not None:
            self._binder.sync_holds(pending)
        return port


def _insert(
    session: Session,
    *,
    port_id: str,
    spec: r.PortSpec,
    mac: str,
    request_id: str | None,
    check: NetworkCheck | None = None,
) -> tuple[r.BindTicket | None, r.Port | None]:
    """Inserts the port; returns the ticket to bind it, or the port itself when it has no
    host."""
    network = repo.get_network(session, spec.network_id, lock="share")
    if network is None:
        raise portapi_errors.NetworkNotFound(spec.network_id)
    if check is not None:
        check(network)
    if network.status != r.NETWORK_ACTIVE:
        raise portapi_errors.NetworkNotActive(network.id, network.status)
    if not spec.project_id:
        spec = replace(spec, project_id=network.project_id)
    initial = status.initial(spec.admin_state_up, spec.inputs.host_id)
    repo.insert_port(session, port_id, spec, mac, request_id, initial.message)
    port = changes.settle(session, port_id, None, rebase=False)
    if not spec.inputs.host_id:
        return None, port
    return r.BindTicket(port_id, network.id, 1, spec.inputs, network.segments), None


def _apply(
    session: Session,
    port_id: str,
    update: r.PortUpdate,
    holds: bool,
    check: PortCheck | None = None,
) -> tuple[r.BindTicket | None, r.Port | None, hold_outbox.PendingSync | None]:
    """Applies the update; returns the ticket to bind the port, or the port itself when it needs
    no binding, and (with ``holds``) the hold sync an unbinding records: the port holds no
    dynamic segment any more."""
    locked = repo.lock_port(session, port_id)
    if locked is None:
        raise portapi_errors.PortNotFound(port_id)
    port, segments = locked
    if check is not None:
        check(port)
    plan = updates.plan(port, update)
    if plan.reset_mac:
        plan = replace(plan, columns={**plan.columns, "mac_address": macs.generate()})
    if plan.columns:
        repo.update_port_fields(session, port_id, plan.columns)
    inputs, generation = port.binding.inputs, port.binding.generation
    original = port.binding.original
    held = plan.had_levels and bindings.has_lower_levels(session, port_id)
    if plan.inputs is not None:
        inputs = plan.inputs
        original = bindings.original_of(session, port, inputs)
        generation = bindings.write_inputs(
            session, port_id, inputs, had_levels=plan.had_levels, original=original
        )
    changed = None
    if plan.columns or plan.inputs is not None:
        rebase = plan.inputs is not None or "admin_state_up" in plan.columns
        changed = changes.settle(session, port_id, changes.Before.of(port), rebase=rebase)
    if not plan.bind:
        pending = None
        if holds and update.host_id == "" and not inputs.host_id:
            pending = hold_outbox.PendingSync(port_id, (), generation)
            hold_outbox.record(session, pending)
        return None, changed or repo.get_port(session, port_id), pending
    ticket = r.BindTicket(
        port_id, port.network_id, generation, inputs, segments, held, original=original
    )
    return ticket, None, None


def _delete(
    session: Session, port_id: str, holds: bool, check: PortCheck | None = None
) -> tuple[r.Port, hold_outbox.PendingSync | None]:
    """Deletes the port; returns it as it was and (with ``holds``, for a port that was bound or
    being bound) the hold sync of generation 0 it records: whatever bindings of the port are
    still in flight, it holds nothing."""
    port = repo.get_port(session, port_id)
    if port is None:
        raise portapi_errors.PortNotFound(port_id)
    if check is not None:
        check(port)
    repo.delete_port(session, port_id)
    changes.record(session, changes.Before.of(port), port, deleted=True)
    pending = None
    if holds and (port.binding.inputs.host_id or port.binding.result.levels):
        pending = hold_outbox.PendingSync(port_id, (), 0)
        hold_outbox.record(session, pending)
    return port, pending
