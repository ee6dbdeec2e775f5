"""The keepalive of client channels and of servers agree: a server permits every ping its
clients send, for the defaults and for configured values.

The options are captured where they are handed to gRPC (``grpc.insecure_channel`` and
``grpc.server``), so the test checks what the processes really run with.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import grpc
import pytest
from ml2_driver_sdk.runtime import keepalive, server
from ml2_driver_sdk.runtime.config import ConfigError

from services.rpc import channels
from services.typemgr.config import Settings as TypemgrSettings

GRPC_SERVER_DEFAULTS = {
    "grpc.keepalive_time_ms": 2 * 60 * 60 * 1000,
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.http2.min_ping_interval_without_data_ms": 5 * 60 * 1000,
    "grpc.http2.max_ping_strikes": 2,
}
"""What a gRPC server does when an option is not set (gRPC core's documented defaults)."""

GRPC_CLIENT_DEFAULTS = {
    "grpc.keepalive_permit_without_calls": 0,
    "grpc.http2.max_pings_without_data": 2,
}


class Captured(Exception):
    """Stops ``build_server`` once the server's options are known."""


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, dict[str, Any]]]:
    """The options the code hands to ``grpc.insecure_channel`` and ``grpc.server``."""
    seen: dict[str, dict[str, Any]] = {}

    def fake_channel(address: str, options: Any = None, **_: Any) -> Any:
        seen["client"] = dict(options or ())
        return None

    def fake_server(*_: Any, options: Any = None, **__: Any) -> Any:
        seen["server"] = dict(options or ())
        raise Captured

    monkeypatch.setattr(grpc, "insecure_channel", fake_channel)
    monkeypatch.setattr(grpc, "server", fake_server)
    yield seen


def options_in(
    environ: Mapping[str, str], monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The client and server options of a process started with ``environ``."""
    for name in (keepalive.TIME_VAR, keepalive.TIMEOUT_VAR):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(keepalive, "_installed", None)
    channels.make_channel("127.0.0.1:1")
    with pytest.raises(Captured):
        server.build_server([])
    return (
        {**GRPC_CLIENT_DEFAULTS, **captured["client"]},
        {**GRPC_SERVER_DEFAULTS, **captured["server"]},
    )


CONFIGURATIONS = [
    {},
    {keepalive.TIME_VAR: "1", keepalive.TIMEOUT_VAR: "5"},
    {keepalive.TIME_VAR: "0.5"},
    {keepalive.TIME_VAR: "600", keepalive.TIMEOUT_VAR: "20"},
]


@pytest.mark.parametrize("environ", CONFIGURATIONS, ids=["defaults", "1s", "0.5s", "600s"])
def test_servers_permit_every_ping_their_clients_send(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    client, server_options = options_in(environ, monkeypatch, captured)
    period = client["grpc.keepalive_time_ms"]
    expected = float(environ.get(keepalive.TIME_VAR, "30")) * 1000
    assert period == expected
    # Clients ping idle connections, and keep doing so.
    assert client["grpc.keepalive_permit_without_calls"] == 1
    assert client["grpc.http2.max_pings_without_data"] == 0
    # Servers welcome pings without calls, down to half the clients' period.
    assert server_options["grpc.keepalive_permit_without_calls"] == 1
    assert server_options["grpc.http2.min_ping_interval_without_data_ms"] <= period / 2
    assert 1 <= server_options["grpc.http2.max_ping_strikes"] <= 3
    # Servers ping their clients alike, so that they notice a client that vanished.
    assert server_options["grpc.keepalive_time_ms"] == period
    assert (
        server_options["grpc.keepalive_timeout_ms"]
        == client["grpc.keepalive_timeout_ms"]
        == float(environ.get(keepalive.TIMEOUT_VAR, "10")) * 1000
    )


def test_an_installed_policy_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, captured: dict[str, Any]
) -> None:
    monkeypatch.setenv(keepalive.TIME_VAR, "7")
    monkeypatch.setattr(keepalive, "_installed", None)
    keepalive.install(keepalive.Keepalive(2.0, 1.0))
    channels.make_channel("127.0.0.1:1")
    with pytest.raises(Captured):
        server.build_server([])
    assert captured["client"]["grpc.keepalive_time_ms"] == 2000
    assert captured["server"]["grpc.http2.min_ping_interval_without_data_ms"] == 1000


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({keepalive.TIME_VAR: "soon"}, "ML2_GRPC_KEEPALIVE_TIME_SECONDS='soon': must be a number"),
        ({keepalive.TIME_VAR: "0"}, "ML2_GRPC_KEEPALIVE_TIME_SECONDS=0.0: must be at least 0.1"),
        (
            {keepalive.TIMEOUT_VAR: "-1"},
            "ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS=-1.0: must be at least 0.1",
        ),
    ],
)
def test_malformed_values_are_refused_naming_the_variable(
    environ: dict[str, str], words: str
) -> None:
    with pytest.raises(ConfigError, match="^" + words.replace("(", r"\(")):
        keepalive.Keepalive.from_env(environ)
    with pytest.raises(ConfigError, match="ML2_GRPC_KEEPALIVE"):
        TypemgrSettings.from_env(environ)


def test_every_service_reads_the_same_policy() -> None:
    from ml2_driver_sdk.serve import ServeSettings

    from services.mechmgr.config import Settings as MechmgrSettings
    from services.portapi.config import Settings as PortapiSettings

    environ = {keepalive.TIME_VAR: "3", keepalive.TIMEOUT_VAR: "2"}
    want = keepalive.Keepalive(3.0, 2.0)
    assert TypemgrSettings.from_env(environ).keepalive == want
    assert MechmgrSettings.from_env(environ).keepalive == want
    assert PortapiSettings.from_env(environ).keepalive == want
    assert ServeSettings.from_env(environ, 1, 2).keepalive == want
