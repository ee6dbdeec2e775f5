"""The audit log of a real ``ml2 up`` with authentication: every call of a method that changes
something leaves exactly one record (refused ones too), with the caller, the method, the
resource, the outcome and the peer; reads and heartbeats leave none."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    segment_pb2,
    segment_range_service_pb2,
    segment_range_service_pb2_grpc,
    topology_pb2,
    topology_service_pb2,
    topology_service_pb2_grpc,
)

from services.security import local, tokens
from tests.e2e.conftest import UpProcess, start_up, wait_for


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpProcess, Path]]:
    base = tmp_path_factory.mktemp("audit")
    audit_file = base / "audit.jsonl"
    process = start_up(
        base,
        "--mechanism-drivers",
        "openvswitch",
        auth=True,
        env={"ML2_AUDIT_LOG": str(audit_file)},
    )
    yield process, audit_file
    assert process.stop() == 0, process.err()


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def records(path: Path, offset: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as fh:
        fh.seek(offset)
        return [json.loads(line) for line in fh if line.strip()]


def size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def refused(call: Any, request: Any, metadata: Any = None) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call(request, metadata=metadata, timeout=10)
    return info.value.code()


def test_every_change_leaves_one_record_and_reads_and_heartbeats_none(
    up: tuple[UpProcess, Path],
) -> None:
    stack, audit_file = up
    key = local.load_key(stack.data_dir)
    admin = bearer(stack.token("admin"))
    reader = bearer(tokens.member(key, "demo", roles=("reader",)))
    stranger = bearer(tokens.member(key, "other"))
    agent_host = f"audit-{uuid.uuid4().hex[:8]}"
    agent = bearer(tokens.agent(key, agent_host))
    start = size(audit_file)

    with (
        grpc.insecure_channel(stack.portapi) as portapi,
        grpc.insecure_channel(stack.mechmgr) as mechmgr,
        grpc.insecure_channel(stack.typemgr) as typemgr,
    ):
        networks = network_service_pb2_grpc.NetworkServiceStub(portapi)
        agents = agent_service_pb2_grpc.AgentServiceStub(mechmgr)
        topology = topology_service_pb2_grpc.TopologyServiceStub(mechmgr)
        ranges = segment_range_service_pb2_grpc.SegmentRangeServiceStub(typemgr)

        request_id = str(uuid.uuid4())
        network = networks.CreateNetwork(
            network_service_pb2.CreateNetworkRequest(
                network=network_pb2.Network(name="audited", project_id="demo"),
                segments=[
                    segment_pb2.SegmentSpec(network_type="vlan", physical_network="physnet1")
                ],
                request_id=request_id,
            ),
            metadata=admin,
            timeout=10,
        ).network
        update = network_service_pb2.UpdateNetworkRequest(
            network=network_pb2.Network(id=network.id, name="renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        )
        assert refused(networks.UpdateNetwork, update) == grpc.StatusCode.UNAUTHENTICATED
        delete = network_service_pb2.DeleteNetworkRequest(network_id=network.id)
        assert refused(networks.DeleteNetwork, delete, stranger) == grpc.StatusCode.NOT_FOUND
        assert refused(networks.DeleteNetwork, delete, reader) == grpc.StatusCode.PERMISSION_DENIED
        link = topology_service_pb2.SetHostLinkRequest(
            link=topology_pb2.HostLink(host=agent_host, switch_id="sw1", port_id="p1")
        )
        assert refused(topology.SetHostLink, link, reader) == grpc.StatusCode.PERMISSION_DENIED

        registered = agents.RegisterAgent(
            agent_service_pb2.RegisterAgentRequest(
                agent=agent_pb2.Agent(agent_type="openvswitch", host=agent_host)
            ),
            metadata=agent,
            timeout=10,
        ).agent
        for _ in range(3):
            agents.HeartbeatAgent(
                agent_service_pb2.HeartbeatAgentRequest(agent_id=registered.id),
                metadata=agent,
                timeout=10,
            )
        list(
            agents.StreamHeartbeats(
                iter([agent_service_pb2.StreamHeartbeatsRequest(agent_id=registered.id)] * 2),
                metadata=agent,
                timeout=10,
            )
        )
        # Reads, allowed and refused, leave no record.
        networks.GetNetwork(
            network_service_pb2.GetNetworkRequest(network_id=network.id), metadata=admin, timeout=10
        )
        networks.ListNetworks(network_service_pb2.ListNetworksRequest(), metadata=admin, timeout=10)
        get = network_service_pb2.GetNetworkRequest(network_id=network.id)
        assert refused(networks.GetNetwork, get, stranger) == grpc.StatusCode.NOT_FOUND
        listing = segment_range_service_pb2.ListSegmentRangesRequest()
        assert refused(ranges.ListSegmentRanges, listing) == grpc.StatusCode.UNAUTHENTICATED
        agents.ListAgents(agent_service_pb2.ListAgentsRequest(), metadata=admin, timeout=10)
        # The last change: once its record is there, every earlier one is.
        networks.DeleteNetwork(delete, metadata=admin, timeout=10)

    def written() -> list[dict[str, Any]]:
        found = records(audit_file, start)
        done = any(
            r["grpc_method"] == "DeleteNetwork" and r["grpc_code"] == "OK" for r in found
        ) and any(r["grpc_method"] == "ReleaseNetworkSegments" for r in found)
        return found if done else []

    found = wait_for(written, 10)
    assert found, records(audit_file, start)
    assert all(r["audit"] is True and r["logger"] == "ml2.audit" for r in found)
    calls = [(r["grpc_service"], r["grpc_method"], r["grpc_code"], r["reason"]) for r in found]
    assert sorted(calls) == sorted(
        [
            ("ml2.v1.NetworkService", "CreateNetwork", "OK", ""),
            ("ml2.v1.SegmentService", "CreateNetworkSegments", "OK", ""),
            ("ml2.v1.NetworkService", "UpdateNetwork", "UNAUTHENTICATED", "TOKEN_MISSING"),
            ("ml2.v1.NetworkService", "DeleteNetwork", "NOT_FOUND", "NETWORK_NOT_FOUND"),
            ("ml2.v1.NetworkService", "DeleteNetwork", "PERMISSION_DENIED", "PERMISSION_DENIED"),
            ("ml2.v1.TopologyService", "SetHostLink", "PERMISSION_DENIED", "PERMISSION_DENIED"),
            ("ml2.v1.AgentService", "RegisterAgent", "OK", ""),
            ("ml2.v1.NetworkService", "DeleteNetwork", "OK", ""),
            ("ml2.v1.SegmentService", "ReleaseNetworkSegments", "OK", ""),
        ]
    ), calls

    def one(method: str, code: str) -> dict[str, Any]:
        (match,) = [r for r in found if r["grpc_method"] == method and r["grpc_code"] == code]
        return match

    created = one("CreateNetwork", "OK")
    assert created["caller_subject"] == "admin" and created["caller_roles"] == ["admin"]
    assert created["service"] == "portapi"
    assert created["request_id"] == request_id
    assert created["response_ids"]["network.id"] == network.id
    assert created["peer"].startswith(("ipv4:127.0.0.1:", "ipv6:"))
    segments = one("CreateNetworkSegments", "OK")
    assert segments["caller_service"] == "portapi" and segments["service"] == "typemgr"
    assert segments["resource_ids"]["network_id"] == network.id
    unauthenticated = one("UpdateNetwork", "UNAUTHENTICATED")
    assert unauthenticated["caller_subject"] == ""
    assert unauthenticated["resource_ids"]["network.id"] == network.id
    hidden = one("DeleteNetwork", "NOT_FOUND")
    assert (hidden["caller_subject"], hidden["caller_project_id"]) == ("user:other", "other")
    assert hidden["resource_ids"] == {"network_id": network.id}
    denied = one("DeleteNetwork", "PERMISSION_DENIED")
    assert denied["caller_roles"] == ["reader"] and denied["caller_project_id"] == "demo"
    link_denied = one("SetHostLink", "PERMISSION_DENIED")
    assert link_denied["service"] == "mechmgr"
    assert link_denied["resource_ids"]["link.host"] == agent_host
    registration = one("RegisterAgent", "OK")
    assert registration["caller_agent_host"] == agent_host
    assert registration["resource_ids"]["agent.host"] == agent_host
    assert registration["response_ids"]["agent.id"] == registered.id


def test_the_process_log_holds_no_audit_record_when_they_go_to_their_own_file(
    up: tuple[UpProcess, Path],
) -> None:
    stack, _ = up
    log = (stack.data_dir / "logs" / "portapi.log").read_text()
    assert '"audit": true' not in log and "ml2.audit" not in log
