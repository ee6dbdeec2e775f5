"""``ml2 port create|bind|unbind|show|explain|list|delete|watch``."""

from __future__ import annotations

import argparse
import json
import signal
import sys

import grpc
from google.protobuf import field_mask_pb2, struct_pb2
from ml2.v1 import admin_state_pb2, binding_pb2, port_pb2, port_service_pb2
from ml2_contract import convert, vocabulary

from services.cli import client as cli_client
from services.cli import explain, output, render
from services.cli.client import CommandError
from services.security import local


def parse_profile(text: str) -> struct_pb2.Struct:
    """Parses ``--profile`` (a JSON object) into a Struct; raises CommandError (exit 2)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CommandError(f"--profile: not valid JSON: {err}", 2) from None
    if not isinstance(data, dict):
        raise CommandError(
            '--profile: must be a JSON object, e.g. \'{"pci_slot": "0000:05:00.1"}\'', 2
        )
    return convert.dict_to_struct(data)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Adds the ``port`` command group."""
    group = sub.add_parser("port", help="create, bind, show, list and delete ports")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = cmds.add_parser("create", parents=[common], help="create a port (bound if --host)")
    create.add_argument("--network", required=True, help="network id or name")
    create.add_argument("--name", default="")
    create.add_argument("--host", default="", help="bind the port on this host right away")
    _binding_options(create)
    create.add_argument(
        "--project",
        default="",
        help="owning project: the token's project by default (an administrator's token: "
        "default); another project than the token's needs an administrator's token",
    )
    create.add_argument("--device-id", default="")
    create.add_argument("--device-owner", default="")
    create.add_argument("--mac-address", default="", help="generated when not given")
    create.add_argument("--request-id", default="", help="makes a retried create safe")
    create.add_argument("--down", action="store_true", help="create the port administratively down")
    create.set_defaults(func=create_port)

    bind = cmds.add_parser("bind", parents=[common], help="bind a port on a host")
    bind.add_argument("port", help="port id or name")
    bind.add_argument("--host", required=True, help="the compute host (binding host_id)")
    _binding_options(bind)
    bind.set_defaults(func=bind_port, local_token=local.COMPUTE)

    unbind = cmds.add_parser("unbind", parents=[common], help="clear a port's binding host")
    unbind.add_argument("port", help="port id or name")
    unbind.set_defaults(func=unbind_port, local_token=local.COMPUTE)

    show = cmds.add_parser("show", parents=[common], help="show a port with its binding")
    show.add_argument("port", help="port id or name")
    show.set_defaults(func=show_port)

    explain = cmds.add_parser(
        "explain",
        parents=[common],
        help="show why a port bound or did not, and what would make it bind",
        description="Prints the binding decision as a tree: each level with the segments it "
        "offered, each driver's verdict, each decline reason with its facts (the agent, its "
        "liveness and mappings, the wanted segment), and one sentence saying what would make "
        "the port bind. --json prints the same tree as JSON.",
    )
    explain.add_argument("port", help="port id or name")
    explain.set_defaults(func=explain_port)

    listing = cmds.add_parser("list", parents=[common], help="list ports")
    listing.add_argument("--network", default="", help="only ports of this network (id or name)")
    listing.add_argument("--host", default="", help="only ports bound on this host")
    listing.add_argument("--device-id", default="")
    listing.add_argument("--project", default="")
    listing.set_defaults(func=list_ports)

    delete = cmds.add_parser("delete", parents=[common], help="delete a port")
    delete.add_argument("port", help="port id or name")
    delete.set_defaults(func=delete_port)

    watch = cmds.add_parser(
        "watch",
        parents=[common],
        help="print port events as they happen, one line each",
        description="Streams WatchPorts until interrupted or the server ends the stream. Filters "
        "of different kinds must all match; a filter given several times matches any value. "
        "Exit status 4 after RESYNC (the history asked for is gone).",
    )
    watch.add_argument("--host", action="append", default=[], help="ports bound on this host")
    watch.add_argument("--network", action="append", default=[], help="network id or name")
    watch.add_argument("--port", action="append", default=[], help="port id or name")
    watch.add_argument(
        "--after", type=int, default=0, metavar="REV", help="resume after this revision"
    )
    watch.add_argument(
        "--snapshot", action="store_true", help="first print every matching port, then SYNCED"
    )
    watch.add_argument(
        "--output", choices=("text", "json"), default="text", help="json: one JSON object a line"
    )
    watch.set_defaults(func=watch_ports)


def _binding_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--vnic-type", choices=vocabulary.VNIC_TYPES, default=None, help="default normal"
    )
    parser.add_argument("--profile", default=None, metavar="JSON", help="binding profile object")


def create_port(args: argparse.Namespace, client: cli_client.Client) -> int:
    """CreatePort; binds it in the same call when --host is given."""
    network = client.find_network(args.network)
    binding = binding_pb2.PortBinding(host_id=args.host)
    if args.vnic_type:
        binding.vnic_type = convert.vnic_type_value(args.vnic_type)
    if args.profile is not None:
        binding.profile.CopyFrom(parse_profile(args.profile))
    port = port_pb2.Port(
        network_id=network.id,
        name=args.name,
        project_id=cli_client.owning_project(client, args.project),
        device_id=args.device_id,
        device_owner=args.device_owner,
        mac_address=args.mac_address,
        admin_state=admin_state_pb2.ADMIN_STATE_DOWN
        if args.down
        else admin_state_pb2.ADMIN_STATE_UP,
        binding=binding,
    )
    request = port_service_pb2.CreatePortRequest(port=port, request_id=args.request_id)
    reply = client.call("portapi", client.ports.CreatePort, request)
    output.one(args, reply.port, render.port_detail)
    return binding_status(reply.port)


def binding_status(port: port_pb2.Port) -> int:
    """Exit status 3 (with one line on stderr) if the port's binding failed, else 0."""
    if port.binding.state != binding_pb2.BINDING_STATE_FAILED:
        return 0
    print(
        f"ml2: port {port.id} is binding_failed on host {port.binding.host_id}: "
        f"{port.binding.failure_message or 'no driver could bind it'}",
        file=sys.stderr,
    )
    return cli_client.EXIT_BINDING_FAILED


def bind_request(
    port_id: str, host: str, vnic_type: str | None = None, profile: str | None = None
) -> port_service_pb2.UpdatePortRequest:
    """The UpdatePort request that sets the binding host (and vnic type and profile if given)."""
    binding = binding_pb2.PortBinding(host_id=host)
    paths = ["binding.host_id"]
    if vnic_type:
        binding.vnic_type = convert.vnic_type_value(vnic_type)
        paths.append("binding.vnic_type")
    if profile is not None:
        binding.profile.CopyFrom(parse_profile(profile))
        paths.append("binding.profile")
    return port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(id=port_id, binding=binding),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )


def bind_port(args: argparse.Namespace, client: cli_client.Client) -> int:
    """UpdatePort with binding.host_id (and vnic_type/profile when given)."""
    port = client.find_port(args.port)
    if not args.host.strip():
        raise CommandError("--host must not be empty; use `ml2 port unbind` to unbind", 2)
    request = bind_request(port.id, args.host, args.vnic_type, args.profile)
    reply = client.call("portapi", client.ports.UpdatePort, request)
    output.one(args, reply.port, render.port_detail)
    return binding_status(reply.port)


def unbind_port(args: argparse.Namespace, client: cli_client.Client) -> int:
    """UpdatePort with an empty binding.host_id."""
    port = client.find_port(args.port)
    reply = client.call("portapi", client.ports.UpdatePort, bind_request(port.id, ""))
    return output.one(args, reply.port, render.port_detail)


def show_port(args: argparse.Namespace, client: cli_client.Client) -> int:
    """GetPort by id or name."""
    return output.one(args, client.find_port(args.port), render.port_detail)


def explain_port(args: argparse.Namespace, client: cli_client.Client) -> int:
    """GetPort, then the tree of its binding decision (``services.cli.explain``)."""
    port = client.find_port(args.port)
    print(explain.explain_json(port) if args.json else explain.explain_text(port))
    return 0


def list_ports(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListPorts with the given filters, every page."""
    network_id = client.find_network(args.network).id if args.network else ""
    ports = list(
        client.list_ports(
            network_id=network_id,
            host_id=args.host,
            device_id=args.device_id,
            project_id=args.project,
        )
    )
    names = cli_client.network_labels(client.list_networks()) if ports and not args.json else {}
    return output.many(args, ports, lambda found: render.port_rows(found, names))


def delete_port(args: argparse.Namespace, client: cli_client.Client) -> int:
    """DeletePort by id or name."""
    port = client.find_port(args.port)
    request = port_service_pb2.DeletePortRequest(port_id=port.id)
    reply = client.call("portapi", client.ports.DeletePort, request)
    if args.json:
        return output.one(args, reply.port, render.port_detail)
    print(f"deleted port {reply.port.id} ({reply.port.name or 'no name'})")
    return 0


EXIT_RESYNC = 4
"""``ml2 port watch`` ended with RESYNC: the history after the requested revision is gone."""


def watch_ports(args: argparse.Namespace, client: cli_client.Client) -> int:
    """WatchPorts: one line per event (one JSON object per line with ``--json`` or
    ``--output json``) until interrupted, the stream ends, or RESYNC."""
    request = port_service_pb2.WatchPortsRequest(
        host_ids=args.host,
        network_ids=[client.find_network(n).id for n in args.network],
        port_ids=[client.find_port(p).id for p in args.port],
        after_revision=args.after,
        snapshot=args.snapshot,
    )
    as_json = args.json or args.output == "json"
    stream = client.ports.WatchPorts(request)
    # SIGTERM ends the watch as Ctrl-C does (a supervisor's stop, or a job started in the
    # background, whose SIGINT the shell leaves ignored).
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        for reply in stream:
            print(render.watch_json(reply) if as_json else render.watch_line(reply), flush=True)
            if reply.WhichOneof("kind") == "resync":
                return EXIT_RESYNC
    except KeyboardInterrupt:
        stream.cancel()
        return 0
    except grpc.RpcError as err:
        address = client.addresses["portapi"]
        raise CommandError(cli_client.describe_rpc_error(err, "portapi", address)) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
