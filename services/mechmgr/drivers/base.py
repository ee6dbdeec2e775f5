"""The mechanism driver contract: what a driver author implements.

A driver answers one question per call: can it bind this port at this level, given the segments
offered and the agents on the host? It answers with a value (``ml2_contract.values``), never by
changing the context:

- ``Complete``: it binds one of ``segments_to_bind`` and the binding is finished.
- ``Continue``: it binds one of ``segments_to_bind`` at this level and hands the next level
  further segments (existing ones, or dynamic ones the manager allocates: hierarchical binding).
- ``Decline``: it cannot bind, with at least one structured reason.

Rules (Neutron's ``bind_port`` rules, kept):

- **No persistent side effects.** The manager may discard a proposal (a deeper level failed, a
  concurrent update changed the port); committed bindings reach drivers through other means.
- **No state between calls.** Every answer follows from the context alone, so any replica of a
  driver process may answer any call.
- **Answer quickly.** The manager waits ``MECHMGR_DRIVER_TIMEOUT_SECONDS`` and then counts the
  driver as declining with DRIVER_UNAVAILABLE.
- **Only bind what is offered.** A proposal naming a segment outside ``segments_to_bind`` is
  refused by the manager as DRIVER_ERROR.

``drivers/serve.py`` turns any ``MechanismDriver`` into a process serving
``ml2.v1.MechanismDriverService``; ``drivers/noop`` is the smallest complete example.
"""

from __future__ import annotations

import abc

from ml2_contract import values


class MechanismDriver(abc.ABC):
    """A mechanism driver: decides, without side effects, whether it can bind a port level."""

    @abc.abstractmethod
    def describe(self) -> values.DriverDescription:
        """Returns what the driver binds. Must not depend on any port or host."""

    @abc.abstractmethod
    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        """Returns a Complete, Continue or Decline for ``ctx``.

        Must not change anything outside the returned value, must not remember anything between
        calls, and should return in milliseconds. An exception counts as a decline with
        DRIVER_ERROR.
        """
