"""``ml2``: run the stack, run simulated agents, and manage networks, ports, agents, drivers and
the topology.

Every client command takes ``--json`` (protobuf JSON with the proto field names),
``--portapi``/``--mechmgr``/``--typemgr`` (defaults from ``ML2_PORTAPI_ADDRESS``, ...; else the
``ml2 up`` defaults) and ``--timeout``, before or after the command's name
(``ml2 --json port list`` or ``ml2 port list --json``; after it wins). A failed call prints
``error: <CODE>: <message>`` and exits 1 (``EXIT_ERROR``); bad usage exits 2 (``EXIT_USAGE``); a
port whose binding ended ``binding_failed``, or a host ``ml2 host check`` finds a port could not
bind on, exits 3 (``EXIT_BINDING_FAILED``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections.abc import Sequence
from typing import Any

from ml2_driver_sdk.runtime.config import ConfigError

from services.cli import (
    agents,
    compute,
    config,
    db,
    demo,
    hosts,
    networks,
    ports,
    ranges,
    tokens,
    topology,
    up,
)
from services.cli.client import Client, CommandError

GLOBAL_OPTIONS = ("json", "portapi", "mechmgr", "typemgr", "timeout", "token_file")
"""The ``dest`` of the client options that may also come before the command's name."""


def version() -> str:
    """The installed version of modular-l2 (``unknown`` when run from a bare source tree)."""
    try:
        return importlib.metadata.version("modular-l2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_client_options(common)
    return common


def _add_client_options(common: argparse.ArgumentParser) -> None:
    common.add_argument("--json", action="store_true", help="print protobuf JSON")
    common.add_argument(
        "--portapi",
        default=config.portapi_address(),
        metavar="HOST:PORT",
        help="portapi address (default %(default)s; env ML2_PORTAPI_ADDRESS)",
    )
    common.add_argument(
        "--mechmgr",
        default=config.mechmgr_address(),
        metavar="HOST:PORT",
        help="mechmgr address (default %(default)s; env ML2_MECHMGR_ADDRESS)",
    )
    common.add_argument(
        "--typemgr",
        default=config.typemgr_address(),
        metavar="HOST:PORT",
        help="typemgr address, for segment ranges (default %(default)s; env ML2_TYPEMGR_ADDRESS)",
    )
    common.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="deadline of each call (default %(default)s)",
    )
    common.add_argument(
        "--token-file",
        default="",
        metavar="PATH",
        help="the token to call with (default: env ML2_TOKEN_FILE or ML2_TOKEN, else the "
        "administrator's token of the ml2 up data dir, ML2_DATA_DIR or ./data)",
    )


def _global_options(parser: argparse.ArgumentParser) -> None:
    """The client options before the command's name: parsed into ``global_<dest>``, None when
    not given, so that ``_apply_global_options`` can tell them from the command's defaults."""
    group = parser.add_argument_group(
        "client options", "also accepted before the command's name, e.g. ml2 --json port list"
    )
    scratch = argparse.ArgumentParser(add_help=False)
    _add_client_options(scratch)
    for action in scratch._actions:
        kwargs: dict[str, Any] = {"dest": f"global_{action.dest}", "default": None}
        if action.nargs == 0:
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        else:
            kwargs["type"] = action.type
            kwargs["metavar"] = action.metavar
        shown = (action.help or "") % {"default": action.default}
        group.add_argument(*action.option_strings, help=shown.replace("%", "%%"), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``ml2`` command tree."""
    parser = argparse.ArgumentParser(
        prog="ml2",
        description="modular-l2: Neutron ML2 port binding as gRPC services.",
        epilog="Start with `ml2 up` in one terminal, or `ml2 demo` to see a whole scenario.",
    )
    parser.add_argument("--version", action="version", version=f"ml2 {version()} (API ml2.v1)")
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options()
    up.register(sub)
    demo.register(sub)
    db.register(sub)
    agents.register(sub, common)
    networks.register(sub, common)
    ports.register(sub, common)
    hosts.register(sub, common)
    ranges.register(sub, common)
    topology.register(sub, common)
    compute.register(sub)
    tokens.register(sub)
    return parser


def _apply_global_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Gives the command the client options written before its name, unless it has them after
    its name too (those win); refuses (exit 2) an option the command does not take."""
    defaults = vars(_common_options().parse_args([]))
    for dest in GLOBAL_OPTIONS:
        given = getattr(args, f"global_{dest}")
        delattr(args, f"global_{dest}")
        if given is None:
            continue
        if not hasattr(args, dest):
            command = " ".join(
                str(getattr(args, key)) for key in ("command", "action") if hasattr(args, key)
            )
            parser.error(f"--{dest} does not apply to `ml2 {command}`")
        # None: the command's own default is "not given" (``ml2 compute`` resolves it later).
        if getattr(args, dest) in (None, defaults[dest]):
            setattr(args, dest, given)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses ``argv`` (default ``sys.argv[1:]``); bad usage exits 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _apply_global_options(parser, args)
    return args


def run(argv: Sequence[str] | None = None) -> int:
    """Parses ``argv``, runs the command and returns its exit status."""
    args = parse_args(argv)
    try:
        if not getattr(args, "needs_client", True):
            return int(args.func(args))
        client = Client(
            args.portapi,
            args.mechmgr,
            timeout=args.timeout,
            typemgr=args.typemgr,
            token=config.token_source(
                args.token_file, local_token=getattr(args, "local_token", "admin")
            ),
            tls_files=config.tls_files(local_name=getattr(args, "local_token", "admin")),
        )
        try:
            return int(args.func(args, client))
        finally:
            client.close()
    except CommandError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return err.exit_code
    except ConfigError as err:  # a malformed ML2_GRPC_* setting of the channels
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; stop quietly, as other command line tools do.
        sys.stderr.close()
        return 141


def main() -> None:
    """Console entry point ``ml2``."""
    raise SystemExit(run())


if __name__ == "__main__":
    main()
