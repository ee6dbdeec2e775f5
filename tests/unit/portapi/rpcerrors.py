"""Reading the rich status of a failed call in tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass
class Failure:
    """What a failed call carried."""

    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str]


def failure(call: Callable[[], Any]) -> Failure:
    """Runs ``call``, which must fail, and returns its status, reason and metadata."""
    try:
        call()
    except grpc.RpcError as err:
        reason, metadata = "", {}
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
        for detail in status.details if status is not None else ():
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                reason, metadata = info.reason, dict(info.metadata)
        return Failure(err.code(), err.details(), reason, metadata)  # type: ignore[attr-defined]
    raise AssertionError("the call succeeded; it was expected to fail")
