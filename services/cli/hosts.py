"""``ml2 host check``: whether a port of a network could bind on each of some hosts, now.

Asks portapi's CheckBindable, which changes nothing: no port, no binding, no dynamic segment.
Exit status 0 when every host is bindable, 3 (``EXIT_BINDING_FAILED``) when some is not, 1 when
the call failed, so that a script tells "not bindable" from "could not ask".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ml2.v1 import binding_pb2, port_service_pb2
from ml2_contract import convert, vocabulary

from services.cli import client as cli_client
from services.cli import ports, render


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Adds the ``host`` command group."""
    group = sub.add_parser("host", help="check whether ports could bind on hosts")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = cmds.add_parser(
        "check",
        parents=[common],
        help="whether a port of a network could bind on each host, and why not",
        description="Asks portapi's CheckBindable: for each host, whether a port of the network "
        "(with this vnic type and profile) would bind there now, the vif type it would get and "
        "why not. Changes nothing: no port, no binding, no dynamic segment is allocated. Exit "
        "status 0 if every host is bindable, 3 if some host is not, 1 if the call failed.",
    )
    check.add_argument("hosts", nargs="+", metavar="HOST", help="the hosts to check")
    check.add_argument("--network", required=True, help="network id or name")
    check.add_argument(
        "--vnic-type", choices=vocabulary.VNIC_TYPES, default=None, help="default normal"
    )
    check.add_argument("--profile", default=None, metavar="JSON", help="binding profile object")
    check.set_defaults(func=check_hosts)


def check_hosts(args: argparse.Namespace, client: cli_client.Client) -> int:
    """CheckBindable for the hosts; prints one row (or JSON object) per host."""
    network = client.find_network(args.network)
    request = port_service_pb2.CheckBindableRequest(network_id=network.id, host_ids=args.hosts)
    if args.vnic_type:
        request.vnic_type = convert.vnic_type_value(args.vnic_type)
    if args.profile is not None:
        request.profile.CopyFrom(ports.parse_profile(args.profile))
    reply = client.call("portapi", client.ports.CheckBindable, request)
    print(render.list_json(reply.hosts) if args.json else host_rows(reply.hosts))
    refused = [h.host_id for h in reply.hosts if not h.bindable]
    if not refused:
        return 0
    print(
        f"ml2: {len(refused)} of {len(reply.hosts)} hosts cannot bind a port of network "
        f"{network.id}: {', '.join(refused)}",
        file=sys.stderr,
    )
    return cli_client.EXIT_BINDING_FAILED


def host_rows(answers: Sequence[binding_pb2.HostBindability]) -> str:
    """The table of ``ml2 host check``: host, bindable, vif type, why not (or, for a bindable
    host, the dynamic segments binding would allocate)."""
    rows = [
        (a.host_id, "yes" if a.bindable else "NO", a.vif_type or "-", _why(a) or "-")
        for a in answers
    ]
    return render.table(("host", "bindable", "vif_type", "why_not"), rows)


def _why(answer: binding_pb2.HostBindability) -> str:
    # The host is in its own column: keep the reason's summary only.
    prefix = f"no mechanism driver could bind on host {answer.host_id}: "
    return answer.reason.removeprefix(prefix)
