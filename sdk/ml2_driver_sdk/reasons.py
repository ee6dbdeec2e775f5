"""The reason codes of the contract, each with what it means and what an operator does about it.

A driver declines with at least one reason; the code is what operators, dashboards
(``ml2_mechmgr_binding_failures_total{reason}``) and tests match on, the message is for people
and the details are the facts ``ml2 port explain`` prints. A driver should decline with a code
from ``DRIVER_CODES`` when one fits; a code of its own is allowed if it has the same form
(``UPPER_SNAKE_CASE``) and is documented by the driver. ``docs/reason-codes.md`` is this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ml2_contract import vocabulary as v

CODE_FORM = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")
"""The form of every reason code, shipped or a driver's own."""


@dataclass(frozen=True)
class ReasonCode:
    """One code: who gives it, what it means, what an operator does, the details it carries."""

    code: str
    given_by: str
    """``driver`` (a driver declines with it), ``mechmgr`` (the manager, on a driver's behalf)
    or ``portapi`` (when it gets no verdict from the manager)."""
    meaning: str
    action: str
    details: tuple[str, ...] = ()
    """The detail keys the shipped drivers and services set (``ml2 port explain`` shows them)."""


_AGENT = ("agent_id", "host")

CODES: tuple[ReasonCode, ...] = (
    ReasonCode(
        v.VNIC_TYPE_UNSUPPORTED,
        "driver",
        "The driver does not bind ports of the requested vnic type, or binds it only on a "
        "condition the port or the host's agent does not meet (openvswitch: a direct port "
        "needs the switchdev capability in its binding profile, a smart-nic port an agent on "
        "a bare-metal SmartNIC).",
        "Ask for a vnic type the driver lists in `ml2 driver list`, meet the condition the "
        "reason names (`ml2 port explain`), or add a mechanism driver that binds this one.",
        (
            "vnic_type",
            "supported",
            "required_capability",
            "capabilities",
            *_AGENT,
            "baremetal_smartnic",
        ),
    ),
    ReasonCode(
        v.NO_AGENT,
        "driver",
        "No agent of the driver's type has registered from the host.",
        "Start the agent on the host, with the host id the compute node uses (by default both "
        "use the hostname); `ml2 agent list --host HOST` shows what registered.",
        ("host", "agent_type"),
    ),
    ReasonCode(
        v.AGENT_DEAD,
        "driver",
        "The host's agent sent no heartbeat within the agent down time.",
        "Restart the agent or repair its connection to mechmgr (`ml2 agent list` shows its last "
        "heartbeat), then bind the port again.",
        (*_AGENT, "last_heartbeat", "agent_down_time_seconds"),
    ),
    ReasonCode(
        v.AGENT_ADMIN_DOWN,
        "driver",
        "An administrator disabled binding to the host's agent.",
        "Enable the agent (`ml2 agent set AGENT --enable`) if ports should bind there.",
        _AGENT,
    ),
    ReasonCode(
        v.NETWORK_TYPE_UNSUPPORTED,
        "driver",
        "The segment's network type is not one the driver binds, or a tunnel type the host's "
        "agent does not terminate.",
        "Add the type to the agent's tunnel types, or run an agent that carries it on the host.",
        (*_AGENT, "agent_type", "network_type", "allowed_network_types"),
    ),
    ReasonCode(
        v.NETWORK_TYPE_UNSUPPORTED_BY_AGENT,
        "driver",
        "The host's agent reported the network types it can realise, and the segment's is "
        "not among them (a kernel without VLAN devices, for one).",
        "Make the type realisable on the host (kernel modules, devices), or bind the port "
        "on a host that can.",
        (*_AGENT, "network_type", "agent_network_types"),
    ),
    ReasonCode(
        v.PHYSNET_NOT_MAPPED,
        "driver",
        "The host's agent has no mapping for the segment's physical network.",
        "Map the physical network in the agent's mappings (bridge_mappings, "
        "interface_mappings, ...) and restart it.",
        (*_AGENT, "agent_type", "physical_network", "mappings", "mapping_option"),
    ),
    ReasonCode(
        v.HOST_NOT_SERVED,
        "driver",
        "The driver is configured not to bind on the host.",
        "Add the host to the driver's configuration if it should serve it.",
        ("host",),
    ),
    ReasonCode(
        v.MIGRATION_SOURCE_MISMATCH,
        "driver",
        "During a live migration, the device the port would use on this host differs from the "
        "one it uses on the migration source host: the instance could not keep its interface.",
        "Give the physical network the same interface in the agents' interface_mappings on both "
        "hosts (macvtap), or migrate the instance to a host mapped like its source.",
        (
            *_AGENT,
            "physical_network",
            "migrating_to",
            "source_host",
            "source_device",
            "target_device",
        ),
    ),
    ReasonCode(
        v.HOST_NOT_LINKED,
        "driver",
        "The operator's topology says nothing of the switch port the host is wired to (and a "
        "bare-metal port's binding profile has no local_link_information), so a driver that "
        "configures the switch cannot bind there.",
        "Record the host's link: `ml2 topology set HOST --switch-id SWITCH --port-id PORT "
        "--physical-network PHYSNET` (`ml2 topology list` shows what is recorded).",
        ("host",),
    ),
    ReasonCode(
        v.LINK_INFORMATION_INVALID,
        "driver",
        "The port's local_link_information is not a list of links, or one of its links names "
        "no switch (switch_id or switch_info) or no switch port (port_id).",
        "Correct the bare-metal port's local link connection (in Ironic, the port's "
        "local_link_connection), then bind the port again.",
        ("host", "link"),
    ),
    ReasonCode(
        v.PHYSNET_NOT_LINKED,
        "driver",
        "The switch port the host is wired to carries another physical network than the "
        "segment's, or its link names no physical network where the driver needs one.",
        "Bind the port on a network of the link's physical network, or correct the link with "
        "`ml2 topology set HOST ... --physical-network PHYSNET`.",
        ("host", "physical_network", "link_physical_network", "switch_id", "port_id"),
    ),
    ReasonCode(
        v.DRIVER_UNAVAILABLE,
        "mechmgr",
        "The driver process did not answer: unreachable, slower than its deadline, or its "
        "circuit breaker is open after repeated failures.",
        "Start or repair the driver process (`ml2 driver list` shows its address and breaker), "
        "or raise MECHMGR_DRIVER_TIMEOUT_SECONDS if it is only slow.",
        ("address", "grpc_code", "breaker_state", "open_since", "retry_at"),
    ),
    ReasonCode(
        v.DRIVER_ERROR,
        "mechmgr",
        "The driver failed, or proposed something the contract forbids (a segment it was not "
        "offered, a decline without reasons).",
        "Fix the driver: its log has the error; `ml2 driver check ADDRESS` names the rule.",
        ("address", "grpc_code"),
    ),
    ReasonCode(
        v.LOOP_PREVENTED,
        "mechmgr",
        "The driver already bound one of the offered segments at a higher level, so it is skipped.",
        "Nothing: it is a consequence of the other reasons of the same level.",
    ),
    ReasonCode(
        v.DYNAMIC_SEGMENT_UNAVAILABLE,
        "mechmgr",
        "The driver continued with a dynamic segment that typemgr could not allocate.",
        "Give typemgr free ids of that type and physical network (`ml2 range create`).",
        ("network_type", "physical_network"),
    ),
    ReasonCode(
        v.MAX_LEVELS_REACHED,
        "mechmgr",
        "Binding went as deep as the maximum number of levels without completing.",
        "Stop the driver that continues at every level (a loop between drivers).",
    ),
    ReasonCode(
        v.L2_CONNECTIVITY_REQUIRED,
        "mechmgr",
        "The driver describes its connectivity as l3 or legacy; a port without IP addresses "
        "(every port here) can only be bound by drivers with l2 connectivity, so the driver is "
        "not asked.",
        "Configure a driver with l2 connectivity for the port's host and network, or run the "
        "driver with l2 connectivity if it has one.",
        ("connectivity",),
    ),
    ReasonCode(
        v.MECHANISM_MANAGER_UNAVAILABLE,
        "portapi",
        "mechmgr did not answer portapi (unreachable, or slower than the binding deadline).",
        "Make mechmgr reachable from portapi, then bind the port again.",
    ),
    ReasonCode(
        v.MECHANISM_MANAGER_ERROR,
        "portapi",
        "mechmgr answered portapi with an error.",
        "See mechmgr's log for the error, then bind the port again.",
    ),
    ReasonCode(
        v.DEVICE_MAC_ADDRESS_IN_USE,
        "portapi",
        "A direct-physical port takes its device's MAC address (binding.profile's "
        "device_mac_address) when it is bound, and another port of the network has that "
        "address, so the binding is committed failed instead.",
        "Find the port of the network with that MAC address, unbind or delete it if it no "
        "longer uses the device, then bind the port again.",
    ),
    ReasonCode(
        v.NO_REASON,
        "portapi",
        "A failed binding whose trace carries no reason at all (no mechanism driver is "
        "configured).",
        "Configure mechanism drivers for mechmgr (MECHMGR_MECHANISM_DRIVERS).",
    ),
)
"""Every code the contract defines, drivers' first."""

BY_CODE = {c.code: c for c in CODES}
DRIVER_CODES = frozenset(c.code for c in CODES if c.given_by == "driver")
"""The codes a driver declines with (``ml2_contract.vocabulary.DRIVER_REASON_CODES``)."""


def is_valid_code(code: str) -> bool:
    """True if ``code`` has the form every reason code has."""
    return bool(CODE_FORM.match(code))


def markdown() -> str:
    """The table as Markdown (``docs/reason-codes.md``)."""
    lines = [
        "# Reason codes",
        "",
        "Every code a binding can fail with. A driver declines with the codes given by",
        "`driver`; mechmgr and portapi add the others. Generated from",
        "`sdk/ml2_driver_sdk/reasons.py` (`python -m ml2_driver_sdk.reasons`).",
        "",
    ]
    for c in CODES:
        lines += [f"## `{c.code}`", "", f"Given by: {c.given_by}.", "", c.meaning, ""]
        lines += [f"What to do: {c.action}", ""]
        if c.details:
            lines += ["Details: " + ", ".join(f"`{d}`" for d in c.details) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
