"""Starting service processes and waiting until they serve: used by ``ml2 up`` and the tests.

Each process is started with ``python -m <module>``, told to write a port file, and counted as up
once the port file exists and the standard health check answers SERVING.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml2_driver_sdk.runtime import config, tls

from services.rpc import channels

REPO_ROOT = Path(__file__).resolve().parent.parent


class LaunchError(RuntimeError):
    """A process exited or did not become healthy in time. The message says which and why."""


@dataclass
class ServiceProcess:
    """One running service process and the ports it bound."""

    name: str
    module: str
    process: subprocess.Popen[bytes]
    log_path: Path
    grpc_port: int = 0
    metrics_port: int = 0
    host: str = "127.0.0.1"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def address(self) -> str:
        """The gRPC address, host:port."""
        return f"{self.host}:{self.grpc_port}"

    def alive(self) -> bool:
        """Returns True while the process runs."""
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        """Sends SIGTERM, waits up to ``timeout`` seconds, then kills; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                # Ask for every thread's stack in the log (faulthandler, see rpc/logs.py), so
                # that a process that would not stop says where it was, then kill it.
                self.process.send_signal(signal.SIGUSR1)
                try:
                    self.process.wait(1.0)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        return int(self.process.returncode)

    def log_tail(self, lines: int = 60) -> str:
        """Returns the last lines of the process's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def python_path_env(base: Mapping[str, str]) -> dict[str, str]:
    """Returns ``base`` with the repository and the contract's and the SDK's folders on
    PYTHONPATH (for a source checkout)."""
    env = dict(base)
    parts = [str(REPO_ROOT), str(REPO_ROOT / "contract"), str(REPO_ROOT / "sdk")]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def start(
    name: str,
    module: str,
    env: Mapping[str, str],
    *,
    log_dir: Path,
    timeout: float = 20.0,
    args: tuple[str, ...] = (),
    python: str = "",
) -> ServiceProcess:
    """Starts ``python -m module`` with ``env`` added to this process's environment and waits
    until it serves. Raises LaunchError with the log's tail if it exits or times out.

    ``python`` is another environment's interpreter (a driver installed in a virtual environment
    of its own); that process gets no PYTHONPATH to this checkout, so it imports only what its
    environment holds."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    fd, port_file = tempfile.mkstemp(prefix=f"{name}-", suffix=".ports", dir=log_dir)
    os.close(fd)
    os.unlink(port_file)
    base = {**os.environ, **env, "ML2_PORT_FILE": port_file}
    if python:
        base.pop("PYTHONPATH", None)
    full_env = base if python else python_path_env(base)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [python or sys.executable, "-m", module, *args],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    service = ServiceProcess(name, module, proc, log_path, env=dict(env))
    try:
        _wait_serving(service, Path(port_file), timeout)
    except LaunchError:
        service.stop(timeout=2)
        raise
    return service


def _tls_of(env: Mapping[str, str]) -> tls.TlsFiles | None:
    """The ``ML2_TLS_*`` files a child serves with: its own settings over this process's, which
    it inherits (None: it serves plaintext)."""
    try:
        return tls.TlsFiles.from_env({**os.environ, **env})
    except config.ConfigError:
        return None  # the child refuses them and exits, which the wait reports


def _wait_serving(service: ServiceProcess, port_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise LaunchError(
                f"{service.name} exited with status {service.process.returncode}:\n"
                f"{service.log_tail()}"
            )
        if port_file.exists():
            info = json.loads(port_file.read_text(encoding="utf-8"))
            service.grpc_port = int(info["grpc_port"])
            service.metrics_port = int(info["metrics_port"])
            # Over the child's own TLS settings: its certificate is a client's too.
            channel = tls.make_channel(
                service.address, channels.channel_options(), _tls_of(service.env)
            )
            try:
                if channels.check_health(channel, timeout=1.0):
                    port_file.unlink(missing_ok=True)
                    return
            finally:
                channel.close()
        time.sleep(0.05)
    raise LaunchError(
        f"{service.name} did not become healthy in {timeout:.0f}s:\n{service.log_tail()}"
    )
