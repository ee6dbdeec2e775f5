"""Serves the reference driver (gRPC 127.0.0.1:50069, metrics 9119 by default), configured by
``MECHDRIVER_NOOP_*`` (see ``driver.py``)."""

from ml2_driver_sdk import serve

from services.drivers.noop.driver import SPEC

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
