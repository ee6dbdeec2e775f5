"""A mechanism driver that breaks one rule of the contract, for the conformance kit to catch.

It is the Open vSwitch driver with one fault, chosen by ``BROKEN_RULE``:

- ``wrong-segment``: completes on the network's id instead of the offered segment's id (a
  segment it was not offered);
- ``bad-decline``: declines with a code outside the vocabulary and without a message.

Run as a process like any driver: ``python -m tests.conformance.broken_driver``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ml2_contract import values
from services.mechmgr.drivers import serve
from services.mechmgr.drivers.openvswitch import driver

FAULTS = ("wrong-segment", "bad-decline")


class BrokenDriver(driver.OpenvswitchDriver):
    """Open vSwitch, with the fault ``fault``."""

    def __init__(self, fault: str) -> None:
        if fault not in FAULTS:
            raise ValueError(f"BROKEN_RULE={fault!r}: must be one of {', '.join(FAULTS)}")
        self.fault = fault

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        proposal = super().propose_binding(ctx)
        if self.fault == "wrong-segment" and isinstance(proposal, values.Complete):
            return dataclasses.replace(proposal, segment_id=ctx.network_id)
        if self.fault == "bad-decline" and isinstance(proposal, values.Decline):
            reasons = tuple(
                dataclasses.replace(r, code="CANNOT", message="") for r in proposal.reasons
            )
            return values.Decline(reasons)
        return proposal


def from_env(environ: Mapping[str, str]) -> BrokenDriver:
    return BrokenDriver(environ.get("BROKEN_RULE", ""))


if __name__ == "__main__":
    serve.run(from_env, default_port=0, default_metrics_port=0)
