from __future__ import annotations

import pytest
from ml2.v1 import (
    agent_pb2,
    agent_service_pb2,
    binding_pb2,
    mechanism_manager_service_pb2,
    segment_pb2,
)
from ml2_contract import values
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services.mechmgr import validation


def register(**caps) -> agent_service_pb2.RegisterAgentRequest:
    agent = agent_pb2.Agent(
        agent_type=caps.pop("agent_type", "openvswitch"),
        host=caps.pop("host", "compute-1.example.org"),
        capabilities=agent_pb2.HostCapabilities(**caps),
    )
    return agent_service_pb2.RegisterAgentRequest(agent=agent)


DEVICES = agent_pb2.DeviceList


def test_the_typed_capabilities_of_sriov_and_hyperv_agents():
    sriov = validation.registration(
        register(
            agent_type="sriov",
            device_mappings={"physnet1": DEVICES(devices=["ens1f0", "ens1f1"])},
            extensions=["qos"],
        )
    )
    assert sriov.capabilities.device_mappings == {"physnet1": ("ens1f0", "ens1f1")}
    assert sriov.capabilities.extensions == ("qos",)
    hyperv = validation.registration(
        register(agent_type="hyperv", vswitch_mappings={"physnet[0-9]+": "external"})
    )
    assert hyperv.capabilities.vswitch_mappings == {"physnet[0-9]+": "external"}


def test_a_complete_registration_becomes_typed_capabilities():
    reg = validation.registration(
        register(
            bridge_mappings={"physnet1": "br-eth1"},
            tunnel_types=["vxlan", "gre"],
            local_ip="fd00::1",
            integration_bridge="br-int",
            datapath_type="netdev",
            network_types=["flat", "vxlan"],
        )
    )

    assert (reg.agent_type, reg.host) == ("openvswitch", "compute-1.example.org")
    assert reg.capabilities.bridge_mappings == {"physnet1": "br-eth1"}
    assert reg.capabilities.tunnel_types == ("vxlan", "gre")
    assert reg.capabilities.local_ip == "fd00::1"
    assert reg.capabilities.network_types == ("flat", "vxlan")


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (agent_service_pb2.RegisterAgentRequest(), "agent"),
        (register(agent_type=""), "agent.agent_type"),
        (register(agent_type="Open vSwitch agent"), "agent.agent_type"),
        (register(host=""), "agent.host"),
        (register(host="compute 1"), "agent.host"),
        (register(host="-compute"), "agent.host"),
        (register(host="a" * 64), "agent.host"),
        (register(bridge_mappings={"physnet1": ""}), "agent.capabilities.bridge_mappings"),
        (register(interface_mappings={"": "eth1"}), "agent.capabilities.interface_mappings"),
        (register(tunnel_types=["vxlan"]), "agent.capabilities.local_ip"),
        (register(tunnel_types=["stt"], local_ip="192.0.2.1"), "agent.capabilities.tunnel_types"),
        (
            register(tunnel_types=["vxlan", "vxlan"], local_ip="192.0.2.1"),
            "agent.capabilities.tunnel_types",
        ),
        (register(local_ip="192.0.2.300"), "agent.capabilities.local_ip"),
        (
            register(integration_bridge="br-int-much-too-long"),
            "agent.capabilities.integration_bridge",
        ),
        (register(datapath_type="dpdk"), "agent.capabilities.datapath_type"),
        (register(vhostuser_socket_dir="run/ovs"), "agent.capabilities.vhostuser_socket_dir"),
        (register(network_types=["vlan", "mpls"]), "agent.capabilities.network_types"),
        (register(network_types=["VLAN"]), "agent.capabilities.network_types"),
        (register(network_types=["flat", "flat"]), "agent.capabilities.network_types"),
        (register(vswitch_mappings={"phys(": "ext"}), "agent.capabilities.vswitch_mappings"),
        (register(vswitch_mappings={"physnet1": " "}), "agent.capabilities.vswitch_mappings"),
        (register(device_mappings={"physnet1": DEVICES()}), "agent.capabilities.device_mappings"),
        (
            register(device_mappings={"physnet1": DEVICES(devices=["ens1f0", "ens1f0"])}),
            "agent.capabilities.device_mappings",
        ),
        (
            register(device_mappings={"phys net": DEVICES(devices=["ens1f0"])}),
            "agent.capabilities.device_mappings",
        ),
        (register(extensions=["q os"]), "agent.capabilities.extensions"),
    ],
)
def test_a_bad_registration_names_the_field(request_, field):
    with pytest.raises(InvalidArgument) as err:
        validation.registration(request_)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


VLAN = segment_pb2.Segment(
    id="s1", network_type="vlan", physical_network="physnet1", segmentation_id=101
)


def resolve(**kw) -> mechanism_manager_service_pb2.ResolveBindingRequest:
    fields = {"port_id": "p1", "network_id": "n1", "host": "compute-1", "segments": [VLAN], **kw}
    return mechanism_manager_service_pb2.ResolveBindingRequest(**fields)


def seg(**kw) -> segment_pb2.Segment:
    fields = {
        "id": "s1",
        "network_type": "vlan",
        "physical_network": "physnet1",
        "segmentation_id": 101,
    }
    return segment_pb2.Segment(**{**fields, **kw})


def orig(**kw) -> binding_pb2.OriginalBinding:
    fields = {"host_id": "compute-0", "vif_type": "macvtap", **kw}
    return binding_pb2.OriginalBinding(**fields)


def test_the_original_binding_of_a_resolve_request_reaches_the_binding_request():
    sent = orig(segment=VLAN)
    sent.profile.update({"migrating_to": "compute-1"})
    sent.vif_details.update({"macvtap_source": "eth1.101"})

    req = validation.resolve_request(resolve(original=sent))

    assert req.original == values.OriginalBinding(
        "compute-0",
        "macvtap",
        profile={"migrating_to": "compute-1"},
        vif_details={"macvtap_source": "eth1.101"},
        segment=values.Segment("s1", "vlan", "physnet1", 101),
    )
    assert validation.resolve_request(resolve()).original is None


def test_a_resolve_request_becomes_a_binding_request():
    req = validation.resolve_request(resolve(vnic_type=0))

    assert (req.port_id, req.network_id, req.host, req.vnic_type) == (
        "p1",
        "n1",
        "compute-1",
        "normal",
    )
    assert req.segments[0].segmentation_id == 101


@pytest.mark.parametrize(
    ("request_", "field", "rule"),
    [
        (resolve(port_id=""), "port_id", "is required"),
        (resolve(network_id=""), "network_id", "is required"),
        (resolve(host=""), "host", "is required"),
        (resolve(host="bad host"), "host", "host name"),
        (resolve(vnic_type=99), "vnic_type", "unknown"),
        (resolve(segments=[]), "segments", "at least one"),
        (resolve(segments=[seg(id="")]), "segments[0].id", "is required"),
        (resolve(segments=[VLAN, seg()]), "segments[1].id", "listed twice"),
        (resolve(segments=[seg(network_type="")]), "segments[0].network_type", "is required"),
        (resolve(segments=[seg(network_id="other")]), "segments[0].network_id", "port's network"),
        (
            resolve(segments=[seg(segmentation_id=0)]),
            "segments[0].segmentation_id",
            "between 1 and 4094, got 0",
        ),
        (resolve(segments=[seg(segmentation_id=4095)]), "segments[0].segmentation_id", "got 4095"),
        (resolve(segments=[seg(physical_network="")]), "segments[0].physical_network", "required"),
        (resolve(segments=[seg(network_type="flat")]), "segments[0].segmentation_id", "must be 0"),
        (
            resolve(
                segments=[seg(network_type="vxlan", physical_network="", segmentation_id=2**24)]
            ),
            "segments[0].segmentation_id",
            "between 1 and 16777215",
        ),
        (
            resolve(segments=[seg(network_type="vxlan", segmentation_id=5)]),
            "segments[0].physical_network",
            "must be empty",
        ),
        (resolve(original=orig(host_id="")), "original.host_id", "is required"),
        (resolve(original=orig(host_id="a b")), "original.host_id", "host name"),
        (resolve(original=orig(vif_type="")), "original.vif_type", "is required"),
        (resolve(original=orig(vnic_type=99)), "original.vnic_type", "unknown"),
        (resolve(original=orig(segment=seg(id=""))), "original.segment.id", "is required"),
    ],
)
def test_a_bad_resolve_request_names_the_field_and_the_rule(request_, field, rule):
    with pytest.raises(InvalidArgument) as err:
        validation.resolve_request(request_)
    assert err.value.field == field
    assert rule in str(err.value)


def test_capabilities_are_bounded_as_neutron_bounds_agent_configurations():
    mappings = {f"physnet{i}": f"br-{i}" for i in range(250)}
    with pytest.raises(InvalidArgument) as info:
        validation.registration(register(bridge_mappings=mappings))
    assert info.value.field == "agent.capabilities"
    assert "must be at most 4095 characters as JSON" in info.value.message
    assert validation.registration(register(bridge_mappings=dict(list(mappings.items())[:50])))
