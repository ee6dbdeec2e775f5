"""``ml2 agent run|list|show|set|delete`` and ``ml2 driver list|check``.

Agents are named by id, or by ``--host`` (and ``--type`` when the host has agents of several
kinds), as ``ml2 agent list`` shows them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping

from google.protobuf import field_mask_pb2
from ml2.v1 import agent_pb2, agent_service_pb2, mechanism_manager_service_pb2
from ml2_driver_sdk import discovery

from services.cli import client as cli_client
from services.cli import conformance, output, render
from services.cli.client import CommandError
from services.cli.deferred import DeferredParser


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Adds the ``agent`` and ``driver`` command groups."""
    group = sub.add_parser("agent", help="run an L2 agent; list, enable, delete agents")
    cmds = group.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=DeferredParser
    )

    run = cmds.add_parser(
        "run",
        setup=_agent_options,
        help="run an L2 agent for one host until stopped",
        description="Runs an L2 agent until SIGTERM or Ctrl-C: it registers with mechmgr, "
        "keeps alive, watches the host's ports on portapi, wires them into the host's "
        "Open vSwitch (or Linux bridges) and reports their devices; with --simulate it only "
        "registers and keeps alive. It does not deregister when it stops: its liveness lapses "
        "after the down time.",
    )
    run.set_defaults(func=run_agent, needs_client=False)

    listing = cmds.add_parser("list", parents=[common], help="list registered agents")
    listing.add_argument("--host", default="", help="only agents of this host")
    listing.add_argument("--type", dest="agent_type", default="", help="only agents of this type")
    listing.set_defaults(func=list_agents)

    show = cmds.add_parser("show", parents=[common], help="show one agent")
    _agent_ref(show)
    show.set_defaults(func=show_agent)

    change = cmds.add_parser(
        "set",
        parents=[common],
        help="allow (--enable) or forbid (--disable) binding ports through an agent",
        description="Sets the agent's admin_state_up. Drivers decline to bind through a "
        "disabled agent (AGENT_ADMIN_DOWN); ports bound already keep their binding. The agent "
        "keeps the choice when it registers again.",
    )
    _agent_ref(change)
    state = change.add_mutually_exclusive_group(required=True)
    state.add_argument("--enable", dest="admin_state_up", action="store_true", default=None)
    state.add_argument("--disable", dest="admin_state_up", action="store_false")
    change.set_defaults(func=set_agent)

    delete = cmds.add_parser(
        "delete",
        parents=[common],
        help="remove an agent from the registry",
        description="Removes the agent, alive or dead, as Neutron does: a dead agent leaves "
        "the list; an agent still running registers again, with a new id, at its next "
        "heartbeat. Ports on its host fail to bind (NO_AGENT) until an agent registers.",
    )
    _agent_ref(delete)
    delete.set_defaults(func=delete_agent)

    drivers = sub.add_parser(
        "driver",
        help="list the configured or installed mechanism drivers; run one; check its conformance",
    )
    dcmds = drivers.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=DeferredParser
    )
    dlist = dcmds.add_parser(
        "list",
        parents=[common],
        help="mechanism drivers in binding order, or those installed here",
        description="Without --installed: mechmgr's drivers in binding order, each with the "
        "distribution it comes from when it is installed here. With --installed: the drivers "
        "installed in this Python environment (the ml2.mechanism_drivers entry points), "
        "which ml2 up --mechanism-drivers and ml2 driver run start by name; no stack needed.",
    )
    dlist.add_argument(
        "--installed", action="store_true", help="the drivers installed here, not mechmgr's"
    )
    dlist.set_defaults(func=list_drivers)
    drun = dcmds.add_parser(
        "run",
        help="serve an installed mechanism driver as its own process",
        description="Serves the installed driver NAME (ml2 driver list --installed) until "
        "SIGTERM or SIGINT, configured by MECHDRIVER_LISTEN, MECHDRIVER_METRICS_PORT and the "
        "driver's own variables; its default ports are the ones its distribution declares.",
    )
    drun.add_argument("name", metavar="NAME", help="the driver's entry-point name")
    drun.set_defaults(func=run_driver, needs_client=False)
    conformance.register(dcmds)


def _agent_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", nargs="?", default="", metavar="AGENT", help="the agent's id")
    parser.add_argument("--host", default="", help="instead of the id: the agent's host")
    parser.add_argument(
        "--type",
        dest="agent_type",
        default="",
        help="with --host: the agent's type, when the host has several agents",
    )


def _agent_options(parser: argparse.ArgumentParser) -> None:
    from services.agent import runner  # the agent's runtime: only for ``ml2 agent run``

    runner.add_arguments(parser)


def run_agent(args: argparse.Namespace) -> int:
    """Runs the agent in the foreground."""
    from services.agent import runner

    return runner.run(args)


def list_agents(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListAgents, every page; an unknown ``--type`` is refused rather than listing nothing."""
    agents = list(client.list_agents(host=args.host, agent_type=args.agent_type))
    if args.agent_type and not agents:
        known = known_agent_types(client)
        if args.agent_type not in known:
            raise CommandError(
                f"--type: unknown agent type {args.agent_type!r}; mechmgr knows "
                f"{', '.join(sorted(known)) or 'none'}",
                cli_client.EXIT_USAGE,
            )
    return output.many(args, agents, render.agent_rows)


def known_agent_types(client: cli_client.Client) -> set[str]:
    """The agent types of the configured mechanism drivers and of every registered agent."""
    request = mechanism_manager_service_pb2.ListMechanismDriversRequest()
    reply = client.call("mechmgr", client.mechanisms.ListMechanismDrivers, request)
    known = {d.agent_type for d in reply.drivers if d.agent_type}
    return known | {a.agent_type for a in client.list_agents()}


def find_agent(args: argparse.Namespace, client: cli_client.Client) -> agent_pb2.Agent:
    """The agent named by the id, or by ``--host`` (and ``--type``); CommandError otherwise."""
    if args.agent and (args.host or args.agent_type):
        raise CommandError("give the agent's id or --host (and --type), not both", 2)
    if args.agent:
        request = agent_service_pb2.GetAgentRequest(agent_id=args.agent)
        found: agent_pb2.Agent = client.call("mechmgr", client.agents.GetAgent, request).agent
        return found
    if not args.host:
        raise CommandError("name the agent: its id, or --host (and --type)", 2)
    matches = list(client.list_agents(host=args.host, agent_type=args.agent_type))
    what = f"{args.agent_type} agent" if args.agent_type else "agent"
    if not matches:
        raise CommandError(f"NOT_FOUND: no {what} on host {args.host!r}")
    if len(matches) > 1:
        kinds = ", ".join(f"{a.agent_type} ({a.id})" for a in matches)
        raise CommandError(f"host {args.host!r} has {len(matches)} agents: {kinds}; add --type")
    return matches[0]


def show_agent(args: argparse.Namespace, client: cli_client.Client) -> int:
    """GetAgent, by id or host and type."""
    return output.one(args, find_agent(args, client), render.agent_detail)


def set_agent(args: argparse.Namespace, client: cli_client.Client) -> int:
    """UpdateAgent with admin_state_up."""
    agent = find_agent(args, client)
    request = agent_service_pb2.UpdateAgentRequest(
        agent=agent_pb2.Agent(id=agent.id, admin_state_up=args.admin_state_up),
        update_mask=field_mask_pb2.FieldMask(paths=["admin_state_up"]),
    )
    reply = client.call("mechmgr", client.agents.UpdateAgent, request)
    return output.one(args, reply.agent, render.agent_detail)


def delete_agent(args: argparse.Namespace, client: cli_client.Client) -> int:
    """DeleteAgent, by id or host and type."""
    agent = find_agent(args, client)
    request = agent_service_pb2.DeleteAgentRequest(agent_id=agent.id)
    reply = client.call("mechmgr", client.agents.DeleteAgent, request)
    if args.json:
        return output.one(args, reply.agent, render.agent_detail)
    gone = reply.agent
    print(f"deleted {gone.agent_type} agent {gone.id} on host {gone.host}")
    return 0


def list_drivers(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListMechanismDrivers; with ``--installed``, the drivers installed here."""
    installed = discovery.installed()
    if args.installed:
        return _list_installed(args, installed)
    request = mechanism_manager_service_pb2.ListMechanismDriversRequest()
    reply = client.call("mechmgr", client.mechanisms.ListMechanismDrivers, request)
    sources = {name: found.source for name, found in installed.items()}
    return output.many(
        args, list(reply.drivers), lambda drivers: render.driver_rows(drivers, sources)
    )


def _list_installed(args: argparse.Namespace, installed: Mapping[str, discovery.Installed]) -> int:
    rows = []
    for name, found in sorted(installed.items()):
        try:
            summary = found.load().summary
        except discovery.DiscoveryError as err:
            summary = f"does not load: {err}"
        rows.append({"name": name, "from": found.source, "entry_point": found.value,
                     "summary": summary})  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            render.installed_driver_rows(
                (r["name"], r["from"], r["entry_point"], r["summary"]) for r in rows
            )
        )
    return 0


def run_driver(args: argparse.Namespace) -> int:
    """Serves an installed driver in this process (``serve.run_installed``)."""
    from ml2_driver_sdk import serve

    return serve.run_installed(args.name)
