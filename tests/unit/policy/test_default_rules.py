"""The default policy, as a matrix of callers and actions: a project sees and changes its own
networks and ports and the shared networks, another project's resource is NOT_FOUND, binding
fields are the services', provider attributes, ranges and agents the administrators'."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from ml2.v1 import binding_pb2, network_pb2, port_pb2
from ml2_driver_sdk.runtime import errors
from ml2_driver_sdk.runtime.auth import Identity

from services import policy
from services.policy import targets
from services.policy.rules import DEFAULT_RULES, METHOD_RULES

ADMIN = Identity("admin", roles=frozenset({"admin"}))
PORTAPI = Identity("service:portapi", roles=frozenset({"service"}), service="portapi")
MECHMGR = Identity("service:mechmgr", roles=frozenset({"service"}), service="mechmgr")
DRIVER = Identity("service:driver:ovs", roles=frozenset({"service"}), service="driver:ovs")
NOVA = Identity("nova", roles=frozenset({"service"}))
MEMBER = Identity("alice", project_id="p1", roles=frozenset({"member"}))
READER = Identity("rita", project_id="p1", roles=frozenset({"reader"}))
OTHER = Identity("bob", project_id="p2", roles=frozenset({"member"}))
NO_ROLE = Identity("eve", project_id="p1")
AGENT1 = Identity("agent:host-1", agent_host="host-1")
AGENT2 = Identity("agent:host-2", agent_host="host-2")

ENFORCER = policy.load()

OWN_NET = {"id": "n1", "project_id": "p1", "shared": False}
SHARED_NET = {"id": "n2", "project_id": "p3", "shared": True}
OTHER_NET = {"id": "n3", "project_id": "p2", "shared": False}
OWN_PORT = {
    "id": "port-1",
    "project_id": "p1",
    "network_id": "n1",
    "network:project_id": "p1",
    "binding:host_id": "host-1",
}


def test_every_default_rule_compiles_and_every_method_rule_exists() -> None:
    assert set(METHOD_RULES.values()) <= set(DEFAULT_RULES)
    assert ENFORCER.policy.rules == DEFAULT_RULES


@pytest.mark.parametrize(
    ("who", "network", "expected"),
    [
        (MEMBER, OWN_NET, True),
        (MEMBER, SHARED_NET, True),
        (MEMBER, OTHER_NET, False),
        (READER, OWN_NET, True),
        (READER, OTHER_NET, False),
        (NO_ROLE, OWN_NET, False),
        (NO_ROLE, SHARED_NET, True),
        (ADMIN, OTHER_NET, True),
        (PORTAPI, OTHER_NET, True),
        (AGENT1, OTHER_NET, False),
    ],
)
def test_who_sees_which_network(who: Identity, network: dict, expected: bool) -> None:
    assert ENFORCER.visible(who, "network", network) is expected
    assert policy.visible(who, "network", network) is expected


@pytest.mark.parametrize(
    ("who", "action", "expected"),
    [
        (MEMBER, "create_network", True),
        (MEMBER, "update_network", True),
        (MEMBER, "delete_network", True),
        (READER, "create_network", False),
        (READER, "update_network", False),
        (READER, "delete_network", False),
        (OTHER, "delete_network", False),
        (ADMIN, "delete_network", True),
    ],
)
def test_who_changes_a_projects_network(who: Identity, action: str, expected: bool) -> None:
    assert ENFORCER.enforce(action, who, OWN_NET) is expected


def test_another_projects_network_is_not_found_not_denied() -> None:
    with pytest.raises(errors.NotFound) as info:
        ENFORCER.authorize("update_network", OTHER, OWN_NET, kind="network", resource_id="n1")
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    assert info.value.message == "network n1 not found"


def test_a_shared_network_may_be_seen_but_not_changed_by_another_project() -> None:
    with pytest.raises(policy.PermissionDenied) as info:
        ENFORCER.authorize("update_network", MEMBER, SHARED_NET, kind="network", resource_id="n2")
    assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "update_network" in info.value.message
    ENFORCER.authorize("get_network", MEMBER, SHARED_NET, kind="network", resource_id="n2")


def test_a_reader_of_its_own_network_is_denied_a_change() -> None:
    with pytest.raises(policy.PermissionDenied):
        ENFORCER.authorize("delete_network", READER, OWN_NET, kind="network", resource_id="n1")


@pytest.mark.parametrize(
    "field",
    [
        "shared",
        "segments",
        "segments.network_type",
        "segments.physical_network",
        "segments.segmentation_id",
    ],
)
@pytest.mark.parametrize("action", ["create_network", "update_network"])
def test_provider_attributes_and_sharing_are_the_admins(action: str, field: str) -> None:
    assert ENFORCER.check_fields(action, MEMBER, ["name", field], OWN_NET) == field
    assert ENFORCER.check_fields(action, PORTAPI, [field], OWN_NET) == field
    assert ENFORCER.check_fields(action, ADMIN, ["name", field], OWN_NET) is None


def test_a_forbidden_field_is_permission_denied_naming_it() -> None:
    with pytest.raises(policy.PermissionDenied) as info:
        ENFORCER.require_fields(
            "create_port", MEMBER, ["name", "binding.host_id", "binding.profile"], OWN_PORT
        )
    assert info.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert info.value.message.startswith("binding.host_id:")
    assert "create_port:binding:host_id" in info.value.message
    assert info.value.metadata["field"] == "binding.host_id"


@pytest.mark.parametrize(
    ("who", "field", "allowed"),
    [
        (MEMBER, "binding.host_id", False),
        (MEMBER, "binding.vnic_type", True),
        (MEMBER, "name", True),
        (ADMIN, "binding.host_id", True),
        (NOVA, "binding.host_id", True),
        (PORTAPI, "binding.host_id", True),
        (ADMIN, "binding.profile", False),
        (MEMBER, "binding.profile", False),
        (NOVA, "binding.profile", True),
        (MEMBER, "mac_address", True),  # on its own network
        (OTHER, "mac_address", False),
    ],
)
@pytest.mark.parametrize("action", ["create_port", "update_port"])
def test_who_may_set_which_port_field(
    action: str, who: Identity, field: str, allowed: bool
) -> None:
    if action == "update_port" and field == "mac_address" and who is MEMBER:
        allowed = False  # a MAC address is changed by administrators and services only
    assert (ENFORCER.check_fields(action, who, [field], OWN_PORT) is None) is allowed


BINDING_OUTPUT = [
    "binding.host_id",
    "binding.profile",
    "binding.vif_type",
    "binding.vif_details",
    "binding.state",
    "binding.levels",
    "binding.trace",
    "binding.failure_message",
]


@pytest.mark.parametrize(
    ("who", "hidden"),
    [
        (MEMBER, BINDING_OUTPUT),
        (READER, BINDING_OUTPUT),
        (ADMIN, []),
        (PORTAPI, []),
        (NOVA, []),
        (AGENT1, []),
    ],
)
def test_binding_output_is_read_by_admins_services_and_the_bound_agent(who, hidden) -> None:
    assert ENFORCER.hidden_fields("get_port", who, OWN_PORT) == hidden


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        (MEMBER, True),
        (READER, True),
        (OTHER, False),
        (AGENT1, True),
        (AGENT2, False),
        (ADMIN, True),
    ],
)
def test_who_sees_a_port(who: Identity, visible: bool) -> None:
    assert ENFORCER.visible(who, "port", OWN_PORT) is visible


def test_another_projects_port_is_not_found_on_update() -> None:
    with pytest.raises(errors.NotFound):
        ENFORCER.authorize("update_port", OTHER, OWN_PORT, kind="port", resource_id="port-1")
    with pytest.raises(policy.PermissionDenied):
        ENFORCER.authorize("delete_port", READER, OWN_PORT, kind="port", resource_id="port-1")


def test_a_list_keeps_what_the_caller_may_see() -> None:
    items = [("n1", OWN_NET), ("n2", SHARED_NET), ("n3", OTHER_NET)]
    assert ENFORCER.visible_only(MEMBER, "network", items) == ["n1", "n2"]
    assert ENFORCER.visible_only(ADMIN, "network", items) == ["n1", "n2", "n3"]


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        (PORTAPI, True),
        (MECHMGR, True),
        (ADMIN, True),
        (DRIVER, False),
        (NOVA, False),
        (MEMBER, False),
        (AGENT1, False),
    ],
)
@pytest.mark.parametrize(
    "action", ["segments:create", "segments:release", "segments:allocate_dynamic"]
)
def test_segment_rpcs_answer_portapi_and_mechmgr(action: str, who: Identity, allowed: bool):
    assert ENFORCER.enforce(action, who, {}) is allowed


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(MECHMGR, True), (ADMIN, True), (PORTAPI, False), (DRIVER, False), (MEMBER, False)],
)
def test_driver_rpcs_answer_mechmgr(who: Identity, allowed: bool) -> None:
    assert ENFORCER.enforce("driver:propose_binding", who, {}) is allowed


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(AGENT1, True), (AGENT2, False), (ADMIN, True), (PORTAPI, False), (MEMBER, False)],
)
@pytest.mark.parametrize("action", ["register_agent", "heartbeat_agent"])
def test_an_agent_acts_for_its_own_host_only(action: str, who: Identity, allowed: bool):
    assert ENFORCER.enforce(action, who, targets.host("host-1")) is allowed


@pytest.mark.parametrize(
    ("who", "allowed"),
    [(AGENT1, True), (AGENT2, False), (PORTAPI, True), (MEMBER, False)],
)
def test_an_agent_watches_and_reports_for_its_host(who: Identity, allowed: bool) -> None:
    assert ENFORCER.enforce("watch_ports", who, targets.host("host-1")) is allowed
    assert ENFORCER.enforce("report_device_status", who, targets.host("host-1")) is allowed


@pytest.mark.parametrize(
    "action",
    [
        "create_segment_range",
        "list_segment_ranges",
        "delete_segment_range",
        "update_agent",
        "delete_agent",
        "set_host_link",
    ],
)
@pytest.mark.parametrize(("who", "allowed"), [(ADMIN, True), (PORTAPI, False), (MEMBER, False)])
def test_ranges_agents_and_topology_are_the_admins(action: str, who: Identity, allowed: bool):
    assert ENFORCER.enforce(action, who, {}) is allowed


def test_targets_are_read_from_the_messages() -> None:
    network = network_pb2.Network(id="n1", project_id="p1", shared=True)
    port = port_pb2.Port(
        id="port-1", project_id="p2", network_id="n1", binding=binding_pb2.PortBinding(host_id="h")
    )
    assert targets.network(network) == {
        "id": "n1",
        "project_id": "p1",
        "tenant_id": "p1",
        "shared": True,
    }
    assert targets.port(port, network) == {
        "id": "port-1",
        "project_id": "p2",
        "tenant_id": "p2",
        "network_id": "n1",
        "binding:host_id": "h",
        "network:project_id": "p1",
        "network:tenant_id": "p1",
        "network:shared": True,
    }
    assert targets.port(port_pb2.Port(id="x"))["binding:host_id"] == ""


def test_the_policy_file_of_the_environment_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("create_port:binding:host_id: 'rule:admin_or_service or role:member'\n")
    enforcer = policy.from_env({"ML2_POLICY_FILE": str(path)})
    assert enforcer.check_fields("create_port", MEMBER, ["binding.host_id"], OWN_PORT) is None
    assert enforcer.check_fields("create_port", MEMBER, ["binding.profile"], OWN_PORT) == (
        "binding.profile"
    )
    assert policy.from_env({}).policy.rules == DEFAULT_RULES


def test_an_override_written_with_tenant_id_still_matches(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("get_network: 'role:admin or tenant_id:%(tenant_id)s'\n")
    enforcer = policy.from_env({"ML2_POLICY_FILE": str(path)})
    network = network_pb2.Network(id="n1", project_id="p1")
    assert enforcer.visible(MEMBER, "network", targets.network(network))
    assert not enforcer.visible(OTHER, "network", targets.network(network))


def test_a_bad_policy_file_names_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"get_port": "rule:nope"}')
    with pytest.raises(policy.PolicyError, match="get_port"):
        policy.from_env({"ML2_POLICY_FILE": str(path)})


@pytest.mark.parametrize(
    ("who", "network", "allowed"),
    [
        (MEMBER, OWN_NET, True),
        (OTHER, SHARED_NET, True),
        (OTHER, OWN_NET, False),  # p1's private network, even for a port of p2's own
        (READER, OWN_NET, False),
        (NOVA, OTHER_NET, True),
        (ADMIN, OTHER_NET, True),
    ],
)
def test_a_port_is_created_on_the_projects_own_network_or_a_shared_one(
    who: Identity, network: dict, allowed: bool
) -> None:
    target = {
        "project_id": who.project_id,
        "network:project_id": network["project_id"],
        "network:shared": network["shared"],
    }
    assert ENFORCER.enforce("create_port", who, target) is allowed


def test_agents_are_read_by_administrators_services_and_agents_only() -> None:
    assert ENFORCER.enforce("list_agents", ADMIN, {})
    assert ENFORCER.enforce("list_agents", PORTAPI, {})
    assert ENFORCER.enforce("list_agents", AGENT1, {})  # the tunnel endpoints of every host
    assert not ENFORCER.enforce("list_agents", MEMBER, {})
    assert not ENFORCER.enforce("list_agents", READER, {})
    assert ENFORCER.enforce("get_agent", AGENT1, {"host": "host-1"})
    assert not ENFORCER.enforce("get_agent", AGENT1, {"host": "host-2"})
    assert not ENFORCER.enforce("get_agent", MEMBER, {"host": "host-1"})


def test_a_networks_static_segments_are_changed_by_portapi_and_administrators_only() -> None:
    for action in (
        "segments:update_segmentation_id",
        "segments:add_static",
        "segments:remove_static",
    ):
        assert ENFORCER.enforce(action, PORTAPI, {}) and ENFORCER.enforce(action, ADMIN, {})
        for caller in (MECHMGR, DRIVER, NOVA, MEMBER, AGENT1):
            assert not ENFORCER.enforce(action, caller, {}), (action, caller)
    ruled = {m.rsplit("/", 1)[1] for m in METHOD_RULES}
    assert {"UpdateSegmentationId", "AddStaticSegment", "RemoveStaticSegment"} <= ruled
