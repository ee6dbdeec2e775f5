"""The mechanism manager: resolves bindings with the configured drivers and the agent registry.

One resolution reads the host's agents once (one query, every type, with liveness), builds their
messages once, and hands both to the resolver with drivers bound to the caller's deadline.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence

from ml2_contract import convert, values
from services.mechmgr import agents, driver_client, metrics, resolver, segment_client

logger = logging.getLogger(__name__)


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
