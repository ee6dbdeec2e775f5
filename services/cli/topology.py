"""``ml2 topology set|list|delete``: the switch port each host is wired to.

The topology is mechmgr's record of the physical wiring, kept by the operator: which switch
(``--switch-id``, ``--switch-info``) and switch port (``--port-id``) a compute host, bare-metal
node or appliance is cabled to, and the physical network that switch carries. Drivers that bind
without an L2 agent (``sdn-controller``, ``baremetal``) read it for every binding on the host.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator

from ml2.v1 import topology_pb2, topology_service_pb2, topology_service_pb2_grpc

from services.cli import client as cli_client
from services.cli import output, render

_PAGE_SIZE = 1000


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Adds the ``topology`` command group."""
    group = sub.add_parser(
        "topology", help="record which switch port each host is wired to; list, delete links"
    )
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    change = cmds.add_parser(
        "set",
        parents=[common],
        help="record the switch port a host is wired to (replacing its link)",
        description="Records HOST's link: the switch and switch port it is cabled to and the "
        "physical network the switch carries. It applies to bindings from now on: ports bound "
        "already keep their binding until they bind again.",
    )
    change.add_argument("host", metavar="HOST", help="the host, as ports name it (host_id)")
    change.add_argument(
        "--switch-id", required=True, help="the switch, e.g. its MAC address (Ironic's switch_id)"
    )
    change.add_argument(
        "--port-id", required=True, help="the switch port, e.g. Ethernet1/12 (Ironic's port_id)"
    )
    change.add_argument(
        "--switch-info", default="", help="free-form switch information, e.g. its name"
    )
    change.add_argument(
        "--physical-network",
        default="",
        metavar="PHYSNET",
        help="the physical network the switch carries to the host, e.g. physnet1",
    )
    change.set_defaults(func=set_link)

    listing = cmds.add_parser("list", parents=[common], help="list the hosts' links")
    listing.add_argument("--host", default="", help="only the link of this host")
    listing.set_defaults(func=list_links)

    delete = cmds.add_parser(
        "delete",
        parents=[common],
        help="remove a host's link",
        description="Removes HOST's link: drivers that need it decline the host's ports "
        "(HOST_NOT_LINKED) from the next binding on.",
    )
    delete.add_argument("host", metavar="HOST", help="the host")
    delete.set_defaults(func=delete_link)


def _stub(client: cli_client.Client) -> topology_service_pb2_grpc.TopologyServiceStub:
    return topology_service_pb2_grpc.TopologyServiceStub(client.channel("mechmgr"))


def set_link(args: argparse.Namespace, client: cli_client.Client) -> int:
    """SetHostLink."""
    request = topology_service_pb2.SetHostLinkRequest(
        link=topology_pb2.HostLink(
            host=args.host,
            switch_id=args.switch_id,
            port_id=args.port_id,
            switch_info=args.switch_info,
            physical_network=args.physical_network,
        )
    )
    reply = client.call("mechmgr", _stub(client).SetHostLink, request)
    return output.many(args, [reply.link], link_rows)


def all_links(client: cli_client.Client, host: str = "") -> Iterator[topology_pb2.HostLink]:
    """Yields every link (or the one of ``host``), following pages."""
    token = ""
    while True:
        request = topology_service_pb2.ListHostLinksRequest(
            host=host, page_size=_PAGE_SIZE, page_token=token
        )
        reply = client.call("mechmgr", _stub(client).ListHostLinks, request)
        yield from reply.links
        token = reply.next_page_token
        if not token:
            return


def list_links(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListHostLinks, every page."""
    return output.many(args, list(all_links(client, args.host)), link_rows)


def delete_link(args: argparse.Namespace, client: cli_client.Client) -> int:
    """DeleteHostLink."""
    request = topology_service_pb2.DeleteHostLinkRequest(host=args.host)
    reply = client.call("mechmgr", _stub(client).DeleteHostLink, request)
    if args.json:
        return output.many(args, [reply.link], link_rows)
    gone = reply.link
    print(f"deleted the link of host {gone.host} (switch {gone.switch_id} port {gone.port_id})")
    return 0


def link_rows(links: Iterable[topology_pb2.HostLink]) -> str:
    """The table of ``ml2 topology list``."""
    rows = [
        (
            link.host,
            link.switch_id,
            link.port_id,
            link.switch_info or "-",
            link.physical_network or "-",
            render.time_text(link.update_time),
        )
        for link in links
    ]
    headers = ("host", "switch_id", "port_id", "switch_info", "physical_network", "updated")
    return render.table(headers, rows)
