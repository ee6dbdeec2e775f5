"""The macvtap driver binds as Neutron's macvtap driver does, rule by rule."""

from __future__ import annotations

import hashlib

import pytest
from ml2_contract import values

from services.drivers.macvtap import driver as macvtap
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
)

MAPPED = values.HostCapabilities(interface_mappings={"physnet1": "eth1"})


def agent(agent_type: str = "macvtap", caps: values.HostCapabilities = MAPPED, **kw):
    return make_agent(agent_type, caps, kw.pop("id", "macvtap-1"), **kw)


def ctx(*segments, vnic="normal", **kw) -> values.BindingContext:
    return binding_context(*segments, vnic=vnic, **kw)


def propose(*segments, **kw) -> values.Proposal:
    return macvtap.MacvtapDriver().propose_binding(ctx(*segments, **kw))


def test_describes_neutron_vnic_type_network_types_agent_and_vif_type():
    desc = macvtap.MacvtapDriver().describe()

    assert desc.name == "macvtap"
    assert desc.agent_type == "macvtap"
    assert desc.supported_vnic_types == ("normal",)
    assert desc.supported_network_types == ("flat", "vlan")
    assert desc.vif_types == ("macvtap",)


def test_a_vlan_segment_binds_on_the_vlan_device_with_the_vlan_id_as_an_integer():
    proposal = propose(VLAN, agents=[agent()])

    assert proposal == values.Complete(
        VLAN.id,
        "macvtap",
        {
            "port_filter": False,
            "connectivity": "l2",
            "physical_interface": "eth1",
            "macvtap_source": "eth1.101",
            "macvtap_mode": "bridge",
            "vlan": 101,
        },
    )
    assert type(proposal.vif_details["vlan"]) is int


def test_a_flat_segment_binds_on_the_interface_itself_without_a_vlan():
    proposal = propose(FLAT, agents=[agent()])

    assert proposal == values.Complete(
        FLAT.id,
        "macvtap",
        {
            "port_filter": False,
            "connectivity": "l2",
            "physical_interface": "eth1",
            "macvtap_source": "eth1",
            "macvtap_mode": "bridge",
        },
    )


def test_a_flat_binding_after_a_vlan_one_carries_no_stale_vlan():
    driver = macvtap.MacvtapDriver()
    driver.propose_binding(ctx(VLAN, agents=[agent()]))

    proposal = driver.propose_binding(ctx(FLAT, agents=[agent()]))

    assert isinstance(proposal, values.Complete)
    assert "vlan" not in proposal.vif_details


def test_a_long_interface_name_is_shortened_as_the_agent_names_its_vlan_device():
    long_name = "enp129s0f1np1"
    digest = hashlib.sha1(long_name.encode()).hexdigest()[:6]
    caps = values.HostCapabilities(interface_mappings={"physnet1": long_name})

    proposal = propose(values.Segment("s", "vlan", "physnet1", 4094), agents=[agent(caps=caps)])

    assert isinstance(proposal, values.Complete)
    assert proposal.vif_details["physical_interface"] == long_name
    assert proposal.vif_details["macvtap_source"] == f"enp1{digest}.4094"
    assert len(proposal.vif_details["macvtap_source"]) == 15


def test_an_interface_of_ten_characters_is_kept_whole():
    assert macvtap.vlan_device_name("enp3s0f0np", 7) == "enp3s0f0np.7"


@pytest.mark.parametrize("vnic", ["direct", "macvtap", "direct-physical", "baremetal"])
def test_other_vnic_types_are_declined(vnic):
    reason = only_reason(propose(VLAN, agents=[agent()], vnic=vnic))

    assert reason.code == "VNIC_TYPE_UNSUPPORTED"
    assert reason.details == {"vnic_type": vnic, "supported": "normal"}


def test_a_host_without_a_macvtap_agent_is_declined():
    reason = only_reason(propose(VLAN, agents=[agent("linuxbridge")]))

    assert reason.code == "NO_AGENT"
    assert reason.details == {"host": "compute-1", "agent_type": "macvtap"}


def test_a_dead_agent_is_declined():
    reason = only_reason(propose(VLAN, agents=[agent(alive=False)]))

    assert reason.code == "AGENT_DEAD"
    assert reason.details["agent_id"] == "macvtap-1"


def test_a_disabled_agent_is_declined():
    reason = only_reason(propose(VLAN, agents=[agent(admin_state_up=False)]))

    assert reason.code == "AGENT_ADMIN_DOWN"


def test_an_unmapped_physical_network_names_the_interface_mappings():
    reason = only_reason(propose(VLAN2, agents=[agent()]))

    assert reason.code == "PHYSNET_NOT_MAPPED"
    assert reason.details["physical_network"] == "physnet2"
    assert reason.details["mappings"] == "physnet1:eth1"
    assert reason.details["mapping_option"] == "interface_mappings"


def test_bridge_mappings_do_not_count():
    caps = values.HostCapabilities(bridge_mappings={"physnet1": "br-eth1"})

    reason = only_reason(propose(VLAN, agents=[agent(caps=caps)]))

    assert reason.code == "PHYSNET_NOT_MAPPED"


@pytest.mark.parametrize("segment", [VXLAN, GRE, LOCAL], ids=lambda s: s.network_type)
def test_only_flat_and_vlan_are_bound_even_if_the_agent_reports_tunnels(segment):
    caps = values.HostCapabilities(interface_mappings={"physnet1": "eth1"}, tunnel_types=("vxlan",))

    reason = only_reason(propose(segment, agents=[agent(caps=caps)]))

    assert reason.code == "NETWORK_TYPE_UNSUPPORTED"
    assert reason.details["allowed_network_types"] == "flat,vlan"


def test_the_first_segment_the_agent_maps_wins():
    proposal = propose(VXLAN, VLAN2, FLAT, VLAN, agents=[agent()])

    assert isinstance(proposal, values.Complete)
    assert proposal.segment_id == FLAT.id


MIGRATING = {"migrating_to": "compute-1"}


def test_a_live_migration_to_a_host_with_another_source_device_is_refused():
    profile = {**MIGRATING, "migration_source_device": "eth2.101"}

    reason = only_reason(propose(VLAN, agents=[agent()], profile=profile))

    assert reason.code == "MIGRATION_SOURCE_MISMATCH"
    assert reason.segment_id == VLAN.id
    assert reason.details == {
        "agent_id": "macvtap-1",
        "host": "compute-1",
        "physical_network": "physnet1",
        "migrating_to": "compute-1",
        "source_host": "",
        "source_device": "eth2.101",
        "target_device": "eth1.101",
    }
    assert "eth2.101" in reason.message and "eth1.101" in reason.message


def test_a_live_migration_keeping_the_source_device_binds():
    profile = {**MIGRATING, "migration_source_device": "eth1.101"}

    proposal = propose(VLAN, agents=[agent()], profile=profile)

    assert isinstance(proposal, values.Complete)
    assert proposal.vif_details["macvtap_source"] == "eth1.101"


def test_a_refused_segment_leaves_the_next_segment_to_try():
    caps = values.HostCapabilities(interface_mappings={"physnet1": "eth1", "physnet2": "eth2"})
    profile = {**MIGRATING, "migration_source_device": "eth2.202"}

    proposal = propose(VLAN, VLAN2, agents=[agent(caps=caps)], profile=profile)

    assert isinstance(proposal, values.Complete)
    assert proposal.segment_id == VLAN2.id


@pytest.mark.parametrize(
    "profile",
    [{"migration_source_device": "eth2.101"}, MIGRATING, {"migrating_to": "", "x": 1}],
    ids=["no-migration", "no-source-device", "empty-target"],
)
def test_without_both_migration_facts_nothing_is_compared(profile):
    proposal = propose(VLAN, agents=[agent()], profile=profile)

    assert isinstance(proposal, values.Complete)


def original(
    source: str = "eth2.101", profile: dict | None = None, vif_type: str = "macvtap"
) -> values.OriginalBinding:
    """The port's binding on its migration source compute-0, which Nova marked migrating."""
    return values.OriginalBinding(
        host="compute-0",
        vif_type=vif_type,
        profile=MIGRATING if profile is None else profile,
        vif_details={"macvtap_source": source, "physical_interface": source.split(".")[0]},
        segment=VLAN,
    )


def test_a_migration_whose_original_binding_used_another_source_device_is_refused():
    reason = only_reason(propose(VLAN, agents=[agent()], original=original("eth2.101")))

    assert reason.code == "MIGRATION_SOURCE_MISMATCH"
    assert reason.segment_id == VLAN.id
    assert reason.details == {
        "agent_id": "macvtap-1",
        "host": "compute-1",
        "physical_network": "physnet1",
        "migrating_to": "compute-1",
        "source_host": "compute-0",
        "source_device": "eth2.101",
        "target_device": "eth1.101",
    }
    assert "on host compute-0" in reason.message


def test_a_migration_whose_original_binding_used_the_same_source_device_binds():
    proposal = propose(VLAN, agents=[agent()], original=original("eth1.101"))

    assert isinstance(proposal, values.Complete)
    assert proposal.vif_details["macvtap_source"] == "eth1.101"


def test_migrating_to_in_the_current_profile_marks_the_migration_too():
    proposal = propose(
        VLAN, agents=[agent()], profile=MIGRATING, original=original("eth2.101", profile={})
    )

    assert only_reason(proposal).details["source_device"] == "eth2.101"


def test_the_original_binding_wins_over_the_deprecated_profile_key():
    profile = {**MIGRATING, "migration_source_device": "eth1.101"}

    proposal = propose(VLAN, agents=[agent()], profile=profile, original=original("eth2.101"))

    assert only_reason(proposal).details["source_device"] == "eth2.101"


@pytest.mark.parametrize(
    "before",
    [original("eth2.101", profile={}), None],
    ids=["moved-without-migrating_to", "no-original"],
)
def test_a_move_that_is_no_live_migration_is_not_compared(before):
    proposal = propose(VLAN, agents=[agent()], original=before)

    assert isinstance(proposal, values.Complete)


def test_an_original_binding_without_a_macvtap_source_is_not_compared():
    other = values.OriginalBinding(
        host="compute-0", vif_type="bridge", profile=MIGRATING, vif_details={}, segment=VLAN
    )

    proposal = propose(VLAN, agents=[agent()], original=other)

    assert isinstance(proposal, values.Complete)


def test_the_spec_declares_the_driver_and_its_ports():
    assert macvtap.SPEC.default_port == 50065
    assert macvtap.SPEC.default_metrics_port == 9115
    assert isinstance(macvtap.SPEC.factory({}), macvtap.MacvtapDriver)
