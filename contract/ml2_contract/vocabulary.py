"""The words of the contract: vnic types, vif types, outcomes, binding states, reason codes and
network types, each spelled once.

Open strings (``vif_type``, ``network_type``, reason codes) are strings on the wire because
drivers may define their own; the values here are the ones the shipped services, drivers and the
compute side know. Closed sets (vnic types, outcomes, binding states) are protobuf enums on the
wire; inside Python they are the strings below, and ``ml2_contract.convert`` maps them to and
from the enums by the enum value's name, never by its number.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# ---------------------------------------------------------------------------------- vnic types
# How the interface is presented to the instance, as Neutron spells them.
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

VNIC_ENUM_NAMES: dict[str, str] = {
    VNIC_NORMAL: "VNIC_TYPE_NORMAL",
    VNIC_DIRECT: "VNIC_TYPE_DIRECT",
    VNIC_MACVTAP: "VNIC_TYPE_MACVTAP",
    VNIC_BAREMETAL: "VNIC_TYPE_BAREMETAL",
    VNIC_DIRECT_PHYSICAL: "VNIC_TYPE_DIRECT_PHYSICAL",
    VNIC_VIRTIO_FORWARDER: "VNIC_TYPE_VIRTIO_FORWARDER",
    VNIC_SMARTNIC: "VNIC_TYPE_SMART_NIC",
    VNIC_VHOST_VDPA: "VNIC_TYPE_VDPA",
    VNIC_ACCELERATOR_DIRECT: "VNIC_TYPE_ACCELERATOR_DIRECT",
    VNIC_ACCELERATOR_DIRECT_PHYSICAL: "VNIC_TYPE_ACCELERATOR_DIRECT_PHYSICAL",
    VNIC_REMOTE_MANAGED: "VNIC_TYPE_REMOTE_MANAGED",
}
"""Each vnic type's ``ml2.v1.VnicType`` value name. ``VNIC_TYPE_UNSPECIFIED`` reads as normal."""
VNIC_TYPES: tuple[str, ...] = tuple(VNIC_ENUM_NAMES)
"""Every vnic type, in the contract's enum order."""

# ----------------------------------------------------------------------------------- vif types
# How the compute node plugs the port. Drivers choose any but the reserved ones.
VIF_TYPE_UNBOUND = "unbound"
"""The vif type of a port that has no binding yet (no host, or its inputs just changed)."""
VIF_TYPE_BINDING_FAILED = "binding_failed"
"""The vif type of a port no mechanism driver could bind."""
VIF_TYPE_OVS = "ovs"
VIF_TYPE_VHOST_USER = "vhostuser"
VIF_TYPE_BRIDGE = "bridge"
VIF_TYPE_OTHER = "other"
VIF_TYPE_USE_DEFAULT = "use_default"
"""The host plugs the port as its own configuration says (the compute node's default VIF): a
driver answers it for hosts whose plugging is set up locally rather than by the server."""
VIF_TYPE_HW_VEB = "hw_veb"
VIF_TYPE_HOSTDEV_PHYSICAL = "hostdev_physical"
VIF_TYPE_MACVTAP = "macvtap"
VIF_TYPE_HYPERV = "hyperv"
RESERVED_VIF_TYPES = frozenset({VIF_TYPE_UNBOUND, VIF_TYPE_BINDING_FAILED})
"""Not vif types a driver may choose: only the manager and portapi set them."""
PROVIDER_ATTRIBUTE_UPDATES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        VIF_TYPE_OVS: frozenset({"segmentation_id"}),
        VIF_TYPE_VHOST_USER: frozenset({"segmentation_id"}),
    }
)
"""The provider attributes of a network that may change while ports are bound with a vif type:
what the drivers answering that vif type declare they follow on bound ports
(``provider_network_attribute_updates`` of the shipped drivers: the openvswitch driver, whose
vif types are ``ovs`` and ``vhostuser``, retags a VLAN when its segmentation id changes). A
port bound with any other vif type keeps its network's provider attributes fixed; unbound and
failed ports never hold them."""


# ------------------------------------------------------------------------------------ outcomes
# One driver's answer at one level, spelled as the ``ml2.v1.Outcome`` value names without
# their ``OUTCOME_`` prefix: in traces, in stored verdicts and in metric labels alike.
COMPLETE = "COMPLETE"
"""The driver bound a segment and the binding is finished."""
CONTINUE = "CONTINUE"
"""The driver bound a segment at this level and named segments for the next level."""
DECLINE = "DECLINE"
"""The driver cannot bind, with at least one reason."""
OUTCOMES = (COMPLETE, CONTINUE, DECLINE)

# ------------------------------------------------------------------------------ binding states
# A port binding's state, spelled as the ``ml2.v1.BindingState`` value names without their
# ``BINDING_STATE_`` prefix.
UNBOUND = "UNBOUND"
"""No host, or the binding of the current inputs has not been resolved yet."""
BOUND = "BOUND"
"""Every level is bound; vif_type and vif_details are the bottom level's."""
FAILED = "FAILED"
"""No driver could bind; the trace holds every reason."""
BINDING_STATES = (UNBOUND, BOUND, FAILED)

# ------------------------------------------------------------------ the status a driver may set
# The port status a driver may give with a complete binding (``CompleteBinding.port_status``),
# spelled as the ``ml2.v1.PortStatus`` value name without its ``PORT_STATUS_`` prefix; ``""``
# (PORT_STATUS_UNSPECIFIED) leaves the status to the host's agent.
PORT_STATUS_ACTIVE = "ACTIVE"
"""Nothing on the host wires the port: it is ACTIVE once the binding is committed."""
DRIVER_PORT_STATUSES = ("", PORT_STATUS_ACTIVE)

# ------------------------------------------------------------------------ decline reason codes
# Stable UPPER_SNAKE_CASE strings that operators, dashboards and tests match on. Drivers may
# define their own codes in the same form.

# Given by drivers.
VNIC_TYPE_UNSUPPORTED = "VNIC_TYPE_UNSUPPORTED"
"""The driver does not bind ports of the requested vnic type."""
NO_AGENT = "NO_AGENT"
"""No agent of the driver's type registered from the host."""
AGENT_DEAD = "AGENT_DEAD"
"""The host's agent showed no sign of life within the agent down time."""
AGENT_ADMIN_DOWN = "AGENT_ADMIN_DOWN"
"""An administrator disallowed binding to the host's agent."""
NETWORK_TYPE_UNSUPPORTED = "NETWORK_TYPE_UNSUPPORTED"
"""The segment's network type is not one the driver binds, or a tunnel type the host's agent
does not terminate."""
NETWORK_TYPE_UNSUPPORTED_BY_AGENT = "NETWORK_TYPE_UNSUPPORTED_BY_AGENT"
"""The host's agent reported the network types it can realise (``network_types``), and the
segment's is not among them: e.g. vlan on a Linux bridge host whose kernel has no VLAN devices."""
PHYSNET_NOT_MAPPED = "PHYSNET_NOT_MAPPED"
"""The host's agent has no mapping for the segment's physical network."""
HOST_NOT_SERVED = "HOST_NOT_SERVED"
"""The driver is configured not to bind on the host."""
MIGRATION_SOURCE_MISMATCH = "MIGRATION_SOURCE_MISMATCH"
"""During a live migration, the device the port would use on this host differs from the one it
uses on the migration's other host (macvtap: the hosts' interface mappings differ)."""
HOST_NOT_LINKED = "HOST_NOT_LINKED"
"""The operator's topology has no switch port link for the host (and, for a bare-metal port,
its binding profile gives no ``local_link_information``)."""
LINK_INFORMATION_INVALID = "LINK_INFORMATION_INVALID"
"""The port's ``local_link_information`` is not a list of switch port links, or a link in it
names no switch or no switch port."""
PHYSNET_NOT_LINKED = "PHYSNET_NOT_LINKED"
"""The switch port the host is wired to carries another physical network than the segment's,
or (for a driver that allocates a VLAN on it) the link names no physical network."""
DRIVER_REASON_CODES = (
    VNIC_TYPE_UNSUPPORTED,
    NO_AGENT,
    AGENT_DEAD,
    AGENT_ADMIN_DOWN,
    NETWORK_TYPE_UNSUPPORTED,
    NETWORK_TYPE_UNSUPPORTED_BY_AGENT,
    PHYSNET_NOT_MAPPED,
    HOST_NOT_SERVED,
    MIGRATION_SOURCE_MISMATCH,
    HOST_NOT_LINKED,
    LINK_INFORMATION_INVALID,
    PHYSNET_NOT_LINKED,
)
"""The codes a driver declines with; the ones below are the manager's and portapi's."""

# Given by the manager on a driver's behalf.
DRIVER_UNAVAILABLE = "DRIVER_UNAVAILABLE"
"""The driver process did not answer (unreachable, or slower than its deadline)."""
DRIVER_ERROR = "DRIVER_ERROR"
"""The driver failed, or proposed something the contract forbids."""
LOOP_PREVENTED = "LOOP_PREVENTED"
"""The driver bound one of the offered segments at a higher level already, so it is skipped."""
DYNAMIC_SEGMENT_UNAVAILABLE = "DYNAMIC_SEGMENT_UNAVAILABLE"
"""The driver continued with a dynamic segment that typemgr could not allocate."""
MAX_LEVELS_REACHED = "MAX_LEVELS_REACHED"
"""Binding went as deep as the maximum number of levels without completing."""
L2_CONNECTIVITY_REQUIRED = "L2_CONNECTIVITY_REQUIRED"
"""The driver describes its connectivity as l3 or legacy, and a port without IP addresses (every
port of modular-l2) can only be bound by drivers with l2 connectivity, so it is not asked."""

# Given by portapi when it cannot get a verdict from the manager.
MECHANISM_MANAGER_UNAVAILABLE = "MECHANISM_MANAGER_UNAVAILABLE"
"""mechmgr did not answer (unreachable, or slower than the binding deadline)."""
MECHANISM_MANAGER_ERROR = "MECHANISM_MANAGER_ERROR"
"""mechmgr answered with an error."""
MECHANISM_MANAGER = "mechmgr"
"""The driver name of the verdict portapi records for its own judgement of mechmgr."""
DEVICE_MAC_ADDRESS_IN_USE = "DEVICE_MAC_ADDRESS_IN_USE"
"""A direct-physical port's ``binding.profile.device_mac_address``, the MAC its bound device
has and the port would take, is the address of another port of the network."""
PORT_API = "portapi"
"""The driver name of the verdict portapi records when it refuses a result mechmgr gave."""
NO_REASON = "NO_REASON"
"""The primary reason of a failed binding whose trace carries no reason at all."""

# ------------------------------------------------------------------------------- network types
TYPE_LOCAL = "local"
TYPE_FLAT = "flat"
TYPE_VLAN = "vlan"
TYPE_GRE = "gre"
TYPE_VXLAN = "vxlan"
TYPE_GENEVE = "geneve"
NETWORK_TYPES = (TYPE_LOCAL, TYPE_FLAT, TYPE_VLAN, TYPE_GRE, TYPE_VXLAN, TYPE_GENEVE)
"""Every network type ML2 defines."""
PHYSICAL_TYPES = frozenset({TYPE_FLAT, TYPE_VLAN})
"""The types that live on a physical network."""
TUNNEL_TYPES = frozenset({TYPE_GRE, TYPE_VXLAN, TYPE_GENEVE})
"""The tunnelled types: no physical network."""
NON_TUNNEL_TYPES = frozenset({TYPE_LOCAL, TYPE_FLAT, TYPE_VLAN})
"""What an agent binds without tunnelling (Neutron's local, flat and vlan)."""

# --------------------------------------------------------------------------------- agent types
AGENT_TYPE_OVS = "openvswitch"
AGENT_TYPE_LINUXBRIDGE = "linuxbridge"
AGENT_TYPE_HYPERV = "hyperv"
AGENT_TYPE_SRIOV = "sriov"
"""Neutron's "NIC Switch agent" (neutron-sriov-nic-agent)."""
AGENT_TYPE_MACVTAP = "macvtap"

# ---------------------------------------------------------------------------- vif_details keys
CAP_PORT_FILTER = "port_filter"
OVS_HYBRID_PLUG = "ovs_hybrid_plug"
OVS_DATAPATH_TYPE = "datapath_type"
VIF_DETAILS_BRIDGE_NAME = "bridge_name"
VIF_DETAILS_CONNECTIVITY = "connectivity"
VHOST_USER_SOCKET = "vhostuser_socket"
VHOST_USER_MODE = "vhostuser_mode"
VHOST_USER_OVS_PLUG = "vhostuser_ovs_plug"
VIF_DETAILS_VLAN = "vlan"
"""The segment's VLAN id, as a string ("0" on a flat segment): SR-IOV and macvtap."""
VIF_DETAILS_PHYSICAL_INTERFACE = "physical_interface"
VIF_DETAILS_MACVTAP_SOURCE = "macvtap_source"
VIF_DETAILS_MACVTAP_MODE = "macvtap_mode"
OVS_CREATE_TAP = "ovs_create_tap"
VIF_DETAILS_BOUND_DRIVERS = "bound_drivers"
"""The driver of each level ({"0": name, ...}), added to a bound port's details by the manager."""
VIF_DETAILS_MTU = "mtu"
"""The MTU the compute node gives the port's devices; without it, the network's MTU."""

# Connectivity a driver provides.
CONNECTIVITY_L2 = "l2"
CONNECTIVITY_L3 = "l3"
CONNECTIVITY_LEGACY = "legacy"

# Open vSwitch datapath types.
DATAPATH_SYSTEM = "system"
DATAPATH_NETDEV = "netdev"

DEVICE_NAME_LENGTH = 14
"""Linux interface names are at most 15 bytes; Nova and Neutron cut device names to 14."""

# ------------------------------------------------------------------------ binding profile keys
PROFILE_LOCAL_LINK_INFORMATION = "local_link_information"
"""The switch ports a bare-metal port is wired to, as Ironic sends them: a list of objects with
``switch_id``, ``port_id`` and optionally ``switch_info``."""
LINK_SWITCH_ID = "switch_id"
LINK_PORT_ID = "port_id"
LINK_SWITCH_INFO = "switch_info"
