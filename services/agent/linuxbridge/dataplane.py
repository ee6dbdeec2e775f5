"""The Linux bridge agent's dataplane, as Neutron's Linux bridge agent lays it out.

Every network with a port on the host has one kernel bridge, ``brq`` + the network id's first 11
characters (the name Nova and os-vif give it in ``vif_details.bridge_name``). Its uplink depends
on the segment:

- flat: the physical network's interface (``interface_mappings``), enslaved as it is;
- vlan: a VLAN device ``<interface>.<vlan id>`` on that interface, where the kernel has VLAN
  devices at all (``probe.vlan_devices_supported``; without them ``vlan`` is left out of the
  capabilities' ``network_types``, so mechmgr never binds a VLAN segment here);
- vxlan: a kernel VXLAN device ``vxlan-<vni>`` (UDP 4789, as Open vSwitch uses, from
  ``local_ip``, learning off) whose unicast forwarding entries (the all-zero MAC, one per peer,
  as ``bridge fdb append``) send flooded traffic to exactly the tunnel peers l2-population
  names;
- local: none.

A port's device is the tap device ``tap`` + the port id's first 11 characters, created by the
compute node's VIF driver; wiring enslaves it to its network's bridge (creating the bridge and
the uplink if missing), sets the segment's MTU and brings it up. Unwiring takes it out of the
bridge and leaves it; when a network's last tap leaves, its bridge and its VLAN or VXLAN device
go too, and a mapped interface is released. Everything is read back from the kernel, so a
restarted agent finds what it wired before.

A tap name keeps only 11 characters of the port id. ``devices()`` keys a tap by its full port id
once that is known (from ``wire``/``unwire``/``expect``, or from the link alias ``wire`` sets on
the tap, which survives an agent restart), and by the 11-character prefix otherwise:
``device_for(devices, port_id)`` finds a port's device either way.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import select
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ml2_contract import values, vocabulary
from pyroute2 import IPRoute, NetlinkError, NetNS, netns
from pyroute2.netlink.rtnl import RTMGRP_LINK
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from services.agent.dataplane import Attachment, Device, TunnelPeer, WiringError
from services.agent.linuxbridge import probe

logger = logging.getLogger(__name__)

TAP_PREFIX = "tap"
BRIDGE_PREFIX = "brq"
VXLAN_PREFIX = "vxlan-"
ID_LENGTH = vocabulary.DEVICE_NAME_LENGTH - 3
"""How much of a port or network id a device name keeps (14 characters, less the prefix)."""
VXLAN_UDP_PORT = 4789
"""The IANA VXLAN port, which Open vSwitch uses: the kernel's default (8472) would not meet it."""
ZERO_MAC = "00:00:00:00:00:00"
MAX_LINK_NAME = 15


def tap_name(port_id: str) -> str:
    """Returns the name of a port's tap device, as Nova names it."""
    return TAP_PREFIX + port_id[:ID_LENGTH]


def bridge_name(network_id: str) -> str:
    """Returns the name of a network's bridge, as the linuxbridge mechanism driver reports it."""
    return BRIDGE_PREFIX + network_id[:ID_LENGTH]


def vxlan_name(vni: int) -> str:
    """Returns the name of a VXLAN network's VXLAN device."""
    return f"{VXLAN_PREFIX}{vni}"


def vlan_name(interface: str, vlan_id: int) -> str:
    """Returns the name of the VLAN device of ``vlan_id`` on ``interface``, its interface part
    cut so that the whole fits a link name."""
    suffix = f".{vlan_id}"
    return interface[: MAX_LINK_NAME - len(suffix)] + suffix


def device_for(devices: Mapping[str, Device], port_id: str) -> Device | None:
    """Returns the port's device among ``devices()``, keyed by full id or by tap prefix."""
    return devices.get(port_id) or devices.get(port_id[:ID_LENGTH])


@dataclass(frozen=True)
class LinuxBridgeConfig:
    """How the agent reaches the networks from its host."""

    interface_mappings: Mapping[str, str] = field(default_factory=dict)
    """Physical network to host interface, e.g. ``physnet1: eth1``."""
    local_ip: str = ""
    """The VXLAN endpoint address, on an interface of the managed namespace; empty: no VXLAN."""
    netns: str = ""
    """The named network namespace the agent manages (``ip netns``); empty: its own."""
    vxlan_udp_port: int = VXLAN_UDP_PORT
    network_types: tuple[str, ...] = ()
    """The network types to offer, when fewer than the host realises; empty: all it realises.
    ``setup`` refuses a type the host cannot realise."""

    def validate(self) -> None:
        """Raises ValueError naming the setting when the configuration cannot be right."""
        for physnet, interface in self.interface_mappings.items():
            if not physnet or not interface or len(interface) > MAX_LINK_NAME:
                raise ValueError(
                    f"interface_mappings: {physnet!r}:{interface!r} must map a physical "
                    f"network to an interface name of at most {MAX_LINK_NAME} characters"
                )
        if self.local_ip:
            try:
                ipaddress.ip_address(self.local_ip)
            except ValueError:
                raise ValueError(f"local_ip: {self.local_ip!r} is not an IP address") from None
        for network_type in self.network_types:
            if network_type not in vocabulary.NETWORK_TYPES:
                raise ValueError(f"network_types: unknown network type {network_type!r}")
        if not 0 < self.vxlan_udp_port < 65536:
            raise ValueError(f"vxlan_udp_port: {self.vxlan_udp_port} is not a UDP port")


class LinuxBridgeDataplane:
    """A host's Linux bridges, driven over netlink (one socket for changes, one for events)."""

    agent_type = vocabulary.AGENT_TYPE_LINUXBRIDGE

    def __init__(self, config: LinuxBridgeConfig, *, vlan_supported: bool | None = None) -> None:
        """``vlan_supported`` None: probe the kernel on first need."""
        config.validate()
        self.config = config
        self._vlan_supported = vlan_supported
        self._lock = threading.Lock()
        self._ip: Any = None
        self._events: socket.socket | None = None
        self._marshal = MarshalRtnl()
        self._full_ids: dict[str, str] = {}
        self._peers: dict[int, frozenset[str]] = {}
        self._seen_taps: set[str] = set()

    # ------------------------------------------------------------------------------ protocol

    def capabilities(self) -> values.HostCapabilities:
        """Interface mappings, VXLAN with ``local_ip`` when set, and the network types this
        host realises: local and flat always, vlan where the kernel has VLAN devices, vxlan
        with a ``local_ip``."""
        types = self.realisable_network_types()
        if self.config.network_types:
            types = tuple(t for t in types if t in self.config.network_types)
        vxlan = vocabulary.TYPE_VXLAN in types
        return values.HostCapabilities(
            interface_mappings=dict(self.config.interface_mappings),
            tunnel_types=(vocabulary.TYPE_VXLAN,) if vxlan else (),
            local_ip=self.config.local_ip if vxlan else "",
            port_filter=False,
            network_types=types,
        )

    def realisable_network_types(self) -> tuple[str, ...]:
        """Local and flat always, vlan where the kernel has VLAN devices, vxlan with a
        ``local_ip``."""
        types = [vocabulary.TYPE_LOCAL, vocabulary.TYPE_FLAT]
        if self.vlan_supported:
            types.append(vocabulary.TYPE_VLAN)
        if self.config.local_ip:
            types.append(vocabulary.TYPE_VXLAN)
        return tuple(types)

    @property
    def vlan_supported(self) -> bool:
        """Whether this kernel creates VLAN devices (probed once). A probe that cannot run
        counts as no: offering vlan the host may not realise would fail ports at wiring."""
        if self._vlan_supported is None:
            try:
                self._vlan_supported = probe.vlan_devices_supported()
            except (OSError, NetlinkError) as err:
                logger.warning("cannot probe for VLAN devices (%s); not offering vlan", err)
                self._vlan_supported = False
        return self._vlan_supported

    def setup(self) -> None:
        """Opens netlink in the managed namespace and checks that every mapped interface and
        the ``local_ip`` are there. Raises WiringError naming what is missing."""
        name = self.config.netns
        try:
            self._ip = NetNS(name, flags=0) if name else IPRoute()
            self._events = _link_event_socket(name)
        except OSError as err:
            self.close()
            raise WiringError(f"cannot open netlink in network namespace {name!r}: {err}") from err
        try:
            self._check_host()
        except BaseException:
            self.close()
            raise

    def _check_host(self) -> None:
        name = self.config.netns
        where = f" in network namespace {name}" if name else ""
        realisable = self.realisable_network_types()
        beyond = [t for t in self.config.network_types if t not in realisable]
        if beyond:
            raise WiringError(
                f"network types {','.join(beyond)} cannot be realised on this host (it "
                f"realises {','.join(realisable)}: vlan needs a kernel with VLAN devices, "
                "vxlan a local_ip)"
            )
        missing = [
            f"{iface} (physical network {physnet})"
            for physnet, iface in sorted(self.config.interface_mappings.items())
            if self._link(iface) is None
        ]
        if missing:
            raise WiringError(f"mapped interfaces not found{where}: {', '.join(missing)}")
        if self.config.local_ip and not self._ip.get_addr(address=self.config.local_ip):
            raise WiringError(f"local_ip {self.config.local_ip} is on no interface{where}")
        logger.info(
            "linuxbridge dataplane ready%s: mappings %s, local_ip %s, network types %s",
            where,
            dict(self.config.interface_mappings),
            self.config.local_ip or "none",
            ",".join(self.capabilities().network_types),
        )

    def expect(self, port_ids: Iterable[str]) -> None:
        """Tells the dataplane ports it may find, so ``devices()`` keys their taps by full id."""
        for port_id in port_ids:
            self._full_ids[port_id[:ID_LENGTH]] = port_id

    def devices(self) -> dict[str, Device]:
        """The tap devices in the managed namespace, by port id (see the module docstring)."""
        found: dict[str, Device] = {}
        with self._lock:
            links = self._ip.get_links()
        names: set[str] = set()
        for link in links:
            name = link.get("IFLA_IFNAME") or ""
            if not name.startswith(TAP_PREFIX):
                continue
            names.add(name)
            prefix = name[len(TAP_PREFIX) :]
            alias = link.get("IFLA_IFALIAS") or ""
            port_id = alias if alias.startswith(prefix) and alias else ""
            port_id = port_id or self._full_ids.get(prefix, prefix)
            found[port_id] = Device(port_id, name, link.get("IFLA_ADDRESS") or "")
        self._seen_taps = names
        return found

    def wire(self, attachment: Attachment) -> None:
        """Enslaves the port's tap to its network's bridge, up, with the segment's MTU. An
        administratively down port is unwired instead (its tap isolated)."""
        port_id = attachment.port_id
        self._full_ids[port_id[:ID_LENGTH]] = port_id
        with self._lock:
            tap = self._link(tap_name(port_id))
            if tap is None:
                raise WiringError(f"device {tap_name(port_id)} of port {port_id} is not plugged")
            try:
                if not attachment.admin_up:
                    self._detach(tap)
                    return
                bridge = self._ensure_network(attachment.network_id, attachment.segment)
                old_master = tap.get("IFLA_MASTER") or 0
                changes: dict[str, Any] = {}
                if old_master != bridge:
                    changes["master"] = bridge
                mtu = attachment.segment.mtu
                if mtu and tap.get("IFLA_MTU") != mtu:
                    changes["mtu"] = mtu
                if not _is_up(tap):
                    changes["state"] = "up"
                if (tap.get("IFLA_IFALIAS") or "") != port_id:
                    changes["ifalias"] = port_id
                if changes:
                    self._ip.link("set", index=tap["index"], **changes)
                    logger.info(
                        "wired port %s (%s) into %s: %s",
                        port_id,
                        tap_name(port_id),
                        bridge_name(attachment.network_id),
                        ", ".join(sorted(changes)),
                    )
                if old_master and old_master != bridge:
                    self._collect(old_master)
            except NetlinkError as err:
                raise WiringError(f"wiring port {port_id}: netlink: {err}") from err

    def unwire(self, port_id: str) -> None:
        """Takes the port's tap out of its bridge (the tap stays); removes the network's bridge
        and uplink device when it was the last port. When the tap is gone already (the VIF
        driver unplugged it), bridges the agent gave an uplink and that have no tap left are
        removed."""
        self._full_ids[port_id[:ID_LENGTH]] = port_id
        with self._lock:
            tap = self._link(tap_name(port_id))
            try:
                if tap is None:
                    self._collect_orphans()
                else:
                    self._detach(tap)
            except NetlinkError as err:
                raise WiringError(f"unwiring port {port_id}: netlink: {err}") from err

    def set_tunnel_peers(self, segment: values.Segment, peers: frozenset[TunnelPeer]) -> None:
        """Keeps one all-zero-MAC forwarding entry per peer on the segment's VXLAN device
        (remembered for when the device is created). Other tunnel types are not carried."""
        if segment.network_type != vocabulary.TYPE_VXLAN:
            logger.debug("no tunnel peers for %s segment %s", segment.network_type, segment.id)
            return
        vni = segment.segmentation_id
        ips = frozenset(p.ip for p in peers if p.ip and p.ip != self.config.local_ip)
        with self._lock:
            self._peers[vni] = ips
            device = self._link(vxlan_name(vni))
            if device is not None:
                try:
                    self._sync_peers(device["index"], ips)
                except NetlinkError as err:
                    raise WiringError(f"tunnel peers of vxlan {vni}: netlink: {err}") from err

    def tunnel_peers(self, vni: int) -> frozenset[str]:
        """The peer addresses the VXLAN device of ``vni`` floods to now (none without one)."""
        with self._lock:
            device = self._link(vxlan_name(vni))
            return frozenset() if device is None else self._fdb_peers(device["index"])

    def wait_for_change(self, timeout: float) -> bool:
        """Waits for a tap device to appear or go (netlink link events), at most ``timeout``
        seconds. Links this dataplane changes itself are not counted as changes."""
        events = self._events
        assert events is not None, "setup() first"
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([events], [], [], remaining)
            if not ready:
                return False
            try:
                data = events.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError as err:
                if err.errno == errno.ENOBUFS:  # events were lost: anything may have changed
                    return True
                raise
            for message in self._marshal.parse(data):
                name = message.get("IFLA_IFNAME") or ""
                if not name.startswith(TAP_PREFIX):
                    continue
                event = message.get("event")
                if event == "RTM_DELLINK" or (
                    event == "RTM_NEWLINK" and name not in self._seen_taps
                ):
                    return True

    def close(self) -> None:
        """Closes the netlink sockets; the bridges stay as they are."""
        for sock in (self._ip, self._events):
            if sock is not None:
                sock.close()
        self._ip = self._events = None

    # ------------------------------------------------------------------------------- helpers

    def _link(self, name: str) -> Any:
        indices = self._ip.link_lookup(ifname=name)
        return self._ip.get_links(indices[0])[0] if indices else None

    def _ensure_network(self, network_id: str, segment: values.Segment) -> int:
        """Returns the index of the network's bridge, created with its uplink if missing."""
        uplink = self._uplink(segment)
        name = bridge_name(network_id)
        bridge = self._link(name)
        if bridge is None:
            self._ip.link("add", ifname=name, kind="bridge", br_forward_delay=0, br_stp_state=0)
            bridge = self._link(name)
            logger.info("created bridge %s for network %s", name, network_id)
        index: int = bridge["index"]
        if not _is_up(bridge):
            self._ip.link("set", index=index, state="up")
        if uplink is not None:
            self._enslave_uplink(uplink, index, name)
        if segment.network_type == vocabulary.TYPE_VXLAN and segment.segmentation_id in self._peers:
            # Peers not set since this dataplane started are left as found: a restarted agent
            # keeps forwarding until its runtime replays the peers.
            self._sync_peers(uplink["index"], self._peers[segment.segmentation_id])
        return index

    def _uplink(self, segment: values.Segment) -> Any:
        """Returns the link that carries the segment off the host (made if it is a VLAN or
        VXLAN device), or None for a local segment. Raises WiringError."""
        kind = segment.network_type
        if kind == vocabulary.TYPE_LOCAL:
            return None
        if kind == vocabulary.TYPE_VXLAN:
            return self._ensure_vxlan(segment)
        if kind not in (vocabulary.TYPE_FLAT, vocabulary.TYPE_VLAN):
            raise WiringError(
                f"{kind} segment {segment.id}: Linux bridge agents do not carry {kind}"
            )
        physnet = segment.physical_network
        iface = self.config.interface_mappings.get(physnet)
        if iface is None:
            raise WiringError(f"physical network {physnet} of segment {segment.id} is not mapped")
        parent = self._link(iface)
        if parent is None:
            raise WiringError(f"interface {iface} of physical network {physnet} is missing")
        if kind == vocabulary.TYPE_FLAT:
            return parent
        if not self.vlan_supported:
            raise WiringError(
                f"vlan segment {segment.id}: this kernel has no VLAN devices "
                "(the agent does not report vlan among its network types)"
            )
        name = vlan_name(iface, segment.segmentation_id)
        device = self._link(name)
        if device is None:
            self._ip.link(
                "add",
                ifname=name,
                kind="vlan",
                link=parent["index"],
                vlan_id=segment.segmentation_id,
            )
            device = self._link(name)
        return device

    def _ensure_vxlan(self, segment: values.Segment) -> Any:
        if not self.config.local_ip:
            raise WiringError(f"vxlan segment {segment.id}: the agent has no local_ip")
        vni = segment.segmentation_id
        name = vxlan_name(vni)
        device = self._link(name)
        if device is None:
            options: dict[str, Any] = {
                "vxlan_id": vni,
                "vxlan_port": self.config.vxlan_udp_port,
                "vxlan_learning": 0,
            }
            local = ipaddress.ip_address(self.config.local_ip)
            options["vxlan_local6" if local.version == 6 else "vxlan_local"] = str(local)
            carrier = self._ip.get_addr(address=self.config.local_ip)
            if carrier:
                options["vxlan_link"] = carrier[0]["index"]
            if segment.mtu:
                options["mtu"] = segment.mtu
            self._ip.link("add", ifname=name, kind="vxlan", **options)
            device = self._link(name)
            logger.info("created %s (vni %d, local %s)", name, vni, self.config.local_ip)
        return device

    def _enslave_uplink(self, uplink: Any, bridge: int, bridge_label: str) -> None:
        name = uplink.get("IFLA_IFNAME")
        master = uplink.get("IFLA_MASTER") or 0
        if master and master != bridge:
            other = self._ip.get_links(master)[0].get("IFLA_IFNAME") or ""
            if not other.startswith(BRIDGE_PREFIX):
                raise WiringError(f"interface {name} is in bridge {other}, not managed here")
            logger.warning("moving %s from bridge %s to %s", name, other, bridge_label)
        changes: dict[str, Any] = {}
        if master != bridge:
            changes["master"] = bridge
        if not _is_up(uplink):
            changes["state"] = "up"
        if changes:
            self._ip.link("set", index=uplink["index"], **changes)
        if master and master != bridge:
            self._collect(master)

    def _fdb_peers(self, index: int) -> frozenset[str]:
        return frozenset(
            entry.get("NDA_DST")
            for entry in self._ip.fdb("dump", ifindex=index)
            if entry.get("ifindex") == index
            and entry.get("NDA_LLADDR") == ZERO_MAC
            and entry.get("NDA_DST")
        )

    def _sync_peers(self, index: int, want: frozenset[str]) -> None:
        have = self._fdb_peers(index)
        for ip in sorted(want - have):
            self._ip.fdb("append", ifindex=index, lladdr=ZERO_MAC, dst=ip)
        for ip in sorted(have - want):
            self._ip.fdb("del", ifindex=index, lladdr=ZERO_MAC, dst=ip)
        if want != have:
            logger.info(
                "tunnel peers of link %d: +%s -%s", index, sorted(want - have), sorted(have - want)
            )

    def _detach(self, tap: Any) -> None:
        master = tap.get("IFLA_MASTER") or 0
        if not master:
            return
        self._ip.link("set", index=tap["index"], master=0)
        logger.info("unwired %s", tap.get("IFLA_IFNAME"))
        self._collect(master)

    def _collect_orphans(self) -> None:
        """Collects the ``brq`` bridges with an uplink (the agent's doing) and no tap: a bridge
        without an uplink may be one a VIF driver has just made for a tap it is plugging."""
        links = self._ip.get_links()
        masters = {link["index"]: link for link in links}
        with_uplink = {
            master
            for link in links
            if (master := link.get("IFLA_MASTER") or 0)
            and not (link.get("IFLA_IFNAME") or "").startswith(TAP_PREFIX)
            and (masters.get(master, {}).get("IFLA_IFNAME") or "").startswith(BRIDGE_PREFIX)
        }
        for bridge in sorted(with_uplink):
            self._collect(bridge)

    def _collect(self, bridge: int) -> None:
        """Removes a ``brq`` bridge with no tap left, its VLAN or VXLAN device with it; a mapped
        interface is released, not removed."""
        links = self._ip.get_links()
        name = next((link.get("IFLA_IFNAME") for link in links if link["index"] == bridge), "")
        if not (name or "").startswith(BRIDGE_PREFIX):
            return
        slaves = [link for link in links if (link.get("IFLA_MASTER") or 0) == bridge]
        if any((s.get("IFLA_IFNAME") or "").startswith(TAP_PREFIX) for s in slaves):
            return
        for slave in slaves:
            if _kind(slave) in ("vxlan", "vlan"):
                self._ip.link("del", index=slave["index"])
            else:
                self._ip.link("set", index=slave["index"], master=0)
        self._ip.link("del", index=bridge)
        logger.info("removed bridge %s: its last port left", name)


def _link_event_socket(name: str) -> socket.socket:
    """Returns a non-blocking netlink socket in namespace ``name`` (empty: this one) that
    receives link events. Read directly, not through pyroute2's socket, whose own reader would
    take datagrams off the socket behind ``select``'s back."""
    family, kind, proto = socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE
    sock = (
        netns.create_socket(name, family, kind, proto, flags=0)
        if name
        else socket.socket(family, kind, proto)
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((0, RTMGRP_LINK))
    sock.setblocking(False)
    return sock


def _is_up(link: Any) -> bool:
    return bool(link["flags"] & 1)


def _kind(link: Any) -> str:
    info = link.get("IFLA_LINKINFO")
    return str(info.get("IFLA_INFO_KIND") or "") if info is not None else ""
