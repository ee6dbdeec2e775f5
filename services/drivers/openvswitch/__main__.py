"""Serves the Open vSwitch mechanism driver (gRPC 127.0.0.1:50061, metrics 9111 by default)."""

from ml2_driver_sdk import serve

from services.drivers.openvswitch.driver import SPEC

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
