"""The command line's connection to the stack: one channel per server, errors as one sentence.

Every call goes through ``Client.call``, which turns a failed gRPC call into ``CommandError``
with the text ``ml2`` prints: ``<CODE>: <message>`` for an error the server sent, or a sentence
naming the address and suggesting ``ml2 up`` when nothing answers there.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import grpc
import jwt
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    agent_service_pb2_grpc,
    mechanism_manager_service_pb2_grpc,
    network_pb2,
    network_service_pb2,
    network_service_pb2_grpc,
    port_pb2,
    port_service_pb2,
    port_service_pb2_grpc,
    segment_range_service_pb2_grpc,
)
from ml2_driver_sdk.runtime import errors as rpc_errors
from ml2_driver_sdk.runtime import tls
from ml2_driver_sdk.runtime.auth import TokenSource

from services.cli import config
from services.rpc import channels

Response = TypeVar("Response")

_PAGE_SIZE = 1000


_T = TypeVar("_T")


EXIT_ERROR = 1
"""A call failed (the server refused it, or nothing answered)."""
EXIT_USAGE = 2
"""Bad usage: an unknown option, a missing argument, a value the command line refuses."""
EXIT_BINDING_FAILED = 3
"""The command ran, but the port's binding ended ``binding_failed`` (``ml2 port bind`` and
``ml2 port create --host``); the port is printed as usual."""


class CommandError(Exception):
    """A command failed; the message is what ``ml2`` prints after ``error:``."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def _sent_by_server(err: grpc.RpcError) -> bool:
    """True if the status carries our ErrorInfo: a server answered, not the transport."""
    if not isinstance(err, grpc.Call):
        return False
    status = rpc_status.from_call(err)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == rpc_errors.DOMAIN:
            return True
    return False


_TLS_FAILURE = re.compile(r"(?i)tls handshake failed.*?OPENSSL_internal:(\w+)")
"""What gRPC says when this client refused the server's TLS (an untrusted certificate, a
plaintext server): the OpenSSL reason. A server that refuses this client's certificate just
closes the connection, which reads as any other unreachable server."""


def describe_rpc_error(err: grpc.RpcError, server: str, address: str) -> str:
    """Returns the one-line text for a failed call to ``server`` at ``address``."""
    code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (err.details() if isinstance(err, grpc.Call) else None) or str(err)
    if code == grpc.StatusCode.UNAVAILABLE and not _sent_by_server(err):
        handshake = _TLS_FAILURE.search(details)
        if handshake:
            return (
                f"cannot reach {server} at {address}: the TLS handshake failed "
                f"({handshake.group(1)}): check the ML2_TLS_* settings (docs/tls.md)"
            )
        return (
            f"cannot reach {server} at {address}: is the stack running? "
            f"Start it with `ml2 up`, or point --{server} at it."
        )
    return f"{code.name}: {details}"


def looks_like_id(text: str) -> bool:
    """True if ``text`` is a UUID (the form of every resource id)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


class Client:
    """Long-lived channels to portapi, mechmgr and typemgr, opened on first use."""

    def __init__(
        self,
        portapi: str,
        mechmgr: str,
        timeout: float = 30.0,
        typemgr: str = config.DEFAULT_TYPEMGR_ADDRESS,
        token: TokenSource | None = None,
        tls_files: tls.TlsFiles | None = None,
    ) -> None:
        self.addresses = {"portapi": portapi, "mechmgr": mechmgr, "typemgr": typemgr}
        self.timeout = timeout
        self.token = token
        self.tls_files = tls_files
        self._channels: dict[str, grpc.Channel] = {}

    def channel(self, server: str) -> grpc.Channel:
        """The channel to ``server`` (portapi, mechmgr or typemgr), opened on first use."""
        return self._channel(server)

    def _channel(self, server: str) -> grpc.Channel:
        if server not in self._channels:
            self._channels[server] = channels.make_channel(
                self.addresses[server], token=self.token, tls_files=self.tls_files
            )
        return self._channels[server]

    def close(self) -> None:
        """Closes every channel."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()

    def call(self, server: str, method: Callable[..., Response], request: Any) -> Response:
        """Calls ``method`` with ``request`` and the client's deadline; raises CommandError."""
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise CommandError(describe_rpc_error(err, server, self.addresses[server])) from None

    @property
    def networks(self) -> network_service_pb2_grpc.NetworkServiceStub:
        """NetworkService of portapi."""
        return network_service_pb2_grpc.NetworkServiceStub(self._channel("portapi"))

    @property
    def ports(self) -> port_service_pb2_grpc.PortServiceStub:
        """PortService of portapi."""
        return port_service_pb2_grpc.PortServiceStub(self._channel("portapi"))

    @property
    def agents(self) -> agent_service_pb2_grpc.AgentServiceStub:
        """AgentService of mechmgr."""
        return agent_service_pb2_grpc.AgentServiceStub(self._channel("mechmgr"))

    @property
    def ranges(self) -> segment_range_service_pb2_grpc.SegmentRangeServiceStub:
        """SegmentRangeService of typemgr."""
        return segment_range_service_pb2_grpc.SegmentRangeServiceStub(self._channel("typemgr"))

    @property
    def mechanisms(self) -> mechanism_manager_service_pb2_grpc.MechanismManagerServiceStub:
        """MechanismManagerService of mechmgr."""
        return mechanism_manager_service_pb2_grpc.MechanismManagerServiceStub(
            self._channel("mechmgr")
        )

    def list_networks(self, project_id: str = "") -> Iterator[network_pb2.Network]:
        """Yields every network, following pages."""
        token = ""
        while True:
            reply = self.call(
                "portapi",
                self.networks.ListNetworks,
                network_service_pb2.ListNetworksRequest(
                    project_id=project_id, page_size=_PAGE_SIZE, page_token=token
                ),
            )
            yield from reply.networks
            token = reply.next_page_token
            if not token:
                return

    def list_ports(self, **filters: str) -> Iterator[port_pb2.Port]:
        """Yields every port matching ``filters`` (ListPortsRequest fields), following pages."""
        token = ""
        while True:
            request = port_service_pb2.ListPortsRequest(
                page_size=_PAGE_SIZE, page_token=token, **filters
            )
            reply = self.call("portapi", self.ports.ListPorts, request)
            yield from reply.ports
            token = reply.next_page_token
            if not token:
                return

    def list_agents(self, host: str = "", agent_type: str = "") -> Iterator[agent_pb2.Agent]:
        """Yields every agent of ``host`` and ``agent_type`` (when given), following pages."""
        token = ""
        while True:
            request = agent_service_pb2.ListAgentsRequest(
                host=host, agent_type=agent_type, page_size=_PAGE_SIZE, page_token=token
            )
            reply = self.call("mechmgr", self.agents.ListAgents, request)
            yield from reply.agents
            token = reply.next_page_token
            if not token:
                return

    def find_network(self, ref: str) -> network_pb2.Network:
        """Returns the network with id ``ref``, or the one network named ``ref``."""
        if looks_like_id(ref):
            request = network_service_pb2.GetNetworkRequest(network_id=ref)
            reply: network_service_pb2.GetNetworkResponse = self.call(
                "portapi", self.networks.GetNetwork, request
            )
            network: network_pb2.Network = reply.network
            return network
        return only(ref, "network", [n for n in self.list_networks() if n.name == ref])

    def find_port(self, ref: str) -> port_pb2.Port:
        """Returns the port with id ``ref``, or the one port named ``ref``."""
        if looks_like_id(ref):
            request = port_service_pb2.GetPortRequest(port_id=ref)
            found: port_service_pb2.GetPortResponse = self.call(
                "portapi", self.ports.GetPort, request
            )
            port: port_pb2.Port = found.port
            return port
        return only(ref, "port", [p for p in self.list_ports() if p.name == ref])


def token_claims(source: TokenSource | None) -> dict[str, Any]:
    """The claims of the client's token as it states them (not verified: the server does);
    empty for no token or one that is not a JWT."""
    if source is None:
        return {}
    try:
        claims = jwt.decode(source.token(), options={"verify_signature": False})
    except (jwt.PyJWTError, OSError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def owning_project(client: Client, project: str) -> str:
    """The project a new network or port belongs to: ``project`` (``--project``) or else the
    token's; raises CommandError when ``project`` is another project than a non-administrator
    token's: acting for a project takes that project's token (``--token-file``)."""
    claims = token_claims(client.token)
    own = str(claims.get("project_id") or "")
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = roles.replace(",", " ").split()
    if project and own and project != own and "admin" not in roles:
        raise CommandError(
            f"--project {project}: this token acts for project {own}; acting for {project} "
            f"takes a token of {project} (--token-file)",
            EXIT_USAGE,
        )
    return project or own or config.DEFAULT_PROJECT


def only(ref: str, kind: str, matches: list[_T]) -> _T:
    """Returns the one match of ``ref``; CommandError when there is none, or several (naming
    their ids)."""
    if not matches:
        raise CommandError(f"NOT_FOUND: no {kind} has the id or name {ref!r}")
    if len(matches) > 1:
        ids = ", ".join(str(getattr(m, "id", "?")) for m in matches)
        raise CommandError(f"{len(matches)} {kind}s are named {ref!r}: {ids}; use the id")
    return matches[0]


def network_labels(networks: Iterable[network_pb2.Network]) -> dict[str, str]:
    """Maps each network's id to what tables show for it: its name when it has one that no
    other network shares (so the name also names it on the command line), else its id."""
    found = list(networks)
    counts = Counter(n.name for n in found)
    return {n.id: n.name if n.name and counts[n.name] == 1 else n.id for n in found}
