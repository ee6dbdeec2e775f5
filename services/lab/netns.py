"""Network namespaces, veth pairs and Linux bridges, through pyroute2, for the lab's hosts.

Every object here is created inside a namespace the lab owns, never in the caller's own
namespace, so removing the lab's namespaces removes everything it made: a veth pair goes when
either end's namespace goes, a bridge with its namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
import sys
import time
from collections.abc import Sequence

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

MAX_LINK_NAME = 15
"""The kernel's limit on a link name (IFNAMSIZ - 1)."""


class LabError(RuntimeError):
    """The lab could not build (or run something in) what was asked; the message says what."""


def check_link_name(name: str) -> str:
    """Returns ``name`` if the kernel accepts it as a link name, else raises LabError."""
    if not name or len(name) > MAX_LINK_NAME or "/" in name or " " in name:
        raise LabError(f"link name {name!r}: 1 to {MAX_LINK_NAME} characters, no '/' or space")
    return name


class Namespace:
    """One network namespace, created on construction and removed by ``remove``.

    Its loopback is brought up, as a fresh host's is. ``remove`` is idempotent.
    """

    def __init__(self, name: str) -> None:
        if name in netns.listnetns():
            raise LabError(f"network namespace {name!r} exists already")
        self.name = name
        self._removed = False
        # Anything, even Ctrl-C, that stops the construction half way removes what it made:
        # the caller registers its cleanup only once it has the object.
        try:
            netns.create(name)
            self.link_up("lo")
        except BaseException:
            self.remove()
            raise

    def __repr__(self) -> str:
        return f"Namespace({self.name!r})"

    def ipr(self) -> IPRoute:
        """A netlink socket inside the namespace; use as a context manager."""
        return IPRoute(netns=self.name)

    def index(self, ifname: str) -> int:
        """The index of link ``ifname`` in this namespace; LabError when it is missing."""
        with self.ipr() as ipr:
            found = ipr.link_lookup(ifname=ifname)
        if not found:
            raise LabError(f"no link {ifname!r} in namespace {self.name}")
        return int(found[0])

    def has_link(self, ifname: str) -> bool:
        """Whether link ``ifname`` exists in this namespace."""
        with self.ipr() as ipr:
            return bool(ipr.link_lookup(ifname=ifname))

    def link_up(self, ifname: str, *, mac: str | None = None, mtu: int | None = None) -> None:
        """Sets ``ifname`` up, with ``mac`` and ``mtu`` when given."""
        index = self.index(ifname)
        changes: dict[str, object] = {"state": "up"}
        if mac:
            changes["address"] = mac
        if mtu:
            changes["mtu"] = mtu
        with self.ipr() as ipr:
            ipr.link("set", index=index, **changes)

    def add_address(self, ifname: str, cidr: str) -> None:
        """Adds ``cidr`` (``10.0.0.1/24``) to ``ifname``."""
        iface = ipaddress.ip_interface(cidr)
        with self.ipr() as ipr:
            ipr.addr(
                "add",
                index=self.index(ifname),
                address=str(iface.ip),
                prefixlen=iface.network.prefixlen,
            )

    def add_bridge(self, ifname: str) -> None:
        """Creates a Linux bridge ``ifname`` (no VLAN filtering: tagged frames pass as they
        are) and sets it up."""
        with self.ipr() as ipr:
            ipr.link("add", ifname=check_link_name(ifname), kind="bridge")
        self.link_up(ifname)

    def enslave(self, ifname: str, bridge: str) -> None:
        """Makes ``ifname`` a port of the Linux bridge ``bridge`` and sets it up."""
        with self.ipr() as ipr:
            ipr.link("set", index=self.index(ifname), master=self.index(bridge))
        self.link_up(ifname)

    def disable_tx_checksum(self, ifname: str) -> None:
        """Makes the kernel checksum what it sends on ``ifname`` itself, instead of leaving
        it to an offload a veth never performs: Open vSwitch's userspace datapath reads such
        packets raw and drops the ones whose checksum is still partial (a kernel VXLAN
        device's UDP packets, for one). pyroute2's ethtool works in the caller's namespace
        only, hence a child process in this one."""
        script = (
            "import sys\n"
            "from pyroute2 import Ethtool\n"
            "with Ethtool() as e:\n"
            "    f = e.get_features(sys.argv[1])\n"
            "    f.features['tx-checksum-ip-generic'].enable = False\n"
            "    e.set_features(sys.argv[1], f)\n"
        )
        self.run([sys.executable, "-c", script, ifname])

    def run(
        self, argv: Sequence[str], *, timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Runs ``argv`` inside the namespace and returns its result; with ``check``, a non-zero
        exit raises LabError with its output."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.name, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise LabError(
                f"{' '.join(argv)} in {self.name} exited {result.returncode}: "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result

    def ping(self, address: str, *, count: int = 1, wait: float = 1.0) -> bool:
        """Whether ``address`` answers ``count`` pings from this namespace."""
        result = self.run(
            ["ping", "-n", "-q", "-c", str(count), "-W", f"{wait:g}", "-i", "0.2", address],
            check=False,
            timeout=count * (wait + 1.0) + 5.0,
        )
        return result.returncode == 0

    def wait_ping(self, address: str, *, timeout: float = 10.0) -> None:
        """Waits until ``address`` answers a ping; LabError after ``timeout`` seconds (the first
        packets of a fresh path may go to ARP and flow setup)."""
        deadline = time.monotonic() + timeout
        while not self.ping(address, wait=0.5):
            if time.monotonic() > deadline:
                raise LabError(f"{address} does not answer pings from {self.name} in {timeout}s")

    def wait_no_ping(self, address: str, *, timeout: float = 10.0) -> None:
        """Waits until ``address`` stops answering pings (a change on its way through a
        switch); LabError if it still answers after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.ping(address, wait=0.3):
            if time.monotonic() > deadline:
                raise LabError(f"{address} still answers pings from {self.name} after {timeout}s")

    def remove(self) -> None:
        """Removes the namespace and with it every link inside it."""
        if self._removed:
            return
        self._removed = True
        remove_namespace(self.name)


def remove_namespace(name: str) -> None:
    """Removes the namespace ``name`` if it exists (with every link inside it)."""
    with contextlib.suppress(FileNotFoundError):
        netns.remove(name)


def veth(a: Namespace, name_a: str, b: Namespace, name_b: str) -> None:
    """Creates a veth pair, ``name_a`` in ``a`` and ``name_b`` in ``b``, both down."""
    check_link_name(name_a)
    check_link_name(name_b)
    try:
        with a.ipr() as ipr:
            ipr.link(
                "add", ifname=name_a, kind="veth", peer={"ifname": name_b, "net_ns_fd": b.name}
            )
    except NetlinkError as err:
        raise LabError(f"veth {name_a} ({a.name}) <-> {name_b} ({b.name}): {err}") from err
