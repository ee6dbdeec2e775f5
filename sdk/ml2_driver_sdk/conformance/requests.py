"""The requests the kit sends, built from what the driver says of itself.

Every offer is a valid ProposeBindingRequest (what mechmgr sends: a host, a vnic type, the
segments to bind, the host's agents, level 0). Segments are one per network type the driver
lists; their ids are new in every offer, so that a driver binding a segment it saw in an earlier
call is caught. An agent-based driver finds, on the kit's host, a live, enabled agent of its
type that maps ``physnet1`` and terminates its tunnel types (so it can bind), next to an agent
of another type (which it must not use); the host is wired to a switch port that carries
``physnet1`` (its link in the topology, for drivers that bind without an agent). The declining
offers take that agent away, kill it or disable it, and offer only a network type or a vnic
type the driver does not list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2_contract import convert, values, vocabulary

PHYSNET = "physnet1"
PORT_ID = "conformance-port-1"
NETWORK_ID = "conformance-net-1"
OTHER_AGENT_TYPE = "conformance-other"
UNKNOWN_NETWORK_TYPE = "conformance-unknown"
AGENT_DOWN_TIME = 75.0
SWITCH_ID = "conformance-switch"
SWITCH_PORT_ID = "conformance-switch-port-1"
_HEARTBEAT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Offer:
    """One request and what it is: ``must_decline`` when the driver cannot bind it by its own
    description."""

    note: str
    request: pb.ProposeBindingRequest
    must_decline: bool = False

    @property
    def offered(self) -> frozenset[str]:
        """The ids of the segments offered."""
        return frozenset(s.id for s in self.request.segments_to_bind)


class Requests:
    """Builds the offers for a driver from its DescribeDriver reply and the kit's host."""

    def __init__(self, description: pb.DescribeDriverResponse, host: str) -> None:
        self.description = description
        self.host = host
        self.network_types = tuple(description.supported_network_types)
        self.agent_type = description.agent_type
        vnics = [convert.vnic_type_name(v) for v in description.supported_vnic_types if v]
        self.vnic_type = vnics[0] if vnics else vocabulary.VNIC_NORMAL
        self.foreign_vnic = next((v for v in vocabulary.VNIC_TYPES if v not in vnics), "")
        self.foreign_type = next(
            (t for t in vocabulary.NETWORK_TYPES if t not in self.network_types),
            UNKNOWN_NETWORK_TYPE,
        )
        self._serial = 0

    def segments(self, *network_types: str) -> tuple[values.Segment, ...]:
        """Returns one segment per network type, with ids no other offer has."""
        self._serial += 1
        return tuple(
            segment(f"seg-{self._serial}-{i}-{t}", t, i) for i, t in enumerate(network_types)
        )

    def agents(
        self, *, alive: bool = True, admin_state_up: bool = True
    ) -> tuple[values.Agent, ...]:
        """The host's agents: the driver's kind (if it has one) and another kind."""
        other = agent(OTHER_AGENT_TYPE, self.host, self.network_types)
        if not self.agent_type:
            return (other,)
        own = agent(self.agent_type, self.host, self.network_types, alive, admin_state_up)
        return (own, other)

    def request(
        self,
        segments: tuple[values.Segment, ...],
        agents: tuple[values.Agent, ...] | None = None,
        vnic_type: str = "",
    ) -> pb.ProposeBindingRequest:
        """Returns a level-0 request for the kit's port on the kit's host."""
        ctx = values.BindingContext(
            port_id=PORT_ID,
            network_id=NETWORK_ID,
            host=self.host,
            level=0,
            segments_to_bind=segments,
            vnic_type=vnic_type or self.vnic_type,
            host_agents=self.agents() if agents is None else agents,
            agent_down_time=AGENT_DOWN_TIME,
            host_links=(values.HostLink(self.host, SWITCH_ID, SWITCH_PORT_ID, "", PHYSNET),),
        )
        return convert.context_to_proto(ctx)

    def bindable(self) -> list[Offer]:
        """Offers the driver can bind by its own description: each of its network types alone,
        all of them in order and in reverse, and all of them after a type it does not list."""
        types = self.network_types
        offers = [Offer(f"{t} alone", self.request(self.segments(t))) for t in types]
        if len(types) > 1:
            offers.append(Offer("every network type", self.request(self.segments(*types))))
            offers.append(
                Offer("every network type, reversed", self.request(self.segments(*types[::-1])))
            )
        offers.append(
            Offer(
                f"{self.foreign_type} first, then every network type",
                self.request(self.segments(self.foreign_type, *types)),
            )
        )
        return offers

    def declining(self) -> list[Offer]:
        """Offers the driver cannot bind by its own description."""
        types = self.network_types
        offers = [
            Offer(
                f"only {self.foreign_type}, a network type it does not list",
                self.request(self.segments(self.foreign_type)),
                must_decline=True,
            )
        ]
        if self.foreign_vnic:
            offers.append(
                Offer(
                    f"vnic_type {self.foreign_vnic}, which it does not list",
                    self.request(self.segments(*types), vnic_type=self.foreign_vnic),
                    must_decline=True,
                )
            )
        if self.agent_type:
            other_only = (agent(OTHER_AGENT_TYPE, self.host, types),)
            offers += [
                Offer(
                    f"no {self.agent_type} agent on the host",
                    self.request(self.segments(*types), other_only),
                    must_decline=True,
                ),
                Offer(
                    f"the host's {self.agent_type} agent is dead",
                    self.request(self.segments(*types), self.agents(alive=False)),
                    must_decline=True,
                ),
                Offer(
                    f"the host's {self.agent_type} agent is disabled",
                    self.request(self.segments(*types), self.agents(admin_state_up=False)),
                    must_decline=True,
                ),
            ]
        return offers

    def oversized(self, segments: int, agents: int) -> pb.ProposeBindingRequest:
        """A valid request with ``segments`` segments (the driver's types, repeated) and
        ``agents`` agents of another type besides the host's usual ones."""
        types = self.network_types or (UNKNOWN_NETWORK_TYPE,)
        self._serial += 1
        many = tuple(
            segment(f"seg-{self._serial}-{i}-{types[i % len(types)]}", types[i % len(types)], i)
            for i in range(segments)
        )
        extra = tuple(
            agent(f"{OTHER_AGENT_TYPE}-{i}", self.host, self.network_types) for i in range(agents)
        )
        return self.request(many, (*self.agents(), *extra))


def segment(segment_id: str, network_type: str, index: int) -> values.Segment:
    """A segment of the kit's network: vlan and flat on ``physnet1``, tunnels with an id."""
    physnet = PHYSNET if network_type in vocabulary.PHYSICAL_TYPES else ""
    if network_type == vocabulary.TYPE_VLAN:
        seg_id = 100 + index % 4000
    elif network_type in vocabulary.TUNNEL_TYPES:
        seg_id = 1000 + index
    else:
        seg_id = 0
    return values.Segment(
        id=segment_id,
        network_type=network_type,
        physical_network=physnet,
        segmentation_id=seg_id,
        network_id=NETWORK_ID,
        mtu=1500,
    )


def agent(
    agent_type: str,
    host: str,
    network_types: tuple[str, ...],
    alive: bool = True,
    admin_state_up: bool = True,
) -> values.Agent:
    """An agent on ``host`` that maps ``physnet1`` (bridge, interface, SR-IOV device and
    Hyper-V virtual switch mappings) and terminates the tunnel types listed."""
    caps = values.HostCapabilities(
        bridge_mappings={PHYSNET: "br-physnet1"},
        interface_mappings={PHYSNET: "eth1"},
        device_mappings={PHYSNET: ("ens1f0",)},
        vswitch_mappings={PHYSNET: "vswitch1"},
        tunnel_types=tuple(t for t in network_types if t in vocabulary.TUNNEL_TYPES),
        local_ip="192.0.2.10",
        integration_bridge="br-int",
    )
    return values.Agent(
        id=f"{agent_type}-{host}",
        agent_type=agent_type,
        host=host,
        binary=f"{agent_type}-agent",
        capabilities=caps,
        admin_state_up=admin_state_up,
        alive=alive,
        heartbeat_at=_HEARTBEAT,
        created_at=_HEARTBEAT,
    )
