"""The one keepalive policy of every gRPC client channel and every gRPC server.

A client channel pings its server every ``time_seconds`` even without calls, so that a peer that
vanished (a crashed host, a dropped NAT entry) is noticed within ``time_seconds +
timeout_seconds`` rather than on the next call. gRPC servers police pings: by default they allow
one ping in five minutes while calls are running and none without calls, count every earlier ping
as a strike and, on the third strike, close the connection with ``GOAWAY too_many_pings``, failing
the call that happens to be on it. So the server side of the policy is derived from the client
side and permits what the clients do:

* ``grpc.keepalive_permit_without_calls`` on both sides: idle connections are pinged and the
  pings are welcome;
* the server accepts a ping every ``time_seconds / 2`` (``min_ping_interval_without_data``), half
  the client's period, so that a ping delayed on the way and the next one on time are never a
  strike; ``max_ping_strikes`` stays at gRPC's 2, which still stops a client that really floods;
* neither side stops pinging after two pings without data (``max_pings_without_data`` 0): an idle
  connection is watched as closely as a busy one;
* the server pings its clients with the same period and timeout, so that it lets go of a client
  that vanished; its ping timeout (``grpc.http2.ping_timeout_ms``) is the keepalive timeout too:
  gRPC's own default (a minute) would otherwise let a silent but connected client (a stopped
  process, a hung host whose kernel still acknowledges TCP) keep its calls, and a held heartbeat
  lease, for a minute instead of ``timeout_seconds``.

Every process reads ``ML2_GRPC_KEEPALIVE_TIME_SECONDS`` (30) and
``ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS`` (10); give every process of a deployment the same values
(a server permits pings down to half its own period, so clients may ping at most twice as often).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ml2_driver_sdk.runtime import config

TIME_VAR = "ML2_GRPC_KEEPALIVE_TIME_SECONDS"
TIMEOUT_VAR = "ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS"
MIN_SECONDS = 0.1
"""The shortest period and timeout accepted (tests use about a second)."""
MAX_PING_STRIKES = 2
"""Pings earlier than permitted that a server tolerates before it closes the connection."""

Options = list[tuple[str, int]]


@dataclass(frozen=True)
class Keepalive:
    """How often idle connections are pinged and how long a ping may go unanswered."""

    time_seconds: float = 30.0
    """``ML2_GRPC_KEEPALIVE_TIME_SECONDS``: a client pings its server this often, calls or not,
    and a server its clients."""
    timeout_seconds: float = 10.0
    """``ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS``: a ping unanswered for this long closes the
    connection; calls on it fail UNAVAILABLE and the next ones reconnect."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keepalive:
        """Reads both settings. Raises ConfigError naming the variable and the rule."""
        env = config.env(environ)
        return cls(
            time_seconds=config.get_float(env, TIME_VAR, cls.time_seconds, minimum=MIN_SECONDS),
            timeout_seconds=config.get_float(
                env, TIMEOUT_VAR, cls.timeout_seconds, minimum=MIN_SECONDS
            ),
        )

    @property
    def time_ms(self) -> int:
        """The ping period in milliseconds."""
        return round(self.time_seconds * 1000)

    @property
    def timeout_ms(self) -> int:
        """The ping timeout in milliseconds."""
        return round(self.timeout_seconds * 1000)

    @property
    def server_min_ping_interval_ms(self) -> int:
        """The shortest time between two client pings a server accepts: half the period."""
        return self.time_ms // 2

    def client_options(self) -> Options:
        """The channel arguments of a client channel."""
        return [
            ("grpc.keepalive_time_ms", self.time_ms),
            ("grpc.keepalive_timeout_ms", self.timeout_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]

    def server_options(self) -> Options:
        """The channel arguments of a server: permits the client pings, pings its clients."""
        return [
            ("grpc.keepalive_time_ms", self.time_ms),
            ("grpc.keepalive_timeout_ms", self.timeout_ms),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
            ("grpc.http2.min_ping_interval_without_data_ms", self.server_min_ping_interval_ms),
            ("grpc.http2.ping_timeout_ms", self.timeout_ms),
            ("grpc.http2.max_ping_strikes", MAX_PING_STRIKES),
        ]


_installed: Keepalive | None = None


def install(policy: Keepalive) -> None:
    """Makes ``policy`` the one every channel and server of this process uses (a service's
    ``main`` installs the one its settings read)."""
    global _installed
    _installed = policy


def current() -> Keepalive:
    """The policy of this process: the installed one, else read from the environment once.

    Raises ConfigError if the environment holds a malformed value.
    """
    global _installed
    if _installed is None:
        _installed = Keepalive.from_env()
    return _installed
