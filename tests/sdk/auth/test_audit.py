"""The audit interceptor ``build_server`` installs, threaded and asyncio: one record per call of
an audited method of any kind (unary, stream-unary, stream-stream, coroutine or async generator),
refusals of the auth interceptor and of the handler included, none for the others; and where
``ML2_AUDIT_LOG`` sends them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from ml2.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from ml2_driver_sdk.runtime import audit, config, errors, server
from ml2_driver_sdk.runtime.auth import Authenticator, JwtVerifier

from services.security import tokens

_M = "/ml2.v1.AgentService/"
AUDITED = {f"{_M}RegisterAgent", f"{_M}DeleteAgent", f"{_M}StreamHeartbeats"}


class Agents(agent_service_pb2_grpc.AgentServiceServicer):
    def RegisterAgent(self, request: Any, context: Any) -> Any:
        return agent_service_pb2.RegisterAgentResponse(
            agent=agent_pb2.Agent(id="new-1", host=request.agent.host)
        )

    def DeleteAgent(self, request: Any, context: Any) -> Any:
        raise errors.NotFound(f"agent {request.agent_id} not found", reason="AGENT_NOT_FOUND")

    def GetAgent(self, request: Any, context: Any) -> Any:
        return agent_service_pb2.GetAgentResponse(agent=agent_pb2.Agent(id=request.agent_id))

    def StreamHeartbeats(self, requests: Iterator[Any], context: Any) -> Iterator[Any]:
        for request in requests:
            yield agent_service_pb2.StreamHeartbeatsResponse(
                agent=agent_pb2.Agent(id=request.agent_id)
            )


class AsyncAgents(Agents):
    async def RegisterAgent(self, request: Any, context: Any) -> Any:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().RegisterAgent(request, context)

    async def StreamHeartbeats(  # type: ignore[override]
        self, requests: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[Any]:
        async for request in requests:
            yield agent_service_pb2.StreamHeartbeatsResponse(
                agent=agent_pb2.Agent(id=request.agent_id)
            )


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(params=[False, True], ids=["threaded", "asyncio"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    tokens.generate_hs256_secret(str(tmp_path / "k.secret"))
    key = tokens.SigningKey.from_file(str(tmp_path / "k.secret"))
    authenticator = Authenticator(JwtVerifier(secret_files=[str(tmp_path / "k.secret")]))
    sink = Records()
    logger = logging.getLogger(f"test.audit.{request.param}")
    logger.addHandler(sink)
    logger.setLevel(logging.INFO)
    auditor = audit.Auditor(AUDITED, authenticator=authenticator, logger=logger)
    handle = server.build_server(
        [
            (
                agent_service_pb2_grpc.add_AgentServiceServicer_to_server,
                AsyncAgents() if request.param else Agents(),
                "ml2.v1.AgentService",
            )
        ],
        asyncio_streams=request.param,
        authenticator=authenticator,
        auditor=auditor,
    )
    handle.server.start()
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        yield agent_service_pb2_grpc.AgentServiceStub(channel), key, sink
    handle.server.stop(None).wait()
    logger.removeHandler(sink)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def test_each_audited_call_leaves_one_record_with_its_outcome(stack: Any) -> None:
    agents, key, sink = stack
    admin = bearer(tokens.admin(key))
    register = agent_service_pb2.RegisterAgentRequest(agent=agent_pb2.Agent(host="h-1"))
    agents.RegisterAgent(register, metadata=(*admin, ("x-request-id", "r-1")), timeout=5)
    with pytest.raises(grpc.RpcError):
        agents.RegisterAgent(register, metadata=bearer("not-a-token"), timeout=5)
    with pytest.raises(grpc.RpcError) as missing:
        agents.DeleteAgent(
            agent_service_pb2.DeleteAgentRequest(agent_id="gone"), metadata=admin, timeout=5
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    agents.GetAgent(agent_service_pb2.GetAgentRequest(agent_id="x"), metadata=admin, timeout=5)
    beats = [agent_service_pb2.StreamHeartbeatsRequest(agent_id=i) for i in ("s-1", "s-2")]
    assert len(list(agents.StreamHeartbeats(iter(beats), metadata=admin, timeout=5))) == 2

    fields = [(r.grpc_method, r.grpc_code, r.reason) for r in sink.records]
    assert fields == [
        ("RegisterAgent", "OK", ""),
        ("RegisterAgent", "UNAUTHENTICATED", "TOKEN_MALFORMED"),
        ("DeleteAgent", "NOT_FOUND", "AGENT_NOT_FOUND"),
        ("StreamHeartbeats", "OK", ""),
    ]
    registered, refused, deleted, streamed = sink.records
    assert (registered.caller_subject, registered.caller_roles) == ("admin", ["admin"])
    assert registered.resource_ids == {"agent.host": "h-1"}
    assert registered.response_ids == {"agent.id": "new-1", "agent.host": "h-1"}
    assert registered.request_id == "r-1" and registered.peer
    assert refused.caller_subject == "" and refused.response_ids == {}
    assert deleted.resource_ids == {"agent_id": "gone"}
    assert streamed.resource_ids == {"agent_id": "s-1"}


def test_ml2_audit_log_sends_the_records_to_a_file_of_their_own_or_nowhere(
    tmp_path: Path,
) -> None:
    assert audit.from_env("probe", AUDITED, environ={"ML2_AUDIT_LOG": "off"}) is None
    assert audit.from_env("probe", (), environ={}) is None
    path = tmp_path / "audit.jsonl"
    logger = logging.getLogger(audit.LOGGER_NAME)
    try:
        auditor = audit.from_env("probe", AUDITED, environ={"ML2_AUDIT_LOG": str(path)})
        assert auditor is not None and not logger.propagate
        call = audit._Call(f"{_M}DeleteAgent", (), 0.0)
        auditor.record(call, grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED")
        for handler in logger.handlers:
            handler.flush()
        (line,) = path.read_text().splitlines()
        record = json.loads(line)
        assert record["audit"] is True and record["service"] == "probe"
        assert (record["grpc_method"], record["grpc_code"]) == ("DeleteAgent", "PERMISSION_DENIED")
        with pytest.raises(config.ConfigError, match="ML2_AUDIT_LOG="):
            audit.from_env("probe", AUDITED, environ={"ML2_AUDIT_LOG": str(tmp_path / "no/x")})
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        logger.propagate = True
