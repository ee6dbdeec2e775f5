"""Hosts, switches and VMs built from namespaces, owned by one ``Lab`` that removes them all.

A ``Lab`` picks a prefix no namespace on the machine has (``l`` and four hex digits) and names
everything it makes from it, so labs of parallel tests never collide, and link names stay within
the kernel's 15 characters. It is a context manager; leaving it (normally or by an exception)
stops every Open vSwitch it started and removes every namespace, last made first.

- ``switch(name)``: a Linux bridge in a namespace of its own, standing for a physical network;
  ``underlay(name, cidr)`` is a switch whose hosts get an address each (the tunnel network).
- ``host(name, underlay=..., ovs=True)``: a namespace with one underlay link and, with ``ovs``,
  its own Open vSwitch. With Open vSwitch the underlay link is a port of the netdev bridge
  ``br-phy`` and the host's address sits on ``br-phy``: the userspace datapath sends tunnel
  packets only through an address on one of its own bridges (OVS's userspace tunnelling).
- ``host.uplink(switch)``: another link of the host to a switch (a provider network's NIC).
- ``vm(host, name, ip)``: a namespace standing for an instance with ``eth0`` and an address;
  its other end, ``tap<...>``, is in the host, where ``OvsInstance.plug`` or a Linux bridge
  takes it, as a compute node's VIF driver would.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pyroute2 import netns

from services.lab.netns import LabError, Namespace, check_link_name, remove_namespace, veth
from services.lab.ovs import OvsInstance

UNDERLAY_BRIDGE = "br-phy"
"""The Open vSwitch bridge that owns an OVS host's underlay link and address."""


@dataclass
class Switch:
    """A Linux bridge ``br0`` alone in its namespace; hosts attach to it by veth."""

    lab: Lab
    name: str
    namespace: Namespace
    cidr: str = ""
    """For an underlay: the network its hosts' addresses come from."""
    _ports: int = 0
    _next_ip: int = 1

    def attach(self, host_ns: Namespace, ifname: str) -> str:
        """Links ``host_ns`` to the switch; the host's end, ``ifname``, is left down. Returns
        the switch's end."""
        self._ports += 1
        far = check_link_name(f"{self.lab.prefix}{self.name}{self._ports}")
        veth(host_ns, ifname, self.namespace, far)
        self.namespace.enslave(far, "br0")
        return far

    def allocate_ip(self) -> str:
        """The next host address of ``cidr``, as ``ADDRESS/PREFIXLEN``."""
        if not self.cidr:
            raise LabError(f"switch {self.name} has no addresses (not an underlay)")
        net = ipaddress.ip_network(self.cidr)
        ip = net.network_address + self._next_ip
        self._next_ip += 1
        if ip not in net or ip == net.broadcast_address:
            raise LabError(f"underlay {self.name}: {self.cidr} has no address left")
        return f"{ip}/{net.prefixlen}"


@dataclass
class Host:
    """A lab host: its namespace, its underlay address, its Open vSwitch if it has one."""

    lab: Lab
    name: str
    namespace: Namespace
    ip: str = ""
    """The underlay address (no prefix length), a tunnel agent's ``local_ip``."""
    ovs: OvsInstance | None = None
    uplinks: dict[str, str] = field(default_factory=dict)
    """Switch name -> the host's link to it."""

    def uplink(self, switch: Switch, ifname: str = "") -> str:
        """Links the host to ``switch`` (a physical network); returns the host's link name,
        which is up and carries no address."""
        ifname = ifname or f"eth{len(self.uplinks) + 1}"
        switch.attach(self.namespace, ifname)
        self.namespace.link_up(ifname)
        self.uplinks[switch.name] = ifname
        return ifname


@dataclass
class Vm:
    """An instance: a namespace whose ``eth0`` has ``mac`` and ``ip``; ``tap`` is the other end
    of its link, in its host."""

    name: str
    namespace: Namespace
    host: Host
    tap: str
    mac: str
    ip: str
    """Without prefix length."""

    def ping(self, other: Vm | str, *, count: int = 1, wait: float = 1.0) -> bool:
        """Whether ``other`` (a VM or an address) answers pings from this VM."""
        target = other.ip if isinstance(other, Vm) else other
        return self.namespace.ping(target, count=count, wait=wait)

    def wait_ping(self, other: Vm | str, *, timeout: float = 10.0) -> None:
        """Waits until ``other`` answers; LabError after ``timeout`` seconds."""
        target = other.ip if isinstance(other, Vm) else other
        self.namespace.wait_ping(target, timeout=timeout)

    def wait_no_ping(self, other: Vm | str, *, timeout: float = 10.0) -> None:
        """Waits until ``other`` stops answering; LabError after ``timeout`` seconds."""
        target = other.ip if isinstance(other, Vm) else other
        self.namespace.wait_no_ping(target, timeout=timeout)


def _free_prefix() -> str:
    existing = netns.listnetns()
    for _ in range(100):
        prefix = "l" + secrets.token_hex(2)
        if not any(name.startswith(prefix) for name in existing):
            return prefix
    raise LabError("no free lab prefix")


class Lab:
    """Owns every namespace and Open vSwitch of one test (or demo, or benchmark run)."""

    def __init__(self, prefix: str = "", *, keep_ovs_dirs: bool = False) -> None:
        self.prefix = prefix or _free_prefix()
        if len(self.prefix) > 6:
            raise LabError(f"lab prefix {self.prefix!r}: at most 6 characters")
        self.keep_ovs_dirs = keep_ovs_dirs
        self._stack = contextlib.ExitStack()
        self.hosts: dict[str, Host] = {}
        self.switches: dict[str, Switch] = {}
        self.vms: dict[str, Vm] = {}

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stops every Open vSwitch and removes every namespace (last made first)."""
        self._stack.close()

    def defer(self, callback: Callable[[], object]) -> None:
        """Runs ``callback`` when the lab closes, before what was made before it is removed."""
        self._stack.callback(callback)

    # ---------------------------------------------------------------------------- building

    def namespace(self, name: str) -> Namespace:
        """A new namespace ``<prefix>-<name>``, removed with the lab."""
        full = f"{self.prefix}-{name}"
        # Registered before it exists, so that an interruption right after the namespace is made
        # still removes it.
        self._stack.callback(remove_namespace, full)
        return Namespace(full)

    def switch(self, name: str, cidr: str = "") -> Switch:
        """A new switch (Linux bridge in its own namespace); ``cidr`` makes it an underlay."""
        if name in self.switches:
            raise LabError(f"switch {name!r} exists already")
        ns = self.namespace(f"sw-{name}")
        ns.add_bridge("br0")
        switch = Switch(self, name, ns, cidr)
        self.switches[name] = switch
        return switch

    def underlay(self, name: str = "u", cidr: str = "10.250.0.0/24") -> Switch:
        """A switch whose hosts get an address each from ``cidr``."""
        return self.switch(name, cidr)

    def start_ovs(self, namespace: Namespace | None) -> OvsInstance:
        """Starts an Open vSwitch (ovs-vswitchd in ``namespace``), stopped with the lab."""
        instance = OvsInstance(namespace, keep=self.keep_ovs_dirs)
        instance.start()
        self._stack.callback(instance.stop)
        return instance

    def host(self, name: str, *, underlay: Switch | None = None, ovs: bool = True) -> Host:
        """A new host: a namespace, a link ``eth0`` to ``underlay`` with the next address, and
        with ``ovs`` its own Open vSwitch (underlay on ``br-phy``)."""
        if name in self.hosts:
            raise LabError(f"host {name!r} exists already")
        ns = self.namespace(name)
        host = Host(self, name, ns)
        if ovs:
            host.ovs = self.start_ovs(ns)
        if underlay is not None:
            cidr = underlay.allocate_ip()
            underlay.attach(ns, "eth0")
            ns.disable_tx_checksum("eth0")
            ns.link_up("eth0")
            if host.ovs is not None:
                host.ovs.add_bridge(UNDERLAY_BRIDGE)
                host.ovs.vsctl("--may-exist", "add-port", UNDERLAY_BRIDGE, "eth0")
                ns.link_up(UNDERLAY_BRIDGE)
                ns.add_address(UNDERLAY_BRIDGE, cidr)
            else:
                ns.add_address("eth0", cidr)
            host.ip = cidr.split("/")[0]
            host.uplinks[underlay.name] = "eth0"
        self.hosts[name] = host
        return host

    def vm(self, host: Host, name: str, ip: str, *, mac: str = "", tap: str = "") -> Vm:
        """A new instance on ``host``: namespace ``<prefix>-<name>`` with ``eth0`` (``mac``,
        ``ip`` as ``ADDRESS/PREFIXLEN``), linked to ``tap`` in the host (up, not plugged)."""
        if name in self.vms:
            raise LabError(f"vm {name!r} exists already")
        ns = self.namespace(name)
        tap = check_link_name(tap or f"tap{self.prefix}{name}"[:15])
        mac = mac or random_mac()
        veth(host.namespace, tap, ns, "eth0")
        ns.link_up("eth0", mac=mac)
        ns.add_address("eth0", ip)
        host.namespace.link_up(tap)
        vm = Vm(name, ns, host, tap, mac, ip.split("/")[0])
        self.vms[name] = vm
        return vm


def random_mac() -> str:
    """A random locally administered unicast MAC (``fa:16:3e`` is Neutron's usual prefix)."""
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def ovs_dir(host: Host) -> Path:
    """The directory of ``host``'s Open vSwitch (logs when a test fails)."""
    if host.ovs is None:
        raise LabError(f"host {host.name} has no Open vSwitch")
    return host.ovs.directory
