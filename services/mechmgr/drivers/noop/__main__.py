"""Serves the reference driver (gRPC 127.0.0.1:50069, metrics 9119 by default), configured by
``MECHDRIVER_NOOP_*`` (see ``driver.py``)."""

from services.mechmgr.drivers import serve
from services.mechmgr.drivers.noop import driver

serve.run(driver.NoopDriver.from_env, default_port=50069, default_metrics_port=9119)
