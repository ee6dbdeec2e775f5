"""``python -m acme_switch``: serves the driver (gRPC 127.0.0.1:50071, metrics 9121 by
default; ``MECHDRIVER_LISTEN``, ``MECHDRIVER_METRICS_PORT`` and the ``ACME_SWITCH_*`` settings
change them)."""

from acme_switch.driver import SPEC
from ml2_driver_sdk import serve

serve.run(
    SPEC.factory, default_port=SPEC.default_port, default_metrics_port=SPEC.default_metrics_port
)
