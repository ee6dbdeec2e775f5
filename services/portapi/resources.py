"""The typed values portapi works with: networks, ports, bindings and binding results.

Generated protobuf types stay at the edge (``convert.py``); everything between the servicers and
the database uses these frozen dataclasses. Strings follow Neutron's vocabulary: vnic types are
``normal``, ``direct``, ...; vif types are driver-defined strings plus ``unbound`` and
``binding_failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

VIF_TYPE_UNBOUND = "unbound"
"""The vif type of a port that has no binding yet (no host, or inputs just changed)."""
VIF_TYPE_BINDING_FAILED = "binding_failed"
"""The vif type of a port no mechanism driver could bind."""

VNIC_NORMAL = "normal"

# Binding states, as stored.
UNBOUND = "UNBOUND"
BOUND = "BOUND"
FAILED = "FAILED"

# Port statuses, as stored.
PORT_DOWN = "DOWN"
PORT_BUILD = "BUILD"
PORT_ACTIVE = "ACTIVE"
PORT_ERROR = "ERROR"

# Network lifecycle, as stored. Only ACTIVE networks accept ports.
NETWORK_CREATING = "CREATING"
NETWORK_ACTIVE = "ACTIVE"
NETWORK_DELETING = "DELETING"

# Decline reasons portapi itself records when it cannot get a verdict from mechmgr.
MECHANISM_MANAGER_UNAVAILABLE = "MECHANISM_MANAGER_UNAVAILABLE"
MECHANISM_MANAGER_ERROR = "MECHANISM_MANAGER_ERROR"
MECHANISM_MANAGER = "mechmgr"
"""The driver name recorded in the trace for portapi's own verdict about mechmgr."""


@dataclass(frozen=True)
class Segment:
    """A static segment of a network, as typemgr returned it at network creation."""

    id: str
    network_id: str
    network_type: str
    physical_network: str = ""
    segmentation_id: int = 0
    mtu: int = 0
    is_dynamic: bool = False
    segment_index: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Returns the segment as a JSON-ready dict."""
        return {
            "id": self.id,
            "network_id": self.network_id,
            "network_type": self.network_type,
            "physical_network": self.physical_network,
            "segmentation_id": self.segmentation_id,
            "mtu": self.mtu,
            "is_dynamic": self.is_dynamic,
            "segment_index": self.segment_index,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        """Returns the segment stored by ``to_dict``."""
        return cls(
            id=str(data["id"]),
            network_id=str(data.get("network_id", "")),
            network_type=str(data.get("network_type", "")),
            physical_network=str(data.get("physical_network", "")),
            segmentation_id=int(data.get("segmentation_id", 0)),
            mtu=int(data.get("mtu", 0)),
            is_dynamic=bool(data.get("is_dynamic", False)),
            segment_index=int(data.get("segment_index", 0)),
        )


@dataclass(frozen=True)
class SegmentSpec:
    """A requested provider segment; typemgr validates it against its type driver's rules."""

    network_type: str
    physical_network: str = ""
    segmentation_id: int | None = None


@dataclass(frozen=True)
class NetworkSpec:
    """What CreateNetwork asks for."""

    name: str
    project_id: str
    shared: bool
    admin_state_up: bool
    segments: tuple[SegmentSpec, ...] = ()


@dataclass(frozen=True)
class Network:
    """A stored network with its cached static segments."""

    id: str
    name: str
    project_id: str
    shared: bool
    admin_state_up: bool
    mtu: int
    segments: tuple[Segment, ...]
    status: str
    create_time: datetime


@dataclass(frozen=True)
class DeclineReason:
    """Why one driver declined, with the facts behind it."""

    code: str
    message: str
    segment_id: str = ""
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """One driver's answer at one binding level."""

    level: int
    driver: str
    outcome: str
    """COMPLETE, CONTINUE or DECLINE."""
    segment_id: str = ""
    reasons: tuple[DeclineReason, ...] = ()
    duration: float = 0.0
    """Seconds the driver took, as the manager measured it."""


@dataclass(frozen=True)
class BindingLevel:
    """One bound level: which driver bound which segment."""

    level: int
    driver: str
    segment: Segment


@dataclass(frozen=True)
class BindingInputs:
    """What a compute node sets to bind a port. An empty host means unbound."""

    host_id: str = ""
    vnic_type: str = VNIC_NORMAL
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BindingResult:
    """The result of resolving a binding: BOUND with levels, or FAILED with the reasons."""

    state: str
    vif_type: str
    vif_details: Mapping[str, Any] = field(default_factory=dict)
    levels: tuple[BindingLevel, ...] = ()
    trace: tuple[Verdict, ...] = ()
    failure_message: str = ""

    def primary_reason(self) -> str:
        """Returns the code of the first decline reason (for metrics); empty when bound."""
        if self.state != FAILED:
            return ""
        for verdict in self.trace:
            for reason in verdict.reasons:
                return reason.code
        return "NO_REASON"


UNBOUND_RESULT = BindingResult(state=UNBOUND, vif_type=VIF_TYPE_UNBOUND)


@dataclass(frozen=True)
class Binding:
    """A port's binding: its inputs, the generation of those inputs and the current result."""

    inputs: BindingInputs
    result: BindingResult
    generation: int


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
    host_id: str | None = None
    vnic_type: str | None = None
    profile: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class BindTicket:
    """Everything needed to resolve the binding of one generation of a port's inputs."""

    port_id: str
    network_id: str
    generation: int
    inputs: BindingInputs
    segments: tuple[Segment, ...]
    may_hold_dynamic: bool = False
    """The port may hold dynamic segments from an earlier result or resolution, so typemgr must
    be told which it holds after this one commits, even if the new result uses none."""


@dataclass(frozen=True)
class Page:
    """Where a list resumes: after the row with this creation time and id."""

    create_time: datetime
    id: str
