"""How a line written to file descriptor 2 by native code becomes a log record."""

from __future__ import annotations

import logging

from ml2_driver_sdk.runtime import logs


def test_a_grpc_core_line_keeps_its_level_source_and_thread() -> None:
    line = (
        "E1201 09:27:39.321224   12537 chttp2_transport.cc:1435] ipv4:127.0.0.1:41997: Received "
        'a GOAWAY with error code ENHANCE_YOUR_CALM and debug data equal to "too_many_pings".'
    )
    level, message, extra = logs.native_record(line)
    assert level == logging.ERROR
    assert message.startswith("ipv4:127.0.0.1:41997: Received a GOAWAY")
    assert extra == {
        "native": "grpc",
        "source": "chttp2_transport.cc:1435",
        "native_thread": "12537",
    }


def test_core_levels() -> None:
    for letter, level in (("I", logging.INFO), ("W", logging.WARNING), ("F", logging.CRITICAL)):
        line = f"{letter}0101 00:00:00.000001 7 log.cc:110] x"
        assert logs.native_record(line)[0] == level


def test_any_other_line_is_a_warning_kept_whole() -> None:
    line = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
    assert logs.native_record(line) == (logging.WARNING, line, {"native": "stderr"})
