"""The typed values portapi works with: networks, ports and their bindings.

Generated protobuf types stay at the edge (``convert.py``); everything between the servicers and
the database uses these frozen dataclasses, built on the contract's own values (segments, levels,
verdicts, binding results: ``ml2_contract.values``) and its vocabulary (vnic types, vif types,
binding states: ``ml2_contract.vocabulary``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ml2_contract import values, vocabulary

# Port statuses, as stored.
PORT_DOWN = "DOWN"
PORT_BUILD = "BUILD"
PORT_ACTIVE = "ACTIVE"
PORT_ERROR = "ERROR"

# Network lifecycle, as stored. Only ACTIVE networks accept ports.
NETWORK_CREATING = "CREATING"
NETWORK_ACTIVE = "ACTIVE"
NETWORK_DELETING = "DELETING"


@dataclass(frozen=True)
class NetworkSpec:
    """What CreateNetwork asks for."""

    name: str
    project_id: str
    shared: bool
    admin_state_up: bool
    segments: tuple[values.SegmentSpec, ...] = ()
    mtu: int = 0
    """The requested MTU; 0 asks for the largest the segments allow."""


@dataclass(frozen=True)
class NetworkUpdate:
    """What UpdateNetwork changes; None leaves a field as it is."""

    name: str | None = None
    admin_state_up: bool | None = None
    mtu: int | None = None
    """The requested MTU; 0 asks for the largest the segments allow."""
    segmentation_id: int | None = None
    """The new VLAN id of the network's only static segment."""


@dataclass(frozen=True)
class Network:
    """A stored network with its cached static segments."""

    id: str
    name: str
    project_id: str
    shared: bool
    admin_state_up: bool
    mtu: int
    segments: tuple[values.Segment, ...]
    status: str
    create_time: datetime
    mtu_requested: int = 0
    """The MTU asked for; 0: ``mtu`` is the largest the segments allow and follows them."""
    segments_pending: bool = False
    """A change of the static segments waits for typemgr (or for the reconciler)."""


@dataclass(frozen=True)
class BindingInputs:
    """What a compute node sets to bind a port. An empty host means unbound."""

    host_id: str = ""
    vnic_type: str = vocabulary.VNIC_NORMAL
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Binding:
    """A port's binding: its inputs, the generation of those inputs and the current result."""

    inputs: BindingInputs
    result: values.BindingResult
    generation: int
    original: values.OriginalBinding | None = None
    """The binding before the inputs last changed, when it was bound (the drivers see it)."""


@dataclass(frozen=True)
class Port:
    """A stored port with its binding."""

    id: str
    network_id: str
    project_id: str
    name: str
    mac_address: str
    device_id: str
    device_owner: str
    admin_state_up: bool
    status: str
    binding: Binding
    create_time: datetime
    update_time: datetime
    status_message: str = ""
    status_agent_id: str = ""


@dataclass(frozen=True)
class PortSpec:
    """What CreatePort asks for; an empty mac_address asks for a generated one."""

    network_id: str
    project_id: str = ""
    name: str = ""
    mac_address: str = ""
    device_id: str = ""
    device_owner: str = ""
    admin_state_up: bool = True
    inputs: BindingInputs = field(default_factory=BindingInputs)


@dataclass(frozen=True)
class PortUpdate:
    """The fields an UpdatePort names in its mask; ``None`` means the field is not updated."""

    name: str | None = None
    admin_state_up: bool | None = None
    device_id: str | None = None
    device_owner: str | None = None
    mac_address: str | None = None
    host_id: str | None = None
    vnic_type: str | None = None
    profile: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class DeviceReport:
    """One device's state as an L2 agent reports it (``ReportDeviceStatus``)."""

    port_id: str
    state: str
    """DEVICE_UP, DEVICE_DOWN or DEVICE_ERROR."""
    binding_generation: int
    message: str = ""


# Device states an agent reports, and what became of a report.
DEVICE_UP = "UP"
DEVICE_DOWN = "DOWN"
DEVICE_ERROR = "ERROR"
REPORT_APPLIED = "APPLIED"
REPORT_NOT_FOUND = "NOT_FOUND"
REPORT_NOT_BOUND_HERE = "NOT_BOUND_HERE"
REPORT_STALE_GENERATION = "STALE_GENERATION"


@dataclass(frozen=True)
class ReportOutcome:
    """What became of one device's report, and the port as it is now (None: NOT_FOUND)."""

    port_id: str
    result: str
    port: Port | None


@dataclass(frozen=True)
class WatchFilter:
    """What a watcher watches: filters of different kinds must all match; within one kind any
    value matches; an empty kind matches every port."""

    host_ids: frozenset[str] = frozenset()
    network_ids: frozenset[str] = frozenset()
    port_ids: frozenset[str] = frozenset()

    def matches(self, port_id: str, network_id: str, host_id: str, previous_host_id: str) -> bool:
        """Whether a change of this port matches: the host filter matches the host before or
        after the change."""
        if self.port_ids and port_id not in self.port_ids:
            return False
        if self.network_ids and network_id not in self.network_ids:
            return False
        if not self.host_ids:
            return True
        return host_id in self.host_ids or bool(
            previous_host_id and previous_host_id in self.host_ids
        )


@dataclass(frozen=True)
class BindTicket:
    """Everything needed to resolve the binding of one generation of a port's inputs."""

    port_id: str
    network_id: str
    generation: int
    inputs: BindingInputs
    segments: tuple[values.Segment, ...]
    may_hold_dynamic: bool = False
    """The port may hold dynamic segments from an earlier result or resolution, so typemgr must
    be told which it holds after this one commits, even if the new result uses none."""
    original: values.OriginalBinding | None = None
    """The port's binding before its inputs last changed, when it was bound."""
