"""Agent death takes ports DOWN: every ``interval`` seconds, portapi asks mechmgr which agents
are alive (``AgentService.ListAgents``, liveness computed there from heartbeats) and takes the
ACTIVE and BUILD ports whose reporting agent is dead, or no longer registered, DOWN with a
message saying so (``devices.DeviceStatus.agent_down``). The agent's next UP report makes them
ACTIVE again.

When mechmgr cannot be asked, the pass changes nothing: an unreachable registry is no evidence
that agents died.
"""

from __future__ import annotations

import logging

from ml2_driver_sdk.runtime import errors
from sqlalchemy.exc import SQLAlchemyError

from services.portapi import metrics
from services.portapi.clients import AgentDirectory
from services.portapi.devices import DeviceStatus
from services.portapi.periodic import PeriodicThread

logger = logging.getLogger(__name__)


class AgentLiveness(PeriodicThread):
    """The periodic agent liveness check."""

    def __init__(self, devices: DeviceStatus, agents: AgentDirectory, interval: float) -> None:
        super().__init__("agent-liveness", interval, first_at_start=False)
        self._devices = devices
        self._agents = agents

    def run_once(self) -> int:
        """Runs one pass; returns how many ports it took DOWN. Raises ServiceError when mechmgr
        cannot be asked, SQLAlchemyError when the database cannot."""
        reporting = self._devices.reporting_agents()
        if not reporting:
            return 0
        alive = self._agents.agent_liveness()
        total = 0
        for agent_id in reporting:
            if self._stop.is_set():
                break
            known = alive.get(agent_id)
            if known is None or not known:
                total += self._devices.agent_down(agent_id, gone=known is None)
        metrics.AGENT_DOWN_PORTS.inc(total)
        return total

    def _tick(self) -> None:
        try:
            self.run_once()
        except (errors.ServiceError, SQLAlchemyError) as exc:
            metrics.AGENT_CHECKS.labels("failed").inc()
            logger.warning("cannot check which agents are alive: %s; ports left as they are", exc)
            return
        metrics.AGENT_CHECKS.labels("ok").inc()
