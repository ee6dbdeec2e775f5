"""The sriov driver binds as Neutron's sriovnicswitch driver does, rule by rule."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import config

from services import launcher
from services.drivers.sriov import driver as sriov
from tests.unit.drivers.agent_cases import (
    FLAT,
    GRE,
    LOCAL,
    VLAN,
    VLAN2,
    VXLAN,
    binding_context,
    make_agent,
    only_reason,
    reasons,
)

MAPPED = values.HostCapabilities(device_mappings={"physnet1": ("ens1f0", "ens1f1")})
VIF_VLAN_101 = {"port_filter": False, "connectivity": "l2", "vlan": "101"}
VF_VNICS = ["direct", "macvtap", "accelerator-direct"]


def agent(agent_type: str = "sriov", caps: values.HostCapabilities = MAPPED, **kw):
    return make_agent(agent_type, caps, kw.pop("id", "sriov-1"), **kw)


def ctx(*segments, vnic="direct", **kw) -> values.BindingContext:
    return binding_context(*segments, vnic=vnic, **kw)


def propose(*segments, **kw) -> values.Proposal:
    return sriov.SriovDriver().propose_binding(ctx(*segments, **kw))


def test_describes_neutron_vnic_types_network_types_agent_and_vif_types():
    desc = sriov.SriovDriver().describe()

    assert desc.name == "sriov"
    assert desc.agent_type == "sriov"
    assert desc.supported_vnic_types == (
        "direct",
        "macvtap",
        "direct-physical",
        "accelerator-direct",
    )
    assert desc.supported_network_types == ("flat", "vlan")
    assert set(desc.vif_types) == {"hw_veb", "hostdev_physical"}
    assert desc.connectivity == "l2"


@pytest.mark.parametrize("vnic", VF_VNICS)
def test_a_vf_vnic_type_binds_a_mapped_vlan_as_hw_veb_with_the_vlan_id_as_a_string(vnic):
    proposal = propose(VLAN, agents=[agent()], vnic=vnic)

    assert proposal == values.Complete(VLAN.id, "hw_veb", VIF_VLAN_101)
    assert isinstance(proposal.vif_details["vlan"], str)


def test_a_flat_segment_binds_with_vlan_zero_as_a_string():
    proposal = propose(FLAT, agents=[agent()])

    assert proposal == values.Complete(
        FLAT.id, "hw_veb", {"port_filter": False, "connectivity": "l2", "vlan": "0"}
    )


@pytest.mark.parametrize("vnic", ["normal", "baremetal", "vdpa", "smart-nic", "remote-managed"])
def test_other_vnic_types_are_declined(vnic):
    reason = only_reason(propose(VLAN, agents=[agent()], vnic=vnic))

    assert reason.code == "VNIC_TYPE_UNSUPPORTED"
    assert reason.details["vnic_type"] == vnic
    assert reason.details["supported"] == "direct,macvtap,direct-physical,accelerator-direct"


@pytest.mark.parametrize("capabilities", [["switchdev"], ["rx-offload", "switchdev"], "switchdev"])
def test_direct_with_switchdev_is_left_to_open_vswitch_hardware_offload(capabilities):
    reason = only_reason(propose(VLAN, agents=[agent()], profile={"capabilities": capabilities}))

    assert reason.code == "VNIC_TYPE_UNSUPPORTED"
    assert "switchdev" in reason.message and "Open vSwitch hardware offload" in reason.message
    assert "switchdev" in reason.details["capabilities"].split(",")
    assert reason.details["vnic_type"] == "direct"


@pytest.mark.parametrize("vnic", ["macvtap", "direct-physical", "accelerator-direct"])
def test_switchdev_declines_only_direct(vnic):
    proposal = propose(VLAN, agents=[agent()], vnic=vnic, profile={"capabilities": ["switchdev"]})

    assert isinstance(proposal, values.Complete)


def test_direct_with_other_capabilities_binds():
    proposal = propose(VLAN, agents=[agent()], profile={"capabilities": ["rx-offload"]})

    assert proposal == values.Complete(VLAN.id, "hw_veb", VIF_VLAN_101)


def test_direct_physical_binds_with_no_agent_at_all_as_hostdev_physical():
    proposal = propose(VLAN, agents=[], vnic="direct-physical")

    assert proposal == values.Complete(VLAN.id, "hostdev_physical", VIF_VLAN_101, "ACTIVE")


def test_only_direct_physical_is_active_at_once_a_virtual_function_waits_for_its_agent():
    physical = propose(VLAN, agents=[], vnic="direct-physical")
    virtual = propose(VLAN, agents=[agent()], vnic="direct")

    assert isinstance(physical, values.Complete) and isinstance(virtual, values.Complete)
    assert physical.port_status == "ACTIVE"
    assert virtual.port_status == ""


def test_direct_physical_ignores_dead_disabled_and_unmapping_agents():
    dead = agent(id="dead", alive=False)
    disabled = agent(id="off", admin_state_up=False)
    unmapping = agent(id="bare", caps=values.HostCapabilities())

    proposal = propose(VLAN2, agents=[dead, disabled, unmapping], vnic="direct-physical")

    assert proposal == values.Complete(
        VLAN2.id,
        "hostdev_physical",
        {"port_filter": False, "connectivity": "l2", "vlan": "202"},
        "ACTIVE",
    )


def test_direct_physical_binds_the_first_flat_or_vlan_segment_offered():
    proposal = propose(VXLAN, FLAT, VLAN, vnic="direct-physical")

    assert proposal == values.Complete(
        FLAT.id,
        "hostdev_physical",
        {"port_filter": False, "connectivity": "l2", "vlan": "0"},
        "ACTIVE",
    )


def test_direct_physical_declines_segments_other_than_flat_and_vlan_each_by_name():
    found = reasons(propose(VXLAN, GRE, LOCAL, vnic="direct-physical"))

    assert [r.code for r in found] == ["NETWORK_TYPE_UNSUPPORTED"] * 3
    assert [r.segment_id for r in found] == [VXLAN.id, GRE.id, LOCAL.id]
    assert found[0].details == {
        "vnic_type": "direct-physical",
        "network_type": "vxlan",
        "allowed_network_types": "flat,vlan",
    }


@pytest.mark.parametrize("vnic", VF_VNICS)
def test_vf_vnic_types_need_an_sriov_agent_on_the_host(vnic):
    reason = only_reason(propose(VLAN, agents=[agent("openvswitch")], vnic=vnic))

    assert reason.code == "NO_AGENT"
    assert reason.details == {"host": "compute-1", "agent_type": "sriov"}


def test_a_dead_agent_is_declined_with_its_last_heartbeat():
    reason = only_reason(propose(VLAN, agents=[agent(alive=False)]))

    assert reason.code == "AGENT_DEAD"
    assert reason.details["agent_id"] == "sriov-1"
    assert reason.details["last_heartbeat"] == "2026-01-02T03:04:05.000Z"


def test_a_disabled_agent_is_declined():
    reason = only_reason(propose(VLAN, agents=[agent(admin_state_up=False)]))

    assert reason.code == "AGENT_ADMIN_DOWN"
    assert reason.details == {"agent_id": "sriov-1", "host": "compute-1"}


def test_an_unmapped_physical_network_names_the_wanted_network_and_the_device_mappings():
    caps = values.HostCapabilities(
        device_mappings={"physnet1": ("ens1f0", "ens1f1"), "physnet3": ("ens3f0",)}
    )

    reason = only_reason(propose(VLAN2, agents=[agent(caps=caps)]))

    assert reason.code == "PHYSNET_NOT_MAPPED"
    assert reason.segment_id == VLAN2.id
    assert reason.details == {
        "agent_id": "sriov-1",
        "host": "compute-1",
        "agent_type": "sriov",
        "physical_network": "physnet2",
        "mappings": "physnet1:ens1f0,physnet1:ens1f1,physnet3:ens3f0",
        "mapping_option": "device_mappings",
    }
    assert "physnet2" in reason.message
    assert "physnet1:ens1f0, physnet1:ens1f1, physnet3:ens3f0" in reason.message


def test_other_mappings_of_the_agent_do_not_count():
    caps = values.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"}, interface_mappings={"physnet1": "eth1"}
    )

    reason = only_reason(propose(VLAN, agents=[agent(caps=caps)]))

    assert reason.code == "PHYSNET_NOT_MAPPED"
    assert reason.details["mappings"] == ""
    assert "device_mappings: none" in reason.message


@pytest.mark.parametrize("segment", [VXLAN, GRE, LOCAL], ids=lambda s: s.network_type)
def test_only_flat_and_vlan_are_bound_even_if_the_agent_reports_tunnels(segment):
    caps = values.HostCapabilities(
        device_mappings={"physnet1": ("ens1f0",)}, tunnel_types=("vxlan", "gre")
    )

    reason = only_reason(propose(segment, agents=[agent(caps=caps)]))

    assert reason.code == "NETWORK_TYPE_UNSUPPORTED"
    assert reason.details["allowed_network_types"] == "flat,vlan"


def test_the_first_mapped_segment_wins_after_every_reason_is_skipped():
    proposal = propose(VXLAN, VLAN2, FLAT, VLAN, agents=[agent()])

    assert proposal == values.Complete(
        FLAT.id, "hw_veb", {"port_filter": False, "connectivity": "l2", "vlan": "0"}
    )


def test_a_dead_agent_is_skipped_for_a_live_one_on_the_same_host():
    proposal = propose(VLAN, agents=[agent(id="old", alive=False), agent(id="new")])

    assert proposal == values.Complete(VLAN.id, "hw_veb", VIF_VLAN_101)


@pytest.mark.parametrize(
    "profile",
    [
        {},
        {
            "pci_slot": "0000:05:00.1",
            "pci_vendor_info": "15b3:1018",
            "physical_network": "physnet1",
        },
        # Neutron no longer checks the vendor against a list of supported devices...
        {"pci_slot": "0000:05:00.1", "pci_vendor_info": "dead:beef"},
        # ...nor the profile's physical network against the segment's.
        {"pci_slot": "0000:05:00.1", "physical_network": "physnet9"},
    ],
    ids=["no-profile", "matching", "any-vendor", "other-physnet"],
)
@pytest.mark.parametrize("vnic", ["direct", "direct-physical"])
def test_the_profile_pci_details_do_not_change_the_binding(profile, vnic):
    proposal = propose(VLAN, agents=[agent()], vnic=vnic, profile=profile)

    assert isinstance(proposal, values.Complete)
    assert proposal.segment_id == VLAN.id
    assert proposal.vif_details == VIF_VLAN_101


def test_the_spec_declares_the_driver_and_its_ports():
    assert sriov.SPEC.default_port == 50064
    assert sriov.SPEC.default_metrics_port == 9114
    assert isinstance(sriov.SPEC.factory({}), sriov.SriovDriver)
    assert sriov.SriovDriver.agent_type == vocabulary.AGENT_TYPE_SRIOV


def test_the_prohibit_list_takes_vnic_types_out_of_the_description_and_the_bindings():
    driver = sriov.SriovDriver.from_env({sriov.PROHIBIT_LIST: "direct, accelerator-direct"})

    assert driver.describe().supported_vnic_types == ("macvtap", "direct-physical")
    reason = only_reason(driver.propose_binding(ctx(VLAN, agents=[agent()], vnic="direct")))
    assert reason.code == "VNIC_TYPE_UNSUPPORTED"
    assert reason.details == {"vnic_type": "direct", "supported": "macvtap,direct-physical"}
    bound = driver.propose_binding(ctx(VLAN, agents=[agent()], vnic="macvtap"))
    assert bound == values.Complete(VLAN.id, "hw_veb", VIF_VLAN_101)


def test_without_a_prohibit_list_every_vnic_type_is_bound():
    driver = sriov.SriovDriver.from_env({sriov.PROHIBIT_LIST: " , "})

    assert driver.describe().supported_vnic_types == sriov.SriovDriver.supported_vnic_types


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("normal", "normal not a vnic type the sriov driver binds"),
        ("direct,bogus", "bogus not a vnic type"),
        ("direct,macvtap,direct-physical,accelerator-direct", "every vnic type is prohibited"),
    ],
)
def test_a_bad_prohibit_list_is_refused_naming_the_variable(value, said):
    with pytest.raises(config.ConfigError) as err:
        sriov.SriovDriver.from_env({sriov.PROHIBIT_LIST: value})

    assert str(err.value).startswith("MECHDRIVER_SRIOV_VNIC_TYPE_PROHIBIT_LIST: ")
    assert said in str(err.value)


def test_the_process_refuses_a_bad_prohibit_list_with_status_2_and_one_line():
    env = launcher.python_path_env(
        {**os.environ, sriov.PROHIBIT_LIST: "normal", "MECHDRIVER_LISTEN": "127.0.0.1:0"}
    )

    run = subprocess.run(
        [sys.executable, "-m", "services.drivers.sriov"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert run.returncode == 2, run.stderr
    assert "MECHDRIVER_SRIOV_VNIC_TYPE_PROHIBIT_LIST: normal not a vnic type" in run.stderr
