"""The host's links, through pyroute2: veth pairs, Linux bridges, instance namespaces.

``Links`` works in one network namespace: the host's (``host_netns``; empty means this
process's own). An instance is a network namespace of its own holding the far end of the
port's veth pair, as a virtual machine's NIC would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute, NetlinkError, NetNS, netns


class LinkError(RuntimeError):
    """A link operation failed; the message names the device and the kernel's answer."""


@dataclass(frozen=True)
class LinkInfo:
    """What a test or the output needs to know about one link."""

    name: str
    kind: str
    mac_address: str
    mtu: int
    up: bool
    master: str
    """The bridge it is enslaved to, or empty."""
    alias: str = ""


def netns_exists(name: str) -> bool:
    """Whether the named network namespace exists."""
    return name in netns.listnetns()


def ensure_netns(name: str) -> bool:
    """Creates the named network namespace unless it exists; returns whether it was created."""
    if netns_exists(name):
        return False
    try:
        netns.create(name)
    except (OSError, NetlinkError) as err:
        raise LinkError(f"cannot create network namespace {name}: {err}") from None
    return True


class Links:
    """Links of one network namespace (``netns`` empty: this process's)."""

    def __init__(self, netns_name: str = "") -> None:
        self.netns = netns_name
        try:
            self._ip: Any = NetNS(netns_name) if netns_name else IPRoute()
        except (OSError, NetlinkError) as err:
            where = f"network namespace {netns_name}" if netns_name else "this namespace"
            raise LinkError(f"cannot open the links of {where}: {err}") from None

    def close(self) -> None:
        """Closes the netlink socket."""
        self._ip.close()

    def __enter__(self) -> Links:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def index(self, name: str) -> int | None:
        """The interface index of ``name``, or None when there is no such link."""
        found = self._ip.link_lookup(ifname=name)
        return int(found[0]) if found else None

    def exists(self, name: str) -> bool:
        """Whether a link named ``name`` exists."""
        return self.index(name) is not None

    def info(self, name: str) -> LinkInfo | None:
        """The link's kind, MAC, MTU, state and master; None when it does not exist."""
        idx = self.index(name)
        if idx is None:
            return None
        link = self._ip.get_links(idx)[0]
        linkinfo = link.get_attr("IFLA_LINKINFO")
        kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else ""
        master_idx = link.get_attr("IFLA_MASTER")
        master = ""
        if master_idx:
            master = self._ip.get_links(master_idx)[0].get_attr("IFLA_IFNAME")
        return LinkInfo(
            name=name,
            kind=kind or "",
            mac_address=link.get_attr("IFLA_ADDRESS") or "",
            mtu=int(link.get_attr("IFLA_MTU") or 0),
            up=bool(link["flags"] & 1),
            master=master,
            alias=link.get_attr("IFLA_IFALIAS") or "",
        )

    def names(self) -> list[str]:
        """Every link's name."""
        return [link.get_attr("IFLA_IFNAME") for link in self._ip.get_links()]

    def add_veth(self, name: str, peer: str, peer_netns: str = "") -> None:
        """Creates the veth pair ``name`` (here) and ``peer`` (in ``peer_netns``, or here)."""
        peer_spec: dict[str, Any] = {"ifname": peer}
        if peer_netns:
            peer_spec["net_ns_fd"] = peer_netns
        self._do(f"create veth pair {name}/{peer}", "add", ifname=name, kind="veth", peer=peer_spec)

    def ensure_bridge(self, name: str, mtu: int = 0) -> bool:
        """Creates the Linux bridge ``name`` unless it exists, and sets it up; returns whether
        it was created."""
        created = not self.exists(name)
        if created:
            self._do(f"create bridge {name}", "add", ifname=name, kind="bridge")
        self.set(name, up=True, mtu=mtu)
        return created

    def set(
        self,
        name: str,
        *,
        up: bool | None = None,
        mtu: int = 0,
        mac_address: str = "",
        master: str = "",
        alias: str = "",
    ) -> None:
        """Sets what is given of the link's MTU, MAC, bridge, alias and state (state last)."""
        idx = self._require(name)
        changes: dict[str, Any] = {}
        if alias:
            changes["ifalias"] = alias
        if mtu:
            changes["mtu"] = mtu
        if mac_address:
            changes["address"] = mac_address
        if master:
            changes["master"] = self._require(master)
        if changes:
            self._do(f"set {', '.join(changes)} of {name}", "set", index=idx, **changes)
        if up is not None:
            self._do(f"set {name} up", "set", index=idx, state="up" if up else "down")

    def delete(self, name: str) -> bool:
        """Deletes the link if it exists (a veth's peer goes with it); returns whether it did."""
        idx = self.index(name)
        if idx is None:
            return False
        try:
            self._ip.link("del", index=idx)
        except NetlinkError as err:
            if err.code == 19:  # ENODEV: removed meanwhile, e.g. with its veth peer
                return False
            raise LinkError(f"cannot delete {name}: {err}") from None
        return True

    def enslaved(self, bridge: str) -> list[str]:
        """The names of the links enslaved to ``bridge``."""
        idx = self.index(bridge)
        if idx is None:
            return []
        return [
            link.get_attr("IFLA_IFNAME")
            for link in self._ip.get_links()
            if link.get_attr("IFLA_MASTER") == idx
        ]

    def _require(self, name: str) -> int:
        idx = self.index(name)
        if idx is None:
            raise LinkError(f"no link named {name} in {self.netns or 'this namespace'}")
        return idx

    def _do(self, what: str, command: str, **kwargs: Any) -> None:
        try:
            self._ip.link(command, **kwargs)
        except (NetlinkError, OSError) as err:
            raise LinkError(f"cannot {what}: {err}") from None
