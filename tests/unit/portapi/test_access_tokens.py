"""portapi's policy reached through the auth interceptor over loopback gRPC: callers send
static bearer tokens (``ML2_AUTH_TOKEN_FILE``), the interceptor binds their identity, and the
servicers decide with it. The statuses, ErrorInfo reasons and field names arrive as a client
sees them, and a refused call leaves what an administrator reads unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ml2.v1 import (
    binding_pb2,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import auth
from ml2_driver_sdk.runtime import server as runtime_server

from services import migrations, policy, sql
from services.policy.rules import METHOD_RULES
from services.portapi import clients
from services.portapi import server as portapi_server

from .conftest import Peers
from .rpcerrors import failure

TOKENS = {
    "admin-token": {"subject": "admin", "roles": ["admin"]},
    "nova-token": {"subject": "nova", "roles": ["service"]},
    "alice-token": {"subject": "alice", "project_id": "p1", "roles": ["member"]},
    "rita-token": {"subject": "rita", "project_id": "p1", "roles": ["reader"]},
    "bob-token": {"subject": "bob", "project_id": "p2", "roles": ["member"]},
}


@dataclass
class Secured:
    networks: network_service_pb2_grpc.NetworkServiceStub
    ports: port_service_pb2_grpc.PortServiceStub


def bearer(name: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {name}-token"),)


@pytest.fixture
def secured(peers: Peers, tmp_path: Path) -> Iterator[Secured]:
    token_file = tmp_path / "tokens.json"
    token_file.write_text(json.dumps({"tokens": TOKENS}))
    verifier = auth.from_env({"ML2_AUTH_TOKEN_FILE": str(token_file)})
    assert verifier is not None
    enforcer = policy.load()
    policy.configure(enforcer)
    authenticator = auth.Authenticator(verifier, policy=enforcer.policy, method_rules=METHOD_RULES)
    url = f"sqlite:///{tmp_path / 'portapi.db'}"
    migrations.upgrade(url, "portapi")
    engine = sql.make_engine(url)
    peer_channel = clients.open_channel(peers.address)
    app = portapi_server.build(
        sql.session_factory(engine),
        clients.SegmentClient(peer_channel, 2.0),
        clients.MechanismManagerClient(peer_channel, 2.0),
        10,
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        interceptors=[auth.AuthInterceptor(authenticator), runtime_server._Interceptor()],
    )
    for add, servicer, _name in app.registrations():
        add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield Secured(
        network_service_pb2_grpc.NetworkServiceStub(channel),
        port_service_pb2_grpc.PortServiceStub(channel),
    )
    channel.close()
    server.stop(0)
    peer_channel.close()
    engine.dispose()


def create_network(api: Secured, who: str, **network: Any) -> network_pb2.Network:
    request = network_service_pb2.CreateNetworkRequest(network=network_pb2.Network(**network))
    return api.networks.CreateNetwork(request, metadata=bearer(who)).network


def create_port(api: Secured, who: str, **port: Any) -> port_pb2.Port:
    request = port_service_pb2.CreatePortRequest(port=port_pb2.Port(**port))
    return api.ports.CreatePort(request, metadata=bearer(who)).port


def test_a_project_works_with_its_own_resources_and_not_anothers(secured: Secured) -> None:
    anonymous = failure(
        lambda: secured.networks.ListNetworks(network_service_pb2.ListNetworksRequest())
    )
    assert anonymous.code == grpc.StatusCode.UNAUTHENTICATED
    api = secured
    net = create_network(api, "alice", name="alices")
    assert net.project_id == "p1" and not net.segments  # segments are the admins' to read
    port = create_port(api, "alice", network_id=net.id, name="vm")
    assert port.project_id == "p1"

    get = network_service_pb2.GetNetworkRequest(network_id=net.id)
    seen = failure(lambda: api.networks.GetNetwork(get, metadata=bearer("bob")))
    missing = failure(
        lambda: api.networks.GetNetwork(
            network_service_pb2.GetNetworkRequest(network_id="n-missing"), metadata=bearer("bob")
        )
    )
    assert (seen.code, seen.reason) == (grpc.StatusCode.NOT_FOUND, "NETWORK_NOT_FOUND")
    assert seen.message == missing.message.replace("n-missing", net.id)
    get_port = port_service_pb2.GetPortRequest(port_id=port.id)
    refused = failure(lambda: api.ports.GetPort(get_port, metadata=bearer("bob")))
    assert (refused.code, refused.reason) == (grpc.StatusCode.NOT_FOUND, "PORT_NOT_FOUND")
    listed = api.ports.ListPorts(port_service_pb2.ListPortsRequest(), metadata=bearer("bob"))
    assert not listed.ports
    on_net = failure(lambda: create_port(api, "bob", network_id=net.id))
    assert (on_net.code, on_net.reason) == (grpc.StatusCode.NOT_FOUND, "NETWORK_NOT_FOUND")
    assert (
        len(
            api.ports.ListPorts(port_service_pb2.ListPortsRequest(), metadata=bearer("admin")).ports
        )
        == 1
    )


def test_a_refused_bind_names_the_field_and_changes_nothing(secured: Secured) -> None:
    api = secured
    net = create_network(api, "alice")
    port = create_port(api, "alice", network_id=net.id)
    get = port_service_pb2.GetPortRequest(port_id=port.id)
    before = api.ports.GetPort(get, metadata=bearer("admin")).port
    request = port_service_pb2.UpdatePortRequest(
        port=port_pb2.Port(id=port.id, binding=binding_pb2.PortBinding(host_id="ovs-1")),
        update_mask=field_mask_pb2.FieldMask(paths=["binding.host_id"]),
    )
    for who in ("alice", "rita"):
        refused = failure(lambda who=who: api.ports.UpdatePort(request, metadata=bearer(who)))
        assert refused.code == grpc.StatusCode.PERMISSION_DENIED
        assert refused.message.startswith("binding.host_id: ") or who == "rita"
    assert api.ports.GetPort(get, metadata=bearer("admin")).port == before
    bound = api.ports.UpdatePort(request, metadata=bearer("nova")).port
    assert (bound.binding.host_id, bound.binding.vif_type) == ("ovs-1", "ovs")
    seen = api.ports.GetPort(get, metadata=bearer("alice")).port
    assert (seen.binding.host_id, seen.binding.vif_type) == ("", "")
