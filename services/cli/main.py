"""``ml2``: run the stack, run simulated agents, and manage networks, ports, agents and drivers.

Every client command takes ``--json`` (protobuf JSON with the proto field names),
``--portapi``/``--mechmgr`` (defaults from ``ML2_PORTAPI_ADDRESS``/``ML2_MECHMGR_ADDRESS``, else
the ``ml2 up`` defaults) and ``--timeout``. A failed call prints ``error: <CODE>: <message>`` and
exits 1; bad usage exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from services.cli import agents, config, db, demo, networks, ports, ranges, up
from services.cli.client import Client, CommandError


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
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
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole ``ml2`` command tree."""
    parser = argparse.ArgumentParser(
        prog="ml2",
        description="modular-l2: Neutron ML2 port binding as gRPC services.",
        epilog="Start with `ml2 up` in one terminal, or `ml2 demo` to see a whole scenario.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _common_options()
    up.register(sub)
    demo.register(sub)
    db.register(sub)
    agents.register(sub, common)
    networks.register(sub, common)
    ports.register(sub, common)
    ranges.register(sub, common)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parses ``argv``, runs the command and returns its exit status."""
    args = build_parser().parse_args(argv)
    try:
        if not getattr(args, "needs_client", True):
            return int(args.func(args))
        client = Client(args.portapi, args.mechmgr, timeout=args.timeout, typemgr=args.typemgr)
        try:
            return int(args.func(args, client))
        finally:
            client.close()
    except CommandError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return err.exit_code
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
