"""The rules of changing a network's static segments, row by row (Neutron's provider attribute
update and segments plugin rules), as pure functions."""

from __future__ import annotations

from datetime import datetime

import grpc
import pytest
from ml2_contract import values, vocabulary

from services.portapi import errors as portapi_errors
from services.portapi import resources as r
from services.portapi import segment_changes


def segment(network_type: str = "vlan", index: int = 0, dynamic: bool = False) -> values.Segment:
    return values.Segment(
        id=f"seg-{index}-{dynamic}",
        network_id="net",
        network_type=network_type,
        physical_network="physnet1" if network_type in ("vlan", "flat") else "",
        segmentation_id=100 + index,
        mtu=1500,
        is_dynamic=dynamic,
        segment_index=index,
    )


def network(*segments: values.Segment) -> r.Network:
    return r.Network(
        id="net",
        name="",
        project_id="p",
        shared=False,
        admin_state_up=True,
        mtu=1500,
        segments=segments,
        status=r.NETWORK_ACTIVE,
        create_time=datetime(2026, 1, 1),
    )


def test_unbound_failed_and_ovs_ports_allow_a_new_segmentation_id() -> None:
    assert segment_changes.vif_types_allowing("segmentation_id") == {
        vocabulary.VIF_TYPE_UNBOUND,
        vocabulary.VIF_TYPE_BINDING_FAILED,
        vocabulary.VIF_TYPE_OVS,
        vocabulary.VIF_TYPE_VHOST_USER,
    }
    assert segment_changes.vif_types_allowing("physical_network") == {
        vocabulary.VIF_TYPE_UNBOUND,
        vocabulary.VIF_TYPE_BINDING_FAILED,
    }


def test_a_single_vlan_segment_without_refusing_ports_may_change() -> None:
    only = segment()
    assert segment_changes.check_segmentation_id_update(network(only), []) == only


@pytest.mark.parametrize(
    ("segments", "refusing", "rule", "words"),
    [
        (
            (segment(), segment(index=1)),
            [],
            "SINGLE_SEGMENT",
            "it has 2 static segments; only a network with exactly one static segment",
        ),
        (
            (segment("vxlan"),),
            [],
            "VLAN_ONLY",
            "its segment is of type vxlan; only a vlan segment",
        ),
        (
            (segment("flat"),),
            [],
            "VLAN_ONLY",
            "its segment is of type flat",
        ),
        (
            (segment(),),
            [("port-1", "bridge")],
            "PORT_VIF_TYPE",
            "port-1 (bridge); every port must have vif_type "
            "binding_failed, ovs, unbound, vhostuser",
        ),
    ],
)
def test_each_rule_refuses_with_failed_precondition_naming_segmentation_id(
    segments: tuple[values.Segment, ...], refusing: list[tuple[str, str]], rule: str, words: str
) -> None:
    with pytest.raises(portapi_errors.SegmentationIdNotUpdatable) as caught:
        segment_changes.check_segmentation_id_update(network(*segments), refusing)
    assert caught.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.message.startswith("segmentation_id: network 'net': ")
    assert words in caught.value.message
    assert caught.value.metadata["rule"] == rule
    assert caught.value.metadata["field"] == "segmentation_id"


def test_a_request_id_names_the_same_segment_every_time() -> None:
    first = segment_changes.segment_id_for("net-a", "req-1")
    assert first == segment_changes.segment_id_for("net-a", "req-1")
    assert first != segment_changes.segment_id_for("net-b", "req-1")
    assert segment_changes.segment_id_for("net-a", None) != segment_changes.segment_id_for(
        "net-a", None
    )
