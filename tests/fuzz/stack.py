"""One real stack for the hostile-input tests: typemgr, mechmgr, portapi and three driver
processes on SQLite files (or PostgreSQL databases), seeded with agents, networks, ports and a
range whose ids the generated requests reuse; and read-only snapshots of every table of every
service.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    binding_pb2,
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
)

from services import launcher

TIMEOUT = 30.0
DRIVERS = ("noop", "openvswitch", "linuxbridge")
DATABASES = ("typemgr", "mechmgr", "portapi")

SERVICE_PROCESS = {
    "ml2.v1.AgentService": "mechmgr",
    "ml2.v1.MechanismManagerService": "mechmgr",
    "ml2.v1.TopologyService": "mechmgr",
    "ml2.v1.SegmentService": "typemgr",
    "ml2.v1.SegmentRangeService": "typemgr",
    "ml2.v1.NetworkService": "portapi",
    "ml2.v1.PortService": "portapi",
    "ml2.v1.MechanismDriverService": "openvswitch",
}
"""Which process serves each service (drivers: every driver process serves the one service)."""


@dataclass
class Seeds:
    """Values the generated requests pick from, so that they get past the first checks."""

    strings: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    agents: list[agent_pb2.Agent] = dataclasses.field(default_factory=list)
    """The registered agents, as mechmgr answered them."""
    segments: list[segment_pb2.Segment] = dataclasses.field(default_factory=list)
    """The seeded networks' segments."""

    def add(self, kind: str, *values: str) -> None:
        self.strings.setdefault(kind, [])
        for value in values:
            if value and value not in self.strings[kind]:
                self.strings[kind].append(value)


@dataclass
class Stack:
    """The running processes, a channel to each, and the SQLite files of each service."""

    root: Path
    urls: dict[str, str] = dataclasses.field(default_factory=dict)
    """Each service's database; SQLite files under ``root`` unless given."""
    processes: dict[str, launcher.ServiceProcess] = dataclasses.field(default_factory=dict)
    channels: dict[str, grpc.Channel] = dataclasses.field(default_factory=dict)
    seeds: Seeds = dataclasses.field(default_factory=Seeds)

    def url(self, service: str) -> str:
        return self.urls.get(service) or f"sqlite:///{self.root / f'{service}.db'}"

    def start(self, name: str, module: str, env: dict[str, str]) -> launcher.ServiceProcess:
        process = launcher.start(name, module, env, log_dir=self.root / "logs", timeout=60)
        self.processes[name] = process
        # Without keepalive pings: a long run must not be told "too many pings" by a server.
        self.channels[name] = grpc.insecure_channel(process.address)
        return process

    def dead(self) -> list[str]:
        """Names of the processes that no longer run, with the end of their logs."""
        return [
            f"{name}: exit {p.process.returncode}\n{p.log_tail()}"
            for name, p in self.processes.items()
            if not p.alive()
        ]

    def snapshot(self) -> dict[str, dict[str, list[str]]]:
        """Every row of every table of every service, read through read-only connections."""
        return {service: snapshot(self.url(service)) for service in DATABASES}

    def stop(self) -> dict[str, int]:
        for channel in self.channels.values():
            channel.close()
        return {name: p.stop() for name, p in reversed(self.processes.items())}


def snapshot(url: str) -> dict[str, list[str]]:
    """Returns each table's rows (as sorted reprs) of the database at the SQLAlchemy ``url``."""
    if url.startswith("postgresql"):
        return _postgres_snapshot(url)
    path = url.removeprefix("sqlite:///")
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            table: sorted(repr(row) for row in connection.execute(f'SELECT * FROM "{table}"'))
            for table in tables
        }
    finally:
        connection.close()


def _postgres_snapshot(url: str) -> dict[str, list[str]]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET default_transaction_read_only = on")
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        return {
            table: sorted(repr(row) for row in connection.execute(f'SELECT * FROM "{table}"'))
            for table in tables
        }


def start(root: Path, urls: dict[str, str] | None = None) -> Stack:
    """Starts every process on SQLite files under ``root`` and seeds it; stops what it started
    if anything fails."""
    stack = Stack(root, urls=dict(urls or {}))
    try:
        _start_all(stack)
        seed(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def _start_all(stack: Stack) -> None:
    stack.start(
        "typemgr",
        "services.typemgr",
        {
            "TYPEMGR_LISTEN": "127.0.0.1:0",
            "TYPEMGR_METRICS_PORT": "0",
            "TYPEMGR_DATABASE_URL": stack.url("typemgr"),
            "TYPEMGR_TYPE_DRIVERS": "local,flat,vlan,gre,vxlan,geneve",
            "TYPEMGR_TENANT_NETWORK_TYPES": "vxlan,vlan",
            "TYPEMGR_FLAT_NETWORKS": "physnet1,physnet2",
            "TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:100:199,physnet2",
            "TYPEMGR_VXLAN_VNI_RANGES": "1000:1999",
            "TYPEMGR_GRE_TUNNEL_ID_RANGES": "1:100",
            "TYPEMGR_GENEVE_VNI_RANGES": "5000:5100",
        },
    )
    drivers = []
    for name in DRIVERS:
        env = {"MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"}
        if name == "noop":  # a hierarchical driver: it asks for dynamic segments
            env.update({"MECHDRIVER_NOOP_MODE": "fabric", "MECHDRIVER_NOOP_HOSTS": "tor-1"})
        process = stack.start(name, f"services.drivers.{name}", env)
        drivers.append(f"{name}={process.address}")
    stack.start(
        "mechmgr",
        "services.mechmgr",
        {
            "MECHMGR_LISTEN": "127.0.0.1:0",
            "MECHMGR_METRICS_PORT": "0",
            "MECHMGR_DATABASE_URL": stack.url("mechmgr"),
            "MECHMGR_MECHANISM_DRIVERS": ",".join(drivers),
            "MECHMGR_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
            "MECHMGR_DRIVER_TIMEOUT_SECONDS": "10",
            # Agents registered by the seeds stay alive through the run without heartbeats.
            "MECHMGR_AGENT_DOWN_TIME_SECONDS": "36000",
            "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": "600",
        },
    )
    stack.start(
        "portapi",
        "services.portapi",
        {
            "PORTAPI_LISTEN": "127.0.0.1:0",
            "PORTAPI_METRICS_PORT": "0",
            "PORTAPI_DATABASE_URL": stack.url("portapi"),
            "PORTAPI_TYPEMGR_ADDRESS": stack.processes["typemgr"].address,
            "PORTAPI_MECHMGR_ADDRESS": stack.processes["mechmgr"].address,
            "PORTAPI_MECHMGR_TIMEOUT_SECONDS": "20",
            "PORTAPI_TYPEMGR_TIMEOUT_SECONDS": "20",
            # No background work: every change in a table comes from the request just sent.
            "PORTAPI_HOLD_SYNC_RETRY_SECONDS": "36000",
            # nor retries of failed bindings when a probe changed an agent, nor liveness checks.
            "PORTAPI_AGENT_CHECK_INTERVAL_SECONDS": "36000",
        },
    )


def seed(stack: Stack) -> None:
    """Registers agents and creates networks, ports and a range; records their ids."""
    seeds = stack.seeds
    agents = agent_service_pb2_grpc.AgentServiceStub(stack.channels["mechmgr"])
    for agent_type, host, caps in (
        (
            "openvswitch",
            "compute-ovs",
            agent_pb2.HostCapabilities(
                bridge_mappings={"physnet1": "br-eth1"},
                tunnel_types=["vxlan", "gre"],
                local_ip="192.0.2.10",
                integration_bridge="br-int",
                port_filter=True,
            ),
        ),
        (
            "linuxbridge",
            "compute-lb",
            agent_pb2.HostCapabilities(
                interface_mappings={"physnet1": "eth1"},
                tunnel_types=["vxlan"],
                local_ip="192.0.2.11",
            ),
        ),
        (
            "openvswitch",
            "tor-1",
            agent_pb2.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"}),
        ),
    ):
        reply = agents.RegisterAgent(
            agent_service_pb2.RegisterAgentRequest(
                agent=agent_pb2.Agent(
                    agent_type=agent_type,
                    host=host,
                    binary=f"ml2-{agent_type}-agent",
                    admin_state_up=True,
                    capabilities=caps,
                )
            ),
            timeout=TIMEOUT,
        )
        seeds.agents.append(reply.agent)
        seeds.add("agent_id", reply.agent.id)
        seeds.add("host", host)
        seeds.add("agent_type", agent_type)
    networks = network_service_pb2_grpc.NetworkServiceStub(stack.channels["portapi"])
    ports = port_service_pb2_grpc.PortServiceStub(stack.channels["portapi"])
    Spec = segment_pb2.SegmentSpec
    # The provider ids lie outside the ranges: the tenant segment of the first network and the
    # dynamic VLANs of its ports are drawn at random from the ranges and could take them.
    for project, specs in (
        ("proj-a", []),
        ("proj-a", [Spec(network_type="vlan", physical_network="physnet1", segmentation_id=50)]),
        ("proj-b", [Spec(network_type="flat", physical_network="physnet2")]),
        ("proj-b", [Spec(network_type="vxlan", segmentation_id=2500)]),
    ):
        network = networks.CreateNetwork(
            network_service_pb2.CreateNetworkRequest(
                network=network_pb2.Network(name="net", project_id=project, admin_state_up=True),
                segments=specs,
            ),
            timeout=TIMEOUT,
        ).network
        seeds.add("network_id", network.id)
        seeds.add("project_id", project)
        seeds.segments.extend(network.segments)
        for seg in network.segments:
            seeds.add("segment_id", seg.id)
            seeds.add("physical_network", seg.physical_network)
        for host in ("compute-ovs", "compute-lb", "tor-1", ""):
            port = ports.CreatePort(
                port_service_pb2.CreatePortRequest(
                    port=port_pb2.Port(
                        network_id=network.id,
                        device_id=f"vm-{host}",
                        admin_state_up=True,
                        binding=binding_pb2.PortBinding(host_id=host),
                    )
                ),
                timeout=TIMEOUT,
            ).port
            seeds.add("port_id", port.id)
            seeds.add("mac_address", port.mac_address)
            seeds.add("device_id", port.device_id)
            for level in port.binding.levels:
                seeds.add("segment_id", level.segment.id)
    ranges = segment_range_service_pb2_grpc.SegmentRangeServiceStub(stack.channels["typemgr"])
    created = ranges.CreateSegmentRange(
        segment_range_service_pb2.CreateSegmentRangeRequest(
            segment_range=segment_range_pb2.SegmentRange(
                name="extra",
                network_type="vlan",
                physical_network="physnet1",
                minimum=300,
                maximum=320,
                shared=True,
            )
        ),
        timeout=TIMEOUT,
    ).segment_range
    seeds.add("segment_range_id", created.id)
    listed = ranges.ListSegmentRanges(
        segment_range_service_pb2.ListSegmentRangesRequest(), timeout=TIMEOUT
    )
    seeds.add("segment_range_id", *(r.id for r in listed.segment_ranges))
    seeds.add("network_type", "local", "flat", "vlan", "gre", "vxlan", "geneve")
    seeds.add("physical_network", "physnet1", "physnet2")
    seeds.add("driver", *DRIVERS)
    seeds.add(
        "paths",
        "name",
        "admin_state_up",
        "device_id",
        "device_owner",
        "binding.host_id",
        "binding.vnic_type",
        "binding.profile",
        "minimum",
        "maximum",
        "capabilities",
        "id",
        "mac_address",
    )


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def code_of(call: Any) -> tuple[grpc.StatusCode, str]:
    """Runs ``call``; returns its status code and details (OK and "" if it succeeded)."""
    try:
        call()
    except grpc.RpcError as err:
        return err.code(), err.details() or ""  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""
