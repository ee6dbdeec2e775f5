"""What L2 agents tell portapi about the devices they wire, and what their death does.

``report`` applies one ReportDeviceStatus batch in one transaction: each device's report is
classified against the port as stored (``status.classify``) and, when it applies, sets the
port's status and reporting agent (``status.reported``). ``agent_down`` takes the ACTIVE and
BUILD ports a dead (or removed) agent reported DOWN (``status.agent_dead``); its next UP report
makes them ACTIVE again. Every change stages its event (``changes``); a port becoming ACTIVE is
VIF_PLUGGED, one leaving ACTIVE VIF_UNPLUGGED.

Ports are locked in id order, so that two batches naming the same ports never deadlock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from services import sql
from services.portapi import changes, metrics, status
from services.portapi import resources as r
from services.portapi.db import repository as repo

logger = logging.getLogger(__name__)

MAX_REPORTS = 1000
"""The most devices one ReportDeviceStatus may carry."""
AGENT_DOWN_BATCH = 200
"""How many ports of a dead agent one transaction takes DOWN."""
WATCHED = (r.PORT_ACTIVE, r.PORT_BUILD)
"""The statuses an agent's death ends."""


class DeviceStatus:
    """Applies device reports and agent deaths to ports' status."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def report(
        self, host_id: str, agent_id: str, reports: Sequence[r.DeviceReport]
    ) -> list[r.ReportOutcome]:
        """Applies the reports of ``agent_id`` on ``host_id``; returns one outcome per report,
        in order."""
        outcomes = repo.run_write(self._factory, lambda s: _report(s, host_id, agent_id, reports))
        for report, outcome in zip(reports, outcomes, strict=True):
            metrics.DEVICE_REPORTS.labels(outcome.result, report.state).inc()
        return outcomes

    def reporting_agents(self) -> list[str]:
        """Returns the agents that reported the devices of ACTIVE or BUILD ports."""
        with sql.read_session(self._factory) as session:
            return repo.reporting_agents(session, WATCHED)

    def agent_down(self, agent_id: str, *, gone: bool) -> int:
        """Takes DOWN every ACTIVE or BUILD port ``agent_id`` reported last; returns how many."""
        total = 0
        while True:
            done = repo.run_write(self._factory, lambda s: _agent_down(s, agent_id, gone))
            total += done
            if done < AGENT_DOWN_BATCH:
                break
        if total:
            how = "no longer registered" if gone else "dead"
            logger.warning(
                "agent %s is %s: %d ports taken down",
                agent_id,
                how,
                total,
                extra={"agent_id": agent_id},
            )
        return total


def _report(
    session: Session, host_id: str, agent_id: str, reports: Sequence[r.DeviceReport]
) -> list[r.ReportOutcome]:
    outcomes: dict[int, r.ReportOutcome] = {}
    for index in sorted(range(len(reports)), key=lambda i: (reports[i].port_id, i)):
        report = reports[index]
        port = repo.get_port(session, report.port_id, lock=True)
        result = status.classify(port, host_id, report)
        if port is not None and result == r.REPORT_APPLIED:
            after = changes.set_status(
                session, port, status.reported(port, agent_id, report), agent_id
            )
            if after != port:
                changes.record(session, changes.Before.of(port), after)
            port = after
        outcomes[index] = r.ReportOutcome(report.port_id, result, port)
    return [outcomes[i] for i in range(len(reports))]


def _agent_down(session: Session, agent_id: str, gone: bool) -> int:
    port_ids = sorted(repo.ports_reported_by(session, agent_id, WATCHED))[:AGENT_DOWN_BATCH]
    done = 0
    for port_id in port_ids:
        port = repo.get_port(session, port_id, lock=True)
        if port is None or port.status_agent_id != agent_id:
            continue
        target = status.agent_dead(port, gone)
        if target is None:
            continue
        after = changes.set_status(session, port, target)
        changes.record(session, changes.Before.of(port), after)
        done += 1
    return done
