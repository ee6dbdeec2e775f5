"""The mechanism driver contract: what a driver author implements.

A driver answers one question per call: can it bind this port at this level, given the segments
offered and the agents on the host? It answers with a value (``ml2_contract.values``), never by
changing the context:

- ``Complete``: it binds one of ``segments_to_bind`` and the binding is finished. A driver whose
  ports nothing on the host wires (no agent reports them) marks it ``active_at_once``: the port
  is ACTIVE as soon as the binding is committed, unless it is administratively down.
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

``ml2_driver_sdk.serve`` turns any ``MechanismDriver`` into a process serving
``ml2.v1.MechanismDriverService``. Two bases spare a driver the boilerplate:
``agent_based.AgentMechanismDriver`` (a declaration of the agent type, vif type and details) and
``AgentlessDriver`` below (one method).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import ClassVar

from ml2_contract import values, vocabulary


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


class AgentlessDriver(MechanismDriver):
    """A driver whose ports need no L2 agent (a controller, an appliance): it declares what it
    binds in class variables and writes one method, ``bind``.

    The base declines, with the contract's reason codes, a vnic type it does not list
    (VNIC_TYPE_UNSUPPORTED) and segments of network types it does not list
    (NETWORK_TYPE_UNSUPPORTED); ``bind`` is asked only with the offered segments it may bind,
    in the manager's order.
    """

    name: ClassVar[str]
    vif_types: ClassVar[tuple[str, ...]]
    supported_vnic_types: ClassVar[tuple[str, ...]] = (vocabulary.VNIC_NORMAL,)
    supported_network_types: ClassVar[tuple[str, ...]] = tuple(
        sorted(vocabulary.NON_TUNNEL_TYPES | vocabulary.TUNNEL_TYPES)
    )
    connectivity: ClassVar[str] = vocabulary.CONNECTIVITY_L2

    @abc.abstractmethod
    def bind(
        self, ctx: values.BindingContext, segments: Sequence[values.Segment]
    ) -> values.Proposal:
        """Returns a Complete or Continue on one of ``segments`` (never empty), or a Decline."""

    def describe(self) -> values.DriverDescription:
        """Returns the declared name, vnic types, network types, connectivity and vif types."""
        return values.DriverDescription(
            name=self.name,
            supported_vnic_types=self.supported_vnic_types,
            supported_network_types=self.supported_network_types,
            connectivity=self.connectivity,
            vif_types=self.vif_types,
        )

    def propose_binding(self, ctx: values.BindingContext) -> values.Proposal:
        """Declines what the declaration rules out, else returns ``bind``'s answer."""
        if ctx.vnic_type not in self.supported_vnic_types:
            return values.Decline(
                (vnic_unsupported(self.name, ctx.vnic_type, self.supported_vnic_types),)
            )
        usable = [s for s in ctx.segments_to_bind if s.network_type in self.supported_network_types]
        if not usable:
            return values.Decline(
                tuple(
                    values.DeclineReason(
                        vocabulary.NETWORK_TYPE_UNSUPPORTED,
                        f"{self.name} does not bind segment {s.id} ({s.describe()}): it binds "
                        f"{', '.join(self.supported_network_types)}",
                        segment_id=s.id,
                        details={
                            "network_type": s.network_type,
                            "allowed_network_types": ",".join(self.supported_network_types),
                        },
                    )
                    for s in ctx.segments_to_bind
                )
            )
        return self.bind(ctx, usable)


def active_at_once(complete: values.Complete) -> values.Complete:
    """Returns ``complete`` with the port ACTIVE as soon as the binding is committed (Neutron's
    ``set_binding(..., status=ACTIVE)``), for a port no agent on the host wires or reports: a
    passed-through physical function, a bare-metal NIC cabled to its switch port. An
    administratively down port stays DOWN; a port whose host's agent reports its device should
    not use it (it is BUILD until the agent says UP)."""
    return dataclasses.replace(complete, port_status=vocabulary.PORT_STATUS_ACTIVE)


def vnic_unsupported(driver: str, vnic_type: str, supported: Sequence[str]) -> values.DeclineReason:
    """The VNIC_TYPE_UNSUPPORTED reason of ``driver``, which binds only ``supported``."""
    return values.DeclineReason(
        vocabulary.VNIC_TYPE_UNSUPPORTED,
        f"{driver} does not bind vnic_type {vnic_type} (supports {', '.join(supported)})",
        details={"vnic_type": vnic_type, "supported": ",".join(supported)},
    )
