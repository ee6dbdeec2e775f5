"""Typed client of one mechanism driver process: one long-lived channel, a deadline per call.

A failed call never raises: an unreachable driver or one slower than its deadline declines with
DRIVER_UNAVAILABLE, any other failure (an INTERNAL from a crashing driver, a malformed answer such
as vif_details with NaN or nested too deep) with DRIVER_ERROR, so that the resolver moves on to
the next driver.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import grpc
from ml2.v1 import agent_pb2
from ml2.v1 import mechanism_driver_service_pb2 as pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as pb_grpc

from ml2_contract import convert, values, vocabulary
from services.mechmgr import metrics

logger = logging.getLogger(__name__)

_TRANSPORT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass(frozen=True)
class DriverInfo:
    """A configured driver and, if it answered, its own description."""

    name: str
    address: str
    description: values.DriverDescription | None
    error: str = ""


class DriverClient:
    """Calls one driver process over a channel created once by the composition root."""

    def __init__(self, name: str, address: str, channel: grpc.Channel, timeout: float) -> None:
        self.name = name
        self.address = address
        self.timeout = timeout
        self._stub = pb_grpc.MechanismDriverServiceStub(channel)
        self._latency = metrics.DRIVER_CALL_SECONDS.labels(name)
        # Only for logging: one WARNING when the driver starts failing, one INFO when it is back.
        self._failing = False

    def propose(
        self,
        ctx: values.BindingContext,
        *,
        deadline: float | None = None,
        agents: list[agent_pb2.Agent] | None = None,
    ) -> values.Proposal:
        """Asks the driver for a proposal within the call timeout (and before ``deadline``, a
        ``time.monotonic()`` instant). Returns a Decline if the call fails."""
        timeout = self.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
        if timeout <= 0:
            return self._decline(
                vocabulary.DRIVER_UNAVAILABLE, "not asked: the caller's deadline has passed"
            )
        started = time.perf_counter()
        try:
            reply = self._stub.ProposeBinding(
                convert.context_to_proto(ctx, agents), timeout=timeout
            )
        except grpc.RpcError as err:
            return self._failed(err, timeout)
        finally:
            self._latency.observe(time.perf_counter() - started)
        if self._failing:
            self._failing = False
            logger.info("mechanism driver %s at %s answers again", self.name, self.address)
        try:
            proposal = convert.proposal_from_proto(reply)
        except convert.StructError as exc:
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

    def describe_future(self, timeout: float) -> grpc.Future[pb.DescribeDriverResponse]:
        """Starts a DescribeDriver call and returns its future."""
        future: grpc.Future[pb.DescribeDriverResponse] = self._stub.DescribeDriver.future(
            pb.DescribeDriverRequest(), timeout=timeout
        )
        return future

    def _failed(self, err: grpc.RpcError, timeout: float) -> values.Decline:
        code = err.code() if isinstance(err, grpc.Call) else grpc.StatusCode.UNKNOWN
        details = (err.details() if isinstance(err, grpc.Call) else "") or code.name
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

    def _decline(self, code: str, what: str, grpc_code: str = "") -> values.Decline:
        details = {"address": self.address}
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
            infos.append(DriverInfo(client.name, client.address, None, f"{code.name}: {details}"))
            continue
        infos.append(DriverInfo(client.name, client.address, convert.description_from_proto(reply)))
    return infos
