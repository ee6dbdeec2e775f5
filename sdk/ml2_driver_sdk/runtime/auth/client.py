"""The client side: a token attached to every call.

``TokenSource`` holds the token a process calls with: the content of a file (read again when it
changes, as a Kubernetes projected service-account token is rotated under a running pod) or of
the ``ML2_TOKEN`` environment variable. Attach it with ``call_credentials`` on a TLS channel, or
with ``intercept(channel, source)`` on any channel (gRPC only sends call credentials over a
secure one), or pass ``source.metadata()`` to a call yourself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import grpc
from ml2_driver_sdk.runtime.auth.files import WatchedFile

TOKEN_ENV = "ML2_TOKEN"
TOKEN_FILE_ENV = "ML2_TOKEN_FILE"


def _read_token(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        token = fh.read().strip()
    if not token:
        raise ValueError(f"{path}: the token file is empty")
    return token


class TokenSource:
    """A token from ``path`` (read again when the file changes, looked at at most every
    ``interval`` seconds) or, without a path, the fixed ``token``."""

    def __init__(self, *, path: str = "", token: str = "", interval: float = 1.0) -> None:
        if bool(path) == bool(token):
            raise ValueError("a token source needs exactly one of a token file and a token")
        self._file = WatchedFile(path, _read_token, interval=interval) if path else None
        self._token = token

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenSource | None:
        """``ML2_TOKEN_FILE`` (a path) or else ``ML2_TOKEN`` (the token); None if neither."""
        environ = os.environ if environ is None else environ
        path = environ.get(TOKEN_FILE_ENV, "").strip()
        if path:
            return cls(path=path)
        token = environ.get(TOKEN_ENV, "").strip()
        return cls(token=token) if token else None

    def token(self) -> str:
        return self._file.get() if self._file is not None else self._token

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The call metadata carrying the token."""
        return (("authorization", f"Bearer {self.token()}"),)


class _Plugin(grpc.AuthMetadataPlugin):
    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def __call__(self, context: Any, callback: Any) -> None:
        try:
            callback(self._source.metadata(), None)
        except Exception as exc:  # a token file that cannot be read fails the call, clearly
            callback((), exc)


def call_credentials(source: TokenSource) -> grpc.CallCredentials:
    """Call credentials for a secure channel (``grpc.composite_channel_credentials``)."""
    return grpc.metadata_call_credentials(_Plugin(source), name="ml2-bearer")


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(self, details: Any, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = tuple(metadata)
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class BearerInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the source's token to every call of a channel (secure or not)."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def _details(self, details: Any) -> Any:
        metadata = [item for item in (details.metadata or ()) if item[0] != "authorization"]
        metadata.extend(self._source.metadata())
        return _ClientCallDetails(details, metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def intercept(channel: grpc.Channel, source: TokenSource | None) -> grpc.Channel:
    """``channel`` sending ``source``'s token on every call (``channel`` itself if None)."""
    if source is None:
        return channel
    return grpc.intercept_channel(channel, BearerInterceptor(source))
