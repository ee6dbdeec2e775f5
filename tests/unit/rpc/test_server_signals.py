"""A server process stops gracefully on SIGTERM from the moment a client can reach it.

The handlers must be in place before the gRPC server starts: a launcher (or kubelet) that sends
SIGTERM as soon as the port answers would otherwise meet Python's default action, an exit with
status -15 that skips the graceful stop.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from ml2_driver_sdk.runtime import server


@pytest.fixture
def restore_signals() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_stop_handlers_are_installed_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch, restore_signals: None
) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    seen: dict[str, Any] = {}
    real_build = server.build_server

    def build(*args: Any, **kwargs: Any) -> server.ServerHandle:
        handle = real_build(*args, **kwargs)
        real_start = handle.server.start

        def start() -> None:
            seen["at_start"] = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
            real_start()
            handle.stopped.set()  # as if SIGTERM came at once: serve() returns

        monkeypatch.setattr(handle.server, "start", start)
        seen["handle"] = handle
        return handle

    monkeypatch.setattr(server, "build_server", build)
    server.run_service("probe", [], listen="127.0.0.1:0", metrics_port=0, grace=0.1)
    term, intr = seen["at_start"]
    assert callable(term) and term not in (signal.SIG_DFL, signal.SIG_IGN)
    assert callable(intr) and intr not in (signal.SIG_DFL, signal.SIG_IGN)
    # The installed handler is the graceful stop.
    handle = seen["handle"]
    handle.stopped.clear()
    term(signal.SIGTERM, None)
    assert handle.stopped.is_set()


PROBE = """
import json, os, signal, sys, threading, time
from ml2_driver_sdk.runtime import server
from services.rpc import channels

port_file = sys.argv[1]

def poke():
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(port_file):
            port = json.load(open(port_file))["grpc_port"]
            channel = channels.make_channel(f"127.0.0.1:{port}")
            if channels.check_health(channel, timeout=1.0):
                break
        threading.Event().wait(0.05)
    # The signal is taken by this thread, not the main one.
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=poke, daemon=True).start()
server.run_service("probe", [], listen="127.0.0.1:0", metrics_port=0, port_file=port_file,
                   grace=0.1)
print("stopped")
"""


def test_a_signal_another_thread_takes_still_stops_the_server(tmp_path: Any) -> None:
    import subprocess
    import sys

    from services import launcher

    port_file = tmp_path / "probe.ports"
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(port_file)],
        env=launcher.python_path_env(dict(__import__("os").environ)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stopped"
