"""Serves the Open vSwitch mechanism driver (gRPC 127.0.0.1:50061, metrics 9111 by default)."""

from services.mechmgr.drivers import serve
from services.mechmgr.drivers.openvswitch import driver

serve.run(driver.OpenvswitchDriver(), default_port=50061, default_metrics_port=9111)
