"""Error statuses stay small enough for gRPC's trailers whatever value they echo."""

from __future__ import annotations

from google.rpc import error_details_pb2
from ml2_driver_sdk.runtime import errors


def test_a_huge_echoed_value_is_cut_in_the_message_and_the_metadata() -> None:
    huge = "日" * 5000
    status = errors.NotFound(f"port {huge} not found", port_id=huge).to_status()
    assert len(status.message.encode()) <= errors.MESSAGE_MAX_BYTES
    assert status.message.startswith("port 日日") and status.message.endswith(" more characters)")
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert len(info.metadata["port_id"].encode()) <= errors.METADATA_MAX_BYTES


def test_short_messages_are_sent_as_they_are() -> None:
    status = errors.InvalidArgument("network.name", "is required").to_status()
    assert status.message == "network.name: is required"
