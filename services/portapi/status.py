"""The status lifecycle of a port (Neutron's), as pure functions of what portapi stores.

    DOWN ──bound──► BUILD ──agent UP──► ACTIVE
      ▲               │ ▲                 │
      └─unbound, failed, admin down, agent DOWN or dead, new inputs─┘
                      └──── admin up, new binding committed ─────
    any bound state ──agent ERROR──► ERROR (with the agent's message)

* ``base`` is the status a port has from its admin state and binding alone, before its agent
  says anything: DOWN without a host, while its binding is pending (UNBOUND with a host), when
  binding failed, or when it is administratively down; BUILD once bound (the agent on the host
  has not wired it yet), or ACTIVE at once when the driver that completed the binding said so
  (``BindingResult.port_status``: nothing on the host wires the port, e.g. an SR-IOV
  ``direct-physical`` port or a bare-metal NIC; Neutron's ``set_binding`` status). It is
  applied when the port is created, when its admin state or binding inputs change (a new
  generation: an ACTIVE port goes back through DOWN to BUILD) and when a binding result is
  committed. A port ACTIVE from its binding alone has no reporting agent, so no agent's death
  takes it DOWN.
* ``reported`` applies an agent's device report for the port's current binding generation on
  its host: UP makes a bound, admin-up port ACTIVE; DOWN makes it DOWN; ERROR makes it ERROR
  with the agent's message.
* ``agent_dead`` takes an ACTIVE or BUILD port whose reporting agent died (or was removed) DOWN;
  the agent's next UP report makes it ACTIVE again.

``status_message`` always says why, for people; it is empty only for ACTIVE.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml2_contract import vocabulary

from services.portapi import resources as r


@dataclass(frozen=True)
class Status:
    """A port's status and why it has it."""

    status: str
    message: str


def initial(admin_state_up: bool, host_id: str) -> Status:
    """Returns the status of a port whose binding has no result yet (a new port, new inputs)."""
    if not host_id:
        return Status(r.PORT_DOWN, "unbound")
    if not admin_state_up:
        return Status(r.PORT_DOWN, "admin down")
    return Status(r.PORT_DOWN, f"binding on host {host_id}")


def base(port: r.Port) -> Status:
    """Returns the status ``port`` has from its admin state and binding alone: ACTIVE for a
    bound, admin-up port whose driver said so, never for an admin-down one."""
    inputs, result = port.binding.inputs, port.binding.result
    if not inputs.host_id or not port.admin_state_up:
        return initial(port.admin_state_up, inputs.host_id)
    if result.state == vocabulary.FAILED:
        return Status(r.PORT_DOWN, f"binding failed: {result.failure_message}")
    if result.state != vocabulary.BOUND:
        return Status(r.PORT_DOWN, f"binding on host {inputs.host_id}")
    if result.port_status == vocabulary.PORT_STATUS_ACTIVE:
        return Status(r.PORT_ACTIVE, "")
    return Status(r.PORT_BUILD, f"waiting for the agent on host {inputs.host_id} to wire it")


def base_agent(target: Status) -> str | None:
    """Returns the reporting agent to store with a ``base`` status: none (``""``) for a port
    ACTIVE from its binding alone, so that the death of an agent that reported it before does
    not take it DOWN; else None (the agent stays as it is)."""
    return "" if target.status == r.PORT_ACTIVE else None


def classify(port: r.Port | None, host_id: str, report: r.DeviceReport) -> str:
    """Returns what becomes of ``report`` from ``host_id``'s agent for ``port`` (None: not
    found): NOT_FOUND, NOT_BOUND_HERE (bound to another host or none), STALE_GENERATION (the
    report is for another binding generation than the port's), else APPLIED."""
    if port is None:
        return r.REPORT_NOT_FOUND
    if port.binding.inputs.host_id != host_id:
        return r.REPORT_NOT_BOUND_HERE
    if report.binding_generation != port.binding.generation:
        return r.REPORT_STALE_GENERATION
    return r.REPORT_APPLIED


def reported(port: r.Port, agent_id: str, report: r.DeviceReport) -> Status:
    """Returns the status of ``port`` after an APPLIED report of ``agent_id``.

    UP makes the port ACTIVE only when it is bound and admin up; otherwise it keeps its base
    status (an agent cannot make an unbound or admin-down port forward traffic).
    """
    if report.state == r.DEVICE_ERROR:
        return Status(r.PORT_ERROR, report.message or f"agent {agent_id} could not wire the port")
    current = base(port)
    if report.state == r.DEVICE_UP:
        if current.status == r.PORT_BUILD:
            return Status(r.PORT_ACTIVE, "")
        return current
    if current.status == r.PORT_DOWN:
        return current
    why = f": {report.message}" if report.message else ""
    return Status(r.PORT_DOWN, f"agent {agent_id} reported the device down{why}")


def agent_dead(port: r.Port, gone: bool) -> Status | None:
    """Returns the status of an ACTIVE or BUILD port whose reporting agent is dead (or, with
    ``gone``, no longer registered), or None if the port is in neither status."""
    if port.status not in (r.PORT_ACTIVE, r.PORT_BUILD):
        return None
    how = "is no longer registered" if gone else "is dead"
    host = port.binding.inputs.host_id
    return Status(r.PORT_DOWN, f"agent {port.status_agent_id} on host {host} {how}")


def event_type(before: str | None, after: str | None) -> str:
    """Returns the type of the event of a change from status ``before`` to ``after`` (None:
    the port did not exist before, or does not after): VIF_PLUGGED when it becomes ACTIVE,
    VIF_UNPLUGGED when it stops being ACTIVE, else CREATED, DELETED or UPDATED."""
    if before is None:
        return EVENT_CREATED
    if after is None:
        return EVENT_DELETED
    if after == r.PORT_ACTIVE and before != r.PORT_ACTIVE:
        return EVENT_VIF_PLUGGED
    if before == r.PORT_ACTIVE and after != r.PORT_ACTIVE:
        return EVENT_VIF_UNPLUGGED
    return EVENT_UPDATED


# Port event types, as stored.
EVENT_CREATED = "CREATED"
EVENT_UPDATED = "UPDATED"
EVENT_DELETED = "DELETED"
EVENT_VIF_PLUGGED = "VIF_PLUGGED"
EVENT_VIF_UNPLUGGED = "VIF_UNPLUGGED"
