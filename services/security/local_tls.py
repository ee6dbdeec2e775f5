"""Mutual TLS of one local installation (``ml2 up --tls``): a CA kept in the data directory and a
certificate per process, the administrator's, the compute service's and the demo member's.

Layout under ``DATA_DIR/tls`` (the directory mode 0700, every key 0600)::

    ca.key, ca.crt       the local CA (created once, kept across restarts)
    <name>.key/.crt      typemgr, mechmgr, portapi, driver-<name>, admin, compute,
                         member-demo, agent: each valid for serving (127.0.0.1, ::1,
                         localhost, the process name, this machine's name and the listen
                         address) and for calling, issued again at every start
    in-use               present while the last ``ml2 up`` of this data dir ran with --tls:
                         the client commands then call with the data dir's certificate

The certificate names follow the token names (``services.security.local``), so a client that
calls with ``tokens/compute.token`` presents ``tls/compute.crt``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml2_driver_sdk.runtime import tls

from services.security import local, pki

CERT_LIFETIME_DAYS = 365

AGENT = "agent"
"""The certificate the L2 agents of this machine present (``ml2 agent run --data-dir``)."""

CLIENTS = ("admin", local.COMPUTE, f"member-{local.DEMO_PROJECT}", AGENT)
"""The client certificates besides the processes': one per token ``ml2 up`` writes, and the
agents'."""

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")

SETTINGS = (tls.CERT_FILE_ENV, tls.KEY_FILE_ENV, tls.CA_FILE_ENV, tls.SERVER_NAME_ENV)
"""Every ``ML2_TLS_*`` setting."""


def tls_dir(data_dir: Path) -> Path:
    return data_dir / "tls"


def ca(data_dir: Path) -> pki.Issued:
    directory = tls_dir(data_dir)
    return pki.Issued(str(directory / "ca.key"), str(directory / "ca.crt"))


def marker(data_dir: Path) -> Path:
    return tls_dir(data_dir) / "in-use"


def in_use(data_dir: Path) -> bool:
    """True when the last ``ml2 up`` of ``data_dir`` served mutual TLS."""
    return marker(data_dir).is_file()


def files(data_dir: Path, name: str) -> tls.TlsFiles:
    """The certificate, key and CA of ``name`` (a token name: ``admin``, ``portapi``,
    ``driver-openvswitch``)."""
    directory = tls_dir(data_dir).resolve()
    return tls.TlsFiles(
        cert_file=str(directory / f"{name}.crt"),
        key_file=str(directory / f"{name}.key"),
        ca_file=str(directory / "ca.crt"),
    )


def ensure_ca(data_dir: Path) -> pki.Issued:
    """The installation's CA, created the first time (in a 0700 directory)."""
    directory = tls_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    issued = ca(data_dir)
    if not (os.path.isfile(issued.key_path) and os.path.isfile(issued.cert_path)):
        pki.create_ca(str(directory))
    return issued


def issue(data_dir: Path, name: str, hosts: tuple[str, ...] = ()) -> tls.TlsFiles:
    """Issues ``name``'s certificate (serving and calling) from the data dir's CA; returns its
    files."""
    names = tuple(dict.fromkeys((*LOOPBACK_NAMES, name.removeprefix("driver-"), *hosts)))
    pki.issue(
        ensure_ca(data_dir),
        str(tls_dir(data_dir)),
        name,
        server_names=names,
        client=True,
        days=CERT_LIFETIME_DAYS,
    )
    return files(data_dir, name)


def prepare(data_dir: Path, processes: list[str], hosts: tuple[str, ...] = ()) -> None:
    """Issues a certificate for every process (``hosts``: further names and addresses they are
    reached at) and every client of ``CLIENTS``, and marks the data dir as serving TLS."""
    for process in processes:
        issue(data_dir, local.process_token_name(process), hosts)
    for client in CLIENTS:
        issue(data_dir, client)
    marker(data_dir).write_text("ml2 up --tls\n", encoding="utf-8")


def forget(data_dir: Path) -> None:
    """Marks the data dir as serving plaintext (``ml2 up`` without --tls); the CA stays."""
    marker(data_dir).unlink(missing_ok=True)


def process_env(data_dir: Path, process: str) -> dict[str, str]:
    """A stack process's ``ML2_TLS_*`` settings: serve and call with its certificate."""
    return client_env(data_dir, local.process_token_name(process))


def client_env(data_dir: Path, name: str = "admin") -> dict[str, str]:
    """The ``ML2_TLS_*`` settings of a client presenting ``name``'s certificate."""
    found = files(data_dir, name)
    return {
        tls.CERT_FILE_ENV: found.cert_file,
        tls.KEY_FILE_ENV: found.key_file,
        tls.CA_FILE_ENV: found.ca_file,
    }


def client_files(data_dir: Path, name: str = "admin") -> tls.TlsFiles | None:
    """The certificate a client command on this machine presents (``name``'s, else the
    administrator's) while the data dir serves TLS; None otherwise."""
    if not in_use(data_dir):
        return None
    for candidate in (name, "admin"):
        found = files(data_dir, candidate)
        if os.path.isfile(found.cert_file):
            return found
    return None
