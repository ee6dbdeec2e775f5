"""The contract's closed sets map to their enums by value name, each spelled once."""

from __future__ import annotations

import pytest
from ml2.v1 import binding_pb2
from ml2_contract import convert, values, vocabulary

VNIC_NUMBERS = [v.number for v in binding_pb2.VnicType.DESCRIPTOR.values if v.number != 0]


@pytest.mark.parametrize("number", VNIC_NUMBERS)
def test_every_vnic_type_of_the_contract_has_its_neutron_spelling(number: int) -> None:
    name = convert.vnic_type_name(number)
    assert name in vocabulary.VNIC_TYPES
    assert binding_pb2.VnicType.Name(number) == vocabulary.VNIC_ENUM_NAMES[name]
    assert convert.vnic_type_value(name) == number


def test_vnic_types_are_neutrons_spellings_of_the_enum_names() -> None:
    assert vocabulary.VNIC_TYPES == (
        "normal",
        "direct",
        "macvtap",
        "baremetal",
        "direct-physical",
        "virtio-forwarder",
        "smart-nic",
        "vdpa",
        "accelerator-direct",
        "accelerator-direct-physical",
        "remote-managed",
    )
    for name, enum_name in vocabulary.VNIC_ENUM_NAMES.items():
        assert enum_name == "VNIC_TYPE_" + name.upper().replace("-", "_")
    assert len(vocabulary.VNIC_TYPES) == len(VNIC_NUMBERS)


def test_an_unspecified_vnic_type_is_normal() -> None:
    assert convert.vnic_type_name(binding_pb2.VNIC_TYPE_UNSPECIFIED) == vocabulary.VNIC_NORMAL


@pytest.mark.parametrize("number", [max(VNIC_NUMBERS) + 1, 99, -1])
def test_a_vnic_type_number_the_contract_does_not_define_is_refused(number: int) -> None:
    with pytest.raises(ValueError, match=f"^unknown vnic type {number}$"):
        convert.vnic_type_name(number)


@pytest.mark.parametrize("name", ["", "Normal", "direct_physical", "smartnic"])
def test_a_vnic_type_spelling_the_contract_does_not_define_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown vnic type"):
        convert.vnic_type_value(name)


@pytest.mark.parametrize("number", [v.number for v in binding_pb2.Outcome.DESCRIPTOR.values[1:]])
def test_outcomes_are_spelled_as_the_enum_value_names(number: int) -> None:
    outcome = convert.outcome_name(number)
    assert outcome in vocabulary.OUTCOMES
    assert binding_pb2.Outcome.Name(number) == f"OUTCOME_{outcome}"
    assert convert.outcome_value(outcome) == number


def test_outcomes_have_one_spelling() -> None:
    assert vocabulary.OUTCOMES == ("COMPLETE", "CONTINUE", "DECLINE")
    for other in ("complete", "continue", "decline", "continued", "declined"):
        with pytest.raises(ValueError, match="unknown outcome"):
            convert.outcome_value(other)
    proposals = (values.Complete("s", "ovs"), values.Continue("s"), values.Decline(()))
    assert tuple(values.outcome_of(p) for p in proposals) == vocabulary.OUTCOMES


def test_an_unspecified_outcome_is_refused_but_a_verdict_of_one_reads_as_declined() -> None:
    with pytest.raises(ValueError, match="unknown outcome 0"):
        convert.outcome_name(binding_pb2.OUTCOME_UNSPECIFIED)
    msg = binding_pb2.DriverVerdict(
        level=0, driver="future", outcome=binding_pb2.OUTCOME_UNSPECIFIED
    )
    assert convert.verdict_from_proto(msg).outcome == vocabulary.DECLINE


@pytest.mark.parametrize(
    "number", [v.number for v in binding_pb2.BindingState.DESCRIPTOR.values[1:]]
)
def test_binding_states_are_spelled_as_the_enum_value_names(number: int) -> None:
    state = convert.state_name(number)
    assert state in vocabulary.BINDING_STATES
    assert binding_pb2.BindingState.Name(number) == f"BINDING_STATE_{state}"
    assert convert.state_value(state) == number
    with pytest.raises(ValueError, match="unknown binding state"):
        convert.state_value(state.lower())


def test_reason_codes_are_upper_snake_case_and_spelled_as_their_names() -> None:
    codes = {
        name: value
        for name, value in vars(vocabulary).items()
        if isinstance(value, str) and value.isupper() and value == name
    }
    assert {"NO_AGENT", "AGENT_DEAD", "DRIVER_UNAVAILABLE", "MECHANISM_MANAGER_ERROR"} <= set(codes)


def test_reserved_vif_types_are_the_managers_own() -> None:
    assert {"unbound", "binding_failed"} == vocabulary.RESERVED_VIF_TYPES
    assert values.UNBOUND_RESULT.vif_type == vocabulary.VIF_TYPE_UNBOUND
    assert values.UNBOUND_RESULT.state == vocabulary.UNBOUND
