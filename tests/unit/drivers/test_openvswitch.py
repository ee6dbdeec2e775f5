"""The openvswitch driver against Neutron's openvswitch mechanism driver, rule by rule: the vnic
types it binds and on what condition, the vif_type and the exact vif_details it sends for each
agent configuration, and its settings."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from typing import Any

import pytest
from ml2_contract import values, vocabulary
from ml2_driver_sdk.runtime import config

from services import launcher
from services.drivers.baremetal import driver as baremetal
from services.drivers.hyperv import driver as hyperv
from services.drivers.linuxbridge import driver as linuxbridge
from services.drivers.macvtap import driver as macvtap
from services.drivers.noop import driver as noop
from services.drivers.openvswitch import driver as ovs
from services.drivers.sdn_controller import driver as sdn_controller
from services.drivers.sriov import driver as sriov

PORT_ID = "3f2a9c4e-1111-2222-3333-444455556666"
SOCKET = "vhu3f2a9c4e-11"
"""vhu + the port id, cut to 14 characters."""
VLAN = values.Segment("seg-vlan", "vlan", "physnet1", 101)
VXLAN = values.Segment("seg-vxlan", "vxlan", segmentation_id=1001)
BEAT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
SWITCHDEV = {"capabilities": ["switchdev"]}
MAPPED = {"bridge_mappings": {"physnet1": "br-eth1"}}


def caps(**kw: Any) -> values.HostCapabilities:
    return values.HostCapabilities(**{**MAPPED, **kw})


def agent(capabilities: values.HostCapabilities, **kw: Any) -> values.Agent:
    return values.Agent(
        kw.pop("id", "ovs-1"),
        "openvswitch",
        "compute-1",
        capabilities=capabilities,
        heartbeat_at=BEAT,
        **kw,
    )


def ctx(
    *agents: values.Agent,
    vnic: str = "normal",
    profile: dict[str, Any] | None = None,
    segments: tuple[values.Segment, ...] = (VLAN,),
) -> values.BindingContext:
    return values.BindingContext(
        port_id=PORT_ID,
        network_id="net-1",
        host="compute-1",
        level=0,
        segments_to_bind=segments,
        vnic_type=vnic,
        profile=profile or {},
        host_agents=agents,
        agent_down_time=75.0,
    )


def bind(
    capabilities: values.HostCapabilities,
    vnic: str = "normal",
    profile: dict[str, Any] | None = None,
    settings: ovs.OpenvswitchSettings | None = None,
) -> values.Proposal:
    driver = ovs.OpenvswitchDriver(settings)
    return driver.propose_binding(ctx(agent(capabilities), vnic=vnic, profile=profile))


def only_reason(proposal: values.Proposal) -> values.DeclineReason:
    assert isinstance(proposal, values.Decline), proposal
    (reason,) = proposal.reasons
    return reason


def ovs_details(**kw: Any) -> dict[str, Any]:
    """An ``ovs`` binding's details on a kernel datapath agent naming br-int."""
    base = {
        "port_filter": True,
        "ovs_hybrid_plug": False,
        "datapath_type": "system",
        "bridge_name": "br-int",
        "connectivity": "l2",
    }
    return {**base, **kw}


def vhostuser_details(mode: str, socket: str = f"/var/run/openvswitch/{SOCKET}") -> dict[str, Any]:
    """A ``vhostuser`` binding's details on a netdev datapath agent naming br-int."""
    return {
        "port_filter": False,
        "ovs_hybrid_plug": False,
        "vhostuser_mode": mode,
        "vhostuser_ovs_plug": True,
        "vhostuser_socket": socket,
        "datapath_type": "netdev",
        "bridge_name": "br-int",
    }


NETDEV_VHU = {"datapath_type": "netdev", "iface_types": ("dpdkvhostuser",), "port_filter": True}
NETDEV_VHU_CLIENT = {**NETDEV_VHU, "iface_types": ("dpdkvhostuserclient",)}

# agent configuration, vnic type, profile -> vif_type, vif_details (exactly).
CASES = [
    pytest.param(
        dict(integration_bridge="br-int", ovs_hybrid_plug=True, port_filter=True),
        "normal",
        None,
        "ovs",
        ovs_details(ovs_hybrid_plug=True),
        id="iptables-hybrid-firewall",
    ),
    pytest.param(
        dict(integration_bridge="br-int", port_filter=True),
        "normal",
        None,
        "ovs",
        ovs_details(),
        id="openvswitch-firewall",
    ),
    pytest.param(
        dict(integration_bridge="br-int", port_filter=False),
        "normal",
        None,
        "ovs",
        ovs_details(port_filter=False),
        id="security-groups-disabled",
    ),
    pytest.param(
        dict(port_filter=True),
        "normal",
        None,
        "ovs",
        {k: v for k, v in ovs_details().items() if k != "bridge_name"},
        id="no-integration-bridge-reported-no-bridge-name",
    ),
    pytest.param(
        dict(integration_bridge="br-int2", port_filter=True),
        "normal",
        None,
        "ovs",
        ovs_details(bridge_name="br-int2"),
        id="integration-bridge-br-int2",
    ),
    pytest.param(
        dict(integration_bridge="br-int", datapath_type="system", port_filter=True),
        "normal",
        None,
        "ovs",
        ovs_details(),
        id="system-datapath",
    ),
    pytest.param(
        dict(integration_bridge="br-int", datapath_type="netdev", port_filter=True),
        "normal",
        None,
        "ovs",
        ovs_details(datapath_type="netdev"),
        id="netdev-without-vhostuser-ports",
    ),
    pytest.param(
        dict(integration_bridge="br-int", iface_types=("dpdkvhostuser",), port_filter=True),
        "normal",
        None,
        "ovs",
        ovs_details(),
        id="vhostuser-ports-on-system-datapath",
    ),
    pytest.param(
        dict(integration_bridge="br-int", **NETDEV_VHU),
        "normal",
        None,
        "vhostuser",
        vhostuser_details("client"),
        id="netdev-dpdkvhostuser",
    ),
    pytest.param(
        dict(integration_bridge="br-int", **NETDEV_VHU_CLIENT),
        "normal",
        None,
        "vhostuser",
        vhostuser_details("server"),
        id="netdev-dpdkvhostuserclient",
    ),
    pytest.param(
        dict(
            integration_bridge="br-int",
            **{**NETDEV_VHU, "iface_types": ("dpdk", "dpdkvhostuser", "dpdkvhostuserclient")},
        ),
        "normal",
        None,
        "vhostuser",
        vhostuser_details("server"),
        id="netdev-both-vhostuser-kinds",
    ),
    pytest.param(
        dict(integration_bridge="br-int", ovs_hybrid_plug=True, **NETDEV_VHU),
        "normal",
        None,
        "vhostuser",
        vhostuser_details("client"),
        id="vhostuser-never-filtered-nor-hybrid",
    ),
    pytest.param(
        dict(integration_bridge="br-int", vhostuser_socket_dir="/run/vhost/", **NETDEV_VHU),
        "normal",
        None,
        "vhostuser",
        vhostuser_details("client", f"/run/vhost/{SOCKET}"),
        id="vhostuser-socket-dir",
    ),
    pytest.param(
        dict(**NETDEV_VHU),
        "normal",
        None,
        "vhostuser",
        {k: v for k, v in vhostuser_details("client").items() if k != "bridge_name"},
        id="vhostuser-no-integration-bridge",
    ),
    pytest.param(
        dict(integration_bridge="br-int", port_filter=True, hw_offload=True),
        "direct",
        SWITCHDEV,
        "ovs",
        ovs_details(),
        id="direct-switchdev",
    ),
    pytest.param(
        dict(integration_bridge="br-int", **NETDEV_VHU_CLIENT),
        "direct",
        SWITCHDEV,
        "ovs",
        ovs_details(datapath_type="netdev"),
        id="direct-switchdev-is-ovs-on-a-vhostuser-agent",
    ),
    pytest.param(
        dict(integration_bridge="br-int", port_filter=True),
        "direct",
        {"capabilities": ["rx", "tx", "switchdev"], "pci_slot": "0000:41:00.6"},
        "ovs",
        ovs_details(),
        id="direct-switchdev-among-capabilities",
    ),
    pytest.param(
        dict(integration_bridge="br-int", port_filter=True),
        "vdpa",
        None,
        "ovs",
        ovs_details(),
        id="vdpa",
    ),
    pytest.param(
        dict(integration_bridge="br-int", **NETDEV_VHU),
        "vdpa",
        None,
        "vhostuser",
        vhostuser_details("client"),
        id="vdpa-on-a-vhostuser-agent",
    ),
    pytest.param(
        dict(integration_bridge="br-int", port_filter=True, baremetal_smartnic=True),
        "smart-nic",
        None,
        "ovs",
        ovs_details(),
        id="smart-nic-on-a-smartnic-agent",
    ),
    pytest.param(
        dict(integration_bridge="br-int", port_filter=True, baremetal_smartnic=True),
        "normal",
        None,
        "ovs",
        ovs_details(),
        id="normal-on-a-smartnic-agent",
    ),
]


@pytest.mark.parametrize(("agent_caps", "vnic", "profile", "vif_type", "details"), CASES)
def test_vif_type_and_details_per_agent_configuration(
    agent_caps: dict[str, Any],
    vnic: str,
    profile: dict[str, Any] | None,
    vif_type: str,
    details: dict[str, Any],
) -> None:
    proposal = bind(caps(**agent_caps), vnic, profile)

    assert proposal == values.Complete(VLAN.id, vif_type, details)


TAP_ON = ovs.OpenvswitchSettings(create_tap=True)

# With the create-tap option: agent configuration, vnic type -> ovs_create_tap in the details?
TAP_CASES = [
    pytest.param(dict(datapath_type="system"), "normal", True, id="system-datapath"),
    pytest.param({}, "normal", True, id="datapath-not-reported-is-system"),
    pytest.param(dict(datapath_type="system"), "vdpa", True, id="vdpa"),
    pytest.param(dict(ovs_hybrid_plug=True), "normal", False, id="hybrid-plug"),
    pytest.param(dict(datapath_type="netdev"), "normal", False, id="netdev-datapath"),
    pytest.param(NETDEV_VHU, "normal", False, id="vhostuser"),
    pytest.param(dict(datapath_type="system"), "direct", False, id="direct"),
]


@pytest.mark.parametrize(("agent_caps", "vnic", "create_tap"), TAP_CASES)
def test_ovs_create_tap_only_on_kernel_datapath_ports_neither_direct_nor_hybrid(
    agent_caps: dict[str, Any], vnic: str, create_tap: bool
) -> None:
    chosen = caps(integration_bridge="br-int", **agent_caps)

    with_option = bind(chosen, vnic, SWITCHDEV, TAP_ON)
    without = bind(chosen, vnic, SWITCHDEV)

    assert isinstance(with_option, values.Complete) and isinstance(without, values.Complete)
    assert "ovs_create_tap" not in without.vif_details
    if create_tap:
        assert with_option.vif_details == {**without.vif_details, "ovs_create_tap": True}
    else:
        assert with_option == without


@pytest.mark.parametrize(
    "profile",
    [None, {}, {"capabilities": []}, {"capabilities": ["rx", "tx"]}, {"pci_slot": "0000:41:00.6"}],
    ids=["no-profile", "empty-profile", "no-capabilities", "other-capabilities", "pci-slot-only"],
)
def test_a_direct_port_binds_only_with_the_switchdev_capability(
    profile: dict[str, Any] | None,
) -> None:
    reason = only_reason(bind(caps(integration_bridge="br-int"), "direct", profile))

    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert "switchdev" in reason.message
    assert reason.details["vnic_type"] == "direct"
    assert reason.details["required_capability"] == "switchdev"
    assert reason.details["supported"] == "normal,direct,smart-nic,vdpa"
    shown = ",".join((profile or {}).get("capabilities", []))
    assert reason.details["capabilities"] == shown
    assert f"(capabilities: {shown or 'none'})" in reason.message


def test_a_direct_port_without_switchdev_is_declined_before_any_agent_is_looked_at() -> None:
    reason = only_reason(ovs.OpenvswitchDriver().propose_binding(ctx(vnic="direct")))

    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert "switchdev" in reason.message


def test_a_smart_nic_port_passes_over_an_agent_not_on_a_smartnic() -> None:
    reason = only_reason(bind(caps(integration_bridge="br-int"), "smart-nic"))

    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert reason.details == {
        "agent_id": "ovs-1",
        "host": "compute-1",
        "vnic_type": "smart-nic",
        "baremetal_smartnic": "false",
    }
    assert "ovs-1" in reason.message and "baremetal_smartnic" in reason.message


def test_a_smart_nic_port_binds_through_the_smartnic_agent_among_the_host_agents() -> None:
    plain = agent(caps(integration_bridge="br-int"), id="ovs-plain")
    smart = agent(caps(integration_bridge="br-smart", baremetal_smartnic=True), id="ovs-smart")

    proposal = ovs.OpenvswitchDriver().propose_binding(ctx(plain, smart, vnic="smart-nic"))

    assert isinstance(proposal, values.Complete)
    assert proposal.vif_details["bridge_name"] == "br-smart"


def test_a_dead_smartnic_agent_is_declined_as_dead() -> None:
    dead = agent(caps(baremetal_smartnic=True), alive=False)

    reason = only_reason(ovs.OpenvswitchDriver().propose_binding(ctx(dead, vnic="smart-nic")))

    assert reason.code == vocabulary.AGENT_DEAD


@pytest.mark.parametrize(
    "vnic",
    [v for v in vocabulary.VNIC_TYPES if v not in ("normal", "direct", "smart-nic", "vdpa")],
)
def test_declines_the_vnic_types_neutron_does_not_bind_with_open_vswitch(vnic: str) -> None:
    reason = only_reason(bind(caps(), vnic, SWITCHDEV))

    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert reason.details == {"vnic_type": vnic, "supported": "normal,direct,smart-nic,vdpa"}


def test_describes_the_vnic_types_it_binds() -> None:
    desc = ovs.OpenvswitchDriver().describe()

    assert desc.supported_vnic_types == ("normal", "direct", "smart-nic", "vdpa")
    assert desc.vif_types == ("ovs", "vhostuser")


def test_binds_the_agents_tunnel_types_and_local_flat_vlan() -> None:
    tunnelled = caps(tunnel_types=("gre", "vxlan"), local_ip="192.0.2.1")
    driver = ovs.OpenvswitchDriver()

    assert isinstance(
        driver.propose_binding(ctx(agent(tunnelled), segments=(VXLAN,))), values.Complete
    )
    reason = only_reason(driver.propose_binding(ctx(agent(caps()), segments=(VXLAN,))))
    assert reason.code == vocabulary.NETWORK_TYPE_UNSUPPORTED
    assert reason.details["allowed_network_types"] == "flat,local,vlan"


# ------------------------------------------------------------------------------- settings


def test_settings_default_to_every_vnic_type_and_no_create_tap() -> None:
    settings = ovs.OpenvswitchSettings.from_env({})

    assert settings == ovs.OpenvswitchSettings(
        vnic_types=("normal", "direct", "smart-nic", "vdpa"), create_tap=False
    )


@pytest.mark.parametrize(
    ("raw", "on"), [("true", True), ("TRUE", True), ("1", True), ("false", False), ("", False)]
)
def test_create_tap_reads_a_boolean(raw: str, on: bool) -> None:
    env = {"MECHDRIVER_OPENVSWITCH_CREATE_TAP": raw}

    assert ovs.OpenvswitchSettings.from_env(env).create_tap is on


def test_the_prohibit_list_takes_vnic_types_away() -> None:
    env = {"MECHDRIVER_OPENVSWITCH_VNIC_TYPE_PROHIBIT_LIST": "direct, vdpa"}
    driver = ovs.OpenvswitchDriver(ovs.OpenvswitchSettings.from_env(env))

    assert driver.describe().supported_vnic_types == ("normal", "smart-nic")
    reason = only_reason(
        driver.propose_binding(ctx(agent(caps()), vnic="direct", profile=SWITCHDEV))
    )
    assert reason.code == vocabulary.VNIC_TYPE_UNSUPPORTED
    assert reason.details == {"vnic_type": "direct", "supported": "normal,smart-nic"}
    assert isinstance(driver.propose_binding(ctx(agent(caps()))), values.Complete)


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"MECHDRIVER_OPENVSWITCH_VNIC_TYPE_PROHIBIT_LIST": "direct,macvtap"},
            "MECHDRIVER_OPENVSWITCH_VNIC_TYPE_PROHIBIT_LIST: macvtap is not a vnic type this "
            "driver binds (normal, direct, smart-nic, vdpa)",
        ),
        (
            {"MECHDRIVER_OPENVSWITCH_VNIC_TYPE_PROHIBIT_LIST": "normal,direct,smart-nic,vdpa"},
            "MECHDRIVER_OPENVSWITCH_VNIC_TYPE_PROHIBIT_LIST: prohibits every vnic type",
        ),
        (
            {"MECHDRIVER_OPENVSWITCH_CREATE_TAP": "maybe"},
            "MECHDRIVER_OPENVSWITCH_CREATE_TAP='maybe': must be true or false",
        ),
    ],
    ids=["unknown-vnic-type", "everything-prohibited", "create-tap-not-a-boolean"],
)
def test_a_bad_setting_is_refused_naming_the_variable(env: dict[str, str], said: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        ovs.OpenvswitchSettings.from_env(env)

    assert str(err.value).startswith(said)


def test_the_driver_process_exits_2_on_a_bad_setting_naming_it() -> None:
    env = launcher.python_path_env(
        {"MECHDRIVER_OPENVSWITCH_VNIC_TYPE_PROHIBIT_LIST": "bogus", "PATH": "/usr/bin:/bin"}
    )

    done = subprocess.run(
        [sys.executable, "-m", "services.drivers.openvswitch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    assert "MECHDRIVER_OPENVSWITCH_VNIC_TYPE_PROHIBIT_LIST: bogus" in done.stderr


def test_the_provider_attribute_updates_portapi_allows_are_the_ones_drivers_declare() -> None:
    declared: dict[str, set[str]] = {}
    for module in (ovs, linuxbridge, hyperv, macvtap, sriov, noop, sdn_controller, baremetal):
        for cls in vars(module).values():
            updates = getattr(cls, "provider_network_attribute_updates", None)
            if isinstance(cls, type) and updates:
                for vif_type in cls.vif_types:
                    declared.setdefault(vif_type, set()).update(updates)
    assert declared == {k: set(v) for k, v in vocabulary.PROVIDER_ATTRIBUTE_UPDATES.items()}
    assert ovs.OpenvswitchDriver.provider_network_attribute_updates == {"segmentation_id"}
