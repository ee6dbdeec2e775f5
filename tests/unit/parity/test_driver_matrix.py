"""Section 2.8 of the Neutron reference as one table per shipped mechanism driver: for every vnic
type of the contract whether the driver binds it, for every network type whether it accepts a
segment of it, and the vif_type and exact vif_details it answers for each agent configuration.

A host here has everything a driver could ask for (an agent of the driver's kind mapping
physnet1 and reporting every tunnel type, a switch link on physnet1), so a refusal is the
driver's rule and not the host's lack."""

from __future__ import annotations

from typing import Any

import pytest
from ml2_contract import values, vocabulary
from ml2_driver_sdk import base

from services.drivers.baremetal import driver as baremetal
from services.drivers.hyperv import driver as hyperv
from services.drivers.linuxbridge import driver as linuxbridge
from services.drivers.macvtap import driver as macvtap
from services.drivers.openvswitch import driver as ovs
from services.drivers.sdn_controller import driver as sdn_controller
from services.drivers.sriov import driver as sriov
from tests.unit.drivers.agent_cases import PORT_ID, make_agent

NETWORK_ID = "0d6e4a3c-6a2b-4b43-9f44-0123456789ab"
SEGMENTS = {
    "local": values.Segment("seg-local", "local"),
    "flat": values.Segment("seg-flat", "flat", "physnet1"),
    "vlan": values.Segment("seg-vlan", "vlan", "physnet1", 101),
    "gre": values.Segment("seg-gre", "gre", segmentation_id=5),
    "vxlan": values.Segment("seg-vxlan", "vxlan", segmentation_id=1001),
    "geneve": values.Segment("seg-geneve", "geneve", segmentation_id=9),
}
LINK = values.HostLink("compute-1", "52:54:00:aa:bb:cc", "Ethernet1/7", "tor-1", "physnet1")
LLI = [{"switch_id": "52:54:00:aa:bb:cc", "port_id": "Ethernet1/7", "switch_info": "tor-1"}]
EVERY_TUNNEL = ("gre", "vxlan", "geneve")


def everything(agent_type: str, **kw: Any) -> values.Agent:
    """A live agent of ``agent_type`` on compute-1 that maps physnet1 every way and reports
    every tunnel type (``kw``: HostCapabilities fields to add or override)."""
    caps: dict[str, Any] = {
        "bridge_mappings": {"physnet1": "br-eth1"},
        "interface_mappings": {"physnet1": "eth1"},
        "vswitch_mappings": {"physnet1": "external"},
        "device_mappings": {"physnet1": ("ens1f0",)},
        "tunnel_types": EVERY_TUNNEL,
        "local_ip": "192.0.2.1",
        "baremetal_smartnic": True,
        **kw,
    }
    return make_agent(agent_type, values.HostCapabilities(**caps), f"{agent_type}-1")


def context(
    *segments: values.Segment,
    agents: tuple[values.Agent, ...] = (),
    vnic: str = "normal",
    profile: dict[str, Any] | None = None,
) -> values.BindingContext:
    return values.BindingContext(
        port_id=PORT_ID,
        network_id=NETWORK_ID,
        host="compute-1",
        level=0,
        segments_to_bind=segments,
        vnic_type=vnic,
        profile=profile or {},
        host_agents=agents,
        agent_down_time=75.0,
        host_links=(LINK,),
    )


class Row:
    """One driver's row of section 2.8: how to build it and its host, and what it binds."""

    def __init__(
        self,
        name: str,
        make: Any,
        agents: tuple[values.Agent, ...],
        vnic_types: set[str],
        network_types: set[str],
        vnic_for_segments: str = "normal",
        profile: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.make = make
        self.agents = agents
        self.vnic_types = vnic_types
        self.network_types = network_types
        self.vnic_for_segments = vnic_for_segments
        self.profile = profile or {}

    def propose(self, *segments: values.Segment, vnic: str) -> values.Proposal:
        driver: base.MechanismDriver = self.make()
        return driver.propose_binding(
            context(*segments, agents=self.agents, vnic=vnic, profile=self.profile)
        )


ROWS = {
    row.name: row
    for row in (
        Row(
            "openvswitch",
            ovs.OpenvswitchDriver,
            (everything("openvswitch"),),
            {"normal", "direct", "smart-nic", "vdpa"},
            {"local", "flat", "vlan", "gre", "vxlan", "geneve"},
            profile={"capabilities": ["switchdev"]},
        ),
        Row(
            "linuxbridge",
            linuxbridge.LinuxbridgeDriver,
            (everything("linuxbridge"),),
            {"normal"},
            {"local", "flat", "vlan", "vxlan"},
        ),
        Row(
            "hyperv",
            hyperv.HypervDriver,
            (everything("hyperv"),),
            {"normal", "direct"},
            {"local", "flat", "vlan", "gre", "vxlan", "geneve"},
        ),
        Row(
            "sriov",
            sriov.SriovDriver,
            (everything("sriov"),),
            {"direct", "macvtap", "direct-physical", "accelerator-direct"},
            {"flat", "vlan"},
            vnic_for_segments="direct",
        ),
        Row(
            "macvtap",
            macvtap.MacvtapDriver,
            (everything("macvtap"),),
            {"normal"},
            {"flat", "vlan"},
        ),
        Row(
            "baremetal",
            baremetal.BaremetalDriver,
            (),
            {"baremetal"},
            {"flat", "vlan"},
            vnic_for_segments="baremetal",
            profile={"local_link_information": LLI},
        ),
        Row(
            "sdn-controller",
            sdn_controller.SdnControllerDriver,
            (),
            {"normal", "direct", "macvtap", "direct-physical", "baremetal"},
            {"gre", "vxlan", "geneve"},
        ),
    )
}


def bound(proposal: values.Proposal) -> bool:
    """Whether the driver binds this level (completes it, or continues from it)."""
    return isinstance(proposal, values.Complete | values.Continue)


def decline_codes(proposal: values.Proposal) -> set[str]:
    assert isinstance(proposal, values.Decline), proposal
    return {r.code for r in proposal.reasons}


@pytest.mark.parametrize("vnic", vocabulary.VNIC_TYPES)
@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_vnic_type_is_bound_or_refused_as_the_reference_row_says(name: str, vnic: str) -> None:
    row = ROWS[name]
    segments = tuple(SEGMENTS[t] for t in sorted(row.network_types))

    proposal = row.propose(*segments, vnic=vnic)

    if vnic in row.vnic_types:
        assert bound(proposal), proposal
    else:
        assert decline_codes(proposal) == {vocabulary.VNIC_TYPE_UNSUPPORTED}


@pytest.mark.parametrize("network_type", vocabulary.NETWORK_TYPES)
@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_network_type_is_accepted_or_refused_as_the_reference_row_says(
    name: str, network_type: str
) -> None:
    row = ROWS[name]
    segment = SEGMENTS[network_type]

    proposal = row.propose(segment, vnic=row.vnic_for_segments)

    if network_type in row.network_types:
        assert bound(proposal), proposal
        assert proposal.segment_id == segment.id  # type: ignore[union-attr]
    else:
        assert decline_codes(proposal) == {vocabulary.NETWORK_TYPE_UNSUPPORTED}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_driver_describes_the_vnic_and_network_types_of_its_row(name: str) -> None:
    row = ROWS[name]

    described = row.make().describe()

    assert set(described.supported_vnic_types) == row.vnic_types
    assert set(described.supported_network_types) == row.network_types


@pytest.mark.parametrize(
    "tunnels", [(), ("vxlan",), ("gre",), ("geneve",), EVERY_TUNNEL], ids=lambda t: "+".join(t)
)
@pytest.mark.parametrize("name", ["openvswitch", "linuxbridge", "hyperv"])
def test_a_tunnel_type_is_accepted_only_if_the_agent_reports_it(
    name: str, tunnels: tuple[str, ...]
) -> None:
    row = ROWS[name]
    agent = everything(row.agents[0].agent_type, tunnel_types=tunnels)
    driver = row.make()

    for network_type in EVERY_TUNNEL:
        proposal = driver.propose_binding(context(SEGMENTS[network_type], agents=(agent,)))
        expected = network_type in tunnels and network_type in row.network_types
        assert bound(proposal) is expected, (network_type, proposal)


# ------------------------------------------------------------------ vif_type and vif_details

VLAN = SEGMENTS["vlan"]
FLAT = SEGMENTS["flat"]

# driver, agent capabilities (None: no agent), vnic type, profile, segment ->
# vif_type, vif_details, port status (exactly).
DETAIL_CASES = [
    pytest.param(
        "linuxbridge",
        dict(interface_mappings={"physnet1": "eth1"}, port_filter=True),
        "normal",
        None,
        VLAN,
        "bridge",
        {"port_filter": True, "connectivity": "l2"},
        "",
        id="linuxbridge-security-groups-on",
    ),
    pytest.param(
        "linuxbridge",
        dict(interface_mappings={"physnet1": "eth1"}, port_filter=False),
        "normal",
        None,
        FLAT,
        "bridge",
        {"port_filter": False, "connectivity": "l2"},
        "",
        id="linuxbridge-security-groups-off-flat",
    ),
    pytest.param(
        "linuxbridge",
        dict(bridge_mappings={"physnet1": "br-eth1"}, tunnel_types=("vxlan",), port_filter=True),
        "normal",
        None,
        SEGMENTS["vxlan"],
        "bridge",
        {"port_filter": True, "connectivity": "l2"},
        "",
        id="linuxbridge-vxlan",
    ),
    pytest.param(
        "hyperv",
        dict(vswitch_mappings={"physnet.*": "external"}, port_filter=True),
        "normal",
        None,
        VLAN,
        "hyperv",
        {"port_filter": False, "connectivity": "l2"},
        "",
        id="hyperv-normal-never-filtered",
    ),
    pytest.param(
        "hyperv",
        dict(vswitch_mappings={"physnet1": "external"}),
        "direct",
        None,
        FLAT,
        "hyperv",
        {"port_filter": False, "connectivity": "l2"},
        "",
        id="hyperv-direct-flat",
    ),
    pytest.param(
        "sriov",
        dict(device_mappings={"physnet1": ("ens1f0",)}),
        "direct",
        None,
        VLAN,
        "hw_veb",
        {"port_filter": False, "connectivity": "l2", "vlan": "101"},
        "",
        id="sriov-direct-vlan",
    ),
    pytest.param(
        "sriov",
        dict(device_mappings={"physnet1": ("ens1f0",)}),
        "macvtap",
        None,
        FLAT,
        "hw_veb",
        {"port_filter": False, "connectivity": "l2", "vlan": "0"},
        "",
        id="sriov-macvtap-flat",
    ),
    pytest.param(
        "sriov",
        dict(device_mappings={"physnet1": ("ens1f0",)}),
        "accelerator-direct",
        None,
        VLAN,
        "hw_veb",
        {"port_filter": False, "connectivity": "l2", "vlan": "101"},
        "",
        id="sriov-accelerator-direct",
    ),
    pytest.param(
        "sriov",
        None,
        "direct-physical",
        None,
        VLAN,
        "hostdev_physical",
        {"port_filter": False, "connectivity": "l2", "vlan": "101"},
        "ACTIVE",
        id="sriov-direct-physical-without-agent",
    ),
    pytest.param(
        "sriov",
        None,
        "direct-physical",
        None,
        FLAT,
        "hostdev_physical",
        {"port_filter": False, "connectivity": "l2", "vlan": "0"},
        "ACTIVE",
        id="sriov-direct-physical-flat",
    ),
    pytest.param(
        "macvtap",
        dict(interface_mappings={"physnet1": "eth1"}),
        "normal",
        None,
        VLAN,
        "macvtap",
        {
            "port_filter": False,
            "connectivity": "l2",
            "physical_interface": "eth1",
            "macvtap_source": "eth1.101",
            "macvtap_mode": "bridge",
            "vlan": 101,
        },
        "",
        id="macvtap-vlan",
    ),
    pytest.param(
        "macvtap",
        dict(interface_mappings={"physnet1": "eth1"}),
        "normal",
        None,
        FLAT,
        "macvtap",
        {
            "port_filter": False,
            "connectivity": "l2",
            "physical_interface": "eth1",
            "macvtap_source": "eth1",
            "macvtap_mode": "bridge",
        },
        "",
        id="macvtap-flat",
    ),
    pytest.param(
        "baremetal",
        None,
        "baremetal",
        {"local_link_information": LLI},
        VLAN,
        "other",
        {"connectivity": "l2"},
        "ACTIVE",
        id="baremetal-vlan",
    ),
    pytest.param(
        "baremetal",
        None,
        "baremetal",
        {"local_link_information": LLI},
        FLAT,
        "other",
        {"connectivity": "l2"},
        "ACTIVE",
        id="baremetal-flat",
    ),
]


@pytest.mark.parametrize(
    ("name", "agent_caps", "vnic", "profile", "segment", "vif_type", "details", "status"),
    DETAIL_CASES,
)
def test_vif_type_and_exact_vif_details_per_agent_configuration(
    name: str,
    agent_caps: dict[str, Any] | None,
    vnic: str,
    profile: dict[str, Any] | None,
    segment: values.Segment,
    vif_type: str,
    details: dict[str, Any],
    status: str,
) -> None:
    row = ROWS[name]
    agents: tuple[values.Agent, ...] = ()
    if agent_caps is not None:
        kind = row.agents[0].agent_type
        agents = (make_agent(kind, values.HostCapabilities(**agent_caps), f"{kind}-1"),)

    proposal = row.make().propose_binding(
        context(segment, agents=agents, vnic=vnic, profile=profile)
    )

    assert proposal == values.Complete(segment.id, vif_type, details, status)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_driver_describes_the_vif_types_of_its_row(name: str) -> None:
    expected = {
        "openvswitch": ("ovs", "vhostuser"),
        "linuxbridge": ("bridge",),
        "hyperv": ("hyperv",),
        "sriov": ("hw_veb", "hostdev_physical"),
        "macvtap": ("macvtap",),
        "baremetal": ("other",),
        "sdn-controller": (),
    }

    assert ROWS[name].make().describe().vif_types == expected[name]


def test_the_sdn_controller_continues_a_tunnel_segment_with_a_vlan_of_the_links_physnet() -> None:
    proposal = ROWS["sdn-controller"].propose(SEGMENTS["vxlan"], vnic="normal")

    assert proposal == values.Continue(
        SEGMENTS["vxlan"].id, dynamic_segments=(values.SegmentSpec("vlan", "physnet1"),)
    )


@pytest.mark.parametrize(
    ("name", "agent_type"),
    [
        ("openvswitch", "openvswitch"),
        ("linuxbridge", "linuxbridge"),
        ("hyperv", "hyperv"),
        ("sriov", "sriov"),
        ("macvtap", "macvtap"),
        ("baremetal", ""),
        ("sdn-controller", ""),
    ],
)
def test_each_driver_names_the_agent_type_it_binds_through(name: str, agent_type: str) -> None:
    """Our short agent type names stand for Neutron's "Open vSwitch agent", "Linux bridge
    agent", "HyperV agent", "NIC Switch agent" and "Macvtap agent"; the agentless drivers
    name none."""
    assert ROWS[name].make().describe().agent_type == agent_type
