"""What an ``ml2`` run imports: a client command loads the command tree, gRPC, protobuf and the
stubs, never the database, migration, dataplane or agent code the stack's own commands use.

Each case runs in a fresh interpreter, since this test process has imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import launcher

HEAVY = (
    "sqlalchemy",
    "alembic",
    "psycopg",
    "pyroute2",
    "ovsdbapp",
    "services.migrations",
    "services.sql",
    "services.agent.runner",
    "services.compute.driver",
    "services.lab",
    "ml2_driver_sdk.conformance",
)
"""What only ``ml2 up``, ``demo``, ``db``, ``agent run``, ``driver check`` and ``compute`` may
import."""

CLIENT_COMMANDS = (
    ("network", "list"),
    ("network", "show", "n1"),
    ("network", "create", "n1", "--provider-network-type", "vlan"),
    ("port", "show", "X"),
    ("port", "list", "--json"),
    ("port", "bind", "X", "--host", "h1"),
    ("port", "explain", "X"),
    ("port", "watch"),
    ("agent", "list"),
    ("agent", "show", "--host", "h1"),
    ("driver", "list"),
    ("range", "list"),
    ("range", "allocations", "r1"),
    ("topology", "list"),
    ("host", "check", "h1"),
    ("token", "mint", "--admin"),
    ("--json", "network", "list"),
)

HELP = (
    ("--help",),
    ("--version",),
    ("network", "list", "--help"),
    ("port", "--help"),
    ("agent", "--help"),
    ("db", "--help"),
    ("compute", "--help"),
)

# Calls a stack that is not there: each command reaches its handler, which fails to connect.
DISPATCHED = (
    ("network", "list"),
    ("port", "show", "X"),
    ("agent", "list"),
    ("range", "list"),
    ("topology", "list"),
)

PROBE = """
import contextlib, io, json, sys

from services.cli import main

parsed, dispatched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for argv in parsed:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main.parse_args(argv)
codes = []
for argv in dispatched:
    with contextlib.redirect_stderr(io.StringIO()):
        codes.append(main.run(argv))
print(json.dumps({"modules": sorted(sys.modules), "codes": codes}))
"""


def loaded_by(
    tmp_path: Path, parsed: list[list[str]], dispatched: list[list[str]] | None = None
) -> tuple[set[str], list[int]]:
    """The modules loaded after parsing ``parsed`` and running ``dispatched``, and the exit
    statuses of the latter."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML2_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(parsed), json.dumps(dispatched or [])],
        env=launcher.python_path_env(env),
        cwd=tmp_path,  # no ./data: no token of a local stack
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    return set(found["modules"]), found["codes"]


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_parsing_client_commands_and_printing_help_import_nothing_heavy(tmp_path: Path) -> None:
    modules, _ = loaded_by(tmp_path, [list(a) for a in CLIENT_COMMANDS + HELP])
    assert heavy_in(modules) == []
    assert "services.cli.main" in modules and "grpc" in modules


def test_running_client_commands_imports_nothing_heavy(tmp_path: Path) -> None:
    unreachable = ["--portapi", "127.0.0.1:1", "--mechmgr", "127.0.0.1:1"]
    unreachable += ["--typemgr", "127.0.0.1:1", "--timeout", "0.2"]
    modules, codes = loaded_by(tmp_path, [], [[*a, *unreachable] for a in DISPATCHED])
    assert codes == [1] * len(DISPATCHED)  # each handler ran and could not connect
    assert heavy_in(modules) == []


@pytest.mark.parametrize(
    ("argv", "needs"),
    [
        (["agent", "run", "--type", "openvswitch", "--simulate"], "services.agent.runner"),
        (["agent", "run", "--help"], "services.agent.runner"),
        (["db", "upgrade"], "services.migrations"),
        (["db", "revision", "--help"], "services.migrations"),
        (["compute", "plug", "p1", "--instance", "vm1"], "services.compute.driver"),
        (["compute", "plug", "--help"], "services.compute.driver"),
        (["driver", "check", "127.0.0.1:1"], "ml2_driver_sdk.conformance"),
    ],
)
def test_a_command_that_needs_heavy_options_imports_them_when_parsed(
    tmp_path: Path, argv: list[str], needs: str
) -> None:
    modules, _ = loaded_by(tmp_path, [argv])
    assert needs in modules
