"""The mechanism manager: resolves bindings with the configured drivers and the agent registry.

One resolution reads the host's agents once (one query, every type, with liveness), builds their
messages once, and hands both to the resolver with drivers bound to the caller's deadline.

A check of many hosts (``check``) reads the agents of every host in one query and runs the
batched loop (``resolver.resolve_bindabilities``) over chunks of ``CHECK_CHUNK`` hosts at once,
on ``CHECK_THREADS`` threads: while one chunk waits for a driver process, the next is prepared,
so that mechmgr and the drivers work at the same time. Agent messages are kept between checks
(``AgentMessages``): an agent's message changes only when its row does.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass

from ml2.v1 import agent_pb2
from ml2_contract import convert, values

from services.mechmgr import agents, driver_client, metrics, resolver, segment_client

logger = logging.getLogger(__name__)

CHECK_CHUNK = 200
"""Hosts per batch of a check: each driver is asked about at most this many in one call."""
CHECK_THREADS = 4
"""Chunks of one check resolved at once."""


@dataclass(frozen=True)
class CheckResult:
    """The answers of a check, in request order, and the message of every agent they name,
    by agent id (built once, for the answers' conversion to reuse)."""

    answers: list[resolver.Bindability]
    agent_messages: dict[str, agent_pb2.Agent]


class AgentMessages:
    """The messages of agents as of their rows: an agent whose heartbeat, admin state and
    liveness are unchanged keeps its message. Thread-safe; holds at most ``limit`` agents."""

    def __init__(self, limit: int = 20000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._known: dict[tuple[object, ...], agent_pb2.Agent] = {}

    def of(self, agent: values.Agent) -> agent_pb2.Agent:
        """Returns the message of ``agent`` (shared: callers must not change it)."""
        # A registration writes capabilities and heartbeat together, so the heartbeat time
        # stands for the capabilities too.
        key = (
            agent.id,
            agent.heartbeat_at,
            agent.admin_state_up,
            agent.alive,
            agent.binary,
            agent.agent_type,
            agent.host,
        )
        with self._lock:
            found = self._known.get(key)
        if found is not None:
            return found
        message = convert.agent_to_proto(agent)
        with self._lock:
            if len(self._known) >= self._limit:
                self._known.clear()
            self._known[key] = message
        return message


class MechanismManager:
    """Resolves port bindings and describes the configured drivers."""

    def __init__(
        self,
        drivers: Sequence[driver_client.DriverClient],
        registry: agents.AgentRegistry,
        segments: segment_client.SegmentClient,
    ) -> None:
        self.drivers = list(drivers)
        self._registry = registry
        self._segments = segments
        self._agent_messages = AgentMessages()
        self._pool = futures.ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="check")

    def resolve(
        self, request: resolver.BindingRequest, deadline: float | None = None
    ) -> values.BindingResult:
        """Resolves ``request`` (its host agents are loaded here). ``deadline`` is a
        ``time.monotonic()`` instant after which no driver is asked any more."""
        started = time.perf_counter()
        host_agents = self._registry.host_agents(request.host)
        request = dataclasses.replace(
            request, host_agents=host_agents, agent_down_time=self._registry.down_time
        )
        agent_messages = [convert.agent_to_proto(a) for a in host_agents]
        bound = [driver_client.BoundDriver(c, deadline, agent_messages) for c in self.drivers]
        allocate = self._allocator_for(request, deadline)
        result = resolver.resolve_binding(request, bound, allocate)
        metrics.observe(result)
        _log(request, result, time.perf_counter() - started)
        return result

    def check(
        self, requests: Sequence[resolver.BindingRequest], deadline: float | None = None
    ) -> CheckResult:
        """Answers whether a port could bind for each request (its host agents are loaded here,
        for every host in one query), asking each driver about all undecided hosts of a chunk
        and level in one call. Writes nothing and allocates no dynamic segment."""
        started = time.perf_counter()
        by_host = self._registry.agents_by_host([r.host for r in requests])
        down_time = self._registry.down_time
        requests = [
            dataclasses.replace(r, host_agents=by_host[r.host], agent_down_time=down_time)
            for r in requests
        ]
        by_id = {a.id: self._agent_messages.of(a) for agents in by_host.values() for a in agents}
        messages = {host: [by_id[a.id] for a in agents] for host, agents in by_host.items()}
        bound = [driver_client.BatchBoundDriver(c, deadline, messages) for c in self.drivers]
        chunks = [requests[i : i + CHECK_CHUNK] for i in range(0, len(requests), CHECK_CHUNK)]
        answers: list[resolver.Bindability] = []
        for part in self._pool.map(lambda c: resolver.resolve_bindabilities(c, bound), chunks):
            answers.extend(part)
        bindable = sum(1 for a in answers if a.bindable)
        logger.debug(
            "checked %d hosts: %d bindable, in %.1f ms",
            len(answers),
            bindable,
            (time.perf_counter() - started) * 1000,
        )
        return CheckResult(answers, by_id)

    def _allocator_for(
        self, request: resolver.BindingRequest, deadline: float | None
    ) -> resolver.AllocateDynamic:
        """Returns the dynamic segment allocator of one resolution: the port holds what it
        allocates, as of the generation being resolved, and typemgr is asked within the
        resolution's deadline."""

        def allocate(network_id: str, spec: values.SegmentSpec) -> values.Segment:
            return self._segments.allocate_dynamic(
                network_id,
                spec,
                holder=request.port_id,
                generation=request.binding_generation,
                deadline=deadline,
            )

        return allocate

    def describe_drivers(self, timeout: float) -> list[driver_client.DriverInfo]:
        """Returns every configured driver in binding order with its description, if it answers."""
        return driver_client.describe_all(self.drivers, timeout)


def _log(request: resolver.BindingRequest, result: values.BindingResult, took: float) -> None:
    extra = {
        "port_id": request.port_id,
        "host": request.host,
        "vif_type": result.vif_type,
        "duration_ms": round(took * 1000, 3),
    }
    if result.bound:
        logger.debug(
            "bound port %s on host %s: %s by %s",
            request.port_id,
            request.host,
            result.vif_type,
            "/".join(lvl.driver for lvl in result.levels),
            extra=extra,
        )
    else:
        logger.info("%s", result.failure_message, extra=extra)
