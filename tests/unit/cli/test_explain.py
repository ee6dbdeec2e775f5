"""``ml2 port explain``'s tree and sentence, over the messages the real resolver and drivers give.

Each port here is bound by ``resolver.resolve_binding`` with the shipped Open vSwitch and Linux
bridge drivers (in process), and its result goes through the contract's conversion into the
``PortBinding`` message the CLI reads, so the facts are the ones mechmgr fills in.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from ml2.v1 import binding_pb2, port_pb2
from ml2_contract import convert, values, vocabulary

from services.cli import explain
from services.drivers.linuxbridge.driver import LinuxbridgeDriver
from services.drivers.openvswitch.driver import OpenvswitchDriver
from services.mechmgr import resolver

HOST = "compute-1"
VLAN2 = values.Segment("seg-v2", "vlan", "physnet2", 101, network_id="net-1")
VLAN1 = values.Segment("seg-v1", "vlan", "physnet1", 100, network_id="net-1")
BEAT = dt.datetime(2026, 12, 1, 16, 0, 5, tzinfo=dt.UTC)


class Local:
    """A shipped driver called in process, as the resolver calls a driver client."""

    def __init__(self, driver: OpenvswitchDriver | LinuxbridgeDriver) -> None:
        self.name = driver.name
        self._driver = driver

    def propose(self, ctx: values.BindingContext) -> values.Proposal:
        return self._driver.propose_binding(ctx)


DRIVERS = [Local(OpenvswitchDriver()), Local(LinuxbridgeDriver())]


def ovs_agent(alive: bool = True, **mappings: str) -> values.Agent:
    return values.Agent(
        id="a1",
        agent_type="openvswitch",
        host=HOST,
        capabilities=values.HostCapabilities(bridge_mappings=mappings),
        alive=alive,
        heartbeat_at=BEAT,
    )


def port_for(
    *segments: values.Segment, agents: tuple[values.Agent, ...] = (), name: str = "vm"
) -> port_pb2.Port:
    request = resolver.BindingRequest(
        port_id="port-1",
        network_id="net-1",
        host=HOST,
        segments=segments,
        host_agents=agents,
        agent_down_time=75,
    )
    result = resolver.resolve_binding(request, DRIVERS, _no_dynamic_segments)
    reply = convert.binding_result_to_proto(result)
    binding = binding_pb2.PortBinding(
        host_id=HOST,
        vnic_type=binding_pb2.VNIC_TYPE_NORMAL,
        vif_type=reply.vif_type,
        state=reply.state,
        levels=reply.levels,
        trace=reply.trace,
        failure_message=reply.failure_message,
    )
    return port_pb2.Port(id="port-1", name=name, network_id="net-1", binding=binding)


def _no_dynamic_segments(network_id: str, spec: values.SegmentSpec) -> values.Segment:
    raise AssertionError("no dynamic segments here")


def test_an_unmapped_physical_network_and_a_missing_agent_draw_the_tree_of_the_requirement():
    port = port_for(VLAN2, agents=(ovs_agent(physnet1="br-eth1"),))

    assert explain.explain_text(port).splitlines() == [
        "port vm [port-1] on host compute-1 (vnic normal): binding_failed",
        "└─ level 0, segment vlan/physnet2/101",
        "   ├─ openvswitch: declined PHYSNET_NOT_MAPPED — openvswitch agent a1 on compute-1 has "
        "bridge_mappings physnet1:br-eth1, not physnet2",
        "   └─ linuxbridge: declined NO_AGENT — no linuxbridge agent on compute-1",
        "To bind: map physnet2 on compute-1's openvswitch agent (bridge_mappings), "
        "or start a linuxbridge agent on compute-1.",
    ]


def test_a_dead_agent_says_since_when_and_restarting_it_is_the_fix():
    port = port_for(VLAN1, agents=(ovs_agent(alive=False, physnet1="br-eth1"),))

    lines = explain.explain_text(port).splitlines()

    assert lines[2] == (
        "   ├─ openvswitch: declined AGENT_DEAD — openvswitch agent a1 on compute-1 is dead: "
        "last heartbeat 2026-12-01T16:00:05Z, agent down time 75s"
    )
    assert lines[-1] == (
        "To bind: restart the openvswitch agent a1 on compute-1, "
        "or start a linuxbridge agent on compute-1."
    )


def test_a_bound_port_shows_the_levels_that_bound_with_driver_segment_and_vif_type():
    port = port_for(VLAN2, VLAN1, agents=(ovs_agent(physnet1="br-eth1"),))

    assert explain.explain_text(port).splitlines() == [
        "port vm [port-1] on host compute-1 (vnic normal): bound, vif ovs",
        "└─ level 0, segments vlan/physnet2/101, vlan/physnet1/100",
        "   └─ openvswitch: bound vlan/physnet1/100, vif ovs",
        "Bound: level 0 openvswitch on vlan/physnet1/100; vif ovs.",
    ]


def test_a_driver_with_several_reasons_lists_each_under_it():
    port = port_for(VLAN2, VLAN1, agents=(ovs_agent(physnet3="br-eth3"),))

    lines = explain.explain_text(port).splitlines()

    assert lines[1:5] == [
        "└─ level 0, segments vlan/physnet2/101, vlan/physnet1/100",
        "   ├─ openvswitch: declined",
        "   │  ├─ PHYSNET_NOT_MAPPED — openvswitch agent a1 on compute-1 has bridge_mappings "
        "physnet3:br-eth3, not physnet2",
        "   │  └─ PHYSNET_NOT_MAPPED — openvswitch agent a1 on compute-1 has bridge_mappings "
        "physnet3:br-eth3, not physnet1",
    ]
    assert lines[-1] == (
        "To bind: map physnet2 on compute-1's openvswitch agent (bridge_mappings), or map "
        "physnet1 on compute-1's openvswitch agent (bridge_mappings), or start a linuxbridge "
        "agent on compute-1."
    )


def test_levels_below_a_driver_that_continued_hang_under_it():
    binding = binding_pb2.PortBinding(
        host_id=HOST, state=binding_pb2.BINDING_STATE_BOUND, vif_type="ovs"
    )
    top = convert.segment_to_proto(values.Segment("seg-x", "vxlan", segmentation_id=1001))
    dyn = convert.segment_to_proto(values.Segment("seg-d", "vlan", "physnet1", 7, is_dynamic=True))
    binding.trace.add(
        level=0, driver="tor", outcome=binding_pb2.OUTCOME_CONTINUE, segment_id="seg-x"
    ).offered_segments.append(top)
    binding.trace.add(
        level=1, driver="openvswitch", outcome=binding_pb2.OUTCOME_COMPLETE, segment_id="seg-d"
    ).offered_segments.append(dyn)
    binding.levels.add(level=0, driver="tor", segment=top)
    binding.levels.add(level=1, driver="openvswitch", segment=dyn)
    port = port_pb2.Port(id="port-9", binding=binding)

    assert explain.explain_text(port).splitlines() == [
        "port port-9 on host compute-1 (vnic normal): bound, vif ovs",
        "└─ level 0, segment vxlan/1001",
        "   └─ tor: continued on vxlan/1001",
        "      └─ level 1, segment vlan/physnet1/7 (dynamic)",
        "         └─ openvswitch: bound vlan/physnet1/7 (dynamic), vif ovs",
        "Bound: level 0 tor on vxlan/1001; level 1 openvswitch on vlan/physnet1/7 (dynamic); "
        "vif ovs.",
    ]


def test_an_unknown_reason_code_prints_its_message_and_the_generic_sentence():
    binding = binding_pb2.PortBinding(
        host_id=HOST,
        state=binding_pb2.BINDING_STATE_FAILED,
        vif_type=vocabulary.VIF_TYPE_BINDING_FAILED,
    )
    verdict = binding.trace.add(level=0, driver="sriov", outcome=binding_pb2.OUTCOME_DECLINE)
    verdict.reasons.add(code="NO_FREE_VF", message="no free virtual function on eth3")
    port = port_pb2.Port(id="port-3", binding=binding)

    lines = explain.explain_text(port).splitlines()

    assert lines[1:] == [
        "└─ level 0 (segments not recorded)",
        "   └─ sriov: declined NO_FREE_VF — no free virtual function on eth3",
        "To bind: deal with sriov's NO_FREE_VF.",
    ]


def test_a_template_missing_a_fact_falls_back_to_the_message_and_the_generic_fix():
    facts = {"code": "AGENT_DEAD", "message": "it is dead", "driver": "openvswitch"}

    assert explain.fact_text(vocabulary.AGENT_DEAD, facts) == "it is dead"
    assert explain.fix_text(vocabulary.AGENT_DEAD, facts) == "deal with openvswitch's AGENT_DEAD"


@pytest.mark.parametrize("code", sorted(explain.REMEDIES))
def test_every_known_code_has_a_fact_and_a_fix_over_its_facts(code):
    keys = (
        "agent_type agent_id host last_heartbeat agent_down_time_seconds mapping_option "
        "mappings physical_network network_type allowed_network_types agent_network_types "
        "driver supported vnic_type address code message level migrating_to source_device "
        "target_device connectivity mac_address port_id"
    )
    facts = {key: f"<{key}>" for key in keys.split(" ")}

    assert "{" not in explain.fact_text(code, facts)
    fix = explain.fix_text(code, facts)
    assert "{" not in fix and "deal with" not in fix


def test_every_reason_code_of_the_vocabulary_is_in_the_table():
    codes = {
        value
        for name, value in vars(vocabulary).items()
        if name.isupper()
        and isinstance(value, str)
        and value.isupper()
        and value
        not in vocabulary.OUTCOMES + vocabulary.BINDING_STATES + vocabulary.DRIVER_PORT_STATUSES
    }
    assert codes - {vocabulary.NO_REASON} == set(explain.REMEDIES)


def test_an_unbound_port_says_to_give_it_a_host():
    port = port_pb2.Port(
        id="port-4",
        name="web",
        binding=binding_pb2.PortBinding(
            state=binding_pb2.BINDING_STATE_UNBOUND, vif_type=vocabulary.VIF_TYPE_UNBOUND
        ),
    )
    assert explain.explain_text(port).splitlines() == [
        "port web [port-4], no host (vnic normal): unbound",
        "To bind: give it a host (ml2 port bind web --host HOST).",
    ]


def test_json_has_the_same_tree_with_facts_and_fixes():
    port = port_for(VLAN2, agents=(ovs_agent(physnet1="br-eth1"),))

    data = json.loads(explain.explain_json(port))

    assert (data["port_id"], data["state"], data["vif_type"]) == (
        "port-1",
        "FAILED",
        "binding_failed",
    )
    (group,) = data["tree"]
    assert group["level"] == 0
    assert [s["id"] for s in group["segments"]] == ["seg-v2"]
    ovs, lb = group["verdicts"]
    (reason,) = ovs["reasons"]
    assert reason["code"] == "PHYSNET_NOT_MAPPED"
    assert reason["facts"]["agent_id"] == "a1"
    assert reason["facts"]["alive"] == "alive"
    assert reason["facts"]["last_heartbeat"] == "2026-12-01T16:00:05Z"
    assert reason["facts"]["physical_network"] == "physnet2"
    assert reason["fix"] == "map physnet2 on compute-1's openvswitch agent (bridge_mappings)"
    assert lb["reasons"][0]["code"] == "NO_AGENT"
    assert data["to_bind"].startswith("To bind: map physnet2")


def test_a_vnic_type_declined_for_the_profile_capabilities_says_so():
    facts = {
        "driver": "sriov",
        "vnic_type": "direct",
        "capabilities": "switchdev",
        "supported": "direct,macvtap",
        "code": "VNIC_TYPE_UNSUPPORTED",
        "message": "m",
    }

    assert explain.fact_text(vocabulary.VNIC_TYPE_UNSUPPORTED, facts) == (
        "sriov does not bind vnic type direct with profile capabilities switchdev"
    )
    assert "openvswitch, for switchdev" in explain.fix_text(vocabulary.VNIC_TYPE_UNSUPPORTED, facts)
    del facts["capabilities"]
    assert explain.fact_text(vocabulary.VNIC_TYPE_UNSUPPORTED, facts) == (
        "sriov binds vnic types direct,macvtap, not direct"
    )


def test_a_migration_source_mismatch_names_both_devices():
    facts = {
        "migrating_to": "cn-2",
        "target_device": "eth1.101",
        "source_device": "eth2.101",
        "host": "cn-2",
        "physical_network": "physnet1",
        "agent_type": "macvtap",
    }

    assert explain.fact_text(vocabulary.MIGRATION_SOURCE_MISMATCH, facts) == (
        "the port is migrating to cn-2: it would use eth1.101 on cn-2 for physnet1, not "
        "eth2.101 as on its source host"
    )
    assert "macvtap agent interface_mappings" in explain.fix_text(
        vocabulary.MIGRATION_SOURCE_MISMATCH, facts
    )


def test_a_vnic_type_bound_only_with_a_profile_capability_says_which():
    facts = {
        "driver": "openvswitch",
        "vnic_type": "direct",
        "supported": "normal,direct,smart-nic,vdpa",
        "required_capability": "switchdev",
        "capabilities": "",
        "code": vocabulary.VNIC_TYPE_UNSUPPORTED,
        "message": "m",
    }

    assert explain.fact_text(vocabulary.VNIC_TYPE_UNSUPPORTED, facts) == (
        "openvswitch binds vnic_type direct only for ports whose binding profile capabilities "
        "include switchdev"
    )
    assert explain.fix_text(vocabulary.VNIC_TYPE_UNSUPPORTED, facts) == (
        "add switchdev to the port's binding profile capabilities if its device has it, or ask "
        "for another vnic type"
    )


def test_a_vnic_type_an_agent_cannot_bind_names_the_agent_and_what_it_lacks():
    facts = {
        "driver": "openvswitch",
        "vnic_type": "smart-nic",
        "agent_type": "openvswitch",
        "agent_id": "a1",
        "host": "h1",
        "baremetal_smartnic": "false",
        "code": vocabulary.VNIC_TYPE_UNSUPPORTED,
        "message": "m",
    }

    assert explain.fact_text(vocabulary.VNIC_TYPE_UNSUPPORTED, facts) == (
        "openvswitch agent a1 on h1 does not run on a bare-metal SmartNIC (baremetal_smartnic), "
        "which smart-nic ports need"
    )
    assert "runs on a bare-metal SmartNIC" in explain.fix_text(
        vocabulary.VNIC_TYPE_UNSUPPORTED, facts
    )
    plain = {k: v for k, v in facts.items() if k != "baremetal_smartnic"}
    assert explain.fact_text(
        vocabulary.VNIC_TYPE_UNSUPPORTED, {**plain, "supported": "normal"}
    ) == ("openvswitch binds vnic types normal, not smart-nic")
