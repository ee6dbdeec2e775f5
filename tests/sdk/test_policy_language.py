"""The rule language and its one evaluator: checks, operators, references, override files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ml2_driver_sdk.runtime.auth import Identity
from ml2_driver_sdk.runtime.policy import Policy, PolicyError, load, read_rules

ADMIN = Identity("root", roles=frozenset({"admin"})).credentials()
ALICE = Identity("alice", project_id="p1", roles=frozenset({"member"})).credentials()
NOBODY = Identity("nobody").credentials()
MECHMGR = Identity("mm", roles=frozenset({"service"}), service="mechmgr").credentials()


def allowed(expression: str, credentials: dict, target: dict | None = None) -> bool:
    return Policy({"r": expression}).enforce("r", credentials, target or {})


@pytest.mark.parametrize(
    ("expression", "credentials", "target", "expected"),
    [
        ("role:admin", ADMIN, {}, True),
        ("role:admin", ALICE, {}, False),
        ("role:ADMIN", ADMIN, {}, True),
        ("project_id:%(project_id)s", ALICE, {"project_id": "p1"}, True),
        ("project_id:%(project_id)s", ALICE, {"project_id": "p2"}, False),
        ("project_id:%(project_id)s", NOBODY, {"project_id": ""}, False),
        ("project_id:%(network:project_id)s", ALICE, {"network:project_id": "p1"}, True),
        ("service:mechmgr", MECHMGR, {}, True),
        ("service:mechmgr", ALICE, {}, False),
        ("field:networks:shared=True", NOBODY, {"shared": True}, True),
        ("field:networks:shared=True", NOBODY, {"shared": False}, False),
        ("field:networks:name=blue", NOBODY, {"name": "blue"}, True),
        ("@", NOBODY, {}, True),
        ("", NOBODY, {}, True),
        ("!", ADMIN, {}, False),
        ("not role:admin", ALICE, {}, True),
        ("not not role:admin", ALICE, {}, False),
        ("role:admin or role:member", ALICE, {}, True),
        ("role:admin and role:member", ALICE, {}, False),
        (
            "role:reader or role:member and project_id:%(project_id)s",
            ALICE,
            {"project_id": "p2"},
            False,
        ),
        (
            "(role:reader or role:member) and project_id:%(project_id)s",
            ALICE,
            {"project_id": "p1"},
            True,
        ),
        ("((role:admin)) or (not (role:member))", ALICE, {}, False),
        ("role:a or role:b or role:member", ALICE, {}, True),
        ("role:member and role:member and role:admin", ALICE, {}, False),
    ],
)
def test_expressions(expression: str, credentials: dict, target: dict, expected: bool) -> None:
    assert allowed(expression, credentials, target) is expected


def test_rules_refer_to_rules() -> None:
    policy = Policy(
        {
            "is_admin": "role:admin",
            "owner": "project_id:%(project_id)s",
            "admin_or_owner": "rule:is_admin or rule:owner",
            "get_thing": "rule:admin_or_owner",
        }
    )
    assert policy.enforce("get_thing", ALICE, {"project_id": "p1"})
    assert policy.enforce("get_thing", ADMIN, {"project_id": "p1"})
    assert not policy.enforce("get_thing", ALICE, {"project_id": "p2"})


def test_an_unknown_action_is_refused() -> None:
    assert not Policy({}).enforce("create_port", ADMIN, {})


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ({"a": "rule:b"}, "refers to rule 'b'"),
        ({"a": "rule:b", "b": "rule:a"}, "circular reference (a -> b -> a)"),
        ({"a": "role:admin or"}, "ends early"),
        ({"a": "(role:admin"}, "missing ')'"),
        ({"a": "role:admin)"}, "unexpected ')'"),
        ({"a": "admin"}, "'admin' is not a check"),
        ({"a": "role:admin role:member"}, "unexpected 'role:member'"),
        ({"a": "field:shared"}, "resource:field=value"),
        ({"a": "and role:admin"}, "unexpected 'and'"),
    ],
)
def test_a_bad_rule_fails_at_load_naming_it(rules: dict, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy(rules)
    assert "rule 'a'" in str(info.value)
    assert words in str(info.value)


def test_field_rules() -> None:
    policy = Policy(
        {
            "create_port": "@",
            "create_port:binding:host_id": "role:admin",
            "create_port:mac_address": "role:admin or project_id:%(project_id)s",
        }
    )
    target = {"project_id": "p1"}
    assert policy.check_fields("create_port", ALICE, ["name", "mac_address"], target) is None
    assert (
        policy.check_fields("create_port", ALICE, ["mac_address", "binding:host_id"], target)
        == "binding:host_id"
    )
    assert policy.hidden_fields("create_port", ALICE, {"project_id": "p2"}) == [
        "binding:host_id",
        "mac_address",
    ]
    assert policy.hidden_fields("create_port", ADMIN, target) == []


def test_an_override_file_replaces_single_rules(tmp_path: Path) -> None:
    defaults = {
        "is_admin": "role:admin",
        "get_thing": "rule:is_admin",
        "put_thing": "rule:is_admin",
    }
    path = tmp_path / "policy.yaml"
    path.write_text("# operators may read\nget_thing: 'rule:is_admin or role:member'\n")
    policy = load(defaults, str(path))
    assert policy.enforce("get_thing", ALICE, {})
    assert not policy.enforce("put_thing", ALICE, {})
    as_json = tmp_path / "policy.json"
    as_json.write_text(json.dumps({"is_admin": "role:admin or role:member"}))
    policy = load(defaults, str(as_json))
    assert policy.enforce("put_thing", ALICE, {})  # an overridden base rule changes its users


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("p.yaml", "- a\n- b\n", "must be a mapping"),
        ("p.yaml", "a: [1]\n", "expression must be a string"),
        ("p.json", "{", "not JSON"),
        ("p.yaml", "a: 'rule:missing'\n", "refers to rule 'missing'"),
    ],
)
def test_a_bad_override_file_is_refused_naming_the_problem(
    tmp_path: Path, name: str, content: str, words: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(PolicyError, match=words.replace("(", r"\(").replace("[", r"\[")):
        load({}, str(path))


def test_a_missing_override_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="policy file"):
        read_rules(str(tmp_path / "absent.yaml"))
