"""Serves the SR-IOV NIC switch mechanism driver (gRPC 127.0.0.1:50064, metrics 9114 by
default)."""

from ml2_driver_sdk import serve

from services.drivers.sriov.driver import SPEC

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
