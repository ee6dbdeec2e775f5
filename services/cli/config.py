"""Where the ``ml2`` client commands look for the stack, from the environment.

``ML2_PORTAPI_ADDRESS``  portapi's gRPC address (default 127.0.0.1:50050)
``ML2_MECHMGR_ADDRESS``  mechmgr's gRPC address (default 127.0.0.1:50052)
``ML2_TYPEMGR_ADDRESS``  typemgr's gRPC address (default 127.0.0.1:50051), for segment ranges
``ML2_TOKEN_FILE``       the file of the token every call sends (``--token-file``)
``ML2_TOKEN``            the token itself, when there is no file
``ML2_DATA_DIR``         the ``ml2 up`` data dir whose administrator token is the default
                         (default ``data``, what ``ml2 up`` uses)
``ML2_TLS_*``            the certificate, key and CA of mutual TLS (``ml2_driver_sdk.runtime.tls``);
                         without them, the data dir's certificate after ``ml2 up --tls``
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ml2_driver_sdk.runtime import tls
from ml2_driver_sdk.runtime.auth import TokenSource

from services.security import local, local_tls

DEFAULT_PORTAPI_ADDRESS = "127.0.0.1:50050"
DEFAULT_MECHMGR_ADDRESS = "127.0.0.1:50052"
DEFAULT_TYPEMGR_ADDRESS = "127.0.0.1:50051"
DEFAULT_PROJECT = "default"
DEFAULT_DATA_DIR = "data"


def portapi_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--portapi`` address."""
    return (environ if environ is not None else os.environ).get(
        "ML2_PORTAPI_ADDRESS", DEFAULT_PORTAPI_ADDRESS
    )


def mechmgr_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--mechmgr`` address."""
    return (environ if environ is not None else os.environ).get(
        "ML2_MECHMGR_ADDRESS", DEFAULT_MECHMGR_ADDRESS
    )


def typemgr_address(environ: Mapping[str, str] | None = None) -> str:
    """The default ``--typemgr`` address."""
    return (environ if environ is not None else os.environ).get(
        "ML2_TYPEMGR_ADDRESS", DEFAULT_TYPEMGR_ADDRESS
    )


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The data dir of the local ``ml2 up`` (``ML2_DATA_DIR``, default ``./data``)."""
    env = environ if environ is not None else os.environ
    return Path(env.get("ML2_DATA_DIR", "").strip() or DEFAULT_DATA_DIR)


def token_source(
    token_file: str = "", environ: Mapping[str, str] | None = None, local_token: str = "admin"
) -> TokenSource | None:
    """The token the client commands send: ``--token-file``, else ``ML2_TOKEN_FILE`` or
    ``ML2_TOKEN``, else the local ``ml2 up`` data dir's token named ``local_token`` (the
    administrator's; ``compute`` for the commands that bind and plug as a compute node does),
    if there is one; None otherwise (calls go without a token)."""
    if token_file:
        return TokenSource(path=token_file)
    source = TokenSource.from_env(environ)
    if source is not None:
        return source
    found = local.token_path(data_dir(environ), local_token)
    return TokenSource(path=str(found)) if found.is_file() else None


def tls_files(
    environ: Mapping[str, str] | None = None, local_name: str = "admin"
) -> tls.TlsFiles | None:
    """The certificate the client commands present: the ``ML2_TLS_*`` settings, else, while the
    local ``ml2 up`` data dir serves TLS (``ml2 up --tls``), its certificate named
    ``local_name`` (as ``token_source``'s ``local_token``); None otherwise (plaintext). Raises
    ConfigError for inconsistent settings."""
    found = tls.TlsFiles.from_env(environ)
    if found is not None:
        return found
    return local_tls.client_files(data_dir(environ), local_name)
