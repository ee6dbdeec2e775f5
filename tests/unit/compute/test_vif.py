"""Choosing the VIF to plug (the binding's or the local default, and why) and device names."""

from __future__ import annotations

import pytest
from ml2.v1 import binding_pb2, port_pb2
from ml2_contract import convert, vocabulary

from services.compute import config, plugs, vif

PORT_ID = "0b5c3f9e-3d1b-4c43-9a55-2a3c4f0e8e01"
NET_ID = "7d2a9c41-5e6f-4a8b-9c0d-1e2f3a4b5c6d"
DEFAULT = config.DefaultVif("bridge", {"bridge_name": "br-local"})
WITH_DEFAULT = config.ComputeConfig(path="/etc/ml2/compute.toml", default_vif=DEFAULT)


def port(
    vif_type: str,
    details: dict[str, object] | None = None,
    state: int = binding_pb2.BINDING_STATE_BOUND,
    driver: str = "openvswitch",
) -> port_pb2.Port:
    binding = binding_pb2.PortBinding(host_id="compute-1", vif_type=vif_type, state=state)
    if details is not None:
        binding.vif_details.CopyFrom(convert.dict_to_struct(details))
    if state == binding_pb2.BINDING_STATE_BOUND:
        binding.levels.add(level=0, driver=driver)
    return port_pb2.Port(
        id=PORT_ID, network_id=NET_ID, mac_address="fa:16:3e:00:00:01", binding=binding
    )


def test_the_bindings_vif_is_plugged_with_the_network_mtu() -> None:
    chosen = vif.choose(port("ovs", {"bridge_name": "br-int"}), WITH_DEFAULT, network_mtu=1450)

    assert chosen.vif_type == "ovs"
    assert chosen.vif_details == {"bridge_name": "br-int"}
    assert chosen.mtu == 1450
    assert chosen.source == vif.SOURCE_BINDING
    assert chosen.reason == ""


def test_an_mtu_in_vif_details_wins_over_the_networks() -> None:
    chosen = vif.choose(port("ovs", {"mtu": 1400}), WITH_DEFAULT, network_mtu=1450)

    assert chosen.mtu == 1400


def test_use_default_plugs_the_configured_default_and_says_which_driver_asked() -> None:
    chosen = vif.choose(port("use_default", {}, driver="noop"), WITH_DEFAULT)

    assert (chosen.vif_type, dict(chosen.vif_details)) == ("bridge", {"bridge_name": "br-local"})
    assert chosen.source == vif.SOURCE_LOCAL_DEFAULT
    assert "use_default" in chosen.reason
    assert "noop" in chosen.reason


def test_a_server_that_gives_no_vif_type_gets_the_local_default() -> None:
    chosen = vif.choose(port("", None, state=binding_pb2.BINDING_STATE_UNSPECIFIED), WITH_DEFAULT)

    assert chosen.source == vif.SOURCE_LOCAL_DEFAULT
    assert "without a vif_type" in chosen.reason


def test_a_binding_of_the_default_vif_type_without_details_takes_the_default_details() -> None:
    chosen = vif.choose(port("bridge", {}), WITH_DEFAULT)

    assert chosen.vif_details == {"bridge_name": "br-local"}
    assert chosen.reason == "the binding's vif_type is bridge but it gives no vif_details"


def test_bound_drivers_alone_count_as_no_vif_details() -> None:
    chosen = vif.choose(port("bridge", {"bound_drivers": {"0": "linuxbridge"}}), WITH_DEFAULT)

    assert chosen.vif_details == {"bridge_name": "br-local"}
    assert chosen.source == vif.SOURCE_LOCAL_DEFAULT


def test_a_binding_with_bound_drivers_and_details_is_plugged_as_bound() -> None:
    details = {"bridge_name": "br-int", "bound_drivers": {"0": "openvswitch"}}
    chosen = vif.choose(port("ovs", details), WITH_DEFAULT, network_mtu=1450)

    assert (chosen.vif_type, chosen.source) == ("ovs", vif.SOURCE_BINDING)
    assert chosen.vif_details["bridge_name"] == "br-int"


def test_a_binding_of_another_vif_type_without_details_is_plugged_as_bound() -> None:
    chosen = vif.choose(port("ovs", {}), WITH_DEFAULT)

    assert (chosen.vif_type, chosen.source) == ("ovs", vif.SOURCE_BINDING)


def test_use_default_without_a_configured_default_names_what_to_configure() -> None:
    with pytest.raises(vif.NoVif, match=r"add \[default_vif\] with vif_type and vif_details"):
        vif.choose(port("use_default", {}), config.ComputeConfig())


@pytest.mark.parametrize(
    ("vif_type", "state"),
    [
        ("binding_failed", binding_pb2.BINDING_STATE_FAILED),
        ("unbound", binding_pb2.BINDING_STATE_UNBOUND),
    ],
)
def test_failed_and_unbound_bindings_have_nothing_to_plug(vif_type: str, state: int) -> None:
    with pytest.raises(vif.NoVif):
        vif.choose(port(vif_type, {}, state=state), WITH_DEFAULT)


def test_hybrid_plug_reads_booleans_and_their_spellings() -> None:
    assert vif.choose(port("ovs", {"ovs_hybrid_plug": True}), WITH_DEFAULT).hybrid
    assert vif.choose(port("ovs", {"ovs_hybrid_plug": "True"}), WITH_DEFAULT).hybrid
    assert not vif.choose(port("ovs", {"ovs_hybrid_plug": False}), WITH_DEFAULT).hybrid


def test_device_names_are_novas_and_fit_the_kernels_limit() -> None:
    names = [
        vif.tap_name(PORT_ID),
        vif.qbr_name(PORT_ID),
        vif.qvb_name(PORT_ID),
        vif.qvo_name(PORT_ID),
        vif.vhu_name(PORT_ID),
    ]

    assert names == [
        "tap0b5c3f9e-3d",
        "qbr0b5c3f9e-3d",
        "qvb0b5c3f9e-3d",
        "qvo0b5c3f9e-3d",
        "vhu0b5c3f9e-3d",
    ]
    assert vif.network_bridge_name(NET_ID) == "brq7d2a9c41-5e"
    assert all(len(n) == vocabulary.DEVICE_NAME_LENGTH for n in names)


@pytest.mark.parametrize(
    ("vif_type", "needs"),
    [
        ("hw_veb", "SR-IOV virtual function"),
        ("hostdev_physical", "PCI network device"),
        ("macvtap", "macvtap device"),
        ("tap", "a plug backend for it; this host plugs ovs, bridge, vhostuser"),
    ],
)
def test_vif_types_without_a_backend_are_refused_naming_the_type_and_what_is_missing(
    vif_type: str, needs: str
) -> None:
    message = plugs.refusal(vif_type)

    assert message.startswith(f"cannot plug vif_type {vif_type!r} on this host: it needs ")
    assert needs in message


def test_a_bridge_vif_joins_the_networks_brq_bridge_unless_its_details_name_one() -> None:
    # Neutron's linuxbridge driver sends no bridge name: Nova derives brq + the network id.
    lb = port("bridge", {"port_filter": True, "connectivity": "l2"}, driver="linuxbridge")
    assert vif.choose(lb, config.ComputeConfig()).linux_bridge == "brq7d2a9c41-5e"
    # A driver that names the bridge (out of tree ones do) is followed.
    named = port("bridge", {"bridge_name": "br-vm", "port_filter": True}, driver="other")
    assert vif.choose(named, config.ComputeConfig()).linux_bridge == "br-vm"
