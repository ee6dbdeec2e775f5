"""The mechanism manager: resolves bindings with the configured drivers and the agent registry.

One resolution reads the host's agents once (one query, every type, with liveness), builds their
messages once, and hands both to the resolver with drivers bound to the caller's deadline.

A check of many hosts (``check``) reads the agents of every host in one query and runs the
batched loop (``resolver.resolve_bindabilities``) over chunks of ``CHECK_CHUNK`` hosts at once,
on ``CHECK_THREADS`` threads: while one chunk waits for a driver process, the next is prepared,
so that mechmgr and the drivers work at the same time. Agent messages are kept between checks
(``AgentMessages``): an agent's message changes only when its row does. Each host's encoded
answer is kept for a few seconds (``bindability_cache``): a host whose agents, network segments,
vnic type, profile and drivers' states are unchanged is answered without asking the drivers.
A resolution (``resolve``) never reads that cache.

A resolution on the event loop (``resolve_async``) asks typemgr for a dynamic segment its
request's level 0 was offered already (portapi offers level 0 the dynamic segments its network's
committed bindings use, after the static ones) without waiting for the answer
(``AllocationsAhead``): the next level is offered that segment at once, while typemgr records
the port's hold on it and returns it, and the result waits for every such answer. When an
answer differs (typemgr released the segment meanwhile and allocated another, or could not
allocate), the resolution runs again from the start, waiting for typemgr at each allocation, so
that the drivers are asked about exactly what typemgr allocated. Either way the port holds
every dynamic segment its result uses before the result leaves mechmgr, as when each
allocation is waited for.

A level may also bind, as it was offered, a dynamic segment this resolution did not allocate
(a level 0 driver binding one of the network's dynamic segments in use). Both ``resolve`` and
``resolve_async`` then record the port's hold on it before returning (``take_holds``: an
``AllocateDynamicSegment`` for the segment's type, physical network and segmentation id, with
the port and generation); when typemgr returns another segment (it released that one) or
refuses, the resolution runs again with what it returned in its place (or without it), at most
``HOLD_TRIES`` times, then fails with DYNAMIC_SEGMENT_UNAVAILABLE. So every dynamic segment of
a result leaving mechmgr is held by the port, whichever level bound it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent import futures
from dataclasses import dataclass

from ml2.v1 import agent_pb2
from ml2_contract import convert, values, vocabulary

from services.mechmgr import (
    agents,
    bindability_cache,
    driver_client,
    metrics,
    resolver,
    segment_client,
    topology,
)

logger = logging.getLogger(__name__)

CHECK_CHUNK = 200
"""Hosts per batch of a check: each driver is asked about at most this many in one call."""
CHECK_THREADS = 4
"""Chunks of one check resolved at once."""
ALLOCATION_THREADS = 8
"""Dynamic segment allocations asked of typemgr at once without waiting (``AllocationsAhead``)."""


@dataclass(frozen=True)
class CheckResult:
    """The answers of a check, in request order, and the message of every agent they name,
    by agent id (built once, for the answers' conversion to reuse)."""

    answers: list[resolver.Bindability]
    agent_messages: dict[str, agent_pb2.Agent]


Encode = Callable[[CheckResult], list[bytes]]
"""Turns the answers of a check into their encoded messages, one per answer, in order."""


class AgentMessages:
    """The values and messages of agents as of their rows (``agents.RawAgent``): an agent
    whose row and liveness are unchanged keeps its value and message. Thread-safe; holds at
    most ``limit`` agents."""

    def __init__(self, limit: int = 20000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._known: dict[agents.RawAgent, tuple[values.Agent, agent_pb2.Agent]] = {}

    def of(self, raw: agents.RawAgent) -> tuple[values.Agent, agent_pb2.Agent]:
        """Returns the value and message of the agent of ``raw`` (shared: callers must not
        change the message)."""
        with self._lock:
            found = self._known.get(raw)
        if found is not None:
            return found
        agent = agents.agent_from_raw(raw)
        both = (agent, convert.agent_to_proto(agent))
        with self._lock:
            if len(self._known) >= self._limit:
                self._known.clear()
            self._known[raw] = both
        return both


class MechanismManager:
    """Resolves port bindings and describes the configured drivers."""

    def __init__(
        self,
        drivers: Sequence[driver_client.DriverClient],
        registry: agents.AgentRegistry,
        segments: segment_client.SegmentClient,
        cache: bindability_cache.BindabilityCache | None = None,
        links: topology.Topology | None = None,
    ) -> None:
        self.drivers = list(drivers)
        self._links = links
        self._registry = registry
        self._segments = segments
        self._cache = cache if cache is not None else bindability_cache.BindabilityCache(0)
        self._agent_messages = AgentMessages()
        self._pool = futures.ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="check")
        self._allocations = futures.ThreadPoolExecutor(
            ALLOCATION_THREADS, thread_name_prefix="allocate"
        )

    def resolve(
        self, request: resolver.BindingRequest, deadline: float | None = None
    ) -> values.BindingResult:
        """Resolves ``request`` (its host agents are loaded here). ``deadline`` is a
        ``time.monotonic()`` instant after which no driver is asked any more."""
        started = time.perf_counter()
        request, agent_messages = self._with_host(request, self._read_host(request.host))
        bound = [driver_client.BoundDriver(c, deadline, agent_messages) for c in self.drivers]
        allocate = self._allocator_for(request, deadline)
        for _ in range(HOLD_TRIES):
            recorded = Recorded(allocate)
            result = resolver.resolve_binding(request, bound, recorded)
            offered = unheld(result, recorded.ids)
            if not offered:
                break
            differs = take_holds(request.network_id, offered, allocate)
            if not differs:
                break
            request = dataclasses.replace(request, segments=substituted(request.segments, differs))
        else:
            result = hold_not_taken(request, offered)
        metrics.observe(result)
        _log(request, result, time.perf_counter() - started)
        return result

    async def resolve_async(
        self, request: resolver.BindingRequest, deadline: float | None = None
    ) -> values.BindingResult:
        """``resolve`` as a coroutine on the event loop of an asyncio server: the same loop,
        drivers asked in the same order with the same deadline and breakers (over their
        grpc.aio channels), the same metrics and log. The host's rows are read on the loop from
        a SQLite file (a read of a local file, which a writer never blocks) and in a thread from
        PostgreSQL (a round trip); a dynamic segment is allocated in a thread, without
        waiting for typemgr when level 0 was offered it already (``AllocationsAhead``)."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        if self._registry.local_database:
            host = self._read_host(request.host)
        else:
            host = await loop.run_in_executor(None, self._read_host, request.host)
        request, agent_messages = self._with_host(request, host)
        bound = [driver_client.AsyncBoundDriver(c, deadline, agent_messages) for c in self.drivers]
        allocate = self._allocator_for(request, deadline)

        def offload(call: Callable[[], object]) -> Awaitable[object]:
            return loop.run_in_executor(None, call)

        for _ in range(HOLD_TRIES):
            result, allocated = await self._resolve_once_async(request, bound, allocate, offload)
            offered = unheld(result, allocated)
            if not offered:
                break
            differs = await loop.run_in_executor(
                None, take_holds, request.network_id, offered, allocate
            )
            if not differs:
                break
            request = dataclasses.replace(request, segments=substituted(request.segments, differs))
        else:
            result = hold_not_taken(request, offered)
        metrics.observe(result)
        _log(request, result, time.perf_counter() - started)
        return result

    async def _resolve_once_async(
        self,
        request: resolver.BindingRequest,
        bound: Sequence[resolver.AsyncProposer],
        allocate: resolver.AllocateDynamic,
        offload: resolver.Offload,
    ) -> tuple[values.BindingResult, set[str]]:
        """One resolution on the event loop; returns it with the ids of the dynamic segments
        allocated (the port's holds recorded) while resolving it."""
        ahead = AllocationsAhead(request.segments, allocate, self._allocations)
        if ahead.known:
            recorded = Recorded(ahead.allocate)
            result = await resolver.resolve_binding_async(
                request, bound, recorded, offload, blocks=ahead.blocks
            )
            confirmed = await ahead.confirmed()
            if ahead.asked:
                metrics.DYNAMIC_SEGMENTS_AHEAD.labels(
                    "confirmed" if confirmed else "differed"
                ).inc()
            if confirmed:
                return result, recorded.ids
        recorded = Recorded(allocate)
        result = await resolver.resolve_binding_async(request, bound, recorded, offload)
        return result, recorded.ids

    def _read_host(self, host: str) -> tuple[tuple[values.Agent, ...], tuple[values.HostLink, ...]]:
        """The agents registered from ``host``, with liveness, and its links."""
        host_agents = self._registry.host_agents(host)
        return host_agents, self._links.host_links(host) if self._links else ()

    def _with_host(
        self,
        request: resolver.BindingRequest,
        host: tuple[tuple[values.Agent, ...], tuple[values.HostLink, ...]],
    ) -> tuple[resolver.BindingRequest, list[agent_pb2.Agent]]:
        """``request`` with its host's agents and links, and the agents' messages."""
        host_agents, host_links = host
        request = dataclasses.replace(
            request,
            host_agents=host_agents,
            agent_down_time=self._registry.down_time,
            host_links=host_links,
            driver_connectivity=self._connectivity(),
        )
        return request, [convert.agent_to_proto(a) for a in host_agents]

    def check(
        self,
        requests: Sequence[resolver.BindingRequest],
        encode: Encode,
        deadline: float | None = None,
    ) -> list[bytes]:
        """Answers whether a port could bind for each request, encoded by ``encode``, in
        request order. The requests share their network, segments, vnic type and profile;
        their host agents are loaded here, for every host in one query.

        A host whose answer is in the cache under the same inputs (``bindability_cache``) is
        answered from it; the others are resolved together, asking each driver about all
        undecided hosts of a chunk and level in one call. Writes nothing and allocates no
        dynamic segment."""
        started = time.perf_counter()
        hosts = [r.host for r in requests]
        rows = self._registry.raw_agents_by_host(hosts)
        links = self._links.links_by_host(hosts) if self._links else {}
        scope = self._scope(requests[0]) if requests else None
        # A host's answer depends on its agents and on its links in the topology.
        keys = [(r.host, rows[r.host], links.get(r.host, ())) for r in requests]
        found = self._cache.lookup(scope, keys)
        missed = [i for i, answer in enumerate(found) if answer is None]
        if self._cache.enabled:
            metrics.BINDABILITY_CACHE.labels("hit").inc(len(found) - len(missed))
            metrics.BINDABILITY_CACHE.labels("miss").inc(len(missed))
        if missed:
            asked_at = self._cache.now()
            checked = self._resolve_all([requests[i] for i in missed], rows, links, deadline)
            encoded = encode(checked)
            kept = []
            for i, answer, data in zip(missed, checked.answers, encoded, strict=True):
                found[i] = data
                if bindability_cache.cacheable(answer.result):
                    kept.append((keys[i], data))
            self._cache.store(scope, kept, asked_at)
        logger.debug(
            "checked %d hosts (%d answered from the cache) in %.1f ms",
            len(found),
            len(found) - len(missed),
            (time.perf_counter() - started) * 1000,
        )
        return [answer for answer in found if answer is not None]

    def _resolve_all(
        self,
        requests: Sequence[resolver.BindingRequest],
        rows: dict[str, tuple[agents.RawAgent, ...]],
        links: dict[str, tuple[values.HostLink, ...]],
        deadline: float | None,
    ) -> CheckResult:
        """Runs the batched binding loop of ``requests`` in chunks on the check threads."""
        down_time = self._registry.down_time
        connectivity = self._connectivity()
        by_id: dict[str, agent_pb2.Agent] = {}
        messages: dict[str, list[agent_pb2.Agent]] = {}
        resolved = []
        for request in requests:
            host_agents, host_messages = [], []
            for raw in rows[request.host]:
                agent, message = self._agent_messages.of(raw)
                host_agents.append(agent)
                host_messages.append(message)
                by_id[agent.id] = message
            messages[request.host] = host_messages
            resolved.append(
                dataclasses.replace(
                    request,
                    host_agents=tuple(host_agents),
                    agent_down_time=down_time,
                    host_links=links.get(request.host, ()),
                    driver_connectivity=connectivity,
                )
            )
        bound = [driver_client.BatchBoundDriver(c, deadline, messages) for c in self.drivers]
        chunks = [resolved[i : i + CHECK_CHUNK] for i in range(0, len(resolved), CHECK_CHUNK)]
        answers: list[resolver.Bindability] = []
        for part in self._pool.map(lambda c: resolver.resolve_bindabilities(c, bound), chunks):
            answers.extend(part)
        return CheckResult(answers, by_id)

    def _connectivity(self) -> dict[str, str]:
        """The connectivity of every driver that has described itself, by name."""
        return {c.name: c.connectivity for c in self.drivers if c.connectivity is not None}

    def _scope(self, request: resolver.BindingRequest) -> tuple[object, ...]:
        """The inputs a check's hosts share (see ``bindability_cache``)."""
        return (
            request.network_id,
            request.segments,
            request.vnic_type,
            json.dumps(request.profile, sort_keys=True, separators=(",", ":"), default=dict),
            self._registry.down_time,
            tuple(c.cache_state() for c in self.drivers),
        )

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


HOLD_TRIES = 3
"""Resolutions of one request at most while typemgr returns, for a dynamic segment a level
bound as it was offered, another segment than offered (``take_holds``)."""


class Recorded:
    """``resolver.AllocateDynamic`` that records the ids of the segments it returned."""

    def __init__(self, allocate: resolver.AllocateDynamic) -> None:
        self._allocate = allocate
        self.ids: set[str] = set()

    def __call__(self, network_id: str, spec: values.SegmentSpec) -> values.Segment:
        segment = self._allocate(network_id, spec)
        self.ids.add(segment.id)
        return segment


def unheld(result: values.BindingResult, allocated: set[str]) -> list[values.Segment]:
    """The dynamic segments a BOUND result's levels bind that were not allocated while
    resolving it (level 0 was offered them from the network's dynamic segments in use, and a
    driver bound one as offered): the port has no hold on them yet."""
    if not result.bound:
        return []
    found: list[values.Segment] = []
    for level in result.levels:
        segment = level.segment
        if segment.is_dynamic and segment.id not in allocated and segment not in found:
            found.append(segment)
    return found


def take_holds(
    network_id: str, segments: Sequence[values.Segment], allocate: resolver.AllocateDynamic
) -> dict[str, values.Segment | None]:
    """Records the port's hold on each of ``segments`` (typemgr's AllocateDynamicSegment with
    the segment's type, physical network and segmentation id, which returns the network's
    segment of that spec and records the hold in its transaction); returns, by offered id, what
    typemgr returned instead for those it did not return as offered (None: it refused or could
    not be asked), i.e. the ones it released meanwhile."""
    differs: dict[str, values.Segment | None] = {}
    for segment in segments:
        spec = values.SegmentSpec(
            segment.network_type, segment.physical_network, segment.segmentation_id or None
        )
        try:
            got: values.Segment | None = allocate(network_id, spec)
        except Exception as exc:
            logger.info("cannot hold dynamic segment %s for the binding: %s", segment.id, exc)
            got = None
        if got != segment:
            if got is not None:
                logger.info(
                    "dynamic segment %s was released; typemgr holds %s (%s) instead; resolving "
                    "again",
                    segment.id,
                    got.id,
                    got.describe(),
                )
            differs[segment.id] = got
    metrics.DIRECT_DYNAMIC_HOLDS.labels("differed" if differs else "held").inc()
    return differs


def substituted(
    segments: Sequence[values.Segment], differs: dict[str, values.Segment | None]
) -> tuple[values.Segment, ...]:
    """``segments`` with each one typemgr did not return replaced by what it returned (or
    left out when it returned nothing), without repeating one."""
    out: list[values.Segment] = []
    for segment in segments:
        got = differs.get(segment.id, segment)
        if got is not None and got not in out:
            out.append(got)
    return tuple(out)


def hold_not_taken(
    request: resolver.BindingRequest, segments: Sequence[values.Segment]
) -> values.BindingResult:
    """The FAILED result of a request whose result kept binding dynamic segments typemgr would
    not hold for the port."""
    ids = ", ".join(s.id for s in segments)
    message = (
        f"no mechanism driver could bind port {request.port_id} on host {request.host}: "
        f"typemgr would not record the port's hold on dynamic segment(s) {ids} its levels bind"
    )
    return values.manager_failure(vocabulary.DYNAMIC_SEGMENT_UNAVAILABLE, message)


class AllocationsAhead:
    """The dynamic segment allocations of one resolution on the event loop, for the dynamic
    segments its level 0 was offered (``segments``): ``allocate`` returns such a segment at
    once, the one of the spec's network type and physical network (and segmentation id, when
    the spec names one), and asks typemgr for it on ``pool`` (which records the port's hold);
    ``confirmed`` waits for every answer. Any other spec is allocated as ``allocate_dynamic``
    does, waiting for typemgr."""

    def __init__(
        self,
        segments: Sequence[values.Segment],
        allocate_dynamic: resolver.AllocateDynamic,
        pool: futures.Executor,
    ) -> None:
        self.known: dict[tuple[str, str], values.Segment] = {}
        for segment in segments:
            if segment.is_dynamic:
                self.known.setdefault((segment.network_type, segment.physical_network), segment)
        self._allocate = allocate_dynamic
        self._pool = pool
        self._asked: list[tuple[values.Segment, futures.Future[values.Segment]]] = []

    @property
    def asked(self) -> int:
        """How many allocations were asked without waiting."""
        return len(self._asked)

    def predicted(self, spec: values.SegmentSpec) -> values.Segment | None:
        """The segment typemgr returns for ``spec`` unless it released it meanwhile."""
        found = self.known.get((spec.network_type, spec.physical_network))
        if found is None or spec.segmentation_id not in (None, found.segmentation_id):
            return None
        return found

    def blocks(self, proposal: values.Continue) -> bool:
        """True if allocating the dynamic segments ``proposal`` continues with waits for
        typemgr (one of them was not offered at level 0)."""
        return any(self.predicted(spec) is None for spec in proposal.dynamic_segments)

    def allocate(self, network_id: str, spec: values.SegmentSpec) -> values.Segment:
        """``resolver.AllocateDynamic``: the segment level 0 was offered for ``spec``, asked of
        typemgr without waiting, or one allocated waiting for typemgr."""
        found = self.predicted(spec)
        if found is None:
            return self._allocate(network_id, spec)
        self._asked.append((found, self._pool.submit(self._allocate, network_id, spec)))
        return found

    async def confirmed(self) -> bool:
        """Waits for every allocation asked without waiting; True if typemgr returned each
        segment as it was offered (False if one differs or failed)."""
        same = True
        for offered, answer in self._asked:
            try:
                allocated = await asyncio.wrap_future(answer)
            except Exception as exc:
                logger.info("allocating dynamic segment %s again: %s", offered.id, exc)
                same = False
                continue
            if allocated != offered:
                logger.info(
                    "typemgr allocated dynamic segment %s (%s) where %s (%s) was offered; "
                    "resolving again",
                    allocated.id,
                    allocated.describe(),
                    offered.id,
                    offered.describe(),
                )
                same = False
        return same


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
