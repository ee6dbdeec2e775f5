"""The openvswitch driver as a driver process built before ProposeBindings existed: it serves
DescribeDriver and ProposeBinding only, so gRPC answers ProposeBindings with UNIMPLEMENTED.

    python -m tests.integration.single_call_driver   (MECHDRIVER_LISTEN, ML2_PORT_FILE)
"""

from __future__ import annotations

import os
from typing import Any

import grpc
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2_driver_sdk import serve
from ml2_driver_sdk.runtime import server

from services.drivers.openvswitch import driver

SERVICE = "ml2.v1.MechanismDriverService"


def add_single_calls(servicer: serve.DriverServicer, grpc_server: grpc.Server) -> None:
    """Registers the two single-call methods of ``servicer``, and nothing else."""
    handlers: dict[str, Any] = {
        "DescribeDriver": grpc.unary_unary_rpc_method_handler(
            servicer.DescribeDriver,
            request_deserializer=pb.DescribeDriverRequest.FromString,
            response_serializer=pb.DescribeDriverResponse.SerializeToString,
        ),
        "ProposeBinding": grpc.unary_unary_rpc_method_handler(
            servicer.ProposeBinding,
            request_deserializer=pb.ProposeBindingRequest.FromString,
            response_serializer=pb.ProposeBindingResponse.SerializeToString,
        ),
    }
    grpc_server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


if __name__ == "__main__":
    server.run_service(
        "mechdriver-single-call",
        [(add_single_calls, serve.DriverServicer(driver.OpenvswitchDriver()), SERVICE)],
        listen=os.environ.get("MECHDRIVER_LISTEN", "127.0.0.1:0"),
        metrics_port=0,
        port_file=os.environ.get("ML2_PORT_FILE", ""),
    )
