"""``ml2 agent run|list`` and ``ml2 driver list``."""

from __future__ import annotations

import argparse

from ml2.v1 import mechanism_manager_service_pb2

from services.agent import runner
from services.cli import client as cli_client
from services.cli import output, render


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Adds the ``agent`` and ``driver`` command groups."""
    group = sub.add_parser("agent", help="run a simulated L2 agent, list agents")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = cmds.add_parser(
        "run",
        help="run an L2 agent for one host until stopped (--simulate for now)",
        description="Registers an L2 agent with mechmgr and keeps it alive until SIGTERM or "
        "Ctrl-C. It does not deregister when it stops: its liveness lapses after the down time.",
    )
    runner.add_arguments(run)
    run.set_defaults(func=run_agent, needs_client=False)

    listing = cmds.add_parser("list", parents=[common], help="list registered agents")
    listing.add_argument("--host", default="", help="only agents of this host")
    listing.add_argument("--type", dest="agent_type", default="", help="only agents of this type")
    listing.set_defaults(func=list_agents)

    drivers = sub.add_parser("driver", help="list the configured mechanism drivers")
    dcmds = drivers.add_subparsers(dest="action", required=True, metavar="ACTION")
    dlist = dcmds.add_parser("list", parents=[common], help="mechanism drivers in binding order")
    dlist.set_defaults(func=list_drivers)


def run_agent(args: argparse.Namespace) -> int:
    """Runs the agent in the foreground."""
    return runner.run(args)


def list_agents(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListAgents, every page."""
    agents = list(client.list_agents(host=args.host, agent_type=args.agent_type))
    return output.many(args, agents, render.agent_rows)


def list_drivers(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListMechanismDrivers."""
    request = mechanism_manager_service_pb2.ListMechanismDriversRequest()
    reply = client.call("mechmgr", client.mechanisms.ListMechanismDrivers, request)
    return output.many(args, list(reply.drivers), render.driver_rows)
