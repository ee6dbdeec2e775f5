"""The hyperv driver against networking-hyperv's hyperv mechanism driver, rule by rule: its
agent type, vnic types, network types, the regular-expression keys of vswitch_mappings, its
vif_type and vif_details, and its reasons."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ml2_contract import values, vocabulary

from services.drivers.hyperv import driver as hyperv

VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101)
FLAT = values.Segment("seg-flat", "flat", "physnet1")
LOCAL = values.Segment("seg-local", "local")
GRE = values.Segment("seg-gre", "gre", segmentation_id=5)
VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001)
BEAT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
DETAILS = {"port_filter": False, "connectivity": "l2"}


def agent(agent_type: str = "hyperv", **kw: Any) -> values.Agent:
    caps = kw.pop("caps", values.HostCapabilities(vswitch_mappings={"physnet1": "external"}))
    return values.Agent("hv-1", agent_type, "hyperv-1", capabilities=caps, heartbeat_at=BEAT, **kw)


def ctx(*segments: values.Segment, agents=(), vnic: str = "normal") -> values.BindingContext:
    return values.BindingContext(
        port_id="port-1",
        network_id="net-1",
        host="hyperv-1",
        level=0,
        segments_to_bind=segments or (VLAN,),
        vnic_type=vnic,
        host_agents=tuple(agents),
        agent_down_time=75.0,
    )


def propose(*segments: values.Segment, **kw: Any) -> values.Proposal:
    return hyperv.HypervDriver().propose_binding(ctx(*segments, **kw))


def only_reason(proposal: values.Proposal) -> values.DeclineReason:
    assert isinstance(proposal, values.Decline), proposal
    (reason,) = proposal.reasons
    return reason


def test_describes_agent_type_vnic_types_network_types_and_vif_type() -> None:
    desc = hyperv.HypervDriver().describe()

    assert desc.name == "hyperv"
    assert desc.agent_type == vocabulary.AGENT_TYPE_HYPERV == "hyperv"
    assert desc.supported_vnic_types == ("normal", "direct")
    assert desc.supported_network_types == ("flat", "geneve", "gre", "local", "vlan", "vxlan")
    assert desc.vif_types == ("hyperv",)
    assert desc.connectivity == "l2"


@pytest.mark.parametrize("vnic", ["normal", "direct"])
@pytest.mark.parametrize("segment", [VLAN, FLAT, LOCAL], ids=["vlan", "flat", "local"])
def test_binds_vif_type_hyperv_without_port_filter(vnic: str, segment: values.Segment) -> None:
    proposal = propose(segment, agents=[agent()], vnic=vnic)

    assert proposal == values.Complete(segment.id, "hyperv", DETAILS)


@pytest.mark.parametrize(
    "vnic", [v for v in vocabulary.VNIC_TYPES if v not in ("normal", "direct")]
)
def test_declines_other_vnic_types(vnic: str) -> None:
    reason = only_reason(propose(agents=[agent()], vnic=vnic))

    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert reason.details == {"vnic_type": vnic, "supported": "normal,direct"}


# vswitch_mappings key, physical network -> mapped? networking-hyperv matches each key with
# Python's re.match: a regular expression anchored at the start of the name only.
PATTERNS = [
    pytest.param("physnet1", "physnet1", True, id="the-name-itself"),
    pytest.param(".*", "test_physnet", True, id="any-name"),
    pytest.param("fake", "test_physnet", False, id="another-name"),
    pytest.param("physnet.*", "physnet7", True, id="wildcard"),
    pytest.param("physnet.*$", "physnet7", True, id="anchored-wildcard-as-the-agent-reports"),
    pytest.param("physnet1", "physnet10", True, id="a-prefix-matches"),
    pytest.param("physnet1$", "physnet10", False, id="anchored-no-prefix"),
    pytest.param("net1", "physnet1", False, id="matched-from-the-start-not-searched"),
    pytest.param("PHYSNET1", "physnet1", False, id="case-sensitive"),
    pytest.param("phys(net|lan)[0-9]+", "physlan42", True, id="alternation"),
    pytest.param("physnet[", "physnet[", False, id="not-a-regular-expression"),
]


@pytest.mark.parametrize(("pattern", "physnet", "mapped"), PATTERNS)
def test_vswitch_mapping_keys_are_regular_expressions_matched_at_the_start(
    pattern: str, physnet: str, mapped: bool
) -> None:
    caps = values.HostCapabilities(vswitch_mappings={pattern: "external"})
    segment = values.Segment("seg-flat", "flat", physnet)

    proposal = propose(segment, agents=[agent(caps=caps)])

    if mapped:
        assert proposal == values.Complete(segment.id, "hyperv", DETAILS)
    else:
        reason = only_reason(proposal)
        assert reason.code == vocabulary.PHYSNET_NOT_MAPPED
        assert reason.details["physical_network"] == physnet
        assert reason.details["mapping_option"] == "vswitch_mappings"
        assert reason.details["mappings"] == f"{pattern}:external"


def test_a_physical_network_is_mapped_when_any_key_matches() -> None:
    caps = values.HostCapabilities(vswitch_mappings={"fake": "a", "physnet[": "b", ".*": "c"})

    assert isinstance(propose(VLAN, agents=[agent(caps=caps)]), values.Complete)


def test_an_unmapped_physical_network_is_declined_naming_the_mappings() -> None:
    caps = values.HostCapabilities(vswitch_mappings={"physnet2": "ext2", "dmz.*": "dmz"})
    reason = only_reason(propose(VLAN, agents=[agent(caps=caps)]))

    assert reason.code == vocabulary.PHYSNET_NOT_MAPPED
    assert reason.segment_id == VLAN.id
    assert reason.details == {
        "agent_id": "hv-1",
        "host": "hyperv-1",
        "agent_type": "hyperv",
        "physical_network": "physnet1",
        "mappings": "dmz.*:dmz,physnet2:ext2",
        "mapping_option": "vswitch_mappings",
    }
    assert "physnet1" in reason.message and "dmz.*:dmz" in reason.message


def test_bridge_and_interface_mappings_do_not_map_a_hyperv_host() -> None:
    caps = values.HostCapabilities(
        bridge_mappings={"physnet1": "br-eth1"}, interface_mappings={"physnet1": "eth1"}
    )

    reason = only_reason(propose(VLAN, agents=[agent(caps=caps)]))

    assert reason.code == vocabulary.PHYSNET_NOT_MAPPED
    assert reason.details["mappings"] == ""


def test_binds_gre_nvgre_when_the_agent_reports_it() -> None:
    nvgre = values.HostCapabilities(tunnel_types=("gre",), local_ip="192.0.2.7")

    assert propose(GRE, agents=[agent(caps=nvgre)]) == values.Complete(GRE.id, "hyperv", DETAILS)
    reason = only_reason(propose(GRE, agents=[agent()]))
    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED
    assert reason.details["allowed_network_types"] == "flat,local,vlan"


def test_binds_every_tunnel_type_its_agent_reports_as_networking_hyperv_does() -> None:
    caps = values.HostCapabilities(tunnel_types=("vxlan",), local_ip="192.0.2.7")

    assert propose(VXLAN, agents=[agent(caps=caps)]) == values.Complete(VXLAN.id, "hyperv", DETAILS)
    reason = only_reason(propose(GRE, agents=[agent(caps=caps)]))
    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED
    assert reason.details["allowed_network_types"] == "flat,local,vlan,vxlan"


def test_declines_without_a_hyperv_agent_on_the_host() -> None:
    ovs = agent("openvswitch", caps=values.HostCapabilities(bridge_mappings={"physnet1": "br"}))

    reason = only_reason(propose(agents=[ovs]))

    assert reason.code == vocabulary.NO_AGENT
    assert reason.details == {"host": "hyperv-1", "agent_type": "hyperv"}
    assert reason.message == "no hyperv agent on host hyperv-1"


def test_declines_a_dead_agent_and_an_administratively_down_one() -> None:
    dead = only_reason(propose(agents=[agent(alive=False)]))
    down = only_reason(propose(agents=[agent(admin_state_up=False)]))

    assert dead.code == vocabulary.AGENT_DEAD and dead.details["agent_id"] == "hv-1"
    assert down.code == vocabulary.AGENT_ADMIN_DOWN and down.details["agent_id"] == "hv-1"


def test_binds_the_first_segment_it_reaches_in_order_with_every_reason_otherwise() -> None:
    other = values.Segment("seg-flat2", "flat", "physnet2")

    assert propose(other, VXLAN, VLAN, agents=[agent()]) == values.Complete(
        VLAN.id, "hyperv", DETAILS
    )
    declined = propose(other, VXLAN, agents=[agent()])
    assert isinstance(declined, values.Decline)
    assert [(r.code, r.segment_id) for r in declined.reasons] == [
        (vocabulary.PHYSNET_NOT_MAPPED, other.id),
        (vocabulary.NETWORK_TYPE_UNSUPPORTED, VXLAN.id),
    ]


def test_the_spec_serves_on_the_hyperv_ports() -> None:
    assert (hyperv.SPEC.default_port, hyperv.SPEC.default_metrics_port) == (50063, 9113)
    assert isinstance(hyperv.SPEC.factory({}), hyperv.HypervDriver)
