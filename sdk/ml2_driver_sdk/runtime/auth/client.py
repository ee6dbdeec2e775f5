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
        self._metadata: tuple[str, tuple[tuple[str, str], ...]] = ("", ())

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
        """The call metadata carrying the token (made again only when the token changes)."""
        token = self.token()
        made_for, metadata = self._metadata
        if token != made_for or not metadata:
            metadata = (("authorization", f"Bearer {token}"),)
            self._metadata = (token, metadata)
        return metadata


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


class BearerInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the source's token to every call of a channel (secure or not), as a client
    interceptor, for code that composes interceptors; ``intercept`` does the same more cheaply."""

    def __init__(self, source: TokenSource) -> None:
        self._source = source

    def _details(self, details: Any) -> Any:
        return _ClientCallDetails(details, _with_token(details.metadata, self._source))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(self, details: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


def _with_token(metadata: Any, source: TokenSource) -> tuple[tuple[str, str], ...]:
    """A call's metadata with the source's token in place of any ``authorization`` entry."""
    own = source.metadata()
    if not metadata:
        return own
    return (*(item for item in metadata if item[0] != "authorization"), *own)


def _passing_token(name: str) -> Any:
    """The method ``name`` of a ``_WithToken``: the inner multicallable's own, with the token
    put into the call's metadata."""

    def call(
        self: _WithToken,
        request: Any,
        timeout: float | None = None,
        metadata: Any = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        target = self._inner if name == "__call__" else getattr(self._inner, name)
        with_token = _with_token(metadata, self._source)
        return target(request, timeout, with_token, credentials, wait_for_ready, compression)

    call.__name__ = name
    return call


class _WithToken:
    """A method of a ``_TokenChannel``: the channel's own multicallable, each call given the
    token in its metadata (what an interceptor does, without gRPC's interception machinery,
    which costs a blocking call about 35 µs more of CPU)."""

    __slots__ = ("_inner", "_source")

    def __init__(self, inner: Any, source: TokenSource) -> None:
        self._inner = inner
        self._source = source

    __call__ = _passing_token("__call__")
    with_call = _passing_token("with_call")
    future = _passing_token("future")


class _TokenChannel(grpc.Channel):
    """A channel whose every call carries the source's token."""

    def __init__(self, channel: grpc.Channel, source: TokenSource) -> None:
        self._channel = channel
        self._source = source

    def subscribe(self, callback: Any, try_to_connect: bool = False) -> None:
        self._channel.subscribe(callback, try_to_connect=try_to_connect)

    def unsubscribe(self, callback: Any) -> None:
        self._channel.unsubscribe(callback)

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _WithToken(self._channel.unary_unary(method, *args, **kwargs), self._source)

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _WithToken(self._channel.unary_stream(method, *args, **kwargs), self._source)

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _WithToken(self._channel.stream_unary(method, *args, **kwargs), self._source)

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _WithToken(self._channel.stream_stream(method, *args, **kwargs), self._source)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> _TokenChannel:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._channel.close()


def intercept(channel: grpc.Channel, source: TokenSource | None) -> grpc.Channel:
    """``channel`` sending ``source``'s token on every call (``channel`` itself if None)."""
    if source is None:
        return channel
    return _TokenChannel(channel, source)
