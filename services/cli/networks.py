"""``ml2 network create|list|show|update|delete`` and ``ml2 network segment add|remove``."""

from __future__ import annotations

import argparse

from google.protobuf import field_mask_pb2
from ml2.v1 import admin_state_pb2, network_pb2, network_service_pb2, segment_pb2
from ml2_contract import vocabulary

from services.cli import client as cli_client
from services.cli import output, render
from services.cli.client import CommandError

PROVIDER_TYPES = ", ".join(vocabulary.NETWORK_TYPES)
"""Every network type typemgr has a driver for, as ``--help`` lists them."""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Adds the ``network`` command group."""
    group = sub.add_parser("network", help="create, list, show, update and delete networks")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = cmds.add_parser("create", parents=[common], help="create a network")
    create.add_argument("name", help="a name for people (not unique)")
    create.add_argument(
        "--provider-network-type",
        metavar="TYPE",
        help=f"one of {PROVIDER_TYPES} (those enabled in typemgr's TYPEMGR_TYPE_DRIVERS); "
        "without it the network gets a tenant segment",
    )
    create.add_argument(
        "--provider-physical-network", metavar="PHYSNET", help="of a flat or vlan segment"
    )
    create.add_argument(
        "--provider-segmentation-id",
        metavar="ID",
        type=int,
        help="VLAN id, GRE key or VXLAN/Geneve VNI; picked from a range when not given",
    )
    create.add_argument(
        "--project",
        default="",
        help="owning project: the token's project by default (an administrator's token: "
        "default); another project than the token's needs an administrator's token",
    )
    create.add_argument("--shared", action="store_true", help="every project may attach ports")
    create.add_argument(
        "--mtu",
        type=int,
        default=0,
        help="requested MTU, at most what the segments allow (default: that maximum)",
    )
    create.add_argument("--request-id", default="", help="makes a retried create safe")
    create.set_defaults(func=create_network)

    listing = cmds.add_parser("list", parents=[common], help="list networks")
    listing.add_argument("--project", default="", help="only this project's and shared networks")
    listing.set_defaults(func=list_networks)

    show = cmds.add_parser("show", parents=[common], help="show a network and its segments")
    show.add_argument("network", help="id or name")
    show.set_defaults(func=show_network)

    update = cmds.add_parser("update", parents=[common], help="change a network")
    update.add_argument("network", help="id or name")
    update.add_argument("--name", help="a new name")
    state = update.add_mutually_exclusive_group()
    state.add_argument("--enable", action="store_true", help="admin state up")
    state.add_argument("--disable", action="store_true", help="admin state down")
    update.add_argument(
        "--mtu",
        type=int,
        help="requested MTU, at most what the segments allow; 0 asks for that maximum",
    )
    update.add_argument(
        "--segmentation-id",
        type=int,
        metavar="ID",
        help="a new VLAN id for a network with one static vlan segment, whose ports are all "
        "unbound, failed or bound as ovs",
    )
    update.set_defaults(func=update_network)

    segment = cmds.add_parser("segment", help="add or remove a static segment of a network")
    segment_cmds = segment.add_subparsers(dest="segment_action", required=True, metavar="ACTION")
    add = segment_cmds.add_parser(
        "add", parents=[common], help="add a static segment after the network's last one"
    )
    add.add_argument("network", help="id or name")
    add.add_argument(
        "--network-type", required=True, metavar="TYPE", help=f"one of {PROVIDER_TYPES}"
    )
    add.add_argument("--physical-network", metavar="PHYSNET", help="of a flat or vlan segment")
    add.add_argument(
        "--segmentation-id",
        metavar="ID",
        type=int,
        help="VLAN id, GRE key or VXLAN/Geneve VNI; picked from a range when not given",
    )
    add.add_argument("--request-id", default="", help="makes a retried add safe")
    add.set_defaults(func=add_segment)
    remove = segment_cmds.add_parser(
        "remove",
        parents=[common],
        help="remove a static segment no port is bound through (never the last one)",
    )
    remove.add_argument("network", help="id or name")
    remove.add_argument("segment_id", metavar="SEGMENT_ID", help="the id of the segment")
    remove.set_defaults(func=remove_segment)

    delete = cmds.add_parser("delete", parents=[common], help="delete a network without ports")
    delete.add_argument("network", help="id or name")
    delete.set_defaults(func=delete_network)


def provider_segments(args: argparse.Namespace) -> list[segment_pb2.SegmentSpec]:
    """The provider segment the flags ask for, or none (a tenant network)."""
    if not args.provider_network_type:
        if args.provider_physical_network or args.provider_segmentation_id is not None:
            raise CommandError(
                "--provider-network-type is required with the other provider options", 2
            )
        return []
    spec = segment_pb2.SegmentSpec(
        network_type=args.provider_network_type,
        physical_network=args.provider_physical_network or "",
    )
    if args.provider_segmentation_id is not None:
        if args.provider_segmentation_id < 0:
            raise CommandError("--provider-segmentation-id must not be negative", 2)
        spec.segmentation_id = args.provider_segmentation_id
    return [spec]


def create_network(args: argparse.Namespace, client: cli_client.Client) -> int:
    """CreateNetwork."""
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(
            name=args.name,
            project_id=cli_client.owning_project(client, args.project),
            shared=args.shared,
            admin_state=admin_state_pb2.ADMIN_STATE_UP,
            mtu=_mtu(args.mtu),
        ),
        segments=provider_segments(args),
        request_id=args.request_id,
    )
    reply = client.call("portapi", client.networks.CreateNetwork, request)
    return output.one(args, reply.network, render.network_detail)


def _mtu(value: int) -> int:
    if value < 0:
        raise CommandError("--mtu must not be negative", 2)
    return value


def update_network(args: argparse.Namespace, client: cli_client.Client) -> int:
    """UpdateNetwork with a mask naming the options given."""
    network = network_pb2.Network()
    paths: list[str] = []
    if args.name is not None:
        network.name, paths = args.name, [*paths, "name"]
    if args.enable or args.disable:
        up = admin_state_pb2.ADMIN_STATE_UP if args.enable else admin_state_pb2.ADMIN_STATE_DOWN
        network.admin_state, paths = up, [*paths, "admin_state"]
    if args.mtu is not None:
        network.mtu, paths = _mtu(args.mtu), [*paths, "mtu"]
    if args.segmentation_id is not None:
        if args.segmentation_id < 0:
            raise CommandError("--segmentation-id must not be negative", 2)
        paths = [*paths, "segmentation_id"]
    if not paths:
        raise CommandError(
            "nothing to update: give --name, --enable, --disable, --mtu or --segmentation-id", 2
        )
    network.id = client.find_network(args.network).id
    request = network_service_pb2.UpdateNetworkRequest(
        network=network,
        update_mask=field_mask_pb2.FieldMask(paths=paths),
        segmentation_id=args.segmentation_id,
    )
    reply = client.call("portapi", client.networks.UpdateNetwork, request)
    return output.one(args, reply.network, render.network_detail)


def list_networks(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListNetworks, every page."""
    return output.many(args, list(client.list_networks(args.project)), render.network_rows)


def show_network(args: argparse.Namespace, client: cli_client.Client) -> int:
    """GetNetwork by id or name."""
    return output.one(args, client.find_network(args.network), render.network_detail)


def delete_network(args: argparse.Namespace, client: cli_client.Client) -> int:
    """DeleteNetwork by id or name."""
    network = client.find_network(args.network)
    request = network_service_pb2.DeleteNetworkRequest(network_id=network.id)
    reply = client.call("portapi", client.networks.DeleteNetwork, request)
    if args.json:
        return output.one(args, reply.network, render.network_detail)
    print(f"deleted network {reply.network.id} ({reply.network.name or 'no name'})")
    return 0


def add_segment(args: argparse.Namespace, client: cli_client.Client) -> int:
    """AddNetworkSegment."""
    spec = segment_pb2.SegmentSpec(
        network_type=args.network_type, physical_network=args.physical_network or ""
    )
    if args.segmentation_id is not None:
        if args.segmentation_id < 0:
            raise CommandError("--segmentation-id must not be negative", 2)
        spec.segmentation_id = args.segmentation_id
    network = client.find_network(args.network)
    request = network_service_pb2.AddNetworkSegmentRequest(
        network_id=network.id, segment=spec, request_id=args.request_id
    )
    reply = client.call("portapi", client.networks.AddNetworkSegment, request)
    return output.one(args, reply.network, render.network_detail)


def remove_segment(args: argparse.Namespace, client: cli_client.Client) -> int:
    """RemoveNetworkSegment."""
    network = client.find_network(args.network)
    request = network_service_pb2.RemoveNetworkSegmentRequest(
        network_id=network.id, segment_id=args.segment_id
    )
    reply = client.call("portapi", client.networks.RemoveNetworkSegment, request)
    return output.one(args, reply.network, render.network_detail)
