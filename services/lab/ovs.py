"""An Open vSwitch of its own for one lab host: ovsdb-server and ovs-vswitchd with every file in
one temporary directory, ovs-vswitchd inside the host's namespace.

The directory is OVS's run, log and database directory at once (``OVS_RUNDIR``, ``OVS_LOGDIR``,
``OVS_DBDIR``), so several instances on one machine never share a socket: the database listens
on ``DIR/db.sock``, each bridge's OpenFlow management socket is ``DIR/<bridge>.mgmt`` (which is
why flows are addressed as ``unix:DIR/<bridge>.mgmt``: plain ``ovs-ofctl <bridge>`` looks in the
default run directory). Running ovs-vswitchd inside the namespace keeps its devices (bridges'
internal ports, taps) in that host. Bridges use the userspace datapath (``datapath_type=netdev``):
the machine has no Open vSwitch kernel module. Both daemons are children of this process (not
``--detach``ed), so stopping them is a terminate and a wait.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from services.lab.netns import LabError, Namespace

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
START_TIMEOUT = 15.0


class OvsInstance:
    """ovsdb-server + ovs-vswitchd for one host; a context manager (``start``/``stop``).

    ``directory`` defaults to a new directory under /tmp, short enough for unix socket paths
    (108 bytes), removed on ``stop`` unless ``keep`` is set.
    """

    def __init__(
        self,
        namespace: Namespace | None = None,
        directory: Path | None = None,
        *,
        keep: bool = False,
    ) -> None:
        self.namespace = namespace
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="ml2-ovs-", dir="/tmp"))
        self.keep = keep
        self._db: subprocess.Popen[bytes] | None = None
        self._switch: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------------------ paths

    @property
    def db_socket(self) -> Path:
        """The OVSDB unix socket (``unix:`` + this is the OVSDB connection string)."""
        return self.directory / "db.sock"

    @property
    def db_endpoint(self) -> str:
        """The OVSDB connection string, e.g. for ovsdbapp."""
        return f"unix:{self.db_socket}"

    @property
    def rundir(self) -> Path:
        """Where ovs-vswitchd puts its control and the bridges' management sockets."""
        return self.directory

    def mgmt(self, bridge: str) -> str:
        """The OpenFlow target of ``bridge`` for ovs-ofctl."""
        return f"unix:{self.directory / (bridge + '.mgmt')}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR"):
            env[name] = str(self.directory)
        return env

    # -------------------------------------------------------------------------- lifecycle

    def start(self) -> OvsInstance:
        """Creates the database and starts both daemons; returns when ovs-vswitchd has applied
        the database. Stops what it started and raises LabError on failure."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ovsdb-tool", "create", str(d / "conf.db"), str(SCHEMA)],
            check=True,
            capture_output=True,
            env=self._env(),
        )
        self._db = subprocess.Popen(
            [
                "ovsdb-server",
                str(d / "conf.db"),
                f"--remote=punix:{self.db_socket}",
                "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
                f"--pidfile={d / 'ovsdb-server.pid'}",
                f"--log-file={d / 'ovsdb-server.log'}",
                f"--unixctl={d / 'ovsdb-server.ctl'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self._env(),
        )
        self._wait_socket(self.db_socket, self._db, "ovsdb-server")
        self.vsctl("--no-wait", "init")
        self._start_switch()

    def _start_switch(self) -> None:
        d = self.directory
        prefix = ["ip", "netns", "exec", self.namespace.name] if self.namespace else []
        self._switch = subprocess.Popen(
            [
                *prefix,
                "ovs-vswitchd",
                self.db_endpoint,
                f"--pidfile={d / 'ovs-vswitchd.pid'}",
                f"--log-file={d / 'ovs-vswitchd.log'}",
                f"--unixctl={d / 'ovs-vswitchd.ctl'}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self._env(),
        )
        self._wait_socket(d / "ovs-vswitchd.ctl", self._switch, "ovs-vswitchd")
        # Without --no-wait, ovs-vsctl returns once ovs-vswitchd has applied the change.
        self.vsctl("set", "Open_vSwitch", ".", "external_ids:ml2-lab=true")

    def restart_switch(self) -> None:
        """Stops and starts ovs-vswitchd (an upgrade, a crash): the database keeps bridges and
        ports, every OpenFlow table starts empty."""
        if self._switch is not None and self._switch.poll() is None:
            self._switch.terminate()
            self._switch.wait(timeout=10)
        (self.directory / "ovs-vswitchd.ctl").unlink(missing_ok=True)
        self._start_switch()

    def _wait_socket(self, path: Path, process: subprocess.Popen[bytes], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                raise LabError(f"{what} exited {process.returncode}; see {self.directory}")
            if path.exists():
                with socket.socket(socket.AF_UNIX) as sock, contextlib.suppress(OSError):
                    sock.connect(str(path))
                    return
            if time.monotonic() > deadline:
                raise LabError(f"{what} did not open {path} in {START_TIMEOUT}s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stops ovs-vswitchd, then ovsdb-server, and removes the directory (unless ``keep``).
        Idempotent; never raises for a daemon that is already gone."""
        for process in (self._switch, self._db):
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._switch = self._db = None
        if self._own_dir and not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> OvsInstance:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether both daemons are running."""
        return all(p is not None and p.poll() is None for p in (self._db, self._switch))

    # --------------------------------------------------------------------------- commands

    def vsctl(self, *args: str, timeout: float = 10.0) -> str:
        """Runs ``ovs-vsctl`` against this instance's database; returns its output."""
        return self._tool(["ovs-vsctl", f"--db={self.db_endpoint}", f"--timeout={timeout:g}"], args)

    def ofctl(self, command: str, bridge: str, *args: str) -> str:
        """Runs ``ovs-ofctl COMMAND unix:DIR/BRIDGE.mgmt ARGS``; returns its output."""
        return self._tool(["ovs-ofctl", command, self.mgmt(bridge)], args)

    def appctl(self, *args: str) -> str:
        """Runs ``ovs-appctl`` against ovs-vswitchd (``fdb/show br-int``, ``ofproto/trace``)."""
        target = str(self.directory / "ovs-vswitchd.ctl")
        return self._tool(["ovs-appctl", "-t", target], args)

    def _tool(self, command: list[str], args: tuple[str, ...]) -> str:
        result = subprocess.run(
            [*command, *args], capture_output=True, text=True, env=self._env(), check=False
        )
        if result.returncode != 0:
            raise LabError(f"{' '.join(command[:1] + list(args))}: {result.stderr.strip()}")
        return result.stdout

    def add_bridge(self, name: str, datapath_type: str = "netdev") -> None:
        """Creates bridge ``name`` (idempotent) on the userspace datapath."""
        self.vsctl(
            "--may-exist", "add-br", name, "--", "set", "Bridge", name,
            f"datapath_type={datapath_type}",
        )  # fmt: skip

    def plug(
        self,
        bridge: str,
        device: str,
        *,
        iface_id: str = "",
        mac: str = "",
        vm_uuid: str = "",
    ) -> None:
        """Adds the existing ``device`` to ``bridge`` as a compute node's VIF driver does:
        ``external_ids`` ``iface-id`` (the port id), ``attached-mac``, ``iface-status`` and
        ``vm-uuid``; no VLAN tag (the agent gives it one)."""
        external = {"iface-id": iface_id, "attached-mac": mac, "vm-uuid": vm_uuid}
        settings = [f"external_ids:{k}={v}" for k, v in external.items() if v]
        if iface_id:
            settings.append("external_ids:iface-status=active")
        command = ["--may-exist", "add-port", bridge, device]
        if settings:
            command += ["--", "set", "Interface", device, *settings]
        self.vsctl(*command)

    def unplug(self, bridge: str, device: str) -> None:
        """Removes ``device`` from ``bridge`` (idempotent)."""
        self.vsctl("--if-exists", "del-port", bridge, device)
