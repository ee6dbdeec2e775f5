"""Runs any ``MechanismDriver`` as its own process serving ``ml2.v1.MechanismDriverService``.

A driver package's ``__main__.py`` is one call::

    serve.run(driver.OpenvswitchDriver(), default_port=50061, default_metrics_port=9111)

Environment (read once at start; a bad value exits with status 2 and a one-line reason):

- ``MECHDRIVER_LISTEN``: gRPC address, host:port (default ``127.0.0.1:<default_port>``).
- ``MECHDRIVER_METRICS_PORT``: Prometheus metrics HTTP port (default ``default_metrics_port``).
- ``ML2_LOG_LEVEL`` (INFO), ``ML2_LOG_FORMAT`` (json or text), ``ML2_PORT_FILE``.
- ``ML2_GRPC_KEEPALIVE_TIME_SECONDS`` (30), ``ML2_GRPC_KEEPALIVE_TIMEOUT_SECONDS`` (10): the
  server's keepalive (``ml2_driver_sdk.runtime.keepalive``).
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import grpc
from ml2.v1 import agent_pb2
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc
from ml2_contract import convert, values
from ml2_driver_sdk import base, discovery
from ml2_driver_sdk.runtime import auth, config, errors, keepalive, logs, policy, server, structs
from ml2_driver_sdk.runtime.auth import driver_rules
from prometheus_client import Counter

logger = logging.getLogger(__name__)

PROPOSALS = Counter(
    "ml2_mechdriver_proposals_total",
    "Proposals this driver process answered, by driver, outcome and first decline reason.",
    ["driver", "outcome", "reason"],
)

MAX_BATCH = 5000
"""The most questions one ProposeBindings call may hold."""

DriverFactory = Callable[[Mapping[str, str]], base.MechanismDriver]


class DriverServicer(pb_grpc.MechanismDriverServiceServicer):
    """Serves one driver: validates the request, asks the driver, returns its proposal."""

    def __init__(self, driver: base.MechanismDriver) -> None:
        self._driver = driver
        self._description = driver.describe()
        self._described = convert.description_to_proto(self._description)
        self._agents = _AgentCache()

    def DescribeDriver(
        self, request: pb.DescribeDriverRequest, context: grpc.ServicerContext
    ) -> pb.DescribeDriverResponse:
        """Returns the driver's description (computed once at start)."""
        return self._described

    def ProposeBinding(
        self, request: pb.ProposeBindingRequest, context: grpc.ServicerContext
    ) -> pb.ProposeBindingResponse:
        """Returns the driver's proposal for one level of a port."""
        ctx = _context(request)
        proposal = self._driver.propose_binding(ctx)
        _count(self._description.name, proposal)
        return convert.proposal_to_proto(proposal)

    def ProposeBindings(
        self, request: pb.ProposeBindingsRequest, context: grpc.ServicerContext
    ) -> pb.ProposeBindingsResponse:
        """Returns the driver's proposal for each question, in order. Every question is
        validated before the driver is asked any; a bad one is refused naming it
        (``requests[3].host``)."""
        if len(request.requests) > MAX_BATCH:
            raise errors.InvalidArgument(
                "requests", f"must hold at most {MAX_BATCH} questions, got {len(request.requests)}"
            )
        contexts = []
        for i, question in enumerate(request.requests):
            try:
                contexts.append(_context(question, self._agents.of))
            except errors.InvalidArgument as exc:
                raise errors.InvalidArgument.from_message(
                    f"requests[{i}].{exc}", f"requests[{i}].{exc.field}"
                ) from None
        responses = []
        for ctx in contexts:
            proposal = self._driver.propose_binding(ctx)
            _count(self._description.name, proposal)
            responses.append(convert.proposal_to_proto(proposal))
        return pb.ProposeBindingsResponse(responses=responses)


class _AgentCache:
    """The agents of recent batches by their message's bytes: the manager asks about the same
    hosts, with the same agent messages, check after check. Holds at most ``limit`` agents."""

    def __init__(self, limit: int = 20000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._known: dict[bytes, values.Agent] = {}

    def of(self, msg: agent_pb2.Agent) -> values.Agent:
        """Returns the Agent ``msg`` carries (immutable, so shared)."""
        key = msg.SerializeToString(deterministic=True)
        with self._lock:
            found = self._known.get(key)
        if found is None:
            found = convert.agent_from_proto(msg)
            with self._lock:
                if len(self._known) >= self._limit:
                    self._known.clear()
                self._known[key] = found
        return found


def _context(
    request: pb.ProposeBindingRequest,
    agent_of: Callable[[agent_pb2.Agent], values.Agent] | None = None,
) -> values.BindingContext:
    if not request.host:
        raise errors.InvalidArgument("host", "is required")
    if request.level < 0:
        raise errors.InvalidArgument("level", f"must be 0 or more, got {request.level}")
    if not request.segments_to_bind:
        raise errors.InvalidArgument("segments_to_bind", "at least one segment is required")
    for i, seg in enumerate(request.segments_to_bind):
        if not seg.id or not seg.network_type:
            raise errors.InvalidArgument(
                f"segments_to_bind[{i}]", "id and network_type are required"
            )
    try:
        return convert.context_from_proto(request, agent_of)
    except convert.StructError as exc:
        raise structs.invalid(exc) from None
    except ValueError as exc:
        raise errors.InvalidArgument("vnic_type", str(exc)) from None


def _count(driver: str, proposal: values.Proposal) -> None:
    reason = ""
    if isinstance(proposal, values.Decline) and proposal.reasons:
        reason = proposal.reasons[0].code
    PROPOSALS.labels(driver, values.outcome_of(proposal), reason).inc()


@dataclass(frozen=True)
class ServeSettings:
    """Where a driver process listens and how it logs."""

    listen: str
    metrics_port: int
    log_level: str
    log_format: str
    port_file: str
    keepalive: keepalive.Keepalive = field(default_factory=keepalive.Keepalive)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], default_port: int, default_metrics_port: int
    ) -> ServeSettings:
        """Reads the settings. Raises ConfigError naming the variable and the rule."""
        listen = config.get_str(environ, "MECHDRIVER_LISTEN", f"127.0.0.1:{default_port}")
        host, _, port = listen.rpartition(":")
        if not host or not port.isdigit() or int(port) > 65535:
            raise config.ConfigError(f"MECHDRIVER_LISTEN={listen!r}: must be host:port")
        metrics_port = config.get_int(environ, "MECHDRIVER_METRICS_PORT", default_metrics_port)
        if metrics_port > 65535:
            raise config.ConfigError(f"MECHDRIVER_METRICS_PORT={metrics_port}: must be a port")
        return cls(
            listen=listen,
            metrics_port=metrics_port,
            log_level=config.get_str(environ, "ML2_LOG_LEVEL", "INFO"),
            log_format=config.get_str(environ, "ML2_LOG_FORMAT", "json"),
            port_file=config.get_str(environ, "ML2_PORT_FILE", ""),
            keepalive=keepalive.Keepalive.from_env(environ),
        )


def run(
    driver: base.MechanismDriver | DriverFactory,
    *,
    default_port: int,
    default_metrics_port: int,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Serves ``driver`` (or the driver ``driver(environ)`` builds) until SIGTERM or SIGINT.

    Exits with status 2 and a one-line reason on bad configuration.
    """
    env = config.env(environ)
    try:
        settings = ServeSettings.from_env(env, default_port, default_metrics_port)
        instance = driver if isinstance(driver, base.MechanismDriver) else driver(env)
    except config.ConfigError as err:
        config.exit_on_config_error("mechdriver", err)
        return
    keepalive.install(settings.keepalive)
    name = instance.describe().name
    logs.configure_logging(f"mechdriver-{name}", settings.log_level, settings.log_format)
    server.run_service(
        f"mechdriver-{name}",
        [
            (
                pb_grpc.add_MechanismDriverServiceServicer_to_server,
                DriverServicer(instance),
                "ml2.v1.MechanismDriverService",
            )
        ],
        listen=settings.listen,
        metrics_port=settings.metrics_port,
        port_file=settings.port_file,
        auth_builder=lambda verifier: driver_authenticator(verifier, env),
    )


def driver_authenticator(
    verifier: auth.Verifier, environ: Mapping[str, str] | None = None
) -> auth.Authenticator:
    """A driver process's authenticator: its RPCs answer mechmgr and administrators
    (``auth.driver_rules``, with the rules of ``ML2_POLICY_FILE`` replacing them). Raises
    ConfigError naming the policy file."""
    path = config.get_str(config.env(environ), "ML2_POLICY_FILE", "").strip()
    try:
        rules = driver_rules.driver_policy(path)
    except policy.PolicyError as err:
        raise config.ConfigError(f"ML2_POLICY_FILE={path}: {err}") from None
    return auth.Authenticator(verifier, policy=rules, method_rules=driver_rules.DRIVER_METHOD_RULES)


def run_installed(name: str, environ: Mapping[str, str] | None = None) -> int:
    """Serves the installed driver ``name`` (see ``discovery``) until SIGTERM or SIGINT;
    returns 2 with a one-line reason on stderr when it is not installed or does not load."""
    try:
        spec = discovery.find(name).load()
    except discovery.DiscoveryError as err:
        print(f"mechdriver: {err}", file=sys.stderr)
        return 2
    run(
        spec.factory,
        default_port=spec.default_port,
        default_metrics_port=spec.default_metrics_port,
        environ=environ,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ml2_driver_sdk NAME``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m ml2_driver_sdk NAME", file=sys.stderr)
        return 2
    return run_installed(args[0])
