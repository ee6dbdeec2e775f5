"""Authentication of every call, shared by every service and driver process.

Server: build a verifier (``JwtVerifier``, ``StaticTokenVerifier``, or both in a
``ChainVerifier``; ``from_env`` reads them from ``ML2_AUTH_*`` settings), wrap it in an
``Authenticator`` and install ``AuthInterceptor(authenticator)`` (``AsyncAuthInterceptor`` on
an asyncio server) first among a server's interceptors. A handler reads the caller with
``current()``. Client: ``TokenSource.from_env()`` and ``intercept(channel, source)``.
"""

from ml2_driver_sdk.runtime.auth.client import (
    BearerInterceptor,
    TokenSource,
    call_credentials,
    intercept,
)
from ml2_driver_sdk.runtime.auth.errors import AuthError, Unauthenticated
from ml2_driver_sdk.runtime.auth.identity import (
    ADMIN,
    MEMBER,
    READER,
    SERVICE,
    Identity,
    NoIdentity,
    current,
    current_or_none,
)
from ml2_driver_sdk.runtime.auth.interceptor import (
    OPEN_METHOD_PREFIXES,
    AsyncAuthInterceptor,
    Authenticator,
    AuthInterceptor,
    TokenCache,
)
from ml2_driver_sdk.runtime.auth.settings import from_env
from ml2_driver_sdk.runtime.auth.verifiers import (
    ChainVerifier,
    ClaimMapping,
    Grant,
    JwtVerifier,
    StaticTokenVerifier,
    Verifier,
)

__all__ = [
    "ADMIN",
    "MEMBER",
    "OPEN_METHOD_PREFIXES",
    "READER",
    "SERVICE",
    "AsyncAuthInterceptor",
    "AuthError",
    "AuthInterceptor",
    "Authenticator",
    "BearerInterceptor",
    "ChainVerifier",
    "ClaimMapping",
    "Grant",
    "Identity",
    "JwtVerifier",
    "NoIdentity",
    "StaticTokenVerifier",
    "TokenCache",
    "TokenSource",
    "Unauthenticated",
    "Verifier",
    "call_credentials",
    "current",
    "current_or_none",
    "from_env",
    "intercept",
]
