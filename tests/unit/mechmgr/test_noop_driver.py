from __future__ import annotations

import pytest
from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime.config import ConfigError

from services.drivers.noop import driver as noop

VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101)
VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001)


def ctx(*segments, host="compute-1", vnic="normal") -> values.BindingContext:
    return values.BindingContext("port-1", "net-1", host, 0, segments or (VLAN,), vnic_type=vnic)


def test_bind_mode_completes_on_the_first_segment_with_the_configured_vif_type():
    driver = noop.NoopDriver.from_env({"MECHDRIVER_NOOP_VIF_TYPE": "tap"})

    proposal = driver.propose_binding(ctx(VXLAN, VLAN))

    assert proposal == values.Complete(VXLAN.id, "tap", {"connectivity": "l2"})


def test_bind_mode_skips_segments_of_types_it_does_not_bind():
    driver = noop.NoopDriver.from_env({"MECHDRIVER_NOOP_NETWORK_TYPES": "vlan"})

    proposal = driver.propose_binding(ctx(VXLAN, VLAN))

    assert isinstance(proposal, values.Complete)
    assert proposal.segment_id == VLAN.id


def test_fabric_mode_continues_with_a_dynamic_vlan_on_its_physical_network():
    driver = noop.NoopDriver.from_env(
        {"MECHDRIVER_NOOP_MODE": "fabric", "MECHDRIVER_NOOP_FABRIC_PHYSNET": "physnet3"}
    )

    proposal = driver.propose_binding(ctx(VLAN, VXLAN))

    assert proposal == values.Continue(
        VXLAN.id, dynamic_segments=(values.SegmentSpec("vlan", "physnet3"),)
    )


def test_fabric_mode_declines_vlan_segments_so_it_does_not_bind_its_own_dynamic_segment():
    driver = noop.NoopDriver.from_env({"MECHDRIVER_NOOP_MODE": "fabric"})

    proposal = driver.propose_binding(ctx(VLAN))

    assert isinstance(proposal, values.Decline)
    assert proposal.reasons[0].code == vocabulary.NETWORK_TYPE_UNSUPPORTED


def test_declines_hosts_and_vnic_types_it_is_not_configured_for():
    driver = noop.NoopDriver.from_env({"MECHDRIVER_NOOP_HOSTS": "compute-a,compute-b"})

    other_host = driver.propose_binding(ctx(host="compute-c"))
    direct = driver.propose_binding(ctx(host="compute-a", vnic="direct"))

    assert isinstance(other_host, values.Decline)
    assert other_host.reasons[0].code == vocabulary.HOST_NOT_SERVED
    assert isinstance(direct, values.Decline)
    assert direct.reasons[0].code == vocabulary.VNIC_TYPE_UNSUPPORTED


def test_use_default_hosts_get_a_complete_verdict_with_vif_type_use_default_and_no_details():
    driver = noop.NoopDriver.from_env({"MECHDRIVER_NOOP_USE_DEFAULT_HOSTS": "compute-local"})

    local = driver.propose_binding(ctx(host="compute-local"))
    other = driver.propose_binding(ctx(host="compute-1"))

    assert local == values.Complete(VLAN.id, vocabulary.VIF_TYPE_USE_DEFAULT, {})
    assert isinstance(other, values.Decline)
    assert other.reasons[0].code == vocabulary.HOST_NOT_SERVED
    assert driver.describe().vif_types == ("other", "use_default")


def test_use_default_hosts_are_served_beside_the_hosts_bound_with_the_configured_vif_type():
    driver = noop.NoopDriver.from_env(
        {"MECHDRIVER_NOOP_HOSTS": "compute-a", "MECHDRIVER_NOOP_USE_DEFAULT_HOSTS": "compute-b"}
    )

    a = driver.propose_binding(ctx(host="compute-a"))
    b = driver.propose_binding(ctx(host="compute-b"))

    assert isinstance(a, values.Complete)
    assert a.vif_type == "other"
    assert isinstance(b, values.Complete)
    assert b.vif_type == vocabulary.VIF_TYPE_USE_DEFAULT


def test_describe_reports_the_configured_name_and_types():
    desc = noop.NoopDriver.from_env(
        {"MECHDRIVER_NOOP_NAME": "fabric", "MECHDRIVER_NOOP_MODE": "fabric"}
    ).describe()

    assert desc.name == "fabric"
    assert desc.supported_network_types == ("geneve", "gre", "vxlan")
    assert desc.vif_types == ()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MECHDRIVER_NOOP_MODE": "mirror"}, "MECHDRIVER_NOOP_MODE"),
        ({"MECHDRIVER_NOOP_VNIC_TYPES": "normal,warp"}, "MECHDRIVER_NOOP_VNIC_TYPES"),
        ({"MECHDRIVER_NOOP_VIF_TYPE": "binding_failed"}, "MECHDRIVER_NOOP_VIF_TYPE"),
        ({"MECHDRIVER_NOOP_DELAY_SECONDS": "soon"}, "MECHDRIVER_NOOP_DELAY_SECONDS"),
        ({"MECHDRIVER_NOOP_NAME": " "}, "MECHDRIVER_NOOP_NAME"),
        (
            {"MECHDRIVER_NOOP_MODE": "fabric", "MECHDRIVER_NOOP_USE_DEFAULT_HOSTS": "h"},
            "MECHDRIVER_NOOP_USE_DEFAULT_HOSTS",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        noop.NoopDriver.from_env(env)
