"""Agent death takes ports DOWN (``liveness``), with a fake agent directory: dead and removed
agents' ACTIVE and BUILD ports go DOWN with a message; an unreachable mechmgr changes nothing."""

from __future__ import annotations

import pytest
from ml2_driver_sdk.runtime import errors
from sqlalchemy.orm import Session

from services import sql
from services.portapi import resources as r
from services.portapi.db import codec
from services.portapi.db import repository as repo
from services.portapi.liveness import AgentLiveness

from .conftest import Stack
from .test_reconciler import left_pending
from .test_services import create_network


class Directory:
    """An AgentDirectory whose answer the test sets."""

    def __init__(self, alive: dict[str, bool] | None) -> None:
        self.alive = alive

    def agent_liveness(self) -> dict[str, bool]:
        if self.alive is None:
            raise errors.Unavailable("mechmgr is down")
        return dict(self.alive)


def reported(stack: Stack, agent_id: str, state: str, count: int = 1) -> list[str]:
    """Ports whose device ``agent_id`` reported last, in ``state``."""
    ids = left_pending(stack, create_network(stack).id, count)

    def work(session: Session) -> None:
        for port_id in ids:
            repo.set_status(session, port_id, state, "", agent_id, codec.now())

    repo.run_write(stack.factory, work)
    return ids


def port(stack: Stack, port_id: str) -> r.Port:
    with sql.read_session(stack.factory) as session:
        found = repo.get_port(session, port_id)
    assert found is not None
    return found


def test_dead_and_removed_agents_ports_go_down_and_live_ones_stay(stack: Stack) -> None:
    dead = reported(stack, "agent-dead", r.PORT_ACTIVE)
    gone = reported(stack, "agent-gone", r.PORT_BUILD)
    alive = reported(stack, "agent-alive", r.PORT_ACTIVE)
    errored = reported(stack, "agent-dead", r.PORT_ERROR)
    directory = Directory({"agent-dead": False, "agent-alive": True})
    checker = AgentLiveness(stack.app.devices, directory, interval=60)
    assert checker.run_once() == 2
    down = port(stack, dead[0])
    assert down.status == r.PORT_DOWN and down.status_message.startswith("agent agent-dead on ")
    assert down.status_message.endswith(" is dead")
    assert port(stack, gone[0]).status_message.endswith("is no longer registered")
    assert port(stack, alive[0]).status == r.PORT_ACTIVE
    assert port(stack, errored[0]).status == r.PORT_ERROR
    assert checker.run_once() == 0


def test_an_unreachable_mechmgr_changes_nothing(stack: Stack) -> None:
    ids = reported(stack, "agent-x", r.PORT_ACTIVE, count=3)
    checker = AgentLiveness(stack.app.devices, Directory(None), interval=60)
    with pytest.raises(errors.Unavailable):
        checker.run_once()
    checker._tick()  # logs and counts the failure, raises nothing
    assert {port(stack, i).status for i in ids} == {r.PORT_ACTIVE}
