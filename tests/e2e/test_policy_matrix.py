"""Every RPC of every service, called by every kind of caller, against a real authenticated
``ml2 up``: each answers exactly the status the policy gives that caller, and a refused call
of a method that changes something changes no row of any service's tables.

The methods come from the services' protobuf descriptors, so an RPC added without a rule (in
``METHOD_RULES``, ``REQUEST_RULES`` or ``SERVICER_RULES``) and without a row in ``EXPECTED``
fails here."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
    mechanism_driver_service_pb2,
    mechanism_manager_service_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_pb2,
    segment_range_pb2,
    segment_range_service_pb2,
    segment_range_service_pb2_grpc,
    segment_service_pb2,
    segment_service_pb2_grpc,
    topology_pb2,
    topology_service_pb2,
    topology_service_pb2_grpc,
)
from ml2_driver_sdk.runtime.auth.driver_rules import DRIVER_METHOD_RULES

from services.policy.rules import (
    AUDITED_METHODS,
    METHOD_RULES,
    REQUEST_RULES,
    SERVICER_RULES,
    UNAUDITED_WRITES,
)
from services.security import local, tokens
from tests.e2e.conftest import UpProcess, start_up

MODULES = [
    agent_service_pb2,
    mechanism_driver_service_pb2,
    mechanism_manager_service_pb2,
    network_service_pb2,
    port_service_pb2,
    segment_range_service_pb2,
    segment_service_pb2,
    topology_service_pb2,
]
SERVER_OF = {
    "ml2.v1.AgentService": "mechmgr",
    "ml2.v1.MechanismManagerService": "mechmgr",
    "ml2.v1.TopologyService": "mechmgr",
    "ml2.v1.MechanismDriverService": "driver",
    "ml2.v1.NetworkService": "portapi",
    "ml2.v1.PortService": "portapi",
    "ml2.v1.SegmentRangeService": "typemgr",
    "ml2.v1.SegmentService": "typemgr",
}

OK = grpc.StatusCode.OK
DENIED = grpc.StatusCode.PERMISSION_DENIED
HIDDEN = grpc.StatusCode.NOT_FOUND
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED

HOST = "matrix-host"
CALLERS = ("admin", "portapi", "mechmgr", "compute", "owner", "other", "reader", "agent")
BAD_TOKENS = ("none", "malformed", "expired", "audience")
SERVICES = {"portapi", "mechmgr", "compute"}
ADMIN_SERVICES = {"admin", *SERVICES}
SEGMENT_CALLERS = {"admin", "portapi", "mechmgr"}
EVERYONE = set(CALLERS)


def rule(allowed: set[str], hidden: set[str] = frozenset(), ok: Any = OK) -> dict[str, Any]:
    """The status of each caller: ``ok`` for those the policy allows, NOT_FOUND for those that
    may not know the resource exists, PERMISSION_DENIED for the rest."""
    return {c: ok if c in allowed else HIDDEN if c in hidden else DENIED for c in CALLERS}


_STRANGERS = {"other", "agent"}

EXPECTED: dict[str, dict[str, Any]] = {
    **{
        f"/ml2.v1.SegmentService/{m}": rule(SEGMENT_CALLERS)
        for m in (
            "CreateNetworkSegments",
            "ListNetworkSegments",
            "ReleaseNetworkSegments",
            "AllocateDynamicSegment",
            "ReleaseDynamicSegment",
            "SyncDynamicSegmentHolds",
            "ListDynamicSegmentHolds",
            "ValidateSegment",
        )
    },
    **{
        f"/ml2.v1.SegmentService/{m}": rule({"admin", "portapi"})
        for m in ("UpdateSegmentationId", "AddStaticSegment", "RemoveStaticSegment")
    },
    **{
        f"/ml2.v1.SegmentRangeService/{m}": rule({"admin"})
        for m in (
            "CreateSegmentRange",
            "GetSegmentRange",
            "ListSegmentRanges",
            "UpdateSegmentRange",
            "DeleteSegmentRange",
            "ListSegmentAllocations",
        )
    },
    "/ml2.v1.MechanismManagerService/ResolveBinding": rule({"admin", "portapi"}),
    "/ml2.v1.MechanismManagerService/ResolveBindability": rule({"admin", "portapi"}),
    "/ml2.v1.MechanismManagerService/ListMechanismDrivers": rule(ADMIN_SERVICES),
    "/ml2.v1.AgentService/RegisterAgent": rule({"admin", "agent"}),
    "/ml2.v1.AgentService/HeartbeatAgent": rule({"admin", "agent"}),
    "/ml2.v1.AgentService/StreamHeartbeats": rule({"admin", "agent"}),
    "/ml2.v1.AgentService/GetAgent": rule(ADMIN_SERVICES | {"agent"}),
    "/ml2.v1.AgentService/ListAgents": rule(ADMIN_SERVICES | {"agent"}),
    "/ml2.v1.AgentService/DeleteAgent": rule({"admin"}),
    "/ml2.v1.AgentService/UpdateAgent": rule({"admin"}),
    "/ml2.v1.TopologyService/SetHostLink": rule({"admin"}),
    "/ml2.v1.TopologyService/DeleteHostLink": rule({"admin"}),
    "/ml2.v1.TopologyService/ListHostLinks": rule(ADMIN_SERVICES),
    **{
        f"/ml2.v1.MechanismDriverService/{m}": rule({"admin", "mechmgr"})
        for m in ("DescribeDriver", "ProposeBinding", "ProposeBindings")
    },
    "/ml2.v1.NetworkService/CreateNetwork": rule({"admin", "owner"}),
    "/ml2.v1.NetworkService/GetNetwork": rule(ADMIN_SERVICES | {"owner", "reader"}, _STRANGERS),
    "/ml2.v1.NetworkService/ListNetworks": rule(EVERYONE),
    "/ml2.v1.NetworkService/UpdateNetwork": rule({"admin", "owner"}, _STRANGERS),
    "/ml2.v1.NetworkService/AddNetworkSegment": rule({"admin"}, _STRANGERS),
    "/ml2.v1.NetworkService/RemoveNetworkSegment": rule({"admin"}, _STRANGERS),
    "/ml2.v1.NetworkService/DeleteNetwork": rule({"admin", "owner"}, _STRANGERS),
    "/ml2.v1.PortService/CreatePort": rule(ADMIN_SERVICES | {"owner"}, _STRANGERS),
    "/ml2.v1.PortService/GetPort": rule(ADMIN_SERVICES | {"owner", "reader"}, _STRANGERS),
    "/ml2.v1.PortService/ListPorts": rule(EVERYONE),
    "/ml2.v1.PortService/UpdatePort": rule(ADMIN_SERVICES | {"owner"}, _STRANGERS),
    "/ml2.v1.PortService/DeletePort": rule(ADMIN_SERVICES | {"owner"}, _STRANGERS),
    "/ml2.v1.PortService/WatchPorts": rule(ADMIN_SERVICES | {"agent"}),
    "/ml2.v1.PortService/ReportDeviceStatus": rule(ADMIN_SERVICES | {"agent"}),
    "/ml2.v1.PortService/CheckBindable": rule(ADMIN_SERVICES),
}
"""Method → caller → the status it answers (the defaults of ``services.policy.rules``)."""


def every_method() -> list[tuple[str, Any]]:
    """Every method of every ml2.v1 service, from the descriptors: (full name, descriptor)."""
    found = []
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append((f"/{service.full_name}/{method.name}", method))
    return sorted(found, key=lambda item: item[0])


def test_every_method_has_a_rule_an_expectation_and_an_audit_decision() -> None:
    methods = {name for name, _ in every_method()}
    ruled = {*METHOD_RULES, *REQUEST_RULES, *SERVICER_RULES, *DRIVER_METHOD_RULES}
    assert sorted(methods - ruled) == [], "methods without a rule"
    assert sorted(methods - EXPECTED.keys()) == [], "methods without a row in EXPECTED"
    assert sorted(ruled - methods) == [], "rules of methods that do not exist"
    assert methods >= AUDITED_METHODS and methods >= UNAUDITED_WRITES
    changing = ("Create", "Update", "Delete", "Release", "Allocate", "Add", "Remove", "Set")
    by_name = {m for m in methods if m.rsplit("/", 1)[1].startswith(changing)}
    assert sorted(by_name - AUDITED_METHODS) == []


# ------------------------------------------------------------------------------------ stack


@dataclass
class Stack:
    up: UpProcess
    channels: dict[str, grpc.Channel]
    metadata: dict[str, tuple[tuple[str, str], ...]]
    network: network_pb2.Network = field(default_factory=network_pb2.Network)
    port: port_pb2.Port = field(default_factory=port_pb2.Port)
    agent: agent_pb2.Agent = field(default_factory=agent_pb2.Agent)
    range_id: str = ""

    def stub(self, server: str, stub_class: Any) -> Any:
        return stub_class(self.channels[server])

    @property
    def admin(self) -> tuple[tuple[str, str], ...]:
        return self.metadata["admin"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    up = start_up(
        tmp_path_factory.mktemp("matrix"), "--mechanism-drivers", "openvswitch", auth=True
    )
    try:
        driver = next(
            line.split()[1]
            for line in up.out().splitlines()
            if line.startswith("mechdriver-openvswitch ")
        )
        channels = {
            "portapi": grpc.insecure_channel(up.portapi),
            "mechmgr": grpc.insecure_channel(up.mechmgr),
            "typemgr": grpc.insecure_channel(up.typemgr),
            "driver": grpc.insecure_channel(driver),
        }
        key = local.load_key(up.data_dir)

        def bearer(token: str) -> tuple[tuple[str, str], ...]:
            return (("authorization", f"Bearer {token}"),)

        metadata = {
            "admin": bearer(tokens.admin(key)),
            "portapi": bearer(tokens.service(key, "portapi")),
            "mechmgr": bearer(tokens.service(key, "mechmgr")),
            "compute": bearer(tokens.service(key, local.COMPUTE)),
            "owner": bearer(tokens.member(key, "own")),
            "other": bearer(tokens.member(key, "other")),
            "reader": bearer(tokens.member(key, "own", roles=("reader",))),
            "agent": bearer(tokens.agent(key, HOST)),
            "none": (),
            "malformed": (("authorization", "Bearer not-a-token"),),
            "expired": bearer(tokens.admin(key, now=time.time() - 7200, lifetime=60)),
            "audience": bearer(tokens.admin(key, audience="somewhere-else")),
        }
        built = Stack(up, channels, metadata)
        built.network = new_network(built)
        built.port = new_port(built, built.network.id)
        built.agent = register(built, HOST)
        built.range_id = new_range(built)
        yield built
        for channel in channels.values():
            channel.close()
    finally:
        assert up.stop() == 0, up.err()


def new_network(stack: Stack, segments: int = 1) -> network_pb2.Network:
    request = network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name=f"m-{uuid.uuid4().hex[:6]}", project_id="own"),
        segments=[vxlan() for _ in range(segments)],
    )
    networks = stack.stub("portapi", network_service_pb2_grpc.NetworkServiceStub)
    return networks.CreateNetwork(request, metadata=stack.admin, timeout=10).network


def new_port(stack: Stack, network_id: str) -> port_pb2.Port:
    request = port_service_pb2.CreatePortRequest(
        port=port_pb2.Port(network_id=network_id, project_id="own")
    )
    ports = stack.stub("portapi", port_service_pb2_grpc.PortServiceStub)
    return ports.CreatePort(request, metadata=stack.admin, timeout=10).port


def register(stack: Stack, host: str) -> agent_pb2.Agent:
    request = agent_service_pb2.RegisterAgentRequest(
        agent=agent_pb2.Agent(agent_type="openvswitch", host=host)
    )
    agents = stack.stub("mechmgr", agent_service_pb2_grpc.AgentServiceStub)
    return agents.RegisterAgent(request, metadata=stack.admin, timeout=10).agent


_RANGE_MINIMUM = [3000]


def new_range(stack: Stack) -> str:
    low = _RANGE_MINIMUM[0]
    _RANGE_MINIMUM[0] += 2
    request = segment_range_service_pb2.CreateSegmentRangeRequest(
        segment_range=segment_range_pb2.SegmentRange(
            name="matrix",
            network_type="vxlan",
            minimum=low + 100_000,
            maximum=low + 100_001,
            shared=True,
        )
    )
    ranges = stack.stub("typemgr", segment_range_service_pb2_grpc.SegmentRangeServiceStub)
    return ranges.CreateSegmentRange(request, metadata=stack.admin, timeout=10).segment_range.id


def typemgr_network(stack: Stack, count: int = 1) -> tuple[str, list[Any]]:
    network_id = str(uuid.uuid4())
    segments = stack.stub("typemgr", segment_service_pb2_grpc.SegmentServiceStub)
    created = segments.CreateNetworkSegments(
        segment_service_pb2.CreateNetworkSegmentsRequest(
            network_id=network_id,
            project_id="own",
            segments=[vxlan() for _ in range(count)],
        ),
        metadata=stack.admin,
        timeout=10,
    )
    return network_id, list(created.segments)


def dynamic_segment(stack: Stack) -> str:
    """A dynamic segment without a holder: released only by ReleaseDynamicSegment."""
    network_id, _ = typemgr_network(stack)
    segments = stack.stub("typemgr", segment_service_pb2_grpc.SegmentServiceStub)
    return str(
        segments.AllocateDynamicSegment(
            segment_service_pb2.AllocateDynamicSegmentRequest(
                network_id=network_id, segment=vlan()
            ),
            metadata=stack.admin,
            timeout=10,
        ).segment.id
    )


# Provider VNIs above the tenant range (1000:1999), which typemgr allocates from at random,
# and below the ranges the range requests create (200,000 and up).
_VNI = [100_000]


def free_vni() -> int:
    _VNI[0] += 1
    return _VNI[0]


def vlan() -> segment_pb2.SegmentSpec:
    return segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")


def vxlan() -> segment_pb2.SegmentSpec:
    return segment_pb2.SegmentSpec(network_type="vxlan")


def _named(network: network_pb2.Network) -> network_service_pb2.UpdateNetworkRequest:
    return network_service_pb2.UpdateNetworkRequest(
        network=network_pb2.Network(id=network.id, name="renamed"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    )


def _remove_segment(stack: Stack) -> Any:
    network = new_network(stack, segments=2)
    return network_service_pb2.RemoveNetworkSegmentRequest(
        network_id=network.id, segment_id=network.segments[1].id
    )


def _link(stack: Stack) -> str:
    host = f"link-{uuid.uuid4().hex[:8]}"
    stack.stub("mechmgr", topology_service_pb2_grpc.TopologyServiceStub).SetHostLink(
        topology_service_pb2.SetHostLinkRequest(
            link=topology_pb2.HostLink(host=host, switch_id="sw", port_id="p1")
        ),
        metadata=stack.admin,
        timeout=10,
    )
    return host


def _propose(stack: Stack) -> mechanism_driver_service_pb2.ProposeBindingRequest:
    return mechanism_driver_service_pb2.ProposeBindingRequest(
        port_id=stack.port.id,
        network_id=stack.network.id,
        host=HOST,
        vnic_type=binding_pb2.VNIC_TYPE_NORMAL,
        segments_to_bind=list(stack.network.segments),
        host_agents=[stack.agent],
    )


Builder = Callable[[Stack], Any]

REQUESTS: dict[str, Builder] = {
    "/ml2.v1.SegmentService/CreateNetworkSegments": lambda s: (
        segment_service_pb2.CreateNetworkSegmentsRequest(
            network_id=str(uuid.uuid4()), project_id="own", segments=[vxlan()]
        )
    ),
    "/ml2.v1.SegmentService/ListNetworkSegments": lambda s: (
        segment_service_pb2.ListNetworkSegmentsRequest(network_id=s.network.id)
    ),
    "/ml2.v1.SegmentService/ReleaseNetworkSegments": lambda s: (
        segment_service_pb2.ReleaseNetworkSegmentsRequest(network_id=typemgr_network(s)[0])
    ),
    "/ml2.v1.SegmentService/AllocateDynamicSegment": lambda s: (
        segment_service_pb2.AllocateDynamicSegmentRequest(
            network_id=typemgr_network(s)[0],
            segment=vlan(),
            holder=str(uuid.uuid4()),
            holder_generation=1,
        )
    ),
    "/ml2.v1.SegmentService/ReleaseDynamicSegment": lambda s: (
        segment_service_pb2.ReleaseDynamicSegmentRequest(segment_id=dynamic_segment(s))
    ),
    "/ml2.v1.SegmentService/SyncDynamicSegmentHolds": lambda s: (
        segment_service_pb2.SyncDynamicSegmentHoldsRequest(holder=str(uuid.uuid4()))
    ),
    "/ml2.v1.SegmentService/ListDynamicSegmentHolds": lambda s: (
        segment_service_pb2.ListDynamicSegmentHoldsRequest(holder=str(uuid.uuid4()))
    ),
    "/ml2.v1.SegmentService/ValidateSegment": lambda s: segment_service_pb2.ValidateSegmentRequest(
        segment=vxlan()
    ),
    "/ml2.v1.SegmentService/UpdateSegmentationId": lambda s: (
        segment_service_pb2.UpdateSegmentationIdRequest(
            segment_id=typemgr_network(s)[1][0].id, segmentation_id=free_vni()
        )
    ),
    "/ml2.v1.SegmentService/AddStaticSegment": lambda s: (
        segment_service_pb2.AddStaticSegmentRequest(
            network_id=typemgr_network(s)[0],
            segment=vxlan(),
            segment_id=str(uuid.uuid4()),
            project_id="own",
        )
    ),
    "/ml2.v1.SegmentService/RemoveStaticSegment": lambda s: (
        lambda network: segment_service_pb2.RemoveStaticSegmentRequest(
            network_id=network[0], segment_id=network[1][0].id
        )
    )(typemgr_network(s, count=2)),
    "/ml2.v1.SegmentRangeService/CreateSegmentRange": lambda s: (
        segment_range_service_pb2.CreateSegmentRangeRequest(
            segment_range=segment_range_pb2.SegmentRange(
                name="m",
                network_type="vxlan",
                minimum=200_000 + _RANGE_MINIMUM[0],
                maximum=200_000 + _RANGE_MINIMUM[0],
                shared=True,
            )
        )
        if not _RANGE_MINIMUM.__setitem__(0, _RANGE_MINIMUM[0] + 2)
        else None
    ),
    "/ml2.v1.SegmentRangeService/GetSegmentRange": lambda s: (
        segment_range_service_pb2.GetSegmentRangeRequest(segment_range_id=s.range_id)
    ),
    "/ml2.v1.SegmentRangeService/ListSegmentRanges": lambda s: (
        segment_range_service_pb2.ListSegmentRangesRequest()
    ),
    "/ml2.v1.SegmentRangeService/UpdateSegmentRange": lambda s: (
        segment_range_service_pb2.UpdateSegmentRangeRequest(
            segment_range=segment_range_pb2.SegmentRange(id=s.range_id, name="renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        )
    ),
    "/ml2.v1.SegmentRangeService/DeleteSegmentRange": lambda s: (
        segment_range_service_pb2.DeleteSegmentRangeRequest(segment_range_id=new_range(s))
    ),
    "/ml2.v1.SegmentRangeService/ListSegmentAllocations": lambda s: (
        segment_range_service_pb2.ListSegmentAllocationsRequest(network_type="vlan")
    ),
    "/ml2.v1.MechanismManagerService/ResolveBinding": lambda s: (
        mechanism_manager_service_pb2.ResolveBindingRequest(
            port_id=s.port.id,
            network_id=s.network.id,
            host=HOST,
            vnic_type=binding_pb2.VNIC_TYPE_NORMAL,
            segments=list(s.network.segments),
            binding_generation=1,
        )
    ),
    "/ml2.v1.MechanismManagerService/ResolveBindability": lambda s: (
        mechanism_manager_service_pb2.ResolveBindabilityRequest(
            network_id=s.network.id,
            hosts=[HOST],
            vnic_type=binding_pb2.VNIC_TYPE_NORMAL,
            segments=list(s.network.segments),
        )
    ),
    "/ml2.v1.MechanismManagerService/ListMechanismDrivers": lambda s: (
        mechanism_manager_service_pb2.ListMechanismDriversRequest()
    ),
    "/ml2.v1.AgentService/RegisterAgent": lambda s: agent_service_pb2.RegisterAgentRequest(
        agent=agent_pb2.Agent(agent_type="openvswitch", host=HOST)
    ),
    "/ml2.v1.AgentService/HeartbeatAgent": lambda s: agent_service_pb2.HeartbeatAgentRequest(
        agent_id=s.agent.id
    ),
    "/ml2.v1.AgentService/StreamHeartbeats": lambda s: iter(
        [agent_service_pb2.StreamHeartbeatsRequest(agent_id=s.agent.id)]
    ),
    "/ml2.v1.AgentService/GetAgent": lambda s: agent_service_pb2.GetAgentRequest(
        agent_id=s.agent.id
    ),
    "/ml2.v1.AgentService/ListAgents": lambda s: agent_service_pb2.ListAgentsRequest(),
    "/ml2.v1.AgentService/DeleteAgent": lambda s: agent_service_pb2.DeleteAgentRequest(
        agent_id=register(s, f"gone-{uuid.uuid4().hex[:8]}").id
    ),
    "/ml2.v1.AgentService/UpdateAgent": lambda s: agent_service_pb2.UpdateAgentRequest(
        agent=agent_pb2.Agent(id=s.agent.id, admin_state_up=True),
        update_mask=field_mask_pb2.FieldMask(paths=["admin_state_up"]),
    ),
    "/ml2.v1.TopologyService/SetHostLink": lambda s: topology_service_pb2.SetHostLinkRequest(
        link=topology_pb2.HostLink(host=f"l-{uuid.uuid4().hex[:8]}", switch_id="s", port_id="1")
    ),
    "/ml2.v1.TopologyService/DeleteHostLink": lambda s: topology_service_pb2.DeleteHostLinkRequest(
        host=_link(s)
    ),
    "/ml2.v1.TopologyService/ListHostLinks": lambda s: topology_service_pb2.ListHostLinksRequest(),
    "/ml2.v1.MechanismDriverService/DescribeDriver": lambda s: (
        mechanism_driver_service_pb2.DescribeDriverRequest()
    ),
    "/ml2.v1.MechanismDriverService/ProposeBinding": _propose,
    "/ml2.v1.MechanismDriverService/ProposeBindings": lambda s: (
        mechanism_driver_service_pb2.ProposeBindingsRequest(requests=[_propose(s)])
    ),
    "/ml2.v1.NetworkService/CreateNetwork": lambda s: network_service_pb2.CreateNetworkRequest(
        network=network_pb2.Network(name="made", project_id="own")
    ),
    "/ml2.v1.NetworkService/GetNetwork": lambda s: network_service_pb2.GetNetworkRequest(
        network_id=s.network.id
    ),
    "/ml2.v1.NetworkService/ListNetworks": lambda s: network_service_pb2.ListNetworksRequest(),
    "/ml2.v1.NetworkService/UpdateNetwork": lambda s: _named(s.network),
    "/ml2.v1.NetworkService/AddNetworkSegment": lambda s: (
        network_service_pb2.AddNetworkSegmentRequest(network_id=new_network(s).id, segment=vxlan())
    ),
    "/ml2.v1.NetworkService/RemoveNetworkSegment": _remove_segment,
    "/ml2.v1.NetworkService/DeleteNetwork": lambda s: network_service_pb2.DeleteNetworkRequest(
        network_id=new_network(s).id
    ),
    "/ml2.v1.PortService/CreatePort": lambda s: port_service_pb2.CreatePortRequest(
        port=port_pb2.Port(network_id=s.network.id, project_id="own")
    ),
    "/ml2.v1.PortService/GetPort": lambda s: port_service_pb2.GetPortRequest(port_id=s.port.id),
    "/ml2.v1.PortService/ListPorts": lambda s: port_service_pb2.ListPortsRequest(),
    "/ml2.v1.PortService/UpdatePort": lambda s: port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(id=s.port.id, name="renamed"),
        update_mask=field_mask_pb2.FieldMask(paths=["name"]),
    ),
    "/ml2.v1.PortService/DeletePort": lambda s: port_service_pb2.DeletePortRequest(
        port_id=new_port(s, s.network.id).id
    ),
    "/ml2.v1.PortService/WatchPorts": lambda s: port_service_pb2.WatchPortsRequest(
        host_ids=[HOST], snapshot=True
    ),
    "/ml2.v1.PortService/ReportDeviceStatus": lambda s: port_service_pb2.ReportDeviceStatusRequest(
        host_id=HOST,
        agent_id=s.agent.id,
        devices=[
            port_service_pb2.DeviceReport(
                port_id=str(uuid.uuid4()),
                state=port_service_pb2.DEVICE_STATE_UP,
                binding_generation=1,
            )
        ],
    ),
    "/ml2.v1.PortService/CheckBindable": lambda s: port_service_pb2.CheckBindableRequest(
        host_ids=[HOST], network_id=s.network.id
    ),
}


LIVENESS = {"mechmgr.agents": {"heartbeat_at"}}
"""Columns written behind the calls that cause them: mechmgr writes the heartbeats it holds at
its next flush, which may fall within a later call's window."""


def rows(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the stack's three databases, but the ``LIVENESS`` columns."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    for service in ("typemgr", "mechmgr", "portapi"):
        with sqlite3.connect(f"file:{data_dir / f'{service}.db'}?mode=ro", uri=True) as db:
            tables = [
                name
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            for table in tables:
                skipped = LIVENESS.get(f"{service}.{table}", set())
                columns = [
                    f'"{name}"'
                    for (_cid, name, *_rest) in db.execute(f'PRAGMA table_info("{table}")')
                    if name not in skipped
                ]
                dump[f"{service}.{table}"] = sorted(
                    db.execute(f'SELECT {", ".join(columns)} FROM "{table}"').fetchall(), key=repr
                )
    return dump


def call(stack: Stack, name: str, descriptor: Any, request: Any, who: str) -> tuple[Any, str]:
    """Calls ``name`` as ``who``; returns the status code and the reason of a refusal."""
    channel = stack.channels[SERVER_OF[name.split("/")[1]]]
    out_class = _message_class(descriptor.output_type)
    in_class = _message_class(descriptor.input_type)
    kind = (descriptor.client_streaming, descriptor.server_streaming)
    make = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[kind]
    method = make(
        name,
        request_serializer=in_class.SerializeToString,
        response_deserializer=out_class.FromString,
    )
    metadata = stack.metadata[who]
    try:
        if descriptor.server_streaming:
            answers = method(request, metadata=metadata, timeout=15)
            next(iter(answers))
            answers.cancel()
        else:
            method(request, metadata=metadata, timeout=15)
    except grpc.RpcError as err:
        return err.code(), _reason(err)
    return OK, ""


def _reason(err: grpc.RpcError) -> str:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def _message_class(descriptor: Any) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def test_every_caller_gets_what_the_policy_gives_it_and_a_refusal_changes_nothing(
    stack: Stack,
) -> None:
    wrong: list[str] = []
    changed: list[str] = []
    no_effect: list[str] = []
    for name, descriptor in every_method():
        for who in (*CALLERS, *BAD_TOKENS):
            expected = EXPECTED[name][who] if who in CALLERS else UNAUTHENTICATED
            request = REQUESTS[name](stack)
            compared = name in AUDITED_METHODS and (expected != OK or who == "admin")
            before = rows(stack.up.data_dir) if compared else None
            code, reason = call(stack, name, descriptor, request, who)
            if code != expected:
                wrong.append(f"{name} as {who}: {code.name} ({reason}), expected {expected.name}")
            if before is None:
                continue
            after = rows(stack.up.data_dir)
            diff = sorted(t for t in after if after[t] != before.get(t))
            if code != OK and diff:
                changed.append(f"{name} as {who} ({code.name}) changed {diff}")
            if code == OK and not diff:
                no_effect.append(name)
    assert wrong == [], "\n".join(wrong)
    assert changed == [], "\n".join(changed)
    # The comparison sees changes: the administrator's calls changed rows, but for those whose
    # request here changes nothing (the agent registering again as it was, which moves only its
    # heartbeat time; the agent's admin state as it was, a device of no port, a holder without
    # holds).
    assert sorted(no_effect) == [
        "/ml2.v1.AgentService/RegisterAgent",
        "/ml2.v1.AgentService/UpdateAgent",
        "/ml2.v1.PortService/ReportDeviceStatus",
        "/ml2.v1.SegmentService/SyncDynamicSegmentHolds",
    ]


def test_bad_tokens_are_refused_with_their_reason(stack: Stack) -> None:
    name = "/ml2.v1.NetworkService/ListNetworks"
    descriptor = dict(every_method())[name]
    request = REQUESTS[name](stack)
    reasons = {who: call(stack, name, descriptor, request, who) for who in BAD_TOKENS}
    assert reasons == {
        "none": (UNAUTHENTICATED, "TOKEN_MISSING"),
        "malformed": (UNAUTHENTICATED, "TOKEN_MALFORMED"),
        "expired": (UNAUTHENTICATED, "TOKEN_EXPIRED"),
        "audience": (UNAUTHENTICATED, "TOKEN_WRONG_AUDIENCE"),
    }
