"""Test-only fakes of portapi's PEER services (typemgr's SegmentService, mechmgr's
MechanismManagerService), small enough to read at a glance. Served in-process on port 0 behind
the shared interceptor, so their errors reach portapi exactly as real ones would."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from google.protobuf import struct_pb2
from ml2.v1 import (
    binding_pb2,
    mechanism_manager_service_pb2,
    mechanism_manager_service_pb2_grpc,
    port_pb2,
    segment_pb2,
    segment_service_pb2,
    segment_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import errors


class FakeSegmentService(segment_service_pb2_grpc.SegmentServiceServicer):
    """Hands out VXLAN tenant segments from 1000 and checks vlan/flat provider segments on
    physnet1 with Neutron's rules, naming fields as typemgr does (``segments[i]...``)."""

    def __init__(self) -> None:
        self.networks: dict[str, list[segment_pb2.Segment]] = {}
        self.calls: list[str] = []
        self.fail_with: errors.ServiceError | None = None
        self.hook: Callable[[Any], None] | None = None
        self._next_vni = 1000
        self._lock = threading.Lock()

    def CreateNetworkSegments(self, request: Any, context: Any) -> Any:
        self.calls.append(f"create {request.network_id}")
        if self.hook is not None:
            self.hook(request)
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            if request.network_id not in self.networks:
                specs = list(request.segments) or [segment_pb2.SegmentSpec(network_type="vxlan")]
                self.networks[request.network_id] = [
                    self._segment(request.network_id, index, spec)
                    for index, spec in enumerate(specs)
                ]
        segments = self.networks[request.network_id]
        return segment_service_pb2.CreateNetworkSegmentsResponse(
            segments=segments, mtu=min(s.mtu for s in segments)
        )

    def _segment(self, network_id: str, index: int, spec: Any) -> segment_pb2.Segment:
        field = f"segments[{index}]"
        seg_id = spec.segmentation_id if spec.HasField("segmentation_id") else None
        if spec.network_type == "vxlan":
            if seg_id is None:
                seg_id, self._next_vni = self._next_vni, self._next_vni + 1
            mtu = 1450
        elif spec.network_type in ("vlan", "flat"):
            if spec.physical_network != "physnet1":
                raise errors.InvalidArgument(
                    f"{field}.physical_network",
                    f"unknown physical network {spec.physical_network!r}",
                    reason="PHYSICAL_NETWORK_UNKNOWN",
                )
            if spec.network_type == "flat" and seg_id:
                raise errors.InvalidArgument(
                    f"{field}.segmentation_id", "must not be set for a flat segment"
                )
            if spec.network_type == "vlan" and seg_id is not None and not 1 <= seg_id <= 4094:
                raise errors.InvalidArgument(
                    f"{field}.segmentation_id",
                    f"VLAN id must be between 1 and 4094, got {seg_id}",
                    reason="SEGMENTATION_ID_OUT_OF_RANGE",
                )
            seg_id = seg_id or (100 if spec.network_type == "vlan" else 0)
            mtu = 1500
        else:
            raise errors.InvalidArgument(
                f"{field}.network_type", f"unknown network type {spec.network_type!r}"
            )
        return segment_pb2.Segment(
            id=str(uuid.uuid4()),
            network_id=network_id,
            network_type=spec.network_type,
            physical_network=spec.physical_network,
            segmentation_id=seg_id,
            mtu=mtu,
            segment_index=index,
        )

    def ListNetworkSegments(self, request: Any, context: Any) -> Any:
        self.calls.append(f"list {request.network_id}")
        if self.fail_with is not None:
            raise self.fail_with
        segments = self.networks.get(request.network_id, [])
        return segment_service_pb2.ListNetworkSegmentsResponse(
            segments=segments, mtu=min((s.mtu for s in segments), default=0)
        )

    def ReleaseNetworkSegments(self, request: Any, context: Any) -> Any:
        self.calls.append(f"release {request.network_id}")
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            released = self.networks.pop(request.network_id, None)
        if released is None:
            raise errors.NotFound(f"network {request.network_id!r} has no segments")
        return segment_service_pb2.ReleaseNetworkSegmentsResponse(segments=released)


Verdict = Callable[[Any], mechanism_manager_service_pb2.ResolveBindingResponse]


class FakeMechanismManager(mechanism_manager_service_pb2_grpc.MechanismManagerServiceServicer):
    """Binds hosts named ``ovs-*`` as ``ovs`` and ``lb-*`` as ``bridge`` on the first segment,
    and ``pf-*`` as ``hostdev_physical`` with the port ACTIVE at once (a driver's
    ``port_status``); any other host fails with a NO_AGENT reason from each driver. ``hook``
    runs before the answer (tests use it to change a port mid-flight)."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.hook: Callable[[Any], None] | None = None
        self.fail_with: errors.ServiceError | None = None
        self.vif_details: dict[str, Any] | None = None
        self.ovs_hosts: set[str] = set()
        """Further hosts bound as ``ovs``, as if an Open vSwitch agent ran there."""

    def ResolveBinding(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        if self.hook is not None:
            self.hook(request)
        if self.fail_with is not None:
            raise self.fail_with
        segment = request.segments[0]
        for prefix, driver, vif_type in (
            ("ovs-", "openvswitch", "ovs"),
            ("lb-", "linuxbridge", "bridge"),
            ("pf-", "sriovnicswitch", "hostdev_physical"),
        ):
            if request.host.startswith(prefix) or (
                driver == "openvswitch" and request.host in self.ovs_hosts
            ):
                reply = bound(driver, vif_type, segment)
                if prefix == "pf-":
                    reply.port_status = port_pb2.PORT_STATUS_ACTIVE
                if self.vif_details is not None:
                    reply.vif_details.Clear()
                    reply.vif_details.update(self.vif_details)
                return reply
        return declined(request.host, ["openvswitch", "linuxbridge"])


def bound(driver: str, vif_type: str, segment: Any) -> Any:
    details = struct_pb2.Struct()
    details.update(
        {
            "port_filter": True,
            "bridge_name": "br-int" if driver == "openvswitch" else f"brq{segment.network_id[:11]}",
        }
    )
    return mechanism_manager_service_pb2.ResolveBindingResponse(
        state=binding_pb2.BINDING_STATE_BOUND,
        vif_type=vif_type,
        vif_details=details,
        levels=[binding_pb2.BindingLevel(level=0, driver=driver, segment=segment)],
        trace=[
            binding_pb2.DriverVerdict(
                level=0, driver=driver, outcome=binding_pb2.OUTCOME_COMPLETE, segment_id=segment.id
            )
        ],
    )


def declined(host: str, drivers: list[str]) -> Any:
    return mechanism_manager_service_pb2.ResolveBindingResponse(
        state=binding_pb2.BINDING_STATE_FAILED,
        vif_type="binding_failed",
        trace=[
            binding_pb2.DriverVerdict(
                level=0,
                driver=name,
                outcome=binding_pb2.OUTCOME_DECLINE,
                reasons=[
                    binding_pb2.DeclineReason(
                        code="NO_AGENT",
                        message=f"no {name} agent registered on host {host}",
                        details={"host": host},
                    )
                ],
            )
            for name in drivers
        ],
        failure_message=f"no mechanism driver could bind on host {host}",
    )
