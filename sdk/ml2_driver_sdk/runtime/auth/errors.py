"""Why a caller was not authenticated."""

from __future__ import annotations

import grpc
from ml2_driver_sdk.runtime import errors


class AuthError(Exception):
    """A token was refused. ``reason`` is one of the constants below; the message says why in
    words a caller can act on, never echoing the token."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


MISSING = "TOKEN_MISSING"
MALFORMED = "TOKEN_MALFORMED"
EXPIRED = "TOKEN_EXPIRED"
NOT_YET_VALID = "TOKEN_NOT_YET_VALID"
BAD_SIGNATURE = "TOKEN_BAD_SIGNATURE"
WRONG_AUDIENCE = "TOKEN_WRONG_AUDIENCE"
WRONG_ISSUER = "TOKEN_WRONG_ISSUER"
MISSING_CLAIM = "TOKEN_MISSING_CLAIM"
UNKNOWN_TOKEN = "TOKEN_UNKNOWN"


class Unauthenticated(errors.ServiceError):
    """The status an unauthenticated call ends with."""

    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"
