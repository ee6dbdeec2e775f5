"""Valid requests of the RPCs whose requests need several fields right at once, built from the
seeds. The generator sends them with hostile fields merged over them (protobuf merges messages
by concatenating their bytes), so that generated values reach the checks behind the first."""

from __future__ import annotations

from google.protobuf import duration_pb2, field_mask_pb2, message
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    binding_pb2,
    mechanism_driver_service_pb2,
    mechanism_manager_service_pb2,
    network_pb2,
    network_service_pb2,
    port_pb2,
    port_service_pb2,
    segment_pb2,
    segment_range_pb2,
    segment_range_service_pb2,
    segment_service_pb2,
    topology_pb2,
    topology_service_pb2,
)

from .stack import Seeds


def templates(seeds: Seeds) -> dict[str, list[message.Message]]:
    """Valid requests per RPC full name (``ml2.v1.PortService.CreatePort``)."""
    s = seeds.strings
    port, agent = s["port_id"][0], s["agent_id"][0]
    segment = seeds.segments[0]
    vlan = segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
    tunnel = segment_pb2.Segment(
        id="seg-t", network_id="net-x", network_type="vxlan", segmentation_id=1001, mtu=1450
    )
    mask = field_mask_pb2.FieldMask
    down_time = duration_pb2.Duration(seconds=75)
    return {
        "ml2.v1.PortService.CreatePort": [
            port_service_pb2.CreatePortRequest(
                port=port_pb2.Port(
                    network_id=net_id,
                    name="p",
                    admin_state_up=True,
                    binding=binding_pb2.PortBinding(host_id=host),
                ),
            )
            for net_id in s["network_id"]
            for host in ("compute-ovs", "compute-lb", "tor-1")
        ],
        "ml2.v1.PortService.UpdatePort": [
            port_service_pb2.UpdatePortRequest(
                port=port_pb2.Port(
                    id=port_id, name="q", binding=binding_pb2.PortBinding(host_id=host)
                ),
                update_mask=mask(paths=paths),
            )
            for port_id in s["port_id"][:6]
            for host in ("compute-ovs", "tor-1", "")
            for paths in (
                ["binding.host_id", "binding.profile"],
                ["name", "binding.profile"],
                ["binding.host_id"],
            )
        ],
        "ml2.v1.PortService.ReportDeviceStatus": [
            port_service_pb2.ReportDeviceStatusRequest(
                host_id=host,
                agent_id=agent,
                devices=[
                    port_service_pb2.DeviceReport(
                        port_id=port_id, state=state, binding_generation=generation
                    )
                    for port_id in s["port_id"][:3]
                ],
            )
            for host in ("compute-ovs", "tor-1")
            for state in (
                port_service_pb2.DEVICE_STATE_UP,
                port_service_pb2.DEVICE_STATE_DOWN,
                port_service_pb2.DEVICE_STATE_ERROR,
            )
            for generation in (1, 2)
        ],
        "ml2.v1.PortService.CheckBindable": [
            port_service_pb2.CheckBindableRequest(
                host_ids=["compute-ovs", "compute-lb", "tor-1"], network_id=network_id
            )
            for network_id in s["network_id"][:2]
        ],
        "ml2.v1.PortService.WatchPorts": [
            port_service_pb2.WatchPortsRequest(
                host_ids=hosts, port_ids=s["port_id"][:2], snapshot=snapshot
            )
            for hosts in ([], ["compute-ovs"])
            for snapshot in (False, True)
        ],
        "ml2.v1.MechanismManagerService.ResolveBinding": [
            mechanism_manager_service_pb2.ResolveBindingRequest(
                port_id=port,
                network_id=seg.network_id,
                host=host,
                segments=[seg],
                binding_generation=1,
            )
            for seg in seeds.segments
            for host in ("compute-ovs", "compute-lb", "tor-1")
        ],
        "ml2.v1.MechanismManagerService.ResolveBindability": [
            mechanism_manager_service_pb2.ResolveBindabilityRequest(
                network_id=seg.network_id,
                hosts=["compute-ovs", "compute-lb", "tor-1"],
                segments=[seg],
            )
            for seg in seeds.segments
        ],
        "ml2.v1.MechanismDriverService.ProposeBindings": [
            mechanism_driver_service_pb2.ProposeBindingsRequest(
                requests=[
                    mechanism_driver_service_pb2.ProposeBindingRequest(
                        port_id=port,
                        network_id=seg.network_id,
                        host=agent_msg.host,
                        segments_to_bind=[seg],
                        host_agents=[agent_msg],
                        agent_down_time=down_time,
                    )
                    for agent_msg in seeds.agents
                ]
            )
            for seg in [*seeds.segments, tunnel]
        ],
        "ml2.v1.MechanismDriverService.ProposeBinding": [
            mechanism_driver_service_pb2.ProposeBindingRequest(
                port_id=port,
                network_id=seg.network_id,
                host=agent_msg.host,
                segments_to_bind=[seg],
                host_agents=[agent_msg],
                agent_down_time=down_time,
            )
            for seg in [*seeds.segments, tunnel]
            for agent_msg in seeds.agents
        ],
        "ml2.v1.NetworkService.CreateNetwork": [
            network_service_pb2.CreateNetworkRequest(
                network=network_pb2.Network(name="n", project_id="proj-f", admin_state_up=True),
                segments=specs,
            )
            for specs in (
                [],
                [vlan],
                [segment_pb2.SegmentSpec(network_type="vxlan")],
                [segment_pb2.SegmentSpec(network_type="flat", physical_network="physnet1")],
            )
        ],
        "ml2.v1.NetworkService.UpdateNetwork": [
            network_service_pb2.UpdateNetworkRequest(
                network=network_pb2.Network(id=net_id, name="n2", mtu=mtu),
                update_mask=mask(paths=paths),
            )
            for net_id in s["network_id"]
            for mtu, paths in ((1400, ["name", "mtu"]), (0, ["mtu"]), (9000, ["mtu"]))
        ],
        "ml2.v1.SegmentService.ValidateSegment": [
            segment_service_pb2.ValidateSegmentRequest(segment=spec)
            for spec in (
                vlan,
                segment_pb2.SegmentSpec(
                    network_type="vlan", physical_network="physnet1", segmentation_id=120
                ),
                segment_pb2.SegmentSpec(network_type="geneve", segmentation_id=5050),
            )
        ],
        "ml2.v1.SegmentService.AllocateDynamicSegment": [
            segment_service_pb2.AllocateDynamicSegmentRequest(
                network_id=segment.network_id, segment=vlan, holder=port, holder_generation=1
            )
        ],
        "ml2.v1.SegmentService.CreateNetworkSegments": [
            segment_service_pb2.CreateNetworkSegmentsRequest(
                network_id="net-fuzz", project_id="proj-f", segments=specs
            )
            for specs in ([], [vlan], [segment_pb2.SegmentSpec(network_type="gre")])
        ],
        "ml2.v1.SegmentService.SyncDynamicSegmentHolds": [
            segment_service_pb2.SyncDynamicSegmentHoldsRequest(
                holder=port, segment_ids=[segment.id], generation=7
            )
        ],
        "ml2.v1.SegmentRangeService.CreateSegmentRange": [
            segment_range_service_pb2.CreateSegmentRangeRequest(
                segment_range=segment_range_pb2.SegmentRange(
                    name="r",
                    network_type=kind,
                    physical_network=physnet,
                    minimum=lo,
                    maximum=hi,
                    shared=True,
                )
            )
            for kind, physnet, lo, hi in (
                ("vxlan", "", 3000, 3010),
                ("vlan", "physnet1", 400, 410),
                ("gre", "", 200, 210),
            )
        ],
        "ml2.v1.SegmentRangeService.UpdateSegmentRange": [
            segment_range_service_pb2.UpdateSegmentRangeRequest(
                segment_range=segment_range_pb2.SegmentRange(
                    id=range_id, name="r2", minimum=300, maximum=330
                ),
                update_mask=mask(paths=["name", "maximum"]),
                dry_run=dry_run,
            )
            for range_id in s["segment_range_id"]
            for dry_run in (True, False)
        ],
        "ml2.v1.AgentService.RegisterAgent": [
            agent_service_pb2.RegisterAgentRequest(
                agent=agent_pb2.Agent(
                    agent_type=kind,
                    host="compute-f",
                    binary="ml2-agent",
                    admin_state_up=True,
                    capabilities=agent_pb2.HostCapabilities(
                        bridge_mappings={"physnet1": "br-eth1"},
                        tunnel_types=["vxlan"],
                        local_ip="192.0.2.20",
                    ),
                )
            )
            for kind in ("openvswitch", "linuxbridge")
        ],
        "ml2.v1.TopologyService.SetHostLink": [
            topology_service_pb2.SetHostLinkRequest(
                link=topology_pb2.HostLink(
                    host="compute-f",
                    switch_id="52:54:00:12:34:56",
                    port_id="Ethernet1/7",
                    switch_info="tor-1",
                    physical_network="physnet1",
                )
            )
        ],
        "ml2.v1.AgentService.UpdateAgent": [
            agent_service_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(id=agent, admin_state_up=True),
                update_mask=mask(paths=["admin_state_up"]),
            )
        ],
    }
