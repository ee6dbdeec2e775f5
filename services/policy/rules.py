"""The default policy: who may do what to networks, ports, segments, ranges, agents and the
topology, as data. Facts follow Neutron's defaults; an override file replaces single rules.

Roles: ``admin`` (the cloud operator), ``service`` (modular-l2's own processes, and a compute
service such as Nova), ``member`` (changes its project's resources), ``reader`` (reads them).
An agent has no role: it is the identity of one host (``agent_host``), and may act for that
host only. A token's roles are taken as they are (no role implies another), so the rules name
each role that may.

Rule names: ``<action>`` for an operation (``create_port``, ``get_network``), and
``<action>:<field>`` for a field of it (``create_port:binding:host_id`` to set it,
``get_port:binding:vif_type`` to read it). ``FIELD_NAMES`` maps the API's field paths
(``binding.host_id``) to these names.
"""

from __future__ import annotations

from ml2_driver_sdk.runtime.auth.driver_rules import DRIVER_METHOD_RULES, DRIVER_RULES

BASE_RULES = {
    "context_is_admin": "role:admin",
    "service_api": "role:service",
    "admin_or_service": "rule:context_is_admin or rule:service_api",
    "project_member": "role:member and project_id:%(project_id)s",
    "project_reader": "(role:reader or role:member) and project_id:%(project_id)s",
    "admin_or_project_member": "rule:context_is_admin or rule:project_member",
    "shared": "field:networks:shared=True",
    "network_owner": "project_id:%(network:project_id)s",
    "network_owner_reader": "(role:reader or role:member) and rule:network_owner",
    "network_shared": "field:networks:network:shared=True",
    "bound_agent": "agent_host:%(binding:host_id)s",
    "host_agent": "agent_host:%(host)s",
    "any_agent": "is_agent:True",
    "segment_caller": "service:portapi or service:mechmgr or role:admin",
    "manager_caller": "service:portapi or role:admin",
    "network_api": "service:portapi or role:admin",
}

NETWORK_RULES = {
    "create_network": "rule:admin_or_project_member",
    "create_network:shared": "rule:context_is_admin",
    "create_network:segments": "rule:context_is_admin",
    "create_network:provider:network_type": "rule:context_is_admin",
    "create_network:provider:physical_network": "rule:context_is_admin",
    "create_network:provider:segmentation_id": "rule:context_is_admin",
    "get_network": "rule:admin_or_service or rule:project_reader or rule:shared",
    "get_network:segments": "rule:admin_or_service",
    "update_network": "rule:admin_or_project_member",
    "update_network:shared": "rule:context_is_admin",
    "update_network:segments": "rule:context_is_admin",
    "update_network:provider:network_type": "rule:context_is_admin",
    "update_network:provider:physical_network": "rule:context_is_admin",
    "update_network:provider:segmentation_id": "rule:context_is_admin",
    "delete_network": "rule:admin_or_project_member",
}

_BINDING_OUTPUT = ("vif_type", "vif_details", "state", "levels", "trace", "failure_message")

PORT_RULES = {
    "create_port": (
        "rule:admin_or_service or "
        "(rule:project_member and (rule:network_owner or rule:network_shared))"
    ),
    "create_port:mac_address": "rule:admin_or_service or rule:network_owner",
    "create_port:binding:host_id": "rule:admin_or_service",
    "create_port:binding:profile": "rule:service_api",
    "get_port": (
        "rule:admin_or_service or rule:project_reader or rule:network_owner_reader or "
        "rule:bound_agent"
    ),
    "get_port:binding:host_id": "rule:admin_or_service or rule:bound_agent",
    "get_port:binding:profile": "rule:admin_or_service or rule:bound_agent",
    **{
        f"get_port:binding:{name}": "rule:admin_or_service or rule:bound_agent"
        for name in _BINDING_OUTPUT
    },
    "update_port": "rule:admin_or_service or rule:project_member",
    "update_port:mac_address": "rule:admin_or_service",
    "update_port:binding:host_id": "rule:admin_or_service",
    "update_port:binding:profile": "rule:service_api",
    "delete_port": (
        "rule:admin_or_service or rule:project_member or (role:member and rule:network_owner)"
    ),
    "watch_ports": "rule:admin_or_service or rule:host_agent",
    "report_device_status": "rule:admin_or_service or rule:host_agent",
    "check_bindable": "rule:admin_or_service",
}

SEGMENT_RULES = {
    "segments:create": "rule:segment_caller",
    "segments:list": "rule:segment_caller",
    "segments:release": "rule:segment_caller",
    "segments:allocate_dynamic": "rule:segment_caller",
    "segments:release_dynamic": "rule:segment_caller",
    "segments:sync_holds": "rule:segment_caller",
    "segments:list_holds": "rule:segment_caller",
    "segments:validate": "rule:segment_caller",
    "segments:update_segmentation_id": "rule:network_api",
    "segments:add_static": "rule:network_api",
    "segments:remove_static": "rule:network_api",
}

RANGE_RULES = {
    "create_segment_range": "rule:context_is_admin",
    "get_segment_range": "rule:context_is_admin",
    "list_segment_ranges": "rule:context_is_admin",
    "update_segment_range": "rule:context_is_admin",
    "delete_segment_range": "rule:context_is_admin",
    "list_segment_allocations": "rule:context_is_admin",
}

AGENT_RULES = {
    "register_agent": "rule:context_is_admin or rule:host_agent",
    "heartbeat_agent": "rule:context_is_admin or rule:host_agent",
    "get_agent": "rule:admin_or_service or rule:host_agent",
    "list_agents": "rule:admin_or_service or rule:any_agent",
    "update_agent": "rule:context_is_admin",
    "delete_agent": "rule:context_is_admin",
}

MANAGER_RULES = {
    "resolve_binding": "rule:manager_caller",
    "resolve_bindability": "rule:manager_caller",
    "list_mechanism_drivers": "rule:admin_or_service",
}

TOPOLOGY_RULES = {
    "set_host_link": "rule:context_is_admin",
    "delete_host_link": "rule:context_is_admin",
    "list_host_links": "rule:admin_or_service",
}

DEFAULT_RULES: dict[str, str] = {
    **BASE_RULES,
    **NETWORK_RULES,
    **PORT_RULES,
    **SEGMENT_RULES,
    **RANGE_RULES,
    **AGENT_RULES,
    **MANAGER_RULES,
    **TOPOLOGY_RULES,
    **DRIVER_RULES,
}

_V1 = "/ml2.v1."
METHOD_RULES: dict[str, str] = {
    f"{_V1}SegmentService/CreateNetworkSegments": "segments:create",
    f"{_V1}SegmentService/ListNetworkSegments": "segments:list",
    f"{_V1}SegmentService/ReleaseNetworkSegments": "segments:release",
    f"{_V1}SegmentService/AllocateDynamicSegment": "segments:allocate_dynamic",
    f"{_V1}SegmentService/ReleaseDynamicSegment": "segments:release_dynamic",
    f"{_V1}SegmentService/SyncDynamicSegmentHolds": "segments:sync_holds",
    f"{_V1}SegmentService/ListDynamicSegmentHolds": "segments:list_holds",
    f"{_V1}SegmentService/ValidateSegment": "segments:validate",
    f"{_V1}SegmentService/UpdateSegmentationId": "segments:update_segmentation_id",
    f"{_V1}SegmentService/AddStaticSegment": "segments:add_static",
    f"{_V1}SegmentService/RemoveStaticSegment": "segments:remove_static",
    f"{_V1}SegmentRangeService/CreateSegmentRange": "create_segment_range",
    f"{_V1}SegmentRangeService/GetSegmentRange": "get_segment_range",
    f"{_V1}SegmentRangeService/ListSegmentRanges": "list_segment_ranges",
    f"{_V1}SegmentRangeService/UpdateSegmentRange": "update_segment_range",
    f"{_V1}SegmentRangeService/DeleteSegmentRange": "delete_segment_range",
    f"{_V1}SegmentRangeService/ListSegmentAllocations": "list_segment_allocations",
    f"{_V1}MechanismManagerService/ResolveBinding": "resolve_binding",
    f"{_V1}MechanismManagerService/ResolveBindability": "resolve_bindability",
    f"{_V1}MechanismManagerService/ListMechanismDrivers": "list_mechanism_drivers",
    f"{_V1}TopologyService/SetHostLink": "set_host_link",
    f"{_V1}TopologyService/DeleteHostLink": "delete_host_link",
    f"{_V1}TopologyService/ListHostLinks": "list_host_links",
    f"{_V1}AgentService/ListAgents": "list_agents",
    f"{_V1}AgentService/UpdateAgent": "update_agent",
    f"{_V1}AgentService/DeleteAgent": "delete_agent",
    f"{_V1}PortService/CheckBindable": "check_bindable",
    **DRIVER_METHOD_RULES,
}
"""Methods whose rule needs nothing of the request: the interceptor decides them (pass
``method_rules=METHOD_RULES``). The others (networks, ports, an agent's own host) are decided by
the servicer, which knows the resource."""

REQUEST_RULES: dict[str, str] = {
    f"{_V1}AgentService/RegisterAgent": "register_agent",
    f"{_V1}AgentService/HeartbeatAgent": "heartbeat_agent",
    f"{_V1}AgentService/GetAgent": "get_agent",
}
"""Methods the interceptor decides from a field of the request: the host an agent acts for
(``%(host)s``). The process serving them gives each its target (``request_rules``)."""

SERVICER_RULES: dict[str, str] = {
    f"{_V1}NetworkService/CreateNetwork": "create_network",
    f"{_V1}NetworkService/GetNetwork": "get_network",
    f"{_V1}NetworkService/ListNetworks": "get_network",
    f"{_V1}NetworkService/UpdateNetwork": "update_network",
    f"{_V1}NetworkService/AddNetworkSegment": "update_network",
    f"{_V1}NetworkService/RemoveNetworkSegment": "update_network",
    f"{_V1}NetworkService/DeleteNetwork": "delete_network",
    f"{_V1}PortService/CreatePort": "create_port",
    f"{_V1}PortService/GetPort": "get_port",
    f"{_V1}PortService/ListPorts": "get_port",
    f"{_V1}PortService/UpdatePort": "update_port",
    f"{_V1}PortService/DeletePort": "delete_port",
    f"{_V1}PortService/WatchPorts": "watch_ports",
    f"{_V1}PortService/ReportDeviceStatus": "report_device_status",
    f"{_V1}AgentService/StreamHeartbeats": "heartbeat_agent",
}
"""Methods a servicer decides, as it knows the resource (a network's project, the host of
each heartbeat of a stream), with the rule it decides by; a listing (``List*``) is narrowed
to what that rule lets the caller see, not refused."""

FIELD_NAMES: dict[str, str] = {
    "segmentation_id": "provider:segmentation_id",  # UpdateNetwork's
    "binding.host_id": "binding:host_id",
    "binding.profile": "binding:profile",
    "binding.vnic_type": "binding:vnic_type",
    **{f"binding.{name}": f"binding:{name}" for name in _BINDING_OUTPUT},
    "segments": "segments",
    "segments.network_type": "provider:network_type",
    "segments.physical_network": "provider:physical_network",
    "segments.segmentation_id": "provider:segmentation_id",
}
"""API field path → the field part of a rule name; a path not listed is its own name."""

VISIBILITY: dict[str, str] = {
    "network": "get_network",
    "port": "get_port",
    "agent": "get_agent",
    "segment_range": "get_segment_range",
}
"""The rule that decides whether a caller may know a resource of each kind exists."""

_MUTATING: dict[str, tuple[str, ...]] = {
    "NetworkService": (
        "CreateNetwork",
        "UpdateNetwork",
        "AddNetworkSegment",
        "RemoveNetworkSegment",
        "DeleteNetwork",
    ),
    "PortService": ("CreatePort", "UpdatePort", "DeletePort", "ReportDeviceStatus"),
    "SegmentService": (
        "CreateNetworkSegments",
        "ReleaseNetworkSegments",
        "AllocateDynamicSegment",
        "ReleaseDynamicSegment",
        "SyncDynamicSegmentHolds",
        "UpdateSegmentationId",
        "AddStaticSegment",
        "RemoveStaticSegment",
    ),
    "SegmentRangeService": ("CreateSegmentRange", "UpdateSegmentRange", "DeleteSegmentRange"),
    "AgentService": ("RegisterAgent", "UpdateAgent", "DeleteAgent"),
    "TopologyService": ("SetHostLink", "DeleteHostLink"),
}

AUDITED_METHODS: frozenset[str] = frozenset(
    f"{_V1}{service}/{method}" for service, methods in _MUTATING.items() for method in methods
)
"""The methods that change something, each call of which leaves one audit record
(``ml2_driver_sdk.runtime.audit``), refused ones included. Heartbeats (``HeartbeatAgent``,
``StreamHeartbeats``) change an agent's last sign of life only and are not audited, a
registration is. The reads, and the computations that change nothing themselves
(``ResolveBinding``, ``ProposeBinding``, whose writes are the typemgr calls they make), are not."""

UNAUDITED_WRITES: frozenset[str] = frozenset(
    {f"{_V1}AgentService/HeartbeatAgent", f"{_V1}AgentService/StreamHeartbeats"}
)
"""Methods that write but are deliberately not audited (one record per beat would drown the
log); the registration they follow is."""
