"""Serves the Linux bridge mechanism driver (gRPC 127.0.0.1:50062, metrics 9112 by default)."""

from services.mechmgr.drivers import serve
from services.mechmgr.drivers.linuxbridge import driver

serve.run(driver.LinuxbridgeDriver(), default_port=50062, default_metrics_port=9112)
