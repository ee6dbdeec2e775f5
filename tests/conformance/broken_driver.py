"""A mechanism driver that breaks one rule of the contract, for the conformance kit to catch.

It is the Open vSwitch driver with one fault, chosen by ``BROKEN_RULE``:

- ``wrong-segment``: completes on the network's id instead of the offered segment's id (a
  segment it was not offered);
- ``bad-decline``: declines with a code outside the vocabulary and without a message;
- ``undescribed-vif``: completes with a vif_type its description does not list;
- ``slow-when-dead``: takes ``SLOW_SECONDS`` to decline when its agent is dead;
- ``oversized-crash``: fails (INTERNAL) when offered more than 100 segments;
- ``racy``: keeps the request in the driver object while it works, so that concurrent calls
  answer each other's ports.

Run as a process like any driver: ``python -m tests.conformance.broken_driver``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping

from ml2_contract import values
from ml2_driver_sdk import serve

from services.drivers.openvswitch import driver

FAULTS = (
    "wrong-segment",
    "bad-decline",
    "undescribed-vif",
    "slow-when-dead",
    "oversized-crash",
    "racy",
)
SLOW_SECONDS = 0.6


class BrokenDriver(driver.OpenvswitchDriver):
    """Open vSwitch, with the fault ``fault``."""

    def __init__(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"BROKEN_RULE={fault!r}: must be one of {', '.join(FAULTS)}")
        self.fault = fault
        self._current: values.BindingContext | None = None

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        if self.fault == "slow-when-dead" and any(
            not a.alive for a in ctx.agents_of_type(self.agent_type)
        ):
            time.sleep(SLOW_SECONDS)
        if self.fault == "oversized-crash" and len(ctx.segments_to_bind) > 100:
            raise RuntimeError("too many segments")
        if self.fault == "racy":
            return self._racy(ctx)
        proposal = super().propose_binding(ctx)
        if self.fault == "wrong-segment" and isinstance(proposal, values.Complete):
            return dataclasses.replace(proposal, segment_id=ctx.network_id)
        if self.fault == "bad-decline" and isinstance(proposal, values.Decline):
            reasons = tuple(
                dataclasses.replace(r, code="CANNOT", message="") for r in proposal.reasons
            )
            return values.Decline(reasons)
        if self.fault == "undescribed-vif" and isinstance(proposal, values.Complete):
            return dataclasses.replace(proposal, vif_type="tap")
        return proposal

    def _racy(self, ctx: values.BindingContext) -> values.Proposal:
        self._current = ctx
        # Long enough for the other calls in flight to overwrite it.
        time.sleep(0.02)
        current = self._current
        return super().propose_binding(current)


def from_env(environ: Mapping[str, str]) -> BrokenDriver:
    return BrokenDriver(environ.get("BROKEN_RULE", ""))


if __name__ == "__main__":
    serve.run(from_env, default_port=0, default_metrics_port=0)
