"""The Open vSwitch dataplane: ports on the integration bridge, local VLANs, provider bridges,
tunnels (Neutron's Open vSwitch agent model; ``services.agent.ovs`` tells the why).

State lives where it survives the agent: a wired port's Port row carries its local tag and, in
``other_config``, its network and segment (``net_uuid``, ``network_type``,
``physical_network``, ``segmentation_id``, as Neutron's agent records them), and a tunnel port's
``external_ids`` name the segments whose peer it is. ``setup`` reads them back, so a restarted
agent keeps every local tag and tunnel, and rewiring the same port changes nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml2_contract import values, vocabulary

from services.agent.dataplane import Attachment, Device, TunnelPeer, WiringError
from services.agent.ovs import flows
from services.agent.ovs.ovsdb import Ovsdb

logger = logging.getLogger(__name__)

IFACE_ID = "iface-id"
ATTACHED_MAC = "attached-mac"
NET_UUID = "net_uuid"
NETWORK_TYPE = "network_type"
PHYSICAL_NETWORK = "physical_network"
SEGMENTATION_ID = "segmentation_id"
TUNNEL_SEGMENTS = "ml2-tunnel-segments"
"""Tunnel port external_ids key: the segments (``vxlan/1001 gre/7``) whose peer it is."""
_WIRING_KEYS = (NET_UUID, NETWORK_TYPE, PHYSICAL_NETWORK, SEGMENTATION_ID)
OFPORT_TIMEOUT = 10.0
"""How long ovs-vswitchd may take to give a new patch or tunnel port its OpenFlow port."""
PROTOCOLS = ["OpenFlow10", "OpenFlow13", "OpenFlow14"]
CANARY_SECONDS = 5.0
"""How often ``wait_for_change`` checks that ovs-vswitchd still has the agent's flows."""


@dataclass(frozen=True)
class OvsConfig:
    """Where the host's Open vSwitch is and how the agent maps networks onto it."""

    ovsdb: str
    """The OVSDB server's unix socket path (or an ``unix:``/``tcp:`` connection string)."""
    rundir: str = ""
    """ovs-vswitchd's run directory (bridges' ``.mgmt`` sockets); default: the OVSDB socket's
    directory, where Open vSwitch puts both."""
    integration_bridge: str = "br-int"
    tunnel_bridge: str = "br-tun"
    bridge_mappings: Mapping[str, str] = field(default_factory=dict)
    tunnel_types: tuple[str, ...] = ()
    local_ip: str = ""
    datapath_type: str = vocabulary.DATAPATH_SYSTEM
    netns: str = ""
    """The host's network namespace, when the agent runs outside it (netlink checks)."""
    iface_types: tuple[str, ...] = ()
    """Reported as given; empty: what ovs-vswitchd says it supports."""
    network_types: tuple[str, ...] = ()
    """Offer only these of the types the host realises; empty: all of them."""
    vhostuser_socket_dir: str = ""

    @property
    def endpoint(self) -> str:
        """The OVSDB connection string."""
        if self.ovsdb.startswith(("unix:", "tcp:", "ssl:")):
            return self.ovsdb
        return f"unix:{self.ovsdb}"

    @property
    def mgmt_dir(self) -> Path:
        """Where the bridges' OpenFlow management sockets are."""
        if self.rundir:
            return Path(self.rundir)
        if not self.endpoint.startswith("unix:"):
            raise WiringError("--ovs-rundir: required when OVSDB is not a unix socket")
        return Path(self.endpoint.removeprefix("unix:")).parent


def _segment_key(network_type: str, segmentation_id: int) -> str:
    return f"{network_type}/{segmentation_id}"


def patch_names(bridge: str) -> tuple[str, str]:
    """The integration bridge's and ``bridge``'s ends of their patch pair (``int-br-eth1``,
    ``phy-br-eth1``), within 15 characters."""
    names = (f"int-{bridge}", f"phy-{bridge}")
    if len(names[0]) <= 15:
        return names
    digest = hashlib.sha1(bridge.encode()).hexdigest()[:6]
    return f"int-{bridge[:4]}{digest}", f"phy-{bridge[:4]}{digest}"


def tunnel_port_name(network_type: str, remote_ip: str) -> str:
    """``vxlan-0afa0002``: the tunnel type and the remote IPv4 address in hex (a hash of an
    IPv6 one)."""
    ip = ipaddress.ip_address(remote_ip)
    tag = f"{int(ip):08x}" if ip.version == 4 else hashlib.sha1(ip.packed).hexdigest()[:8]
    return f"{network_type}-{tag}"


class OvsDataplane:
    """services.agent.dataplane.Dataplane on an Open vSwitch host."""

    agent_type = vocabulary.AGENT_TYPE_OVS

    def __init__(self, config: OvsConfig) -> None:
        self.config = config
        self._ovsdb: Ovsdb | None = None
        self._lock = threading.RLock()
        self._networks: dict[str, flows.LocalNetwork] = {}
        self._peers: dict[str, frozenset[str]] = {}
        """Segment key -> the peers' IPs the runtime asked for."""
        self._applied: dict[str, str] = {}
        """Bridge -> the flows last handed to ovs-ofctl."""
        self._canary_due = 0.0
        self._ports_read: tuple[int, dict[str, _OvsPort]] | None = None
        """The IDL's change number and the integration bridge's ports read at it."""

    # ----------------------------------------------------------------------- description

    def capabilities(self) -> values.HostCapabilities:
        """The mappings, tunnel types and network types this host serves."""
        types = [vocabulary.TYPE_LOCAL]
        if self.config.bridge_mappings:
            types += [vocabulary.TYPE_FLAT, vocabulary.TYPE_VLAN]
        types += [t for t in vocabulary.NETWORK_TYPES if t in self.config.tunnel_types]
        if self.config.network_types:
            types = [t for t in types if t in self.config.network_types]
        return values.HostCapabilities(
            bridge_mappings=dict(self.config.bridge_mappings),
            tunnel_types=tuple(self.config.tunnel_types),
            local_ip=self.config.local_ip,
            integration_bridge=self.config.integration_bridge,
            datapath_type=self.config.datapath_type,
            iface_types=self.config.iface_types or self._switch_iface_types(),
            port_filter=False,
            vhostuser_socket_dir=self.config.vhostuser_socket_dir,
            network_types=tuple(types),
        )

    def _switch_iface_types(self) -> tuple[str, ...]:
        """The interface types ovs-vswitchd says it supports (``Open_vSwitch.iface_types``),
        as Neutron's agent reports them; empty before setup."""
        if self._ovsdb is None:
            return ()
        rows = self.api.db_list("Open_vSwitch", columns=["iface_types"]).execute(check_error=True)
        return tuple(sorted(rows[0]["iface_types"])) if rows else ()

    # ----------------------------------------------------------------------------- setup

    @property
    def api(self) -> Any:
        if self._ovsdb is None:
            raise WiringError("the dataplane is not set up (call setup first)")
        return self._ovsdb.api

    def setup(self) -> None:
        """Connects to OVSDB, creates the integration (and tunnel) bridge and the patch ports
        to each mapped physical bridge, reads back what a previous run wired, and installs
        every bridge's flows. Raises WiringError naming what is missing."""
        cfg = self.config
        with self._lock:
            if self._ovsdb is None:
                try:
                    self._ovsdb = Ovsdb(cfg.endpoint)
                except Exception as err:
                    raise WiringError(f"cannot reach OVSDB at {cfg.endpoint}: {err}") from err
            self._check_local_ip()
            bridges = set(self.api.list_br().execute(check_error=True))
            missing = sorted(b for b in cfg.bridge_mappings.values() if b not in bridges)
            if missing:
                raise WiringError(
                    f"bridge {', '.join(missing)} of --bridge-mappings does not exist; "
                    "create it with its uplink (ovs-vsctl add-br)"
                )
            with self.api.transaction(check_error=True) as txn:
                own = [cfg.integration_bridge]
                if cfg.tunnel_types:
                    own.append(cfg.tunnel_bridge)
                for bridge in own:
                    txn.add(self.api.add_br(bridge, datapath_type=cfg.datapath_type))
                    txn.add(self.api.set_fail_mode(bridge, "secure"))
                for bridge in [*own, *cfg.bridge_mappings.values()]:
                    txn.add(self.api.db_set("Bridge", bridge, ("protocols", PROTOCOLS)))
                for bridge in cfg.bridge_mappings.values():
                    int_end, phy_end = patch_names(bridge)
                    txn.add(self._patch(cfg.integration_bridge, int_end, phy_end))
                    txn.add(self._patch(bridge, phy_end, int_end))
                if cfg.tunnel_types:
                    txn.add(self._patch(cfg.integration_bridge, "patch-tun", "patch-int"))
                    txn.add(self._patch(cfg.tunnel_bridge, "patch-int", "patch-tun"))
            self._recover()
            self._applied.clear()
            self._sync()
        logger.info(
            "Open vSwitch dataplane ready: %s, %d networks, %d ports wired",
            cfg.integration_bridge,
            len(self._networks),
            sum(1 for p in self._ports().values() if p.wired),
        )

    def _patch(self, bridge: str, name: str, peer: str) -> Any:
        return self.api.add_port(bridge, name, type="patch", options={"peer": peer})

    def _check_local_ip(self) -> None:
        if not self.config.local_ip or not self.config.tunnel_types:
            return
        from pyroute2 import IPRoute

        kwargs = {"netns": self.config.netns} if self.config.netns else {}
        try:
            with IPRoute(**kwargs) as ipr:
                found = ipr.addr("dump", address=self.config.local_ip)
        except OSError as err:
            raise WiringError(f"--netns {self.config.netns}: {err}") from err
        if not found:
            where = f"namespace {self.config.netns}" if self.config.netns else "this host"
            raise WiringError(
                f"--local-ip {self.config.local_ip} is not an address of {where}; tunnels "
                "need it as their source"
            )

    def _recover(self) -> None:
        """Rebuilds the local VLANs and tunnel peers from OVSDB (a previous run's wiring)."""
        self._networks.clear()
        for port in self._ports().values():
            if port.network is not None:
                self._networks.setdefault(port.network.network_id, port.network)
        for row in self._tunnel_rows():
            ip = row["options"].get("remote_ip", "")
            for key in row["external_ids"].get(TUNNEL_SEGMENTS, "").split():
                self._peers[key] = self._peers.get(key, frozenset()) | {ip}

    # ----------------------------------------------------------------------------- ports

    def devices(self) -> dict[str, Device]:
        """The integration bridge's interfaces that carry an ``iface-id`` and an OpenFlow
        port (their device exists), by port id."""
        return {
            p.port_id: Device(p.port_id, p.name, p.mac)
            for p in self._ports().values()
            if p.ofport > 0
        }

    def _ports(self) -> dict[str, _OvsPort]:
        """The integration bridge's ports with an ``iface-id``, by port id. Reading them costs
        a conversion of every Interface and Port row, so the result is kept until the IDL
        changes (a reconciliation asks several times: devices, wire, the flows)."""
        assert self._ovsdb is not None
        seqno = self._ovsdb.change_seqno
        if self._ports_read is not None and self._ports_read[0] == seqno:
            return dict(self._ports_read[1])
        result = self._read_ports()
        self._ports_read = (seqno, result)
        return dict(result)

    def _read_ports(self) -> dict[str, _OvsPort]:
        bridge = self.config.integration_bridge
        names = set(self.api.list_ports(bridge).execute(check_error=True))
        ifaces = self.api.db_list("Interface", columns=["name", "external_ids", "ofport"]).execute(
            check_error=True
        )
        ports = self.api.db_list("Port", columns=["name", "tag", "other_config"]).execute(
            check_error=True
        )
        port_rows = {p["name"]: p for p in ports}
        result: dict[str, _OvsPort] = {}
        for iface in ifaces:
            name = iface["name"]
            port_id = iface["external_ids"].get(IFACE_ID, "")
            if not port_id or name not in names or name not in port_rows:
                continue
            ofport = iface["ofport"]
            ofport = ofport[0] if isinstance(ofport, list) and ofport else ofport
            row = port_rows[name]
            tag = row["tag"][0] if isinstance(row["tag"], list) and row["tag"] else row["tag"]
            result[port_id] = _OvsPort(
                port_id=port_id,
                name=name,
                mac=iface["external_ids"].get(ATTACHED_MAC, ""),
                ofport=int(ofport) if isinstance(ofport, int) else -1,
                tag=int(tag) if isinstance(tag, int) else None,
                network=_network_of(row["other_config"], tag),
            )
        return result

    def wire(self, attachment: Attachment) -> None:
        """Gives the port's device its network's local tag (allocating one for a new
        network), records the network on the Port row and updates the flows. Idempotent."""
        with self._lock:
            port = self._ports().get(attachment.port_id)
            if port is None or port.ofport <= 0:
                raise WiringError(
                    f"no device of port {attachment.port_id} on {self.config.integration_bridge}"
                )
            if not attachment.admin_up:
                self._isolate(port)
                return
            net = self._network_for(attachment)
            if port.tag != net.vlan or port.network != net:
                other = {
                    NET_UUID: net.network_id,
                    NETWORK_TYPE: net.network_type,
                    PHYSICAL_NETWORK: net.physical_network,
                    SEGMENTATION_ID: str(net.segmentation_id),
                }
                self.api.db_set(
                    "Port", port.name, ("tag", net.vlan), ("other_config", other)
                ).execute(check_error=True)
            self._networks[net.network_id] = net
            self._sync()

    def _network_for(self, attachment: Attachment) -> flows.LocalNetwork:
        seg = attachment.segment
        cfg = self.config
        if seg.network_type in (vocabulary.TYPE_FLAT, vocabulary.TYPE_VLAN):
            if seg.physical_network not in cfg.bridge_mappings:
                raise WiringError(
                    f"physical network {seg.physical_network!r} is not in this host's "
                    f"bridge mappings ({', '.join(cfg.bridge_mappings) or 'none'})"
                )
        elif seg.network_type in vocabulary.TUNNEL_TYPES:
            if seg.network_type not in cfg.tunnel_types:
                raise WiringError(
                    f"{seg.network_type} is not a tunnel type of this host "
                    f"({', '.join(cfg.tunnel_types) or 'none'})"
                )
        elif seg.network_type != vocabulary.TYPE_LOCAL:
            raise WiringError(f"network type {seg.network_type!r} is not supported")
        existing = self._networks.get(attachment.network_id)
        wanted = (seg.network_type, seg.physical_network, seg.segmentation_id)
        if existing is not None:
            have = (existing.network_type, existing.physical_network, existing.segmentation_id)
            if have == wanted:
                return existing
            users = [
                p.port_id
                for p in self._ports().values()
                if p.wired
                and p.network is not None
                and p.network.network_id == attachment.network_id
                and p.port_id != attachment.port_id
            ]
            if users:
                raise WiringError(
                    f"network {attachment.network_id} is wired here as {existing.network_type} "
                    f"{existing.segmentation_id} for ports {', '.join(users)}; "
                    f"cannot also wire it as {seg.describe()}"
                )
            vlan = existing.vlan
        else:
            vlan = self._free_vlan()
        return flows.LocalNetwork(
            attachment.network_id, vlan, seg.network_type, seg.physical_network, seg.segmentation_id
        )

    def _free_vlan(self) -> int:
        used = {n.vlan for n in self._networks.values()}
        used |= {p.tag for p in self._ports().values() if p.tag is not None}
        for vlan in range(1, flows.DEAD_VLAN):
            if vlan not in used:
                return vlan
        raise WiringError("every local VLAN (1-4094) of this host is in use")

    def unwire(self, port_id: str) -> None:
        """Isolates the port's device (dead VLAN, input dropped); frees its network's local
        VLAN when it was the network's last port here. Idempotent."""
        with self._lock:
            port = self._ports().get(port_id)
            if port is not None:
                self._isolate(port)
            else:
                self._sync()

    def _isolate(self, port: _OvsPort) -> None:
        if port.tag != flows.DEAD_VLAN or port.network is not None:
            with self.api.transaction(check_error=True) as txn:
                txn.add(self.api.db_set("Port", port.name, ("tag", flows.DEAD_VLAN)))
                txn.add(self.api.db_remove("Port", port.name, "other_config", *_WIRING_KEYS))
        self._sync()

    # --------------------------------------------------------------------------- tunnels

    def set_tunnel_peers(self, segment: values.Segment, peers: frozenset[TunnelPeer]) -> None:
        """Makes ``segment`` flood to exactly ``peers``' tunnel endpoints (our own address
        left out). Takes effect while the segment's network has a port wired here."""
        if segment.network_type not in vocabulary.TUNNEL_TYPES:
            return
        key = _segment_key(segment.network_type, segment.segmentation_id)
        ips = frozenset(p.ip for p in peers if p.ip and p.ip != self.config.local_ip)
        with self._lock:
            if ips:
                self._peers[key] = ips
            else:
                self._peers.pop(key, None)
            self._sync()

    def _tunnel_rows(self) -> list[dict[str, Any]]:
        if not self.config.tunnel_types:
            return []
        names = set(self.api.list_ports(self.config.tunnel_bridge).execute(check_error=True))
        rows = self.api.db_list(
            "Interface", columns=["name", "type", "options", "external_ids", "ofport"]
        ).execute(check_error=True)
        return [
            r
            for r in rows
            if r["name"] in names
            and r["type"] in vocabulary.TUNNEL_TYPES
            and TUNNEL_SEGMENTS in r["external_ids"]
        ]

    def _sync_tunnel_ports(self, networks: list[flows.LocalNetwork]) -> list[flows.TunnelPort]:
        """Creates, updates and deletes tunnel ports so that there is one per (type, remote
        IP) some wired network needs; returns them with their OpenFlow ports."""
        wanted: dict[str, tuple[str, str, list[str]]] = {}
        for net in networks:
            if net.network_type not in vocabulary.TUNNEL_TYPES:
                continue
            key = _segment_key(net.network_type, net.segmentation_id)
            for ip in sorted(self._peers.get(key, frozenset())):
                name = tunnel_port_name(net.network_type, ip)
                wanted.setdefault(name, (net.network_type, ip, []))[2].append(key)
        existing = {r["name"]: r for r in self._tunnel_rows()}
        bridge = self.config.tunnel_bridge
        with self.api.transaction(check_error=True) as txn:
            for name in existing.keys() - wanted.keys():
                txn.add(self.api.del_port(name, bridge=bridge))
            for name, (network_type, ip, keys) in wanted.items():
                segments = " ".join(sorted(keys))
                if name not in existing:
                    options = {
                        "remote_ip": ip,
                        "local_ip": self.config.local_ip,
                        "key": "flow",
                    }
                    txn.add(
                        self.api.add_port(
                            bridge,
                            name,
                            type=network_type,
                            options=options,
                            external_ids={TUNNEL_SEGMENTS: segments},
                        )
                    )
                elif existing[name]["external_ids"].get(TUNNEL_SEGMENTS) != segments:
                    txn.add(
                        self.api.db_set(
                            "Interface", name, ("external_ids", {TUNNEL_SEGMENTS: segments})
                        )
                    )
        ofports = self._ofports(list(wanted))
        return [
            flows.TunnelPort(network_type, ip, ofports[name])
            for name, (network_type, ip, _keys) in wanted.items()
        ]

    # ----------------------------------------------------------------------------- flows

    def _ofports(self, names: list[str]) -> dict[str, int]:
        """The OpenFlow ports of interfaces ``names``, waiting (with a deadline) for
        ovs-vswitchd to assign new ones."""
        deadline = time.monotonic() + OFPORT_TIMEOUT
        while True:
            found: dict[str, int] = {}
            if names:
                rows = self.api.db_list(
                    "Interface", names, columns=["name", "ofport", "error"], if_exists=True
                ).execute(check_error=True)
                for row in rows:
                    ofport = row["ofport"]
                    ofport = ofport[0] if isinstance(ofport, list) and ofport else ofport
                    if isinstance(ofport, int) and ofport > 0:
                        found[row["name"]] = ofport
            missing = [n for n in names if n not in found]
            if not missing:
                return found
            if time.monotonic() > deadline:
                raise WiringError(
                    f"Open vSwitch gave no OpenFlow port to {', '.join(missing)} in "
                    f"{OFPORT_TIMEOUT:g}s"
                )
            time.sleep(0.01)

    def _sync(self) -> None:
        """Frees the local VLANs of networks without wired ports, reconciles tunnel ports and
        installs each bridge's flows (only where they changed)."""
        cfg = self.config
        ports = self._ports()
        in_use = {p.network.network_id for p in ports.values() if p.wired and p.network}
        for network_id in list(self._networks):
            if network_id not in in_use:
                logger.info(
                    "network %s has no port here any more: local VLAN %d freed",
                    network_id,
                    self._networks[network_id].vlan,
                )
                del self._networks[network_id]
        networks = sorted(self._networks.values(), key=lambda n: n.vlan)
        patches = {b: patch_names(b) for b in cfg.bridge_mappings.values()}
        names = [n for pair in patches.values() for n in pair]
        if cfg.tunnel_types:
            names.append("patch-int")
        ofports = self._ofports(names)
        tunnels = self._sync_tunnel_ports(networks) if cfg.tunnel_types else []
        layout = flows.Layout(
            networks=tuple(networks),
            dead_ofports=frozenset(
                p.ofport for p in ports.values() if p.ofport > 0 and not p.wired
            ),
            int_patch={
                physnet: ofports[patches[b][0]] for physnet, b in cfg.bridge_mappings.items()
            },
            phys_patch={
                physnet: ofports[patches[b][1]] for physnet, b in cfg.bridge_mappings.items()
            },
            tun_patch=ofports.get("patch-int", 0),
            tunnels=tuple(tunnels),
            peers={
                (n.network_type, n.segmentation_id): self._peers.get(
                    _segment_key(n.network_type, n.segmentation_id), frozenset()
                )
                for n in networks
            },
        )
        self._replace(cfg.integration_bridge, flows.integration_flows(layout))
        for physnet, bridge in cfg.bridge_mappings.items():
            self._replace(bridge, flows.physical_flows(layout, physnet))
        if cfg.tunnel_types:
            self._replace(cfg.tunnel_bridge, flows.tunnel_flows(layout))

    def _replace(self, bridge: str, table: list[str]) -> None:
        text = flows.render(table)
        if self._applied.get(bridge) == text:
            return
        target = f"unix:{self.config.mgmt_dir / (bridge + '.mgmt')}"
        result = subprocess.run(
            ["ovs-ofctl", "-O", "OpenFlow14", "--bundle", "replace-flows", target, "-"],
            input=text,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            self._applied.pop(bridge, None)
            raise WiringError(f"ovs-ofctl replace-flows {bridge}: {result.stderr.strip()}")
        self._applied[bridge] = text

    # ------------------------------------------------------------------------ lifecycle

    def wait_for_change(self, timeout: float) -> bool:
        """Waits for an Interface row to be created, deleted or to change its OpenFlow port
        or external_ids (an OVSDB row event), or ``timeout`` seconds."""
        if self._ovsdb is None:
            time.sleep(timeout)
            return False
        seen = self._ovsdb.changed.wait(timeout)
        self._ovsdb.changed.clear()
        if time.monotonic() >= self._canary_due:
            self._check_flows()
        return seen

    def _check_flows(self) -> None:
        """Reinstalls every bridge's flows when the integration bridge has none of ours: a
        restarted ovs-vswitchd starts with empty tables (the database keeps only ports)."""
        self._canary_due = time.monotonic() + CANARY_SECONDS
        with self._lock:
            if self._ovsdb is None or not self._applied:
                return
            target = f"unix:{self.config.mgmt_dir / (self.config.integration_bridge + '.mgmt')}"
            result = subprocess.run(
                ["ovs-ofctl", "dump-flows", target, f"cookie={flows.COOKIE}/-1"],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode == 0 and "actions=" in result.stdout:
                return
            logger.warning(
                "the flows of %s are gone (ovs-vswitchd restarted?); installing them again",
                self.config.integration_bridge,
            )
            self._applied.clear()
            try:
                self._sync()
            except WiringError as err:
                logger.error("reinstalling the flows failed: %s; again in %ss", err, CANARY_SECONDS)

    def close(self) -> None:
        """Closes the OVSDB connection; flows and ports stay."""
        with self._lock:
            if self._ovsdb is not None:
                self._ovsdb.close()
                self._ovsdb = None
                self._ports_read = None


@dataclass(frozen=True)
class _OvsPort:
    port_id: str
    name: str
    mac: str
    ofport: int
    tag: int | None
    network: flows.LocalNetwork | None

    @property
    def wired(self) -> bool:
        return self.network is not None and self.tag not in (None, flows.DEAD_VLAN)


def _network_of(other_config: Mapping[str, str], tag: object) -> flows.LocalNetwork | None:
    if NET_UUID not in other_config or not isinstance(tag, int) or tag == flows.DEAD_VLAN:
        return None
    try:
        segmentation_id = int(other_config.get(SEGMENTATION_ID, "0") or 0)
    except ValueError:
        return None
    return flows.LocalNetwork(
        network_id=other_config[NET_UUID],
        vlan=tag,
        network_type=other_config.get(NETWORK_TYPE, ""),
        physical_network=other_config.get(PHYSICAL_NETWORK, ""),
        segmentation_id=segmentation_id,
    )
