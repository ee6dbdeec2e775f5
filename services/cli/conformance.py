"""``ml2 driver check ADDRESS``: the conformance kit (``ml2_driver_sdk.conformance``) against one
running mechanism driver process.

It prints one line per check, PASS or FAIL with the reason, or with ``--json`` the whole report
with the evidence of each check (the requests sent and what came back). Exits 0 when every check
passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys

from services.cli import config


def register(dcmds: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``driver check`` to the ``driver`` command group, whose parsers are
    ``DeferredParser``s: the check's defaults come from the kit, which only it imports."""
    check = dcmds.add_parser(
        "check",
        setup=_check_options,
        help="run the driver contract's conformance checks against a driver process",
        description="Runs the conformance checks against the mechanism driver process at "
        "ADDRESS (not through mechmgr): it describes itself consistently, answers within the "
        "deadline, binds only offered segments, declines with vocabulary codes and a message, "
        "tolerates unknown fields and empty and oversized requests, is deterministic, survives "
        "concurrent calls and answers health. Exits 0 if every check passes, 1 otherwise.",
    )
    check.set_defaults(func=run_check, needs_client=False)


def _check_options(check: argparse.ArgumentParser) -> None:
    from ml2_driver_sdk.conformance import checks

    check.add_argument("address", metavar="ADDRESS", help="the driver's gRPC address, host:port")
    check.add_argument(
        "--json", action="store_true", help="print the report, with evidence, as JSON"
    )
    check.add_argument(
        "--deadline",
        type=_positive,
        default=checks.DEFAULT_DEADLINE,
        metavar="SECONDS",
        help="the deadline every call must be answered within (default %(default)s, mechmgr's)",
    )
    check.add_argument(
        "--host",
        default=checks.DEFAULT_HOST,
        help="the host the requests bind on (default %(default)s)",
    )
    check.add_argument(
        "--code",
        dest="codes",
        action="append",
        default=[],
        metavar="CODE",
        help="a decline code of the driver's own, allowed besides the vocabulary's (repeatable)",
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def run_check(args: argparse.Namespace) -> int:
    """Runs the checks and prints the report; returns 0 if all passed, else 1."""
    from ml2_driver_sdk.conformance import checks

    try:
        report = checks.run(
            args.address,
            deadline=args.deadline,
            host=args.host,
            extra_codes=args.codes,
            token=config.token_source(),
            tls_files=config.tls_files(),
        )
    except ValueError as err:  # a --code that is not UPPER_SNAKE_CASE
        print(f"ml2 driver check: error: {err}", file=sys.stderr)
        return 2
    print(report.json_text() if args.json else report.text())
    return 0 if report.passed else 1
