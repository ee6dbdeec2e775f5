"""``ml2 range create|list|show|update|delete|allocations``: typemgr's segment ranges.

Ranges are the pools tenant segments are allocated from (Neutron's network segment ranges):
shared ones, and ones reserved for a project. Configuration seeds the default ranges; these
commands manage the rest at run time. Shrinking or deleting a range never takes an allocated id
away from its network: the id stays allocated and is reported as outside every range.
``--dry-run`` shows what an update or a delete would do without doing it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping

from google.protobuf import field_mask_pb2
from ml2.v1 import segment_range_pb2, segment_range_service_pb2

from services.cli import client as cli_client
from services.cli import output, render

_PAGE_SIZE = 1000
_RANGE_TYPES = ("vlan", "gre", "vxlan", "geneve")
"""The network types whose ids come from ranges; a flat allocation holds a physical network."""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Adds the ``range`` command group."""
    group = sub.add_parser("range", help="manage the segment ranges tenant ids come from")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = cmds.add_parser("create", parents=[common], help="create a segment range")
    create.add_argument("--name", default="", help="a name for people")
    create.add_argument("--network-type", required=True, choices=_RANGE_TYPES)
    create.add_argument("--physical-network", default="", help="required for vlan")
    create.add_argument("--minimum", type=int, required=True, help="the first id of the range")
    create.add_argument("--maximum", type=int, required=True, help="the last id of the range")
    owner = create.add_mutually_exclusive_group(required=True)
    owner.add_argument("--shared", action="store_true", help="every project allocates from it")
    owner.add_argument("--project", default="", help="only this project allocates from it")
    create.set_defaults(func=create_range)

    listing = cmds.add_parser("list", parents=[common], help="list segment ranges")
    listing.add_argument("--network-type", default="", choices=_RANGE_TYPES)
    listing.add_argument("--physical-network", default="")
    listing.add_argument("--project", default="", help="only ranges reserved for this project")
    listing.set_defaults(func=list_ranges)

    show = cmds.add_parser("show", parents=[common], help="show one segment range")
    show.add_argument("range", metavar="RANGE", help="id or unique name")
    show.set_defaults(func=show_range)

    update = cmds.add_parser("update", parents=[common], help="rename, grow or shrink a range")
    update.add_argument("range", metavar="RANGE", help="id or unique name")
    update.add_argument("--name")
    update.add_argument("--minimum", type=int)
    update.add_argument("--maximum", type=int)
    update.add_argument("--dry-run", action="store_true", help="show the effect, change nothing")
    update.set_defaults(func=update_range)

    delete = cmds.add_parser("delete", parents=[common], help="delete a segment range")
    delete.add_argument("range", metavar="RANGE", help="id or unique name")
    delete.add_argument("--dry-run", action="store_true", help="show the effect, change nothing")
    delete.set_defaults(func=delete_range)

    allocs = cmds.add_parser("allocations", parents=[common], help="list allocated ids")
    allocs.add_argument("--network-type", default="", choices=("flat", *_RANGE_TYPES))
    allocs.add_argument("--physical-network", default="")
    allocs.add_argument(
        "--outside-ranges", action="store_true", help="only ids that lie outside every range"
    )
    allocs.set_defaults(func=list_allocations)


def create_range(args: argparse.Namespace, client: cli_client.Client) -> int:
    """CreateSegmentRange."""
    wanted = segment_range_pb2.SegmentRange(
        name=args.name,
        network_type=args.network_type,
        physical_network=args.physical_network,
        minimum=_uint(args.minimum, "--minimum"),
        maximum=_uint(args.maximum, "--maximum"),
        shared=args.shared,
        project_id=args.project,
    )
    request = segment_range_service_pb2.CreateSegmentRangeRequest(segment_range=wanted)
    reply = client.call("typemgr", client.ranges.CreateSegmentRange, request)
    return output.one(args, reply.segment_range, range_detail)


def list_ranges(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListSegmentRanges, every page."""
    found = list(
        _all_ranges(
            client,
            network_type=args.network_type,
            physical_network=args.physical_network,
            project_id=args.project,
        )
    )
    return output.many(args, found, range_rows)


def show_range(args: argparse.Namespace, client: cli_client.Client) -> int:
    """GetSegmentRange."""
    return output.one(args, _find(client, args.range), range_detail)


def update_range(args: argparse.Namespace, client: cli_client.Client) -> int:
    """UpdateSegmentRange with a mask of the options given."""
    current = _find(client, args.range)
    changed = segment_range_pb2.SegmentRange(id=current.id)
    paths: list[str] = []
    if args.name is not None:
        changed.name = args.name
        paths.append("name")
    if args.minimum is not None:
        changed.minimum = _uint(args.minimum, "--minimum")
        paths.append("minimum")
    if args.maximum is not None:
        changed.maximum = _uint(args.maximum, "--maximum")
        paths.append("maximum")
    if not paths:
        raise cli_client.CommandError("nothing to update: give --name, --minimum or --maximum", 2)
    request = segment_range_service_pb2.UpdateSegmentRangeRequest(
        segment_range=changed,
        update_mask=field_mask_pb2.FieldMask(paths=paths),
        dry_run=args.dry_run,
    )
    reply = client.call("typemgr", client.ranges.UpdateSegmentRange, request)
    return output.one(
        args, reply, lambda r: f"{range_detail(r.segment_range)}\n{change_text(r.change)}"
    )


def delete_range(args: argparse.Namespace, client: cli_client.Client) -> int:
    """DeleteSegmentRange."""
    current = _find(client, args.range)
    request = segment_range_service_pb2.DeleteSegmentRangeRequest(
        segment_range_id=current.id, dry_run=args.dry_run
    )
    reply = client.call("typemgr", client.ranges.DeleteSegmentRange, request)
    return output.one(
        args, reply, lambda r: f"{range_detail(r.segment_range)}\n{change_text(r.change)}"
    )


def list_allocations(args: argparse.Namespace, client: cli_client.Client) -> int:
    """ListSegmentAllocations, every page; the table names the networks."""
    found: list[segment_range_pb2.SegmentAllocation] = []
    token = ""
    while True:
        request = segment_range_service_pb2.ListSegmentAllocationsRequest(
            network_type=args.network_type,
            physical_network=args.physical_network,
            outside_ranges=args.outside_ranges,
            page_size=_PAGE_SIZE,
            page_token=token,
        )
        reply = client.call("typemgr", client.ranges.ListSegmentAllocations, request)
        found.extend(reply.segment_allocations)
        token = reply.next_page_token
        if not token:
            break
    names = _network_names(client) if found and not args.json else {}
    return output.many(args, found, lambda allocs: allocation_rows(allocs, names))


def _network_names(client: cli_client.Client) -> dict[str, str]:
    """Network names from portapi, or none when portapi does not answer (ids are shown)."""
    try:
        return cli_client.network_labels(client.list_networks())
    except cli_client.CommandError:
        return {}


def _all_ranges(
    client: cli_client.Client,
    network_type: str = "",
    physical_network: str = "",
    project_id: str = "",
) -> Iterator[segment_range_pb2.SegmentRange]:
    token = ""
    while True:
        request = segment_range_service_pb2.ListSegmentRangesRequest(
            network_type=network_type,
            physical_network=physical_network,
            project_id=project_id,
            page_size=_PAGE_SIZE,
            page_token=token,
        )
        reply = client.call("typemgr", client.ranges.ListSegmentRanges, request)
        yield from reply.segment_ranges
        token = reply.next_page_token
        if not token:
            return


def _find(client: cli_client.Client, ref: str) -> segment_range_pb2.SegmentRange:
    if cli_client.looks_like_id(ref):
        request = segment_range_service_pb2.GetSegmentRangeRequest(segment_range_id=ref)
        reply = client.call("typemgr", client.ranges.GetSegmentRange, request)
        found: segment_range_pb2.SegmentRange = reply.segment_range
        return found
    return cli_client.only(ref, "segment range", [r for r in _all_ranges(client) if r.name == ref])


def _uint(value: int, option: str) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise cli_client.CommandError(f"{option} must be between 0 and 4294967295, got {value}", 2)
    return value


def _owner(r: segment_range_pb2.SegmentRange) -> str:
    return "shared" if r.shared else f"project {r.project_id}"


def range_rows(ranges: Iterable[segment_range_pb2.SegmentRange]) -> str:
    """The table of ``ml2 range list``."""
    rows = (
        (
            r.id,
            r.name or "-",
            r.network_type,
            r.physical_network or "-",
            f"{r.minimum}-{r.maximum}",
            _owner(r),
            "yes" if r.default else "no",
            r.used,
            r.available,
        )
        for r in ranges
    )
    headers = ("id", "name", "type", "physnet", "ids", "owner", "default", "used", "available")
    return render.table(headers, rows)


def range_detail(r: segment_range_pb2.SegmentRange) -> str:
    """The text of ``ml2 range show``."""
    return render.fields(
        [
            ("id", r.id),
            ("name", r.name or "-"),
            ("network_type", r.network_type),
            ("physical_network", r.physical_network or "-"),
            ("minimum", r.minimum),
            ("maximum", r.maximum),
            ("owner", _owner(r)),
            ("default", "yes (from configuration)" if r.default else "no"),
            ("used", r.used),
            ("available", r.available),
        ]
    )


def change_text(change: segment_range_pb2.SegmentRangeChange) -> str:
    """What an update or a delete did, or would do with --dry-run."""
    verb = "would change" if change.dry_run else "changed"
    lines = [
        f"{'dry run: ' if change.dry_run else ''}the pool {verb} from "
        f"{change.pool_size_before} to {change.pool_size_after} ids"
    ]
    if change.orphaned_count:
        shown = ", ".join(str(i) for i in change.orphaned_ids)
        more = "" if len(change.orphaned_ids) >= change.orphaned_count else ", ..."
        lines.append(
            f"{change.orphaned_count} allocated id(s) fall outside every range and stay "
            f"allocated to their networks: {shown}{more}"
        )
    if change.adopted_count:
        lines.append(f"{change.adopted_count} allocated id(s) outside any range now lie inside it")
    return "\n".join(lines)


def allocation_rows(
    allocations: Iterable[segment_range_pb2.SegmentAllocation],
    networks: Mapping[str, str] | None = None,
) -> str:
    """The table of ``ml2 range allocations``; ``networks`` maps network ids to the names to
    show. A flat network holds its physical network, with neither an id nor a range."""
    names = networks or {}
    rows = (
        (
            a.network_type,
            a.physical_network or "-",
            a.segmentation_id if a.network_type in _RANGE_TYPES else "-",
            names.get(a.network_id, a.network_id),
            a.segment_range_id
            or ("outside every range" if a.network_type in _RANGE_TYPES else "-"),
        )
        for a in allocations
    )
    return render.table(("type", "physnet", "id", "network", "range"), rows)
