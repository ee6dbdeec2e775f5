"""UpdatePort: which fields a mask may name, and what an update does to a port.

``plan`` is pure: from the port as stored and the requested changes it decides which columns
change, whether the binding inputs change (new generation, result reset) and whether
the port must be bound afterwards. The rules follow Neutron's ML2 plugin:

* changing ``binding.host_id`` or ``binding.profile`` clears the result and binds again; an empty
  host unbinds;
* changing ``binding.vnic_type`` is refused (PortInUse, FAILED_PRECONDITION) unless the port is
  unbound (vif_type ``unbound``: no host, or a binding still pending); a BOUND port and a FAILED
  one (vif_type ``binding_failed``) keep theirs. While unbound it is a change of the inputs like
  the others;
* changing ``mac_address`` is refused (PortBound, FAILED_PRECONDITION) unless the port is unbound
  or its binding failed; it changes no binding input;
* any update of a port whose binding failed, or whose binding is still pending, binds it again;
* unbinding a ``direct-physical`` port (clearing its host, or clearing both its device_id and
  device_owner) gives it a new MAC address (``reset_mac``), freeing the device's MAC, which
  the port took when it was bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ml2_contract import vocabulary
from ml2_driver_sdk.runtime import errors

from services.portapi import errors as portapi_errors
from services.portapi import resources as r

PORT_PATHS = ("name", "admin_state_up", "device_id", "device_owner", "mac_address")
"""The paths that name a port column (``admin_state`` is stored as ``admin_state_up``)."""
BINDING_PATHS = ("binding.host_id", "binding.vnic_type", "binding.profile")
ALLOWED_PATHS = (
    "name",
    "admin_state",
    "admin_state_up",
    "device_id",
    "device_owner",
    "mac_address",
    *BINDING_PATHS,
)

_READ_ONLY = frozenset(
    {
        "id",
        "network_id",
        "project_id",
        "status",
        "status_message",
        "status_agent_id",
        "create_time",
        "update_time",
        "binding.vif_type",
        "binding.vif_details",
        "binding.state",
        "binding.levels",
        "binding.trace",
        "binding.failure_message",
        "binding.generation",
    }
)


def check_mask(
    paths: Sequence[str],
    allowed: Sequence[str] = ALLOWED_PATHS,
    read_only: frozenset[str] = _READ_ONLY,
) -> frozenset[str]:
    """Returns the set of paths; raises InvalidArgument for an empty mask or a path that is not
    one of ``allowed`` (UpdatePort's by default), naming ``update_mask.paths[i]``."""
    if not paths:
        raise errors.InvalidArgument(
            "update_mask", f"is required: name the fields to update ({', '.join(allowed)})"
        )
    for index, path in enumerate(paths):
        if path in allowed:
            continue
        field = f"update_mask.paths[{index}]"
        rule = f"{path!r} cannot be updated" if path in read_only else f"unknown field {path!r}"
        raise errors.InvalidArgument(field, f"{rule}; updatable: {', '.join(allowed)}")
    return frozenset(paths)


NETWORK_PATHS = ("name", "admin_state", "admin_state_up", "mtu", "segmentation_id")
"""The paths an UpdateNetwork mask may name."""
NETWORK_READ_ONLY = frozenset({"id", "project_id", "shared", "segments", "create_time"})
"""The network fields UpdateNetwork refuses to change."""


@dataclass(frozen=True)
class UpdatePlan:
    """What one UpdatePort writes and whether it binds afterwards."""

    columns: dict[str, Any]
    """Port columns to set (may be empty)."""
    inputs: r.BindingInputs | None
    """The new binding inputs when they change, else None."""
    had_levels: bool
    """Whether the binding being reset had levels to delete."""
    bind: bool
    """Whether the port must be bound after the write."""
    reset_mac: bool = False
    """Whether the port gets a newly generated MAC address (a direct-physical port unbound)."""


def plan(port: r.Port, update: r.PortUpdate) -> UpdatePlan:
    """Returns what ``update`` does to ``port``. Raises PortInUse when it changes the vnic type
    of a port that is not unbound, PortBound when it changes the MAC address of a BOUND port;
    either before anything is written."""
    columns = {
        name: value
        for name in PORT_PATHS
        if (value := getattr(update, name)) is not None and value != getattr(port, name)
    }
    old = port.binding.inputs
    new = _new_inputs(old, update)
    state = port.binding.result.state
    if new.vnic_type != old.vnic_type and state != vocabulary.UNBOUND:
        raise portapi_errors.PortInUse(port.id, old.host_id, port.binding.result.vif_type)
    if "mac_address" in columns and state == vocabulary.BOUND:
        raise portapi_errors.PortBound(
            port.id, port.binding.result.vif_type, port.mac_address, columns["mac_address"]
        )
    changed = new != old
    needs_result = new.host_id != "" and (
        changed or state in (vocabulary.UNBOUND, vocabulary.FAILED)
    )
    return UpdatePlan(
        columns=columns,
        inputs=new if changed else None,
        had_levels=changed and state == vocabulary.BOUND,
        bind=needs_result,
        reset_mac=_unbinds_direct_physical(port, update, old, new) and "mac_address" not in columns,
    )


def _unbinds_direct_physical(
    port: r.Port, update: r.PortUpdate, old: r.BindingInputs, new: r.BindingInputs
) -> bool:
    """True if ``update`` unbinds a direct-physical port: it clears the host, or clears both the
    device id and the device owner (Neutron's rule for giving the device's MAC back)."""
    if old.vnic_type != vocabulary.VNIC_DIRECT_PHYSICAL:
        return False
    if old.host_id and not new.host_id:
        return True
    device_id = port.device_id if update.device_id is None else update.device_id
    owner = port.device_owner if update.device_owner is None else update.device_owner
    return bool(port.device_id or port.device_owner) and not device_id and not owner


def _new_inputs(old: r.BindingInputs, update: r.PortUpdate) -> r.BindingInputs:
    new = old
    if update.host_id is not None:
        new = replace(new, host_id=update.host_id)
    if update.vnic_type is not None:
        new = replace(new, vnic_type=update.vnic_type)
    if update.profile is not None:
        new = replace(new, profile=dict(update.profile))
    return new
