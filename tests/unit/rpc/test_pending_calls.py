"""A burst of calls that arrives while a server's process is busy waits for it instead of
being refused: gRPC's core refuses new calls at random beyond 1,000 waiting by default, and
every server here has room for ``ML2_GRPC_MAX_PENDING_CALLS`` (20,000)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc._cython import cygrpc
from ml2.v1 import port_pb2, port_service_pb2, port_service_pb2_grpc
from ml2_driver_sdk.runtime import config, server

BURST = 2_500
"""Calls in the burst: well past gRPC's default 1,000, where it refuses at random."""


class Servicer(port_service_pb2_grpc.PortServiceServicer):
    def GetPort(self, request: Any, context: Any) -> port_service_pb2.GetPortResponse:
        return port_service_pb2.GetPortResponse(port=port_pb2.Port(id=request.port_id))


def server_ids() -> set[int]:
    """The channelz ids of every server of this process (channelz answers in pages of 100)."""
    ids: set[int] = set()
    start = 0
    while True:
        page = json.loads(cygrpc.channelz_get_servers(start))
        servers = page.get("server", [])
        ids.update(int(s["ref"]["serverId"]) for s in servers)
        if page.get("end", False) or not servers:
            return ids
        start = max(ids) + 1


def calls_started(ids: set[int]) -> int:
    """Calls the servers ``ids`` have received (channelz), taken or still waiting. Only this
    test's server is counted: a sum over the process would drop the counts of earlier tests'
    servers as they are collected meanwhile."""
    total = 0
    for server_id in ids:
        data = json.loads(cygrpc.channelz_get_server(server_id)).get("server", {}).get("data", {})
        total += int(data.get("callsStarted", 0))
    return total


def wait_until(condition: Any, seconds: float = 20.0) -> bool:
    """Whether ``condition`` held within ``seconds`` (less than the 30 s gRPC's core lets a
    call wait untaken before it cancels it, ``grpc.server_max_unrequested_time_in_server``)."""
    deadline = time.monotonic() + seconds
    gate = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            return False
        gate.wait(0.02)
    return True


@pytest.fixture
def stalled() -> Iterator[tuple[server.ServerHandle, threading.Event, set[int]]]:
    """An asyncio server (mechmgr's kind) whose event loop is held busy until the event is
    set: no call is taken meanwhile, every arriving one waits in gRPC's queue."""
    earlier = server_ids()
    handle = server.build_server(
        [(port_service_pb2_grpc.add_PortServiceServicer_to_server, Servicer(), "x.PortService")],
        max_workers=4,
        asyncio_streams=True,
    )
    handle.server.start()
    mine = server_ids() - earlier
    release = threading.Event()

    async def busy() -> None:
        release.wait(120)  # blocks the loop, as a long stretch of work on it would

    asyncio.run_coroutine_threadsafe(busy(), handle.server.loop)
    try:
        yield handle, release, mine
    finally:
        release.set()
        handle.server.stop(0).wait(30)


def test_a_burst_that_arrives_while_the_server_is_busy_is_served_in_full(
    stalled: tuple[server.ServerHandle, threading.Event, set[int]],
) -> None:
    handle, release, mine = stalled
    assert mine, "channelz lists no new server"
    before = calls_started(mine)
    with grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel:
        stub = port_service_pb2_grpc.PortServiceStub(channel)
        calls = [
            stub.GetPort.future(port_service_pb2.GetPortRequest(port_id=str(i)), timeout=90)
            for i in range(BURST)
        ]
        # Every call of the burst reaches the server and waits there to be taken.
        arrived = wait_until(lambda: calls_started(mine) - before >= BURST)
        release.set()
        codes: dict[str, int] = {}
        for call in calls:
            try:
                call.result()
                code = "OK"
            except grpc.RpcError as err:
                code = err.code().name
            codes[code] = codes.get(code, 0) + 1
    assert codes == {"OK": BURST}
    assert arrived, f"channelz counted {calls_started(mine) - before} of the {BURST} calls"


def test_the_room_for_waiting_calls_is_a_setting() -> None:
    options = dict(server.server_options())
    assert options["grpc.server.max_pending_requests"] == server.DEFAULT_PENDING_CALLS
    assert options["grpc.server.max_pending_requests_hard_limit"] == 2 * 20_000
    assert server.pending_calls({"ML2_GRPC_MAX_PENDING_CALLS": "500"}) == 500
    with pytest.raises(config.ConfigError, match="CALLS=0: must be at least 1"):
        server.pending_calls({"ML2_GRPC_MAX_PENDING_CALLS": "0"})
    with pytest.raises(config.ConfigError, match="ML2_GRPC_MAX_PENDING_CALLS='many'"):
        server.pending_calls({"ML2_GRPC_MAX_PENDING_CALLS": "many"})


def test_a_service_refuses_to_start_with_a_bad_value(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        server.check_start_settings(
            "typemgr", {"ML2_AUTH_DISABLED": "1", "ML2_GRPC_MAX_PENDING_CALLS": "-5"}
        )
    assert stopped.value.code == 2
    assert "ML2_GRPC_MAX_PENDING_CALLS=-5: must be at least 1" in capsys.readouterr().err
