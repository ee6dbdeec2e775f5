"""Serves the Linux bridge mechanism driver (gRPC 127.0.0.1:50062, metrics 9112 by default)."""

from services.mechmgr.drivers import serve
from services.mechmgr.drivers.linuxbridge.driver import SPEC

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
