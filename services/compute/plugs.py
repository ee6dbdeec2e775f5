"""The plug backends: one small class per vif type behind one interface, as os-vif's plugins.

- ``ovs``: a veth pair; the host end ``tap<port>`` is a port of the integration bridge (the
  vif_details' ``bridge_name``, else the configured one) whose Interface carries the port id,
  MAC and instance; the other end is the instance's NIC. With ``ovs_hybrid_plug`` the tap is on
  a per-port Linux bridge ``qbr<port>`` instead, joined to Open vSwitch by the veth pair
  ``qvb<port>``/``qvo<port>`` (Nova's names), where iptables could filter it.
- ``bridge``: the tap is enslaved to the network's Linux bridge (``bridge_name``, else
  ``brq<network>``), created if missing.
- ``vhostuser``: an Open vSwitch port of type ``dpdkvhostuserclient`` on the vif_details'
  socket (``dpdkvhostuser`` when Open vSwitch is the socket's server); the instance connects
  to the socket, so no device is made in it.

Anything else is refused with the vif type and what plugging it would need. Every backend's
``plug`` replaces what an earlier plug of the port left, and ``unplug`` removes only what
exists, so both are safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from ml2_contract import vocabulary

from services.compute import config, links, ovsdb, vif

OVS_CLIENT_PORT = "dpdkvhostuserclient"
OVS_SERVER_PORT = "dpdkvhostuser"

_NEEDS: dict[str, str] = {
    vocabulary.VIF_TYPE_HW_VEB: (
        "an SR-IOV virtual function (binding profile pci_slot) handed to the instance by a "
        "hypervisor; this host plugs software devices only"
    ),
    vocabulary.VIF_TYPE_HOSTDEV_PHYSICAL: (
        "a whole PCI network device passed through to the instance by a hypervisor; this host "
        "plugs software devices only"
    ),
    vocabulary.VIF_TYPE_MACVTAP: (
        "a macvtap device on an SR-IOV virtual function's parent interface; this host plugs "
        "software devices only"
    ),
    vocabulary.VIF_TYPE_OTHER: "nothing: the mechanism driver plugs it itself, not the host",
}


class PlugError(RuntimeError):
    """Plugging or unplugging failed; the message says what and why, for people."""


class Unsupported(PlugError):
    """No backend plugs the vif type on this host."""


@dataclass(frozen=True)
class Instance:
    """The instance the port is plugged into: a network namespace holding the port's NIC."""

    instance_id: str
    netns: str
    device: str = "eth0"
    """The NIC's name inside the instance."""


class Host:
    """What the backends use of this host: its links and, opened on first use, Open vSwitch."""

    def __init__(self, cfg: config.ComputeConfig, *, ovsdb_remote: str = "") -> None:
        self.config = cfg
        self.ovsdb_remote = ovsdb_remote or cfg.ovsdb
        self.links = links.Links(cfg.host_netns)
        self._ovsdb: ovsdb.Ovsdb | None = None

    def ovsdb(self) -> ovsdb.Ovsdb:
        """The connection to Open vSwitch's database. Raises PlugError when it is unreachable."""
        if self._ovsdb is None:
            try:
                self._ovsdb = ovsdb.Ovsdb(self.ovsdb_remote)
            except ovsdb.OvsdbError as err:
                raise PlugError(str(err)) from None
        return self._ovsdb

    def close(self) -> None:
        """Closes the netlink socket and the database connection."""
        self.links.close()
        if self._ovsdb is not None:
            self._ovsdb.close()
            self._ovsdb = None


class Backend(Protocol):
    """Plugs and unplugs the VIFs of some vif types."""

    vif_types: ClassVar[tuple[str, ...]]
    needs_instance_device: ClassVar[bool]
    """Whether plugging puts a NIC into the instance's namespace."""

    def plug(self, v: vif.Vif, instance: Instance) -> list[str]:
        """Creates the port's devices; returns what it did, one sentence each. Raises
        PlugError."""
        ...

    def unplug(self, port_id: str) -> list[str]:
        """Removes the port's devices that exist; returns what it removed."""
        ...


def _external_ids(v: vif.Vif, instance: Instance) -> dict[str, str]:
    """The Interface's external_ids an Open vSwitch agent finds the port by."""
    return {
        "iface-id": v.port_id,
        "attached-mac": v.mac_address,
        "vm-uuid": instance.instance_id,
        "iface-status": "active",
    }


def _host_netns(host: Host) -> str:
    return host.config.host_netns or "this namespace"


def _veth_to_instance(host: Host, name: str, v: vif.Vif, instance: Instance) -> list[str]:
    """Creates the veth pair ``name`` (host) / the instance's NIC, with the port's MAC and MTU
    on the NIC, the MTU and the port id as alias on the host end; both up."""
    done = []
    if host.links.delete(name):
        done.append(f"removed the earlier {name}")
    with links.Links(instance.netns) as inside:
        if inside.exists(instance.device):
            raise PlugError(
                f"the instance's namespace {instance.netns} has a {instance.device} already; "
                "choose another --device"
            )
        host.links.add_veth(name, instance.device, instance.netns)
        inside.set(instance.device, mac_address=v.mac_address, mtu=v.mtu, up=True)
    # The alias carries the whole port id, which the 14-character name cannot: a Linux bridge
    # agent finds the port of a tap by it.
    host.links.set(name, mtu=v.mtu, alias=v.port_id, up=True)
    mtu = f", mtu {v.mtu}" if v.mtu else ""
    done.append(
        f"created veth {name} ({_host_netns(host)}) <-> {instance.device} in netns "
        f"{instance.netns} (mac {v.mac_address}{mtu})"
    )
    return done


def _ovs_bridge(host: Host, v: vif.Vif) -> tuple[str, list[str]]:
    bridge = str(
        v.vif_details.get(vocabulary.VIF_DETAILS_BRIDGE_NAME) or host.config.integration_bridge
    )
    datapath = str(v.vif_details.get(vocabulary.OVS_DATAPATH_TYPE) or "")
    created = host.ovsdb().ensure_bridge(bridge, datapath)
    return bridge, [f"created Open vSwitch bridge {bridge}"] if created else []


def _ovs_unplug(host: Host, port_id: str, names: tuple[str, ...]) -> list[str]:
    """Removes the Open vSwitch ports named ``names`` and any other whose iface-id is the
    port's."""
    db = host.ovsdb()
    done = []
    try:
        found = {i.name for i in db.interfaces_of_port(port_id)} | set(names)
        for name in sorted(found):
            bridge = db.delete_port(name)
            if bridge:
                done.append(f"removed port {name} from Open vSwitch bridge {bridge}")
    except ovsdb.OvsdbError as err:
        raise PlugError(str(err)) from None
    return done


def _delete_links(host: Host, names: tuple[str, ...]) -> list[str]:
    """Deletes the links that exist among ``names`` (a veth's peer goes with it)."""
    try:
        return [f"deleted {name}" for name in names if host.links.delete(name)]
    except links.LinkError as err:
        raise PlugError(str(err)) from None


class OvsBackend:
    """``ovs``: a tap on the integration bridge, or through a per-port Linux bridge (hybrid)."""

    vif_types: ClassVar[tuple[str, ...]] = (vocabulary.VIF_TYPE_OVS,)
    needs_instance_device: ClassVar[bool] = True

    def __init__(self, host: Host) -> None:
        self.host = host

    def plug(self, v: vif.Vif, instance: Instance) -> list[str]:
        """Plugs the tap into Open vSwitch, or into ``qbr`` joined to it by ``qvb``/``qvo``."""
        try:
            return self._plug_hybrid(v, instance) if v.hybrid else self._plug(v, instance)
        except (ovsdb.OvsdbError, links.LinkError) as err:
            raise PlugError(str(err)) from None

    def _plug(self, v: vif.Vif, instance: Instance) -> list[str]:
        bridge, done = _ovs_bridge(self.host, v)
        tap = vif.tap_name(v.port_id)
        done += _veth_to_instance(self.host, tap, v, instance)
        self.host.ovsdb().add_port(bridge, tap, external_ids=_external_ids(v, instance))
        done.append(f"added {tap} to Open vSwitch bridge {bridge} (iface-id {v.port_id})")
        return done

    def _plug_hybrid(self, v: vif.Vif, instance: Instance) -> list[str]:
        bridge, done = _ovs_bridge(self.host, v)
        lk = self.host.links
        qbr, qvb, qvo = vif.qbr_name(v.port_id), vif.qvb_name(v.port_id), vif.qvo_name(v.port_id)
        if lk.ensure_bridge(qbr, v.mtu):
            done.append(f"created Linux bridge {qbr}")
        if lk.delete(qvb):
            done.append(f"removed the earlier {qvb}/{qvo}")
        lk.add_veth(qvb, qvo)
        lk.set(qvb, mtu=v.mtu, master=qbr, up=True)
        lk.set(qvo, mtu=v.mtu, up=True)
        done.append(f"created veth {qvb} (on {qbr}) <-> {qvo}")
        tap = vif.tap_name(v.port_id)
        done += _veth_to_instance(self.host, tap, v, instance)
        lk.set(tap, master=qbr)
        done.append(f"enslaved {tap} to {qbr}")
        self.host.ovsdb().add_port(bridge, qvo, external_ids=_external_ids(v, instance))
        done.append(f"added {qvo} to Open vSwitch bridge {bridge} (iface-id {v.port_id})")
        return done

    def unplug(self, port_id: str) -> list[str]:
        """Removes the port's Open vSwitch ports, the tap, the qvb/qvo pair and qbr."""
        tap, qvo = vif.tap_name(port_id), vif.qvo_name(port_id)
        done = _ovs_unplug(self.host, port_id, (tap, qvo))
        return done + _delete_links(self.host, (tap, vif.qvb_name(port_id), vif.qbr_name(port_id)))


class BridgeBackend:
    """``bridge``: the tap on the network's Linux bridge, which is created if missing."""

    vif_types: ClassVar[tuple[str, ...]] = (vocabulary.VIF_TYPE_BRIDGE,)
    needs_instance_device: ClassVar[bool] = True

    def __init__(self, host: Host) -> None:
        self.host = host

    def plug(self, v: vif.Vif, instance: Instance) -> list[str]:
        """Creates the tap, then enslaves it to ``bridge_name`` (or ``brq<network>``)."""
        bridge = v.linux_bridge
        tap = vif.tap_name(v.port_id)
        try:
            done = []
            if self.host.links.ensure_bridge(bridge):
                done.append(f"created Linux bridge {bridge}")
            done += _veth_to_instance(self.host, tap, v, instance)
            self.host.links.set(tap, master=bridge)
        except links.LinkError as err:
            raise PlugError(str(err)) from None
        done.append(f"enslaved {tap} to Linux bridge {bridge}")
        return done

    def unplug(self, port_id: str) -> list[str]:
        """Deletes the tap; the network's bridge stays (the network's other ports and the
        agent's uplink share it)."""
        return _delete_links(self.host, (vif.tap_name(port_id),))


class VhostUserBackend:
    """``vhostuser``: an Open vSwitch vhost-user port on the vif_details' socket."""

    vif_types: ClassVar[tuple[str, ...]] = (vocabulary.VIF_TYPE_VHOST_USER,)
    needs_instance_device: ClassVar[bool] = False

    def __init__(self, host: Host) -> None:
        self.host = host

    def plug(self, v: vif.Vif, instance: Instance) -> list[str]:
        """Adds ``vhu<port>``: the client of the instance's socket (vhostuser_mode server), or
        the socket's server (mode client)."""
        d = v.vif_details
        socket = str(d.get(vocabulary.VHOST_USER_SOCKET) or "")
        if not socket:
            raise PlugError(
                f"vif_type vhostuser: vif_details has no {vocabulary.VHOST_USER_SOCKET}"
            )
        if vocabulary.VHOST_USER_OVS_PLUG in d and not vif.is_true(
            d[vocabulary.VHOST_USER_OVS_PLUG]
        ):
            raise Unsupported(
                f"vif_type vhostuser with {vocabulary.VHOST_USER_OVS_PLUG} false: the socket "
                "belongs to a switch other than Open vSwitch, which this host does not plug"
            )
        mode = str(d.get(vocabulary.VHOST_USER_MODE) or "server")
        if mode not in ("server", "client"):
            raise PlugError(f"vif_type vhostuser: vhostuser_mode {mode!r} is not server or client")
        name = vif.vhu_name(v.port_id)
        try:
            bridge, done = _ovs_bridge(self.host, v)
            if mode == "server":
                iface_type, options = OVS_CLIENT_PORT, {"vhost-server-path": socket}
            else:
                iface_type, options = OVS_SERVER_PORT, {}
            self.host.ovsdb().add_port(
                bridge,
                name,
                external_ids=_external_ids(v, instance),
                iface_type=iface_type,
                options=options,
                mtu=v.mtu,
            )
        except ovsdb.OvsdbError as err:
            raise PlugError(str(err)) from None
        done.append(
            f"added {name} (type {iface_type}, socket {socket}) to Open vSwitch bridge {bridge} "
            f"(iface-id {v.port_id})"
        )
        return done

    def unplug(self, port_id: str) -> list[str]:
        """Removes the vhost-user port."""
        return _ovs_unplug(self.host, port_id, (vif.vhu_name(port_id),))


BACKENDS: tuple[type[OvsBackend] | type[BridgeBackend] | type[VhostUserBackend], ...] = (
    OvsBackend,
    BridgeBackend,
    VhostUserBackend,
)


def refusal(vif_type: str) -> str:
    """Why this host cannot plug ``vif_type``, naming it and what plugging it would need."""
    plugged = ", ".join(t for b in BACKENDS for t in b.vif_types)
    needs = _NEEDS.get(vif_type, f"a plug backend for it; this host plugs {plugged}")
    return f"cannot plug vif_type {vif_type!r} on this host: it needs {needs}"


def backend_for(vif_type: str, host: Host) -> Backend:
    """The backend that plugs ``vif_type``. Raises Unsupported with ``refusal``'s sentence."""
    for backend in BACKENDS:
        if vif_type in backend.vif_types:
            return backend(host)
    raise Unsupported(refusal(vif_type))
