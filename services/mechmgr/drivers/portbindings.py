"""Known values of the open, driver-defined strings of a binding (Neutron's ``portbindings``).

``vif_type`` and ``network_type`` are strings in the contract because drivers define them; these
are the values the shipped drivers and the compute side know. ``vnic_type`` is a closed enum in the
contract; inside the drivers it is the Neutron spelling below (``normal``, ``direct``, ...).
"""

from __future__ import annotations

# vif types (how the compute node plugs the port).
VIF_TYPE_UNBOUND = "unbound"
VIF_TYPE_BINDING_FAILED = "binding_failed"
VIF_TYPE_OVS = "ovs"
VIF_TYPE_VHOST_USER = "vhostuser"
VIF_TYPE_BRIDGE = "bridge"
VIF_TYPE_OTHER = "other"
# Not a vif type a driver may choose: the manager sets them.
RESERVED_VIF_TYPES = frozenset({VIF_TYPE_UNBOUND, VIF_TYPE_BINDING_FAILED})

# vnic types (how the interface is presented to the instance), in the contract's enum order.
VNIC_NORMAL = "normal"
VNIC_DIRECT = "direct"
VNIC_MACVTAP = "macvtap"
VNIC_BAREMETAL = "baremetal"
VNIC_DIRECT_PHYSICAL = "direct-physical"
VNIC_VIRTIO_FORWARDER = "virtio-forwarder"
VNIC_SMARTNIC = "smart-nic"
VNIC_VHOST_VDPA = "vdpa"
VNIC_ACCELERATOR_DIRECT = "accelerator-direct"
VNIC_ACCELERATOR_DIRECT_PHYSICAL = "accelerator-direct-physical"
VNIC_REMOTE_MANAGED = "remote-managed"
VNIC_TYPES = (
    VNIC_NORMAL,
    VNIC_DIRECT,
    VNIC_MACVTAP,
    VNIC_BAREMETAL,
    VNIC_DIRECT_PHYSICAL,
    VNIC_VIRTIO_FORWARDER,
    VNIC_SMARTNIC,
    VNIC_VHOST_VDPA,
    VNIC_ACCELERATOR_DIRECT,
    VNIC_ACCELERATOR_DIRECT_PHYSICAL,
    VNIC_REMOTE_MANAGED,
)

# network types.
TYPE_LOCAL = "local"
TYPE_FLAT = "flat"
TYPE_VLAN = "vlan"
TYPE_GRE = "gre"
TYPE_VXLAN = "vxlan"
TYPE_GENEVE = "geneve"
PHYSICAL_TYPES = frozenset({TYPE_FLAT, TYPE_VLAN})
TUNNEL_TYPES = frozenset({TYPE_GRE, TYPE_VXLAN, TYPE_GENEVE})
# What an agent-based driver binds without tunnelling (Neutron's local + flat + vlan).
NON_TUNNEL_TYPES = frozenset({TYPE_LOCAL, TYPE_FLAT, TYPE_VLAN})

# vif_details keys.
CAP_PORT_FILTER = "port_filter"
OVS_HYBRID_PLUG = "ovs_hybrid_plug"
OVS_DATAPATH_TYPE = "datapath_type"
VIF_DETAILS_BRIDGE_NAME = "bridge_name"
VIF_DETAILS_CONNECTIVITY = "connectivity"
VHOST_USER_SOCKET = "vhostuser_socket"
VHOST_USER_MODE = "vhostuser_mode"
VHOST_USER_OVS_PLUG = "vhostuser_ovs_plug"

# connectivity a driver provides.
CONNECTIVITY_L2 = "l2"
CONNECTIVITY_L3 = "l3"
CONNECTIVITY_LEGACY = "legacy"

# Open vSwitch datapath types.
DATAPATH_SYSTEM = "system"
DATAPATH_NETDEV = "netdev"

# Linux interface names are at most 15 bytes; Nova and Neutron cut device names to 14 characters.
DEVICE_NAME_LENGTH = 14
