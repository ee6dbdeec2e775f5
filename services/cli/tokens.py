"""``ml2 token mint``: a token from the signing key of a local ``ml2 up`` data dir.

An agent of another host, a project's user or a script gets its token this way; the token is
printed (or written, mode 0600, with ``--out``) and is valid for ``--lifetime`` seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from services.cli import config
from services.security import local, tokens


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Adds ``ml2 token mint``."""
    group = sub.add_parser("token", help="mint tokens from the key of a local ml2 up")
    cmds = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    mint = cmds.add_parser(
        "mint",
        help="print a token for an administrator, an agent, a project member or a service",
        description="Signs a token with the key ml2 up keeps in DATA_DIR/auth/signing.key.",
    )
    who = mint.add_mutually_exclusive_group(required=True)
    who.add_argument("--admin", action="store_true", help="a cloud administrator")
    who.add_argument("--agent", metavar="HOST", help="the L2 agent of HOST (acts for it only)")
    who.add_argument("--member", metavar="PROJECT", help="a member of PROJECT")
    who.add_argument("--reader", metavar="PROJECT", help="a reader of PROJECT")
    who.add_argument(
        "--service", metavar="NAME", help="a modular-l2 process: portapi, mechmgr, driver:NAME"
    )
    mint.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the ml2 up data dir (default: env ML2_DATA_DIR, else ./data)",
    )
    mint.add_argument(
        "--lifetime",
        type=float,
        default=local.TOKEN_LIFETIME,
        metavar="SECONDS",
        help="how long the token is valid (default %(default)s)",
    )
    mint.add_argument("--out", default="", metavar="PATH", help="write it here (mode 0600)")
    mint.set_defaults(func=run_mint, needs_client=False)


def run_mint(args: argparse.Namespace) -> int:
    data_dir = args.data_dir or config.data_dir()
    if args.lifetime <= 0:
        print("ml2 token mint: --lifetime: must be more than 0 seconds", file=sys.stderr)
        return 2
    try:
        key = local.load_key(data_dir)
    except OSError:
        print(
            f"ml2 token mint: {data_dir}: no signing key ({local.key_path(data_dir)}); "
            "run ml2 up there first, or give --data-dir",
            file=sys.stderr,
        )
        return 2
    life = {"lifetime": args.lifetime}
    if args.admin:
        token = tokens.admin(key, **life)
    elif args.agent:
        token = tokens.agent(key, args.agent, **life)
    elif args.member:
        token = tokens.member(key, args.member, **life)
    elif args.reader:
        token = tokens.member(key, args.reader, roles=("reader",), **life)
    else:
        token = tokens.service(key, args.service, **life)
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token + "\n")
    else:
        print(token)
    return 0
