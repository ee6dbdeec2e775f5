"""Typed client of one mechanism driver process: one long-lived channel, a deadline per call.

A failed call never raises: an unreachable driver or one slower than its deadline declines with
DRIVER_UNAVAILABLE, any other failure (an INTERNAL from a crashing driver, a malformed answer such
as vif_details with NaN or nested too deep) with DRIVER_ERROR, so that the resolver moves on to
the next driver.

Each client has a circuit breaker (``breaker.py``): after ``failures`` consecutive calls the
driver did not answer (unreachable, or silent until its own deadline), the driver is not asked
any more and declines at once with DRIVER_UNAVAILABLE, saying since when and until when; after
the cooldown one call is let through to try it again. A call cut short by the caller's own
deadline counts neither way.

``propose_many`` asks about many contexts in one ProposeBindings call: one call for the breaker,
within the one per-driver timeout. A driver that answers UNIMPLEMENTED (one built before the
batch call existed) is asked with concurrent ProposeBinding calls instead, and not asked for a
batch again for ``BATCH_RETRY_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from ml2.v1 import agent_pb2
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc
from ml2_contract import convert, values, vocabulary

from services.mechmgr import breaker, metrics

logger = logging.getLogger(__name__)

_TRANSPORT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
BATCH_RETRY_SECONDS = 60.0
"""How long a driver that answered UNIMPLEMENTED to ProposeBindings is asked one by one."""
AgentMessages = Mapping[str, list[agent_pb2.Agent]]
"""The agent messages of each host, built once per check."""
CallMetadata = tuple[tuple[str, str], ...] | None
"""The metadata of one call (the caller's token), or None."""


def _no_metadata() -> CallMetadata:
    return None


@dataclass(frozen=True)
class DriverInfo:
    """A configured driver and, if it answered, its own description."""

    name: str
    address: str
    description: values.DriverDescription | None
    error: str = ""
    breaker: breaker.Status = field(default_factory=lambda: breaker.Status(breaker.State.CLOSED))


@dataclass(frozen=True)
class BreakerSettings:
    """When a driver's circuit breaker opens and how long it stays open."""

    failures: int = 5
    cooldown: float = 10.0


class DriverClient:
    """Calls one driver process over a channel created once by the composition root."""

    def __init__(
        self,
        name: str,
        address: str,
        channel: grpc.Channel,
        timeout: float,
        breaker_settings: BreakerSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        aio_channel: Callable[[], grpc.aio.Channel] | None = None,
        metadata: Callable[[], CallMetadata] | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.timeout = timeout
        # Moves whenever the driver may answer differently: on every breaker transition and
        # when its description changes. Kept answers of checks are keyed by it.
        self.generation = 0
        self._description: values.DriverDescription | None = None
        self._clock = clock
        self._singles_until = 0.0  # clock() until which ProposeBindings is not tried
        self._stub = pb_grpc.MechanismDriverServiceStub(channel)
        # The coroutine calls (``propose_async``) go over a grpc.aio channel to the same driver,
        # made at the first one, on the event loop that makes them.
        self._aio_channel = aio_channel
        self._aio_stub: pb_grpc.MechanismDriverServiceAsyncStub | None = None
        self._aio_loop: asyncio.AbstractEventLoop | None = None
        self._metadata = metadata or _no_metadata
        self._latency = metrics.DRIVER_CALL_SECONDS.labels(name)
        # Only for logging: one WARNING when the driver starts failing, one INFO when it is back.
        self._failing = False
        self._report = metrics.breaker_reporter(
            name, [s.value for s in breaker.State], breaker.State.CLOSED.value
        )
        settings = breaker_settings or BreakerSettings()
        self.breaker = breaker.CircuitBreaker(
            settings.failures,
            settings.cooldown,
            clock=clock,
            wall=wall,
            on_change=self._breaker_changed,
        )

    def propose(
        self,
        ctx: values.BindingContext,
        *,
        deadline: float | None = None,
        agents: list[agent_pb2.Agent] | None = None,
    ) -> values.Proposal:
        """Asks the driver for a proposal within the call timeout (and before ``deadline``, a
        ``time.monotonic()`` instant). Returns a Decline if the call fails, and at once, without
        a call, while the driver's circuit breaker is open."""
        timeout, refused = self._admit(deadline)
        if refused is not None:
            return refused
        started = time.perf_counter()
        try:
            reply = self._stub.ProposeBinding(
                convert.context_to_proto(ctx, agents), timeout=timeout
            )
        except grpc.RpcError as err:
            return self._failed(err, timeout, cut_by_caller=timeout < self.timeout)
        except BaseException:
            self.breaker.abandoned()
            raise
        finally:
            self._latency.observe(time.perf_counter() - started)
        self._answered()
        return self._proposal(reply)

    async def propose_async(
        self,
        ctx: values.BindingContext,
        *,
        deadline: float | None = None,
        agents: list[agent_pb2.Agent] | None = None,
    ) -> values.Proposal:
        """``propose`` as a coroutine, on the event loop (over the grpc.aio channel): the same
        deadline, breaker and answers."""
        timeout, refused = self._admit(deadline)
        if refused is not None:
            return refused
        started = time.perf_counter()
        try:
            reply = await self._async_stub().ProposeBinding(
                convert.context_to_proto(ctx, agents), timeout=timeout, metadata=self._metadata()
            )
        except grpc.RpcError as err:
            return self._failed(err, timeout, cut_by_caller=timeout < self.timeout)
        except BaseException:
            self.breaker.abandoned()
            raise
        finally:
            self._latency.observe(time.perf_counter() - started)
        self._answered()
        return self._proposal(reply)

    def _timeout_before(self, deadline: float | None) -> float:
        """The call timeout, cut to end by ``deadline`` (a ``time.monotonic()`` instant)."""
        if deadline is None:
            return self.timeout
        return min(self.timeout, deadline - time.monotonic())

    def _late(self) -> values.Decline:
        return self._decline(
            vocabulary.DRIVER_UNAVAILABLE, "not asked: the caller's deadline has passed"
        )

    def _admit(self, deadline: float | None) -> tuple[float, values.Decline | None]:
        """The timeout of one call, and the decline to answer instead of calling: the caller's
        deadline has passed, or the breaker refuses the call."""
        timeout = self._timeout_before(deadline)
        if timeout <= 0:
            return timeout, self._late()
        if not self.breaker.allow():
            return timeout, self._refused()
        return timeout, None

    def _async_stub(self) -> pb_grpc.MechanismDriverServiceAsyncStub:
        """The stub on the grpc.aio channel of the running loop (a channel belongs to the loop
        it was made on: mechmgr has one)."""
        loop = asyncio.get_running_loop()
        if self._aio_stub is None or self._aio_loop is not loop:
            if self._aio_channel is None:
                raise RuntimeError(f"driver client {self.name} has no grpc.aio channel")
            self._aio_stub = pb_grpc.MechanismDriverServiceStub(self._aio_channel())
            self._aio_loop = loop
        return self._aio_stub

    def propose_many(
        self,
        contexts: Sequence[values.BindingContext],
        *,
        deadline: float | None = None,
        agents: AgentMessages | None = None,
    ) -> list[values.Proposal]:
        """Asks the driver about every context in one ProposeBindings call (or, for a driver
        that does not serve it, concurrent ProposeBinding calls), within the call timeout and
        before ``deadline``. Returns one proposal per context, in order: declines if the call
        fails, and at once while the breaker is open. ``agents`` holds the host agents'
        messages by host."""
        timeout = self._timeout_before(deadline)
        if timeout <= 0:
            return [self._late()] * len(contexts)
        messages = [
            convert.context_to_proto(c, agents.get(c.host) if agents is not None else None)
            for c in contexts
        ]
        if self._clock() >= self._singles_until:
            if not self.breaker.allow():
                return [self._refused()] * len(contexts)
            batch = self._propose_batch(messages, timeout)
            if batch is not None:
                return batch
        return self._propose_each(messages, timeout)

    def _propose_batch(
        self, messages: list[pb.ProposeBindingRequest], timeout: float
    ) -> list[values.Proposal] | None:
        """One ProposeBindings call (the breaker let it through); None if the driver does not
        serve it."""
        started = time.perf_counter()
        try:
            reply = self._stub.ProposeBindings(
                pb.ProposeBindingsRequest(requests=messages), timeout=timeout
            )
        except grpc.RpcError as err:
            if isinstance(err, grpc.Call) and err.code() == grpc.StatusCode.UNIMPLEMENTED:
                self.breaker.succeeded()
                self._singles_until = self._clock() + BATCH_RETRY_SECONDS
                logger.info(
                    "mechanism driver %s at %s does not serve ProposeBindings: asking it one "
                    "port at a time",
                    self.name,
                    self.address,
                )
                return None
            return [self._failed(err, timeout, cut_by_caller=timeout < self.timeout)] * len(
                messages
            )
        except BaseException:
            self.breaker.abandoned()
            raise
        finally:
            self._latency.observe(time.perf_counter() - started)
        self._answered()
        if len(reply.responses) != len(messages):
            wrong = self._decline(
                vocabulary.DRIVER_ERROR,
                f"answered {len(reply.responses)} proposals to {len(messages)} questions",
            )
            return [wrong] * len(messages)
        return [self._proposal(r) for r in reply.responses]

    def _propose_each(
        self, messages: list[pb.ProposeBindingRequest], timeout: float
    ) -> list[values.Proposal]:
        """Concurrent ProposeBinding calls, each let through by the breaker or refused."""
        calls: list[grpc.Future[pb.ProposeBindingResponse] | values.Decline] = []
        started = time.perf_counter()
        for message in messages:
            if self.breaker.allow():
                calls.append(self._stub.ProposeBinding.future(message, timeout=timeout))
            else:
                calls.append(self._refused())
        proposals: list[values.Proposal] = []
        for call in calls:
            if isinstance(call, values.Decline):
                proposals.append(call)
                continue
            try:
                reply = call.result()
            except grpc.RpcError as err:
                proposals.append(self._failed(err, timeout, cut_by_caller=timeout < self.timeout))
                continue
            finally:
                # Each call from the fan-out's start: they all run at once.
                self._latency.observe(time.perf_counter() - started)
            self._answered()
            proposals.append(self._proposal(reply))
        return proposals

    def _answered(self) -> None:
        self.breaker.succeeded()
        if self._failing:
            self._failing = False
            logger.info("mechanism driver %s at %s answers again", self.name, self.address)

    def _proposal(self, reply: pb.ProposeBindingResponse) -> values.Proposal:
        try:
            proposal = convert.proposal_from_proto(reply)
        except ValueError as exc:  # a StructError, or a port status a driver may not give
            logger.warning(
                "mechanism driver %s at %s answered a malformed proposal: %s",
                self.name,
                self.address,
                exc,
                extra={"driver": self.name},
            )
            return self._decline(vocabulary.DRIVER_ERROR, f"answered a malformed proposal: {exc}")
        if proposal is None:
            return self._decline(vocabulary.DRIVER_ERROR, "answered without an outcome")
        return proposal

    def cache_state(self) -> tuple[str, str, int, str]:
        """What a kept answer of this driver depends on besides the question: the driver's
        name, address, generation and breaker state."""
        return (self.name, self.address, self.generation, self.breaker.status().state.value)

    @property
    def connectivity(self) -> str | None:
        """The connectivity the driver described itself with, or None before it has answered
        a DescribeDriver."""
        return self._description.connectivity if self._description is not None else None

    def described(self, description: values.DriverDescription) -> None:
        """Records the driver's DescribeDriver answer; a different one than before moves the
        generation (the driver was restarted with another configuration)."""
        if self._description is not None and description != self._description:
            self.generation += 1
            logger.info(
                "mechanism driver %s at %s describes itself differently now",
                self.name,
                self.address,
                extra={"driver": self.name},
            )
        self._description = description

    def describe_future(self, timeout: float) -> grpc.Future[pb.DescribeDriverResponse]:
        """Starts a DescribeDriver call and returns its future."""
        future: grpc.Future[pb.DescribeDriverResponse] = self._stub.DescribeDriver.future(
            pb.DescribeDriverRequest(), timeout=timeout
        )
        return future

    def _failed(self, err: grpc.RpcError, timeout: float, *, cut_by_caller: bool) -> values.Decline:
        status = isinstance(err, grpc.Call | grpc.aio.AioRpcError)
        code = err.code() if status else grpc.StatusCode.UNKNOWN
        details = (err.details() if status else "") or code.name
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and cut_by_caller:
            self.breaker.abandoned()
        elif code in _TRANSPORT:
            self.breaker.failed()
        else:
            self.breaker.succeeded()  # it answered, if only with an error
        # A driver that is down fails every bind: warn once, not once per bind.
        log = logger.debug if self._failing else logger.warning
        self._failing = True
        log(
            "mechanism driver %s at %s failed: %s %s",
            self.name,
            self.address,
            code.name,
            details,
            extra={"driver": self.name, "grpc_code": code.name},
        )
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return self._decline(
                vocabulary.DRIVER_UNAVAILABLE, f"no answer within {timeout:.3g}s", code.name
            )
        if code in _TRANSPORT:
            return self._decline(
                vocabulary.DRIVER_UNAVAILABLE, f"unreachable: {details}", code.name
            )
        return self._decline(vocabulary.DRIVER_ERROR, f"failed: {code.name}: {details}", code.name)

    def _refused(self) -> values.Decline:
        status = self.breaker.status()
        since, retry = _utc(status.opened_at), _utc(status.retry_at)
        if status.state is breaker.State.HALF_OPEN:
            what = (
                f"not asked: its circuit breaker is half-open (open since {since}), and a trial "
                "call is under way"
            )
        else:
            what = (
                f"not asked: its circuit breaker is open since {since} after "
                f"{status.failures} failed calls; it retries at {retry}"
            )
        extra = {"breaker_state": status.state.value, "open_since": since, "retry_at": retry}
        return self._decline(vocabulary.DRIVER_UNAVAILABLE, what, extra=extra)

    def _breaker_changed(self, state: breaker.State) -> None:
        """Called by the breaker, under its lock, when it changes state."""
        self.generation += 1
        self._report(state.value)
        extra = {"driver": self.name, "breaker_state": state.value}
        if state is breaker.State.OPEN:
            logger.warning(
                "circuit breaker of mechanism driver %s at %s is open: not asked for %.3gs",
                self.name,
                self.address,
                self.breaker.cooldown,
                extra=extra,
            )
        elif state is breaker.State.CLOSED:
            logger.info(
                "circuit breaker of mechanism driver %s at %s is closed: it answers again",
                self.name,
                self.address,
                extra=extra,
            )
        else:
            logger.info(
                "circuit breaker of mechanism driver %s at %s is half-open: one trial call",
                self.name,
                self.address,
                extra=extra,
            )

    def _decline(
        self, code: str, what: str, grpc_code: str = "", extra: dict[str, str] | None = None
    ) -> values.Decline:
        details = {"address": self.address, **(extra or {})}
        if grpc_code:
            details["grpc_code"] = grpc_code
        return values.Decline(
            (
                values.DeclineReason(
                    code, f"mechanism driver {self.name} at {self.address} {what}", details=details
                ),
            )
        )


class BoundDriver:
    """A driver client bound to one resolution: its deadline and the host agents' messages,
    built once for every call of the resolution. Satisfies ``resolver.Proposer``."""

    def __init__(
        self, client: DriverClient, deadline: float | None, agents: list[agent_pb2.Agent]
    ) -> None:
        self.name = client.name
        self._client = client
        self._deadline = deadline
        self._agents = agents

    def propose(self, ctx: values.BindingContext) -> values.Proposal:
        """Asks the driver, within the resolution's deadline."""
        return self._client.propose(ctx, deadline=self._deadline, agents=self._agents)


class AsyncBoundDriver:
    """``BoundDriver`` for a resolution on the event loop. Satisfies
    ``resolver.AsyncProposer``."""

    def __init__(
        self, client: DriverClient, deadline: float | None, agents: list[agent_pb2.Agent]
    ) -> None:
        self.name = client.name
        self._client = client
        self._deadline = deadline
        self._agents = agents

    async def propose(self, ctx: values.BindingContext) -> values.Proposal:
        """Asks the driver, within the resolution's deadline."""
        return await self._client.propose_async(ctx, deadline=self._deadline, agents=self._agents)


class BatchBoundDriver:
    """A driver client bound to one check of many hosts: its deadline and every host's agent
    messages. Satisfies ``resolver.BatchProposer``."""

    def __init__(self, client: DriverClient, deadline: float | None, agents: AgentMessages) -> None:
        self.name = client.name
        self._client = client
        self._deadline = deadline
        self._agents = agents

    def propose_many(self, contexts: Sequence[values.BindingContext]) -> list[values.Proposal]:
        """Asks the driver about every context in one call, within the check's deadline."""
        return self._client.propose_many(contexts, deadline=self._deadline, agents=self._agents)


def describe_all(clients: list[DriverClient], timeout: float) -> list[DriverInfo]:
    """Asks every driver to describe itself, all at once, each within ``timeout``."""
    futures = [(c, c.describe_future(timeout)) for c in clients]
    infos = []
    for client, future in futures:
        try:
            reply = future.result()
        except grpc.RpcError as err:
            code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = err.details() if isinstance(err, grpc.Call) else str(err)
            infos.append(
                DriverInfo(
                    client.name,
                    client.address,
                    None,
                    f"{code.name}: {details}",
                    client.breaker.status(),
                )
            )
            continue
        description = convert.description_from_proto(reply)
        client.described(description)
        infos.append(
            DriverInfo(client.name, client.address, description, breaker=client.breaker.status())
        )
    return infos


def _utc(epoch: float) -> str:
    """``epoch`` as an RFC 3339 UTC instant to the second."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
