"""Retrying failed bindings when an agent of their host may now bind them.

A port whose binding failed (``binding_failed``) because its host had no usable agent (none
registered, dead, disabled, or without the mappings its network needs) is bound again as soon
as that may have changed, without any update of the port: for every agent type, when an agent
registers for the first time, comes back alive, registers with other capabilities, or is
allowed to bind again (admin state up). Neutron does this only for Open vSwitch agents coming
back alive; anything else waits for the next update of the port.

What changed comes from mechmgr: every agent has a ``revision`` that mechmgr moves forward in
the statement that makes any such change (``services.mechmgr.agents``), so no change is missed
however short (an agent dead and back between two passes still moved it). Every ``interval``
seconds (``PORTAPI_AGENT_CHECK_INTERVAL_SECONDS``, and once at start) one thread of each replica
lists the agents (``AgentService.ListAgents``) and compares each usable agent's revision (alive,
admin state up) with the one recorded in ``agent_rebinds`` (``changes``); an agent without a row
is new. An agent that is dead or disabled is left for later: whatever makes it usable moves its
revision again.

For each host with changes it claims each changed agent's revision with a compare-and-set
upsert, in the transaction that marks the failed bindings of the host pending, once for all of
them (``db.rebinds``): of several replicas exactly one wins each change, and a replica stopped
before it retried them leaves them pending, so that the reconciler binds them after its grace
period as it binds any interrupted binding. The replica then binds each marked port through
the normal ``Binder`` at the generation it failed at: an UpdatePort that changed the inputs
meanwhile wins the compare-and-set, and the rebinder's result for the old inputs is dropped.
A binding of the host that was being resolved at the claim (a request may have asked mechmgr
before the change and commit its failure after the claim) is looked at again once the marked
ports are done, and retried the same way if it failed meanwhile.

State is in the database, not in a replica: a replica that restarts, or a portapi started after
the agent came back, finds the revisions it has not handled yet. The first pass after the
upgrade that adds ``agent_rebinds`` (or against a new database) sees every agent as new and
retries the failed bindings of every host with a usable agent once.

Bounds: one pass claims changes host by host until ``BATCH`` ports were marked (a host is never
split, so a pass marks at most ``BATCH`` plus one host's ports); the changes left are claimed at
the next pass. A mechmgr that reports no revisions (0, before the field existed) triggers no
retries. Rows of agents mechmgr no longer lists are deleted.

Observability: ``ml2_portapi_agent_changes_total{change}``,
``ml2_portapi_failed_port_rebinds_total{result}``, ``ml2_portapi_rebind_passes_total{result}``,
and one log line per claimed change and per retried port, with ``agent_id``, ``host`` and
``port_id`` fields.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from ml2_contract import vocabulary
from ml2_driver_sdk.runtime import errors
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import metrics
from services.portapi.binding import Binder
from services.portapi.clients import AgentState, AgentStates
from services.portapi.db import bindings, codec, rebinds
from services.portapi.db import repository as repo
from services.portapi.periodic import PeriodicThread

logger = logging.getLogger(__name__)

BATCH = 200
"""Ports marked for a retry per pass, at least (a host's failed ports are marked together)."""

NEW = "new"
CHANGED = "changed"

BOUND = "bound"
FAILED = "failed"
SUPERSEDED = "superseded"
ERROR = "error"


@dataclass(frozen=True)
class Change:
    """An agent whose host's failed bindings are to be retried."""

    agent: AgentState
    previous: int | None
    """The revision handled before (None: the agent was never seen)."""

    @property
    def kind(self) -> str:
        """``new`` or ``changed``."""
        return NEW if self.previous is None else CHANGED


def changes(handled: Mapping[str, int], agents: Sequence[AgentState]) -> list[Change]:
    """Returns the usable agents (alive, admin state up) whose revision is newer than the one
    handled, or that were never handled, in (host, agent type) order. An agent without a
    revision (0) is never a change."""
    found = [
        Change(agent, handled.get(agent.id))
        for agent in agents
        if agent.alive
        and agent.admin_state_up
        and agent.revision > 0
        and agent.revision > handled.get(agent.id, 0)
    ]
    return sorted(found, key=lambda c: (c.agent.host, c.agent.agent_type, c.agent.id))


def by_host(found: Sequence[Change]) -> list[tuple[str, list[Change]]]:
    """Groups changes by host, keeping their order."""
    groups: dict[str, list[Change]] = {}
    for change in found:
        groups.setdefault(change.agent.host, []).append(change)
    return list(groups.items())


def gone(handled: Mapping[str, int], agents: Sequence[AgentState]) -> list[str]:
    """Returns the ids of the agents handled that mechmgr no longer lists."""
    listed = {agent.id for agent in agents}
    return sorted(agent_id for agent_id in handled if agent_id not in listed)


class FailedPortRebinder(PeriodicThread):
    """The background thread that retries failed bindings after agent changes (its first pass
    runs at once), and one pass of it."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        binder: Binder,
        agents: AgentStates,
        interval: float,
        *,
        batch: int = BATCH,
        clock: Callable[[], datetime] = codec.now,
    ) -> None:
        super().__init__("failed-port-rebinder", interval, first_at_start=True)
        self._factory = factory
        self._binder = binder
        self._agents = agents
        self._batch = batch
        self._clock = clock

    def run_once(self) -> dict[str, int]:
        """Runs one pass; returns how many ports it retried, by result. Raises ServiceError when
        mechmgr cannot be asked, SQLAlchemyError when the database cannot."""
        agents = self._agents.agent_states()
        with sql.read_session(self._factory) as session:
            handled = rebinds.handled(session)
        stale = gone(handled, agents)
        if stale:
            repo.run_write(self._factory, functools.partial(rebinds.forget, agent_ids=stale))
        done = {BOUND: 0, FAILED: 0, SUPERSEDED: 0, ERROR: 0}
        marked = 0
        for host, host_changes in by_host(changes(handled, agents)):
            if self._stop.is_set() or marked >= self._batch:
                break
            claimed = self._claim(host, host_changes)
            if claimed is None:
                continue
            ports, flying, won = claimed
            marked += len(ports)
            for port_id in ports:
                if self._stop.is_set():
                    break  # the ports left stay pending: the reconciler binds them
                done[self._rebind(port_id, won)] += 1
            # A binding resolved before the change but committed after the claim failed on
            # what the agent was: it is retried too.
            for port_id in flying:
                if self._stop.is_set():
                    break
                if self._mark_late_failure(port_id):
                    done[self._rebind(port_id, won)] += 1
        if any(done.values()):
            logger.info("retried failed bindings after agent changes: %s", done)
        return done

    def _claim(
        self, host: str, host_changes: Sequence[Change]
    ) -> tuple[list[str], list[str], Change] | None:
        """Claims the changes of one host's agents in one transaction and, if it won any, marks
        the host's failed bindings once for all of them; returns the ports it marked, those whose
        binding was in flight, and the first change it won. None if other replicas won all."""

        def work(session: Session) -> tuple[list[str], list[str], list[Change]] | None:
            now = self._clock()
            won = [
                c
                for c in host_changes
                if rebinds.claim(session, c.agent.id, host, c.agent.revision, now)
            ]
            if not won:
                return None
            marked = rebinds.mark_failed_pending(session, host, now)
            return marked, rebinds.in_flight(session, host), won

        claimed = repo.run_write(self._factory, work)
        if claimed is None:
            return None
        ports, flying, won = claimed
        for change in won:
            agent = change.agent
            metrics.AGENT_CHANGES.labels(change.kind).inc()
            before = "new" if change.previous is None else f"revision {change.previous}"
            logger.info(
                "%s agent %s on host %s is usable at revision %d (%s): retrying %d failed bindings",
                agent.agent_type,
                agent.id,
                host,
                agent.revision,
                before,
                len(ports),
                extra={"agent_id": agent.id, "host": host, "revision": agent.revision},
            )
        return ports, flying, won[0]

    def _mark_late_failure(self, port_id: str) -> bool:
        """Marks a port that was in flight at the claim if its binding has failed since."""
        return bool(
            repo.run_write(
                self._factory,
                functools.partial(
                    rebinds.mark_one_failed_pending, port_id=port_id, now=self._clock()
                ),
            )
        )

    def _rebind(self, port_id: str, change: Change) -> str:
        """Binds one marked port again; returns the result label."""
        with sql.read_session(self._factory) as session:
            current = bindings.binding_state(session, port_id)
        if current is None or current[0] != vocabulary.FAILED:
            metrics.FAILED_PORT_REBINDS.labels(SUPERSEDED).inc()
            return SUPERSEDED  # deleted, or an update is binding it (or bound it) already
        try:
            port, committed = self._binder.bind_committed(current[1], wait=False)
        except (errors.ServiceError, SQLAlchemyError) as exc:
            logger.warning(
                "cannot retry the failed binding of port %s: %s; left to the reconciler",
                port_id,
                exc,
                extra={"port_id": port_id, "host": change.agent.host},
            )
            metrics.FAILED_PORT_REBINDS.labels(ERROR).inc()
            return ERROR
        if not committed or port is None:
            result = SUPERSEDED
        else:
            result = BOUND if port.binding.result.state == vocabulary.BOUND else FAILED
        metrics.FAILED_PORT_REBINDS.labels(result).inc()
        logger.info(
            "retried the failed binding of port %s on host %s after agent %s changed: %s",
            port_id,
            change.agent.host,
            change.agent.id,
            result,
            extra={"port_id": port_id, "host": change.agent.host, "agent_id": change.agent.id},
        )
        return result

    def _tick(self) -> None:
        try:
            self.run_once()
        except (errors.ServiceError, SQLAlchemyError) as exc:
            metrics.REBIND_PASSES.labels("failed").inc()
            logger.warning("cannot look for agent changes: %s; tried again next pass", exc)
            return
        metrics.REBIND_PASSES.labels("ok").inc()
