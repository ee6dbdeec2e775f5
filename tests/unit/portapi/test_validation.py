from __future__ import annotations

import re
from typing import Any

import pytest
from google.protobuf import struct_pb2
from ml2_driver_sdk.runtime import errors

from services.portapi import config, macs, validate


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    msg = struct_pb2.Struct()
    msg.update(value)
    return msg


def test_profile_of_4095_characters_is_accepted_and_4096_refused() -> None:
    filler = "x" * (4095 - len('{"k":""}'))
    assert validate.profile("port.binding.profile", struct({"k": filler}))
    with pytest.raises(errors.InvalidArgument) as info:
        validate.profile("port.binding.profile", struct({"k": filler + "x"}))
    assert info.value.field == "port.binding.profile"
    assert "at most 4095" in info.value.message and "got 4096" in info.value.message
    assert info.value.reason == "BINDING_PROFILE_TOO_LARGE"


def test_names_longer_than_255_characters_are_refused() -> None:
    validate.bounded("network.name", "n" * 255)
    with pytest.raises(errors.InvalidArgument, match=r"network.name: must be at most 255"):
        validate.bounded("network.name", "n" * 256)


def test_identifiers_are_required_and_without_whitespace() -> None:
    with pytest.raises(errors.InvalidArgument, match=r"network\.project_id: is required"):
        validate.identifier("network.project_id", "  ")
    with pytest.raises(errors.InvalidArgument, match="whitespace"):
        validate.identifier("network.project_id", "a b")
    assert validate.identifier("network.project_id", " demo ") == "demo"


def test_generated_macs_have_the_neutron_prefix_and_differ() -> None:
    generated = {macs.generate() for _ in range(200)}
    assert len(generated) > 190
    assert all(re.fullmatch(r"fa:16:3e(:[0-9a-f]{2}){3}", mac) for mac in generated)
    assert all(macs.problem(mac) == "" for mac in generated)


@pytest.mark.parametrize(
    ("mac", "rule"),
    [
        ("fa:16:3e:00:00", "not a MAC address"),
        ("zz:16:3e:00:00:01", "not a MAC address"),
        ("00:00:00:00:00:00", "all-zero"),
        ("01:00:5e:00:00:01", "multicast"),
    ],
)
def test_bad_macs_are_refused_with_the_rule(mac: str, rule: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=rule) as info:
        validate.mac_address("port.mac_address", mac)
    assert info.value.field == "port.mac_address"


def test_macs_are_normalized() -> None:
    assert validate.mac_address("port.mac_address", "FA-16-3E-AA-BB-CC") == "fa:16:3e:aa:bb:cc"
    assert validate.mac_address("port.mac_address", "") == ""


def test_settings_defaults() -> None:
    settings = config.Settings.from_env({})
    assert settings.listen == "127.0.0.1:50050"
    assert settings.typemgr_address == "127.0.0.1:50051"
    assert settings.mechmgr_address == "127.0.0.1:50052"
    assert settings.bind_max_tries == 10
    assert settings.reconcile_interval_seconds == 30
    # Longer than the longest request: 10 tries x 5 s of mechmgr + 5 s of typemgr, plus 5 s.
    assert settings.longest_request_seconds == 55
    assert settings.reconcile_grace_seconds == 60
    assert settings.agent_check_interval_seconds == 15
    assert (settings.event_retention_count, settings.event_retention_seconds) == (100000, 3600)
    assert settings.event_poll_seconds == 5 and settings.watch_queue_size == 10000


def test_the_reconciler_grace_period_follows_the_timeouts_unless_set() -> None:
    env = {"PORTAPI_MECHMGR_TIMEOUT_SECONDS": "1", "PORTAPI_BIND_MAX_TRIES": "2"}
    # The longer of 2 tries x 1 s + 5 s and twice typemgr's 5 s, plus 5 s.
    assert config.Settings.from_env(env).reconcile_grace_seconds == 10 + 5
    env["PORTAPI_TYPEMGR_TIMEOUT_SECONDS"] = "0.5"
    assert config.Settings.from_env(env).reconcile_grace_seconds == 2.5 + 5
    env["PORTAPI_RECONCILE_GRACE_SECONDS"] = "2.6"
    assert config.Settings.from_env(env).reconcile_grace_seconds == 2.6


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAPI_BIND_MAX_TRIES": "0"}, "PORTAPI_BIND_MAX_TRIES=0: must be at least 1"),
        (
            {"PORTAPI_AGENT_CHECK_INTERVAL_SECONDS": "0"},
            "PORTAPI_AGENT_CHECK_INTERVAL_SECONDS=0",
        ),
        ({"PORTAPI_AGENT_CHECK_INTERVAL_SECONDS": "often"}, "must be a number"),
        ({"PORTAPI_EVENT_RETENTION_COUNT": "0"}, "PORTAPI_EVENT_RETENTION_COUNT=0"),
        ({"PORTAPI_EVENT_RETENTION_SECONDS": "0.5"}, "PORTAPI_EVENT_RETENTION_SECONDS=0.5"),
        ({"PORTAPI_EVENT_PRUNE_INTERVAL_SECONDS": "-1"}, "PORTAPI_EVENT_PRUNE_INTERVAL_SECONDS"),
        ({"PORTAPI_EVENT_POLL_SECONDS": "0"}, "PORTAPI_EVENT_POLL_SECONDS=0"),
        ({"PORTAPI_WATCH_QUEUE_SIZE": "0"}, "PORTAPI_WATCH_QUEUE_SIZE=0: must be at least 1"),
        ({"PORTAPI_EVENT_BATCH_SECONDS": "-0.1"}, "PORTAPI_EVENT_BATCH_SECONDS=-0.1"),
        ({"PORTAPI_WATCH_BATCH_WINDOW_SECONDS": "soon"}, "must be a number"),
        ({"PORTAPI_MECHMGR_ADDRESS": "nowhere"}, "PORTAPI_MECHMGR_ADDRESS='nowhere'"),
        ({"PORTAPI_DATABASE_URL": "mysql://x"}, "PORTAPI_DATABASE_URL"),
        ({"PORTAPI_MECHMGR_TIMEOUT_SECONDS": "soon"}, "must be a number"),
        (
            {"PORTAPI_RECONCILE_INTERVAL_SECONDS": "0"},
            "PORTAPI_RECONCILE_INTERVAL_SECONDS=0.0: must be at least 0.05",
        ),
        (
            {"PORTAPI_RECONCILE_GRACE_SECONDS": "30"},
            "PORTAPI_RECONCILE_GRACE_SECONDS=30: must be more than the longest a request may "
            "take, 55 s",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(config.config.ConfigError, match=re.escape(message)):
        config.Settings.from_env(env)
