"""``ml2 demo --dataplane``: the seed's scenario proven by packets, on this machine.

A fresh stack (as ``ml2 up`` runs it, SQLite in a temporary data dir, short agent timings),
then ``services.lab.seed``'s scenario: three hosts as network namespaces (two with Open
vSwitch on the userspace datapath, one with Linux bridges), their real agents, instances
plugged by the compute node's VIF driver, and pings that show what each binding did. Every
step prints what it did and what came of it. At the end, or on Ctrl-C or SIGTERM, everything
is removed: agents, namespaces, Open vSwitch daemons, the stack.

It needs root and Open vSwitch's programs (the Debian package openvswitch-switch; no kernel
module, no service); without them it says what is missing and exits 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from services import launcher
from services.cli import stack

if TYPE_CHECKING:
    from services.lab import seed

EXIT_MISSING = 2
"""The machine lacks root or a program the lab needs."""
EXIT_INTERRUPTED = 130

DEFAULT_AGENT_DOWN_TIME = 5
"""Short, so that the kill is seen in seconds; long enough that a loaded machine's agents do
not miss it between heartbeats."""
AGENT_CHECK_INTERVAL = 0.5
"""How often portapi asks mechmgr which agents died (PORTAPI_AGENT_CHECK_INTERVAL_SECONDS)."""


def say(text: str = "") -> None:
    """Prints a line of the demo's story right away."""
    print(text, flush=True)


class Interrupted(Exception):
    """SIGTERM or SIGINT (Ctrl-C) arrived: clean up and exit 130."""


class _Signals:
    """SIGINT and SIGTERM interrupt the demo, in this process only.

    pyroute2 forks short-lived helpers (to enter a namespace) that inherit Python's handlers;
    were such a child to raise, it would run the demo's cleanup as well. A signal that reaches
    a child ends it as the default action would.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.previous: dict[int, Any] = {}
        self.interrupted = threading.Event()
        """Set by the signal: the exception it raises can be lost (raised inside an at-fork
        handler, Python only prints it), so the scenario also stops at its next step."""

    def __enter__(self) -> _Signals:
        self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self.pid:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.interrupted.set()
        raise Interrupted(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    """Runs the scenario; returns 0 when every expectation held, 1 when one did not, 2 when
    the machine cannot run it, 130 when interrupted."""
    from services.lab import seed  # pyroute2 and the lab: only for this command

    missing = seed.missing_prerequisites()
    if missing:
        print("ml2 demo --dataplane cannot run on this machine; it needs:", file=sys.stderr)
        for what in missing:
            print(f"  - {what}", file=sys.stderr)
        print(
            "(`ml2 demo` without --dataplane shows the bindings without a dataplane.)",
            file=sys.stderr,
        )
        return EXIT_MISSING
    down_time = args.agent_down_time or DEFAULT_AGENT_DOWN_TIME
    heartbeat = args.heartbeat_interval or 1
    temp = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="ml2-demo-")) if temp else args.data_dir
    cfg = stack.StackConfig(
        data_dir=data_dir,
        free_ports=True,
        agent_down_time=down_time,
        heartbeat_interval=heartbeat,
        agent_check_interval=AGENT_CHECK_INTERVAL,
    )
    outcome: seed.Outcome | None = None
    started = time.monotonic()
    running = stack.Stack(cfg)
    with _Signals() as signals:
        try:
            outcome = _run(running, cfg, data_dir, down_time, heartbeat, signals.interrupted)
        except (Interrupted, KeyboardInterrupt):
            signals.interrupted.set()
        finally:
            running.stop()
        if signals.interrupted.is_set():
            if temp:
                shutil.rmtree(data_dir, ignore_errors=True)
            say("\nInterrupted: the agents, namespaces, Open vSwitch daemons and stack are removed")
            return EXIT_INTERRUPTED
    if outcome is None:
        return 1
    return _conclude(outcome, data_dir, temp, time.monotonic() - started)


def _run(
    running: stack.Stack,
    cfg: stack.StackConfig,
    data_dir: Path,
    down_time: int,
    heartbeat: int,
    cancel: threading.Event,
) -> seed.Outcome | None:
    """Starts the stack and runs the scenario; None when the stack does not start."""
    say(
        "modular-l2 demo --dataplane: one network, reached through Open vSwitch on two hosts "
        "and Linux bridging on a third, proven by packets\n"
    )
    say(
        f"0. Starting a fresh stack in {data_dir} (agent down time {down_time} s, "
        f"heartbeat {heartbeat} s)"
    )
    try:
        running.start()
    except launcher.LaunchError as err:
        print(f"ml2 demo: the stack did not start: {err}", file=sys.stderr)
        return None
    for row in running.rows():
        say(f"   {row.name:<24} {row.address:<18} pid {row.pid}")
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    return _scenario(running, cfg, down_time, heartbeat, cancel)


def _scenario(
    running: stack.Stack,
    cfg: stack.StackConfig,
    down_time: int,
    heartbeat: int,
    cancel: threading.Event,
) -> seed.Outcome:
    from pyroute2 import netns

    from services.lab import Lab, LabError, seed

    prefix = ""
    try:
        with Lab() as lab:
            prefix = lab.prefix
            scenario = seed.SeedScenario(
                lab,
                running.address("portapi"),
                running.address("mechmgr"),
                cfg.log_dir,
                say=say,
                agent_down_time=down_time,
                heartbeat_interval=heartbeat,
                cancel=cancel,
            )
            try:
                outcome = scenario.run()
            finally:
                say("\n10. Cleaning up: stopping the agents, removing the lab's namespaces")
                scenario.close()
    except LabError as err:
        outcome = seed.Outcome()
        outcome.checks.append(seed.Check(False, f"the lab builds ({err})"))
    left = [n for n in netns.listnetns() if prefix and n.startswith(f"{prefix}-")]
    if left:
        outcome.checks.append(seed.Check(False, f"the lab leaves nothing (left: {left})"))
    else:
        say(f"   the lab's namespaces ({prefix}-*) and Open vSwitch daemons are gone")
    return outcome


def _conclude(outcome: seed.Outcome, data_dir: Path, temp: bool, seconds: float) -> int:
    say("")
    say(outcome.summary())
    if outcome.all_held:
        if temp:
            shutil.rmtree(data_dir, ignore_errors=True)
        say(
            f"\nEverything is removed and the stack is stopped ({seconds:.0f} s). "
            "Every expectation held."
        )
        return 0
    say(
        f"\nEverything is removed and the stack is stopped. Some expectations did not hold; "
        f"logs are in {data_dir / 'logs'}"
    )
    return 1
