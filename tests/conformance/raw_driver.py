"""A mechanism driver process written straight against the generated servicer, as a driver
author might write one without ``serve.py``, with one fault chosen by ``BROKEN_RULE``:

- ``raises-on-empty``: a request without segments raises in the servicer (the client sees
  UNKNOWN, not a refusal naming the field);
- ``service-not-serving``: the health service says SERVING for the server but NOT_SERVING for
  ``ml2.v1.MechanismDriverService``;
- ``batch-differs``: ProposeBindings (which the other faults leave UNIMPLEMENTED) declines every
  question, whatever ProposeBinding answers.

Otherwise it answers as the reference driver (noop), refusing bad requests with
INVALID_ARGUMENT. ``MECHDRIVER_LISTEN`` and ``ML2_PORT_FILE`` as for every driver process.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from ml2.v1 import binding_pb2
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc
from ml2_driver_sdk import serve
from ml2_driver_sdk.runtime import errors, server

from services.drivers.noop import driver

FAULTS = ("raises-on-empty", "service-not-serving", "batch-differs")


class RawServicer(pb_grpc.MechanismDriverServiceServicer):
    """The reference driver's servicer, its errors turned into statuses by hand."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.inner = serve.DriverServicer(driver.NoopDriver())

    def DescribeDriver(
        self, request: pb.DescribeDriverRequest, context: grpc.ServicerContext
    ) -> pb.DescribeDriverResponse:
        return self.inner.DescribeDriver(request, context)

    def ProposeBinding(
        self, request: pb.ProposeBindingRequest, context: grpc.ServicerContext
    ) -> pb.ProposeBindingResponse:
        if self.fault == "raises-on-empty" and not request.segments_to_bind:
            raise IndexError("list index out of range")
        try:
            return self.inner.ProposeBinding(request, context)
        except errors.ServiceError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)

    def ProposeBindings(
        self, request: pb.ProposeBindingsRequest, context: grpc.ServicerContext
    ) -> pb.ProposeBindingsResponse:
        if self.fault != "batch-differs":
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "ProposeBindings is not served")
        reason = binding_pb2.DeclineReason(code="NO_AGENT", message="no agent")
        declined = pb.ProposeBindingResponse(declined=pb.DeclineBinding(reasons=[reason]))
        return pb.ProposeBindingsResponse(responses=[declined for _ in request.requests])


def main() -> None:
    fault = os.environ.get("BROKEN_RULE", "")
    if fault not in FAULTS:
        raise SystemExit(f"BROKEN_RULE={fault!r}: must be one of {', '.join(FAULTS)}")
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    pb_grpc.add_MechanismDriverServiceServicer_to_server(RawServicer(fault), grpc_server)
    checker = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, grpc_server)
    port = grpc_server.add_insecure_port(os.environ.get("MECHDRIVER_LISTEN", "127.0.0.1:0"))
    grpc_server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    checker.set("", serving)
    checker.set(
        "ml2.v1.MechanismDriverService",
        health_pb2.HealthCheckResponse.NOT_SERVING if fault == "service-not-serving" else serving,
    )
    if os.environ.get("ML2_PORT_FILE"):
        server.write_port_file(os.environ["ML2_PORT_FILE"], "raw", port, 0)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    grpc_server.stop(1).wait()


if __name__ == "__main__":
    main()
