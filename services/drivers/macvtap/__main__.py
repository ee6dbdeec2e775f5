"""Serves the macvtap mechanism driver (gRPC 127.0.0.1:50065, metrics 9115 by default)."""

from ml2_driver_sdk import serve

from services.drivers.macvtap.driver import SPEC

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
