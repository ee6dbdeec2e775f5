"""What the agent-based drivers' rule-by-rule tests share: segments of every type, an agent of
a kind on compute-1, a binding context of that host, and the reasons of a decline."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ml2_contract import values

VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101)
FLAT = values.Segment("seg-flat", "flat", "physnet1")
VLAN2 = values.Segment("seg-vlan2", "vlan", "physnet2", 202)
VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001)
GRE = values.Segment("seg-gre", "gre", segmentation_id=5)
LOCAL = values.Segment("seg-local", "local")
BEAT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
PORT_ID = "3f2a9c4e-1111-2222-3333-444455556666"


def make_agent(
    agent_type: str, caps: values.HostCapabilities, agent_id: str, **kw: Any
) -> values.Agent:
    """A live agent of ``agent_type`` on compute-1 (``kw``: other Agent fields)."""
    return values.Agent(
        agent_id, agent_type, "compute-1", capabilities=caps, heartbeat_at=BEAT, **kw
    )


def binding_context(
    *segments: values.Segment,
    agents: Any = (),
    vnic: str = "normal",
    profile: dict[str, Any] | None = None,
    original: values.OriginalBinding | None = None,
) -> values.BindingContext:
    """Level 0 of a port on compute-1 offered ``segments`` (VLAN when none)."""
    return values.BindingContext(
        port_id=PORT_ID,
        network_id="net-1",
        host="compute-1",
        level=0,
        segments_to_bind=segments or (VLAN,),
        vnic_type=vnic,
        profile=profile or {},
        host_agents=tuple(agents),
        agent_down_time=75.0,
        original=original,
    )


def reasons(proposal: values.Proposal) -> tuple[values.DeclineReason, ...]:
    """The reasons of a Decline (fails on any other answer)."""
    assert isinstance(proposal, values.Decline), proposal
    return proposal.reasons


def only_reason(proposal: values.Proposal) -> values.DeclineReason:
    """The one reason of a Decline."""
    (reason,) = reasons(proposal)
    return reason
