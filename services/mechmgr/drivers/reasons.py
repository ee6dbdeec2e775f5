"""Decline reason codes: stable strings that operators, dashboards and tests can match on.

Drivers may define their own codes (UPPER_SNAKE_CASE); these are the ones the shipped drivers and
the manager use.
"""

from __future__ import annotations

# Given by drivers.
VNIC_TYPE_UNSUPPORTED = "VNIC_TYPE_UNSUPPORTED"
"""The driver does not bind ports of the requested vnic type."""
NO_AGENT = "NO_AGENT"
"""No agent of the driver's type registered from the host."""
AGENT_DEAD = "AGENT_DEAD"
"""The host's agent showed no sign of life within the agent down time."""
AGENT_ADMIN_DOWN = "AGENT_ADMIN_DOWN"
"""An administrator disallowed binding to the host's agent."""
NETWORK_TYPE_UNSUPPORTED = "NETWORK_TYPE_UNSUPPORTED"
"""The segment's network type is not one the driver (or the host's agent) binds."""
PHYSNET_NOT_MAPPED = "PHYSNET_NOT_MAPPED"
"""The host's agent has no mapping for the segment's physical network."""
HOST_NOT_SERVED = "HOST_NOT_SERVED"
"""The driver is configured not to bind on the host."""

# Given by the manager on a driver's behalf.
DRIVER_UNAVAILABLE = "DRIVER_UNAVAILABLE"
"""The driver process did not answer (unreachable, or slower than its deadline)."""
DRIVER_ERROR = "DRIVER_ERROR"
"""The driver failed, or proposed something the contract forbids."""
LOOP_PREVENTED = "LOOP_PREVENTED"
"""The driver bound one of the offered segments at a higher level already, so it is skipped."""
DYNAMIC_SEGMENT_UNAVAILABLE = "DYNAMIC_SEGMENT_UNAVAILABLE"
"""The driver continued with a dynamic segment that typemgr could not allocate."""
MAX_LEVELS_REACHED = "MAX_LEVELS_REACHED"
"""Binding went as deep as the maximum number of levels without completing."""
