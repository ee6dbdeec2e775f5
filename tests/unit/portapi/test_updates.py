from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import errors

from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi import updates


def make_port(
    state: str = vocabulary.UNBOUND,
    host: str = "",
    vnic: str = "normal",
    profile: dict[str, object] | None = None,
) -> r.Port:
    vif = {
        vocabulary.UNBOUND: "unbound",
        vocabulary.BOUND: "ovs",
        vocabulary.FAILED: "binding_failed",
    }[state]
    binding = r.Binding(
        r.BindingInputs(host, vnic, profile or {}),
        values.BindingResult(state=state, vif_type=vif),
        generation=3,
    )
    stamp = datetime(2026, 1, 1)
    return r.Port(
        "p1",
        "n1",
        "proj",
        "name",
        "fa:16:3e:00:00:01",
        "",
        "",
        True,
        r.PORT_DOWN,
        binding,
        stamp,
        stamp,
    )


def test_check_mask_refuses_an_empty_mask() -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        updates.check_mask([])
    assert info.value.field == "update_mask"
    assert "binding.host_id" in info.value.message


def test_check_mask_names_the_index_of_an_unknown_path() -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        updates.check_mask(["name", "binding.hostid"])
    assert info.value.field == "update_mask.paths[1]"
    assert "unknown field 'binding.hostid'" in info.value.message


def test_check_mask_refuses_read_only_fields() -> None:
    for path in ("network_id", "binding.vif_type", "status"):
        with pytest.raises(errors.InvalidArgument) as info:
            updates.check_mask([path])
        assert "cannot be updated" in info.value.message


def test_check_mask_accepts_every_allowed_path() -> None:
    assert updates.check_mask(list(updates.ALLOWED_PATHS)) == frozenset(updates.ALLOWED_PATHS)


def test_setting_a_host_changes_inputs_and_binds() -> None:
    plan = updates.plan(make_port(), r.PortUpdate(host_id="compute-1"))
    assert plan.inputs == r.BindingInputs("compute-1", "normal", {})
    assert plan.bind and plan.columns == {}
    assert not plan.had_levels


def test_same_host_on_a_bound_port_changes_nothing() -> None:
    plan = updates.plan(make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(host_id="compute-1"))
    assert plan.inputs is None and not plan.bind and plan.columns == {}


def test_new_host_on_a_bound_port_clears_the_levels_and_binds_again() -> None:
    plan = updates.plan(make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(host_id="compute-2"))
    assert plan.inputs is not None and plan.inputs.host_id == "compute-2"
    assert plan.had_levels and plan.bind


def test_empty_host_unbinds_without_binding() -> None:
    plan = updates.plan(make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(host_id=""))
    assert plan.inputs is not None and plan.inputs.host_id == ""
    assert plan.had_levels and not plan.bind


def test_profile_change_on_a_bound_port_binds_again() -> None:
    port = make_port(vocabulary.BOUND, "compute-1", profile={"a": 1})
    plan = updates.plan(port, r.PortUpdate(profile={"a": 2}))
    assert plan.inputs is not None and plan.inputs.profile == {"a": 2} and plan.bind


def test_equal_profile_is_not_a_change() -> None:
    port = make_port(vocabulary.BOUND, "compute-1", profile={"a": 1})
    assert updates.plan(port, r.PortUpdate(profile={"a": 1.0})).inputs is None


def test_vnic_type_change_of_a_bound_port_is_port_in_use() -> None:
    with pytest.raises(portapi_errors.PortInUse) as info:
        updates.plan(make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(vnic_type="direct"))
    assert info.value.metadata["host_id"] == "compute-1"


def test_vnic_type_change_is_allowed_while_unbound() -> None:
    unbound = updates.plan(make_port(), r.PortUpdate(vnic_type="direct"))
    assert unbound.inputs is not None and unbound.inputs.vnic_type == "direct"
    assert not unbound.bind  # no host: nothing to bind
    pending = updates.plan(
        make_port(vocabulary.UNBOUND, "compute-1"), r.PortUpdate(vnic_type="direct")
    )
    assert pending.inputs is not None and pending.bind


def test_vnic_type_change_of_a_failed_port_is_port_in_use() -> None:
    with pytest.raises(portapi_errors.PortInUse) as info:
        updates.plan(make_port(vocabulary.FAILED, "compute-1"), r.PortUpdate(vnic_type="direct"))
    assert info.value.metadata["vif_type"] == "binding_failed"
    assert info.value.code.name == "FAILED_PRECONDITION"
    assert info.value.message.startswith("binding.vnic_type:")
    assert "only change while it is unbound" in info.value.message


def test_mac_address_change_of_a_bound_port_is_port_bound() -> None:
    with pytest.raises(portapi_errors.PortBound) as info:
        updates.plan(
            make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(mac_address="fa:16:3e:00:00:02")
        )
    assert info.value.code.name == "FAILED_PRECONDITION"
    assert info.value.message.startswith("mac_address:")
    assert info.value.metadata["vif_type"] == "ovs"


@pytest.mark.parametrize(
    ("state", "host"),
    [(vocabulary.UNBOUND, ""), (vocabulary.UNBOUND, "compute-1"), (vocabulary.FAILED, "compute-1")],
)
def test_mac_address_changes_while_unbound_or_failed(state: str, host: str) -> None:
    plan = updates.plan(make_port(state, host), r.PortUpdate(mac_address="fa:16:3e:00:00:02"))
    assert plan.columns == {"mac_address": "fa:16:3e:00:00:02"}
    assert plan.inputs is None


def test_the_same_mac_address_on_a_bound_port_is_no_change() -> None:
    plan = updates.plan(
        make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(mac_address="fa:16:3e:00:00:01")
    )
    assert plan.columns == {} and not plan.bind


def test_same_vnic_type_on_a_bound_port_is_no_change() -> None:
    plan = updates.plan(make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(vnic_type="normal"))
    assert plan.inputs is None and not plan.bind


def test_any_update_of_a_failed_port_retries_binding_at_the_same_generation() -> None:
    plan = updates.plan(make_port(vocabulary.FAILED, "compute-1"), r.PortUpdate(name="web"))
    assert plan.columns == {"name": "web"}
    assert plan.inputs is None and plan.bind


def test_an_update_of_a_port_left_pending_binds_it() -> None:
    plan = updates.plan(make_port(vocabulary.UNBOUND, "compute-1"), r.PortUpdate(device_id="vm-1"))
    assert plan.bind and plan.inputs is None


def test_plain_field_updates_do_not_touch_the_binding() -> None:
    port = make_port(vocabulary.BOUND, "compute-1")
    plan = updates.plan(port, r.PortUpdate(name="x", admin_state_up=False, device_owner="o"))
    assert plan.columns == {"name": "x", "admin_state_up": False, "device_owner": "o"}
    assert plan.inputs is None and not plan.bind


def test_unbinding_a_direct_physical_port_gives_it_a_new_mac_address() -> None:
    bound = make_port(vocabulary.BOUND, "compute-1", vnic="direct-physical")
    assert updates.plan(bound, r.PortUpdate(host_id="")).reset_mac
    # Moving it to another host, or another update, keeps the device's MAC.
    assert not updates.plan(bound, r.PortUpdate(host_id="compute-2")).reset_mac
    assert not updates.plan(bound, r.PortUpdate(name="x")).reset_mac
    # A MAC asked for in the same update wins.
    assert not updates.plan(
        make_port(vocabulary.FAILED, "compute-1", vnic="direct-physical"),
        r.PortUpdate(host_id="", mac_address="fa:16:3e:00:00:09"),
    ).reset_mac
    # Other vnic types keep their MAC.
    assert not updates.plan(
        make_port(vocabulary.BOUND, "compute-1"), r.PortUpdate(host_id="")
    ).reset_mac


def test_clearing_device_id_and_owner_of_a_direct_physical_port_gives_it_a_new_mac() -> None:
    used = replace(
        make_port(vocabulary.BOUND, "compute-1", vnic="direct-physical"),
        device_id="vm-1",
        device_owner="compute:nova",
    )
    assert updates.plan(used, r.PortUpdate(device_id="", device_owner="")).reset_mac
    assert not updates.plan(used, r.PortUpdate(device_id="")).reset_mac  # still owned
    assert not updates.plan(used, r.PortUpdate(device_id="vm-2")).reset_mac
