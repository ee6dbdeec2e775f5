"""The agent's defaults from the environment.

``ML2_MECHMGR_ADDRESS``  mechmgr's gRPC address (default 127.0.0.1:50052)
``ML2_PORTAPI_ADDRESS``  portapi's gRPC address (default 127.0.0.1:50050)
``ML2_AGENT_OVSDB``      the Open vSwitch database socket (default /var/run/openvswitch/db.sock)
``ML2_AGENT_NETNS``      the host's network namespace, when the agent runs outside it
``ML2_AGENT_METRICS_PORT`` the agent's /metrics port (default 9130 openvswitch, 9131 linuxbridge;
                          0 picks a free one)
``ML2_AGENT_METRICS_HOST`` the address the /metrics port listens on (default 127.0.0.1; on a
                          cluster the node's address, for Prometheus and the kubelet's probes)
``ML2_LOG_LEVEL``        log level (default INFO)
``ML2_LOG_FORMAT``       ``text`` (default: the agent usually runs in a terminal) or ``json``
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_MECHMGR_ADDRESS = "127.0.0.1:50052"
DEFAULT_PORTAPI_ADDRESS = "127.0.0.1:50050"
DEFAULT_OVSDB = "/var/run/openvswitch/db.sock"
DEFAULT_METRICS_PORTS = {"openvswitch": 9130, "linuxbridge": 9131}
"""The metrics port of each kind of real agent (the simulated ones serve no metrics)."""
DEFAULT_METRICS_HOST = "127.0.0.1"


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def mechmgr_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--mechmgr`` address."""
    return _env(environ).get("ML2_MECHMGR_ADDRESS", DEFAULT_MECHMGR_ADDRESS)


def log_level(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--log-level``."""
    return _env(environ).get("ML2_LOG_LEVEL", "INFO")


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--log-format``."""
    return _env(environ).get("ML2_LOG_FORMAT", "text")


def portapi_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--portapi`` address."""
    return _env(environ).get("ML2_PORTAPI_ADDRESS", DEFAULT_PORTAPI_ADDRESS)


def ovsdb(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--ovsdb`` socket."""
    return _env(environ).get("ML2_AGENT_OVSDB", DEFAULT_OVSDB)


def netns(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--netns`` (empty: the agent's own namespace)."""
    return _env(environ).get("ML2_AGENT_NETNS", "")


def metrics_port(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--metrics-port`` as given (empty: the agent type's default)."""
    return _env(environ).get("ML2_AGENT_METRICS_PORT", "")


def metrics_host(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--metrics-host``."""
    return _env(environ).get("ML2_AGENT_METRICS_HOST", DEFAULT_METRICS_HOST)
