"""One error model for every service, mapped to gRPC status in one place.

    ServiceError                 INTERNAL
     ├── InvalidArgument         INVALID_ARGUMENT   a field breaks a rule; names the field
     ├── NotFound                NOT_FOUND          an id names nothing
     ├── AlreadyExists           ALREADY_EXISTS     a unique thing is taken (an id, a flat network)
     ├── FailedPrecondition      FAILED_PRECONDITION the resource is not in a state that allows it
     ├── ResourceExhausted       RESOURCE_EXHAUSTED a pool has no free id
     ├── Aborted                 ABORTED            a race was lost after bounded retries
     └── Unavailable             UNAVAILABLE        a service this one depends on does not answer

Services subclass these with a specific ``reason`` (``SEGMENTATION_ID_IN_USE``). The server
interceptor (``ml2_driver_sdk.runtime.server``) turns them into ``google.rpc.Status`` with an
``ErrorInfo`` detail carrying the reason and metadata; anything else becomes INTERNAL and is
logged once. Servicers never call ``context.abort`` themselves. Clients turn a failed call back
into the same class with ``from_rpc_error`` so that an error crossing two services keeps its code
and reason.
"""

from __future__ import annotations

from typing import ClassVar

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN = "modular-l2"
MESSAGE_MAX_BYTES = 1024
"""Most bytes of UTF-8 of an error message on the wire; longer ones are cut (they echo a value
the request sent, which may be huge)."""
METADATA_MAX_BYTES = 256
"""Most bytes of UTF-8 of one ErrorInfo metadata value on the wire."""


class ServiceError(Exception):
    """Base of every error a servicer raises on purpose."""

    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    reason: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None, **metadata: object) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason  # type: ignore[misc]
        self.metadata = {k: str(v) for k, v in metadata.items() if v is not None}

    def to_status(self) -> status_pb2.Status:
        """Returns the rich status sent to the client, with the message and metadata values cut
        to MESSAGE_MAX_BYTES and METADATA_MAX_BYTES: gRPC refuses trailers of more than 8 KiB,
        and the client would get RESOURCE_EXHAUSTED instead of this error."""
        info = error_details_pb2.ErrorInfo(
            reason=self.reason,
            domain=DOMAIN,
            metadata={k: clip(v, METADATA_MAX_BYTES) for k, v in self.metadata.items()},
        )
        detail = any_pb2.Any()
        detail.Pack(info)
        return status_pb2.Status(
            code=self.code.value[0], message=clip(self.message, MESSAGE_MAX_BYTES), details=[detail]
        )


def clip(text: str, max_bytes: int) -> str:
    """Returns ``text`` if its UTF-8 fits in ``max_bytes``, else its start that does, marked
    with how many characters were cut."""
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    kept = data[: max_bytes - 40].decode(errors="ignore")
    return f"{kept}... ({len(text) - len(kept)} more characters)"


class InvalidArgument(ServiceError):
    """A request field breaks a rule. The message names the field and the rule."""

    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, rule: str, *, reason: str | None = None, **metadata: object):
        super().__init__(f"{field}: {rule}", reason=reason, field=field, **metadata)
        self.field = field

    @classmethod
    def from_message(
        cls, message: str, field: str, *, reason: str | None = None, **metadata: object
    ) -> InvalidArgument:
        """Returns the error with a complete ``message``, as another service worded it."""
        exc = cls.__new__(cls)
        ServiceError.__init__(exc, message, reason=reason, field=field or None, **metadata)
        exc.field = field
        return exc


class NotFound(ServiceError):
    """An id names nothing."""

    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(ServiceError):
    """Something that must be unique is taken."""

    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class FailedPrecondition(ServiceError):
    """The resource is not in a state that allows the operation."""

    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class ResourceExhausted(ServiceError):
    """A pool has nothing left to allocate."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"


class Aborted(ServiceError):
    """A concurrent change won every one of a bounded number of tries."""

    code = grpc.StatusCode.ABORTED
    reason = "ABORTED"


class Unavailable(ServiceError):
    """A service this one depends on did not answer."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


_BY_CODE: dict[grpc.StatusCode, type[ServiceError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        ResourceExhausted,
        Aborted,
        Unavailable,
    )
}


def from_rpc_error(err: grpc.RpcError, *, peer: str = "") -> ServiceError:
    """Returns the ServiceError a failed call carried, keeping its code, reason and metadata.

    Transport failures (UNAVAILABLE, DEADLINE_EXCEEDED) become Unavailable naming ``peer``.
    """
    if not isinstance(err, grpc.Call):
        return ServiceError(f"{peer or 'peer'} call failed: {err}")
    code, message = err.code(), err.details() or ""
    reason: str | None = None
    metadata: dict[str, str] = {}
    status = rpc_status.from_call(err)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return Unavailable(f"{peer or 'peer'} unavailable: {message}", peer=peer)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        field = metadata.pop("field", "")
        return InvalidArgument.from_message(message, field, reason=reason, **metadata)
    cls = _BY_CODE.get(code, ServiceError)
    return cls(message or code.name, reason=reason, **metadata)
