"""Serves the Hyper-V mechanism driver (gRPC 127.0.0.1:50063, metrics 9113 by default)."""

from ml2_driver_sdk import serve

from services.drivers.hyperv.driver import SPEC

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
