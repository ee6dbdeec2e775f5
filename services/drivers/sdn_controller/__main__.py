"""Serves the sdn-controller mechanism driver (gRPC 127.0.0.1:50066, metrics 9116 by default)."""

from ml2_driver_sdk import serve

from services.drivers.sdn_controller.driver import SPEC

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
