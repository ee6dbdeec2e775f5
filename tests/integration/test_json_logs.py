"""Every line a service process logs is one JSON object, gRPC core's own lines included.

The scenario that used to put plain text into the logs: mechmgr keeps an idle channel to a
mechanism driver whose server runs elsewhere with gRPC's default ping policy (here a bare gRPC
server in the test process), so that server answers mechmgr's keepalive pings with ``GOAWAY
too_many_pings`` and gRPC's C core reports it on stderr. With ``GRPC_TRACE`` the core adds its
trace lines. All of them must arrive as records of the ``grpc`` logger.
"""

from __future__ import annotations

import json
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from ml2.v1 import mechanism_driver_service_pb2_grpc
from ml2_driver_sdk import serve
from ml2_driver_sdk.runtime import keepalive

from services import launcher
from services.drivers.noop import driver as noop


def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_grpc_core_lines_are_json_records(tmp_path: Path) -> None:
    foreign = grpc.server(futures.ThreadPoolExecutor(max_workers=2))  # gRPC's default options
    mechanism_driver_service_pb2_grpc.add_MechanismDriverServiceServicer_to_server(
        serve.DriverServicer(noop.NoopDriver()), foreign
    )
    port = foreign.add_insecure_port("127.0.0.1:0")
    foreign.start()
    try:
        mechmgr = launcher.start(
            "mechmgr",
            "services.mechmgr",
            {
                "MECHMGR_LISTEN": "127.0.0.1:0",
                "MECHMGR_METRICS_PORT": "0",
                "MECHMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'mechmgr.db'}",
                "MECHMGR_MECHANISM_DRIVERS": f"noop=127.0.0.1:{port}",
                "MECHMGR_TYPEMGR_ADDRESS": "",
                keepalive.TIME_VAR: "0.5",
                "GRPC_TRACE": "http_keepalive",
            },
            log_dir=tmp_path / "logs",
            timeout=30,
        )

        def log() -> str:
            return mechmgr.log_path.read_text(encoding="utf-8", errors="replace")

        refused = wait_for(lambda: "too_many_pings" in log(), timeout=60)
        assert mechmgr.stop() == 0, mechmgr.log_tail()
    finally:
        foreign.stop(0)
    assert refused, "the foreign driver server never refused mechmgr's pings:\n" + log()[-2000:]
    records = []
    for number, line in enumerate(log().splitlines(), start=1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
        assert isinstance(record, dict), line
        records.append(record)
    core = [r for r in records if r["logger"] == "grpc"]
    assert all(r["service"] == "mechmgr" and r["source"] for r in core), core[:3]
    goaway = [r for r in core if "ENHANCE_YOUR_CALM" in r["message"]]
    assert goaway and goaway[0]["level"] == "ERROR", core[-5:]
    assert any("keepalive ping" in r["message"] and r["level"] == "INFO" for r in core)
    assert any(r["logger"] != "grpc" and r["message"] == "stopped" for r in records)
