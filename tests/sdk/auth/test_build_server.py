"""``build_server`` with an authenticator, threaded and asyncio: every method but health needs
a token, and a request rule decides from a field of the request (an agent's own host)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from ml2_driver_sdk.runtime import config, policy, server
from ml2_driver_sdk.runtime.auth import Authenticator, JwtVerifier

from services.security import tokens

RULES = {"host_agent": "role:admin or agent_host:%(host)s"}
HOSTS = {"a-1": "host-a", "b-1": "host-b"}


class Agents(agent_service_pb2_grpc.AgentServiceServicer):
    def RegisterAgent(self, request: Any, context: Any) -> Any:
        return agent_service_pb2.RegisterAgentResponse(agent=request.agent)

    def HeartbeatAgent(self, request: Any, context: Any) -> Any:
        return agent_service_pb2.HeartbeatAgentResponse(
            agent=agent_pb2.Agent(id=request.agent_id, host=HOSTS[request.agent_id])
        )


class AsyncAgents(Agents):
    async def RegisterAgent(self, request: Any, context: Any) -> Any:  # type: ignore[override]
        await asyncio.sleep(0)
        return agent_service_pb2.RegisterAgentResponse(agent=request.agent)


_M = "/ml2.v1.AgentService/"


@pytest.fixture(params=[False, True], ids=["threaded", "asyncio"])
def stub(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[agent_service_pb2_grpc.AgentServiceStub, tokens.SigningKey, grpc.Channel]]:
    asynchronous = request.param
    tokens.generate_hs256_secret(str(tmp_path / "k.secret"))
    key = tokens.SigningKey.from_file(str(tmp_path / "k.secret"))
    authenticator = Authenticator(
        JwtVerifier(secret_files=[str(tmp_path / "k.secret")]),
        policy=policy.load(RULES),
        request_rules={
            f"{_M}RegisterAgent": ("host_agent", lambda r: {"host": r.agent.host}),
            f"{_M}HeartbeatAgent": (
                "host_agent",
                lambda r: {"host": HOSTS[r.agent_id]} if r.agent_id in HOSTS else None,
            ),
        },
    )
    servicer = AsyncAgents() if asynchronous else Agents()
    handle = server.build_server(
        [
            (
                agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
                servicer,
                "ml2.v1.AgentService",
            )
        ],
        asyncio_streams=asynchronous,
        authenticator=authenticator,
    )
    handle.server.start()
    server.set_serving(handle, True)
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        yield agent_service_pb2_grpc.AgentServiceStub(channel), key, channel
    handle.server.stop(None).wait()


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def register(host: str) -> agent_service_pb2.RegisterAgentRequest:
    return agent_service_pb2.RegisterAgentRequest(
        agent=agent_pb2.Agent(agent_type="openvswitch", host=host)
    )


def test_health_is_open_and_the_rest_needs_a_token(stub) -> None:
    agents, _, channel = stub
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as info:
        agents.RegisterAgent(register("host-a"), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_an_agent_acts_for_its_own_host_only(stub) -> None:
    agents, key, _ = stub
    host_a = bearer(tokens.agent(key, "host-a"))
    assert agents.RegisterAgent(register("host-a"), metadata=host_a, timeout=5).agent.host == (
        "host-a"
    )
    with pytest.raises(grpc.RpcError) as info:
        agents.RegisterAgent(register("host-b"), metadata=host_a, timeout=5)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "RegisterAgent" in info.value.details() and "host_agent" in info.value.details()
    beat = agent_service_pb2.HeartbeatAgentRequest
    agents.HeartbeatAgent(beat(agent_id="a-1"), metadata=host_a, timeout=5)
    with pytest.raises(grpc.RpcError) as info:
        agents.HeartbeatAgent(beat(agent_id="b-1"), metadata=host_a, timeout=5)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_administrator_acts_for_every_host(stub) -> None:
    agents, key, _ = stub
    admin = bearer(tokens.admin(key))
    assert agents.RegisterAgent(register("host-b"), metadata=admin, timeout=5).agent.host == (
        "host-b"
    )


def test_without_settings_a_process_refuses_to_start_unless_authentication_is_disabled(
    tmp_path: Path,
) -> None:
    for environ in ({}, {"ML2_AUTH_REQUIRED": "1"}, {"ML2_AUTH_DISABLED": "0"}):
        with pytest.raises(config.ConfigError) as refused:
            server.authenticator_from_env("probe", environ=environ)
        message = str(refused.value)
        assert "ML2_AUTH_JWT_KEY_FILES" in message and "ML2_AUTH_DISABLED=1" in message
    assert server.authenticator_from_env("probe", environ={"ML2_AUTH_DISABLED": "1"}) is None
    with pytest.raises(config.ConfigError, match="contradict"):
        server.authenticator_from_env(
            "probe", environ={"ML2_AUTH_DISABLED": "1", "ML2_AUTH_REQUIRED": "1"}
        )
    with pytest.raises(config.ConfigError, match="ML2_AUTH_REQUIRED=maybe"):
        server.authenticator_from_env("probe", environ={"ML2_AUTH_REQUIRED": "maybe"})
    with pytest.raises(config.ConfigError, match="ML2_AUTH_DISABLED=maybe"):
        server.authenticator_from_env("probe", environ={"ML2_AUTH_DISABLED": "maybe"})
    # Settings win over the opt-out: a process given a key never serves openly.
    tokens.generate_hs256_secret(str(tmp_path / "k.secret"))
    settings = {"ML2_AUTH_JWT_SECRET_FILES": str(tmp_path / "k.secret"), "ML2_AUTH_DISABLED": "1"}
    assert server.authenticator_from_env("probe", environ=settings) is not None
    settings["ML2_AUTH_REQUIRED"] = "1"
    assert server.authenticator_from_env("probe", environ=settings) is not None


def test_request_rules_name_rules_the_policy_has() -> None:
    with pytest.raises(ValueError, match="nope"):
        Authenticator(
            None,  # type: ignore[arg-type]
            policy=policy.load(RULES),
            request_rules={f"{_M}RegisterAgent": ("nope", lambda r: {})},
        )
