from __future__ import annotations

import pytest
from ml2_driver_sdk.runtime.config import ConfigError

from services.mechmgr import config


def test_defaults_serve_the_local_stack():
    settings = config.Settings.from_env({})

    assert settings.listen == "127.0.0.1:50052"
    assert settings.metrics_port == 9102
    assert settings.database_url == "sqlite:///./data/mechmgr.db"
    assert settings.mechanism_drivers == (
        config.DriverEndpoint("openvswitch", "127.0.0.1:50061"),
        config.DriverEndpoint("linuxbridge", "127.0.0.1:50062"),
    )
    assert settings.driver_timeout == 1.0
    assert (settings.driver_breaker_failures, settings.driver_breaker_cooldown) == (5, 10.0)
    assert settings.agent_down_time == 75
    assert settings.heartbeat_interval == 30
    assert settings.typemgr_address == "127.0.0.1:50051"


def test_mechanism_drivers_keep_the_configured_order():
    drivers = config.parse_mechanism_drivers(
        " fabric=tor.example:7000, openvswitch = mechdriver-openvswitch:50061 ,noop=[::1]:50069"
    )

    assert [(d.name, d.address) for d in drivers] == [
        ("fabric", "tor.example:7000"),
        ("openvswitch", "mechdriver-openvswitch:50061"),
        ("noop", "[::1]:50069"),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("openvswitch", "must be name=host:port"),
        ("openvswitch=127.0.0.1", "must be host:port"),
        ("openvswitch=127.0.0.1:99999", "must be host:port"),
        ("Open vSwitch=127.0.0.1:1", "must be lower-case"),
        ("=127.0.0.1:1", "must be lower-case"),
        ("a=h:1,a=h:2", "listed twice"),
        (" , ", "at least one driver"),
    ],
)
def test_malformed_mechanism_drivers_are_refused(raw, message):
    with pytest.raises(ConfigError, match="MECHMGR_MECHANISM_DRIVERS") as err:
        config.Settings.from_env({"MECHMGR_MECHANISM_DRIVERS": raw})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_heartbeat_interval_must_be_at_most_half_the_down_time():
    ok = config.Settings.from_env(
        {"MECHMGR_AGENT_DOWN_TIME_SECONDS": "2", "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": "1"}
    )
    assert (ok.agent_down_time, ok.heartbeat_interval) == (2, 1)

    with pytest.raises(
        ConfigError, match="MECHMGR_HEARTBEAT_INTERVAL_SECONDS=40: must be at most half"
    ):
        config.Settings.from_env({"MECHMGR_HEARTBEAT_INTERVAL_SECONDS": "40"})


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MECHMGR_DRIVER_TIMEOUT_SECONDS": "0"}, "MECHMGR_DRIVER_TIMEOUT_SECONDS"),
        ({"MECHMGR_DRIVER_TIMEOUT_SECONDS": "fast"}, "MECHMGR_DRIVER_TIMEOUT_SECONDS"),
        ({"MECHMGR_DRIVER_BREAKER_FAILURES": "0"}, "MECHMGR_DRIVER_BREAKER_FAILURES=0: must be"),
        ({"MECHMGR_DRIVER_BREAKER_FAILURES": "2.5"}, "MECHMGR_DRIVER_BREAKER_FAILURES='2.5'"),
        (
            {"MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS": "0"},
            "MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS=0.0: must be more than 0",
        ),
        (
            {"MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS": "soon"},
            "MECHMGR_DRIVER_BREAKER_COOLDOWN_SECONDS='soon': must be a number",
        ),
        ({"MECHMGR_AGENT_DOWN_TIME_SECONDS": "0"}, "MECHMGR_AGENT_DOWN_TIME_SECONDS"),
        (
            {"MECHMGR_BINDABILITY_CACHE_SECONDS": "-1"},
            "MECHMGR_BINDABILITY_CACHE_SECONDS=-1.0: must be at least 0",
        ),
        (
            {"MECHMGR_BINDABILITY_CACHE_SECONDS": "inf"},
            "MECHMGR_BINDABILITY_CACHE_SECONDS=inf: must be a finite number",
        ),
        (
            {"MECHMGR_BINDABILITY_CACHE_SECONDS": "nan"},
            "MECHMGR_BINDABILITY_CACHE_SECONDS=nan: must be a finite number",
        ),
        ({"MECHMGR_LISTEN": "50052"}, "MECHMGR_LISTEN"),
        ({"MECHMGR_METRICS_PORT": "70000"}, "MECHMGR_METRICS_PORT"),
        ({"MECHMGR_DATABASE_URL": "mysql://x"}, "MECHMGR_DATABASE_URL"),
        ({"MECHMGR_TYPEMGR_ADDRESS": "typemgr"}, "MECHMGR_TYPEMGR_ADDRESS"),
        ({"ML2_LOG_LEVEL": "LOUD"}, "ML2_LOG_LEVEL"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        config.Settings.from_env(env)


def test_the_bindability_cache_keeps_answers_five_seconds_unless_told_and_zero_turns_it_off():
    assert config.Settings.from_env({}).bindability_cache_seconds == 5.0
    assert (
        config.Settings.from_env(
            {"MECHMGR_BINDABILITY_CACHE_SECONDS": "0"}
        ).bindability_cache_seconds
        == 0.0
    )


def test_an_empty_typemgr_address_disables_dynamic_segments():
    assert config.Settings.from_env({"MECHMGR_TYPEMGR_ADDRESS": ""}).typemgr_address == ""


def test_heartbeats_are_flushed_every_quarter_interval_at_most_every_five_seconds():
    assert config.Settings.from_env({}).flush_interval == 5.0
    short = config.Settings.from_env(
        {"MECHMGR_AGENT_DOWN_TIME_SECONDS": "3", "MECHMGR_HEARTBEAT_INTERVAL_SECONDS": "1"}
    )
    assert short.flush_interval == 0.25
    assert config.Settings.from_env({"MECHMGR_HEARTBEAT_FLUSH_SECONDS": "0"}).flush_interval == 0
    explicit = config.Settings.from_env({"MECHMGR_HEARTBEAT_FLUSH_SECONDS": "2.5"})
    assert explicit.flush_interval == 2.5


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("15", "must be less than half of MECHMGR_HEARTBEAT_INTERVAL_SECONDS=30"),
        ("-1", "must be at least 0"),
        ("soon", "must be a number"),
    ],
)
def test_a_flush_interval_that_could_lose_two_heartbeats_is_refused(raw, message):
    with pytest.raises(ConfigError, match="MECHMGR_HEARTBEAT_FLUSH_SECONDS") as caught:
        config.Settings.from_env({"MECHMGR_HEARTBEAT_FLUSH_SECONDS": raw})

    assert message in str(caught.value)
