"""What ``ml2`` prints: aligned tables, port details with reasons, protobuf JSON."""

from __future__ import annotations

import datetime
import json

import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from ml2.v1 import (
    agent_pb2,
    binding_pb2,
    mechanism_manager_service_pb2,
    network_pb2,
    port_pb2,
    segment_pb2,
    segment_range_pb2,
)

from services.cli import client, ranges, render, stack

SEGMENT = segment_pb2.Segment(
    id="seg-1",
    network_id="net-1",
    network_type="vlan",
    physical_network="physnet1",
    segmentation_id=142,
    mtu=1500,
)


def bound_port() -> port_pb2.Port:
    port = port_pb2.Port(
        id="port-1", network_id="net-1", name="vm", status=port_pb2.PORT_STATUS_DOWN
    )
    b = port.binding
    b.host_id = "compute-ovs"
    b.vnic_type = binding_pb2.VNIC_TYPE_NORMAL
    b.vif_type = "ovs"
    b.state = binding_pb2.BINDING_STATE_BOUND
    b.vif_details.update(
        {
            "bridge_name": "br-int",
            "port_filter": True,
            "connectivity": "l2",
            "bound_drivers": {"0": "openvswitch"},
        }
    )
    b.levels.add(level=0, driver="openvswitch", segment=SEGMENT)
    b.trace.add(
        level=0,
        driver="openvswitch",
        outcome=binding_pb2.OUTCOME_COMPLETE,
        segment_id="seg-1",
        duration=duration_pb2.Duration(nanos=1_200_000),
    )
    return port


def failed_port() -> port_pb2.Port:
    port = port_pb2.Port(id="port-2", network_id="net-1")
    b = port.binding
    b.host_id = "compute-lb"
    b.vif_type = "binding_failed"
    b.state = binding_pb2.BINDING_STATE_FAILED
    b.failure_message = "no mechanism driver could bind the port on compute-lb"
    verdict = b.trace.add(level=0, driver="linuxbridge", outcome=binding_pb2.OUTCOME_DECLINE)
    verdict.reasons.add(
        code="AGENT_DEAD",
        message="the linuxbridge agent on compute-lb is dead",
        details={"agent_id": "agent-9"},
    )
    return port


def test_table_aligns_columns_under_upper_case_headers() -> None:
    text = render.table(("id", "name"), [("a", "long name"), ("longer-id", "x")])
    lines = text.splitlines()
    assert lines[0] == "ID         NAME"
    assert lines[1] == "a          long name"
    assert lines[2] == "longer-id  x"


def test_table_with_no_rows_prints_the_headers() -> None:
    assert render.table(("id", "name"), []) == "ID  NAME"


def test_port_detail_shows_binding_levels_and_vif_details() -> None:
    text = render.port_detail(bound_port())
    assert "vif_type:" in text and " ovs" in text
    assert "bridge_name=br-int" in text and "port_filter=true" in text
    assert 'bound_drivers={"0": "openvswitch"}' in text
    assert "binding levels:" in text
    assert "openvswitch  vlan physnet1 142  seg-1" in text
    assert "COMPLETE" in text and "(1.2 ms)" in text
    assert "failure" not in text


def test_port_detail_shows_each_drivers_reasons_for_a_failure() -> None:
    text = render.port_detail(failed_port())
    assert "binding:      FAILED" in text
    assert "failure:      no mechanism driver could bind" in text
    assert "linuxbridge  DECLINE" in text
    assert "- AGENT_DEAD: the linuxbridge agent on compute-lb is dead [agent_id=agent-9]" in text


def test_json_uses_proto_field_names_and_prints_empty_fields() -> None:
    data = json.loads(render.to_json(failed_port()))
    assert data["network_id"] == "net-1"
    assert data["binding"]["host_id"] == "compute-lb"
    assert data["binding"]["vif_type"] == "binding_failed"
    assert data["binding"]["vnic_type"] == "VNIC_TYPE_UNSPECIFIED"
    assert data["binding"]["vif_details"] == {}
    assert data["binding"]["profile"] == {}
    assert data["binding"]["trace"][0]["reasons"][0]["code"] == "AGENT_DEAD"
    assert data["name"] == ""


def test_list_json_is_an_array_of_resources() -> None:
    data = json.loads(render.list_json([bound_port(), failed_port()]))
    assert [p["id"] for p in data] == ["port-1", "port-2"]


def test_network_rows_and_detail_show_segments() -> None:
    net = network_pb2.Network(id="net-1", name="demo", project_id="p", mtu=1500, segments=[SEGMENT])
    assert "vlan physnet1 142" in render.network_rows([net]).splitlines()[1]
    detail = render.network_detail(net)
    assert "segments:" in detail and "seg-1" in detail


def test_segment_text_by_type() -> None:
    flat = segment_pb2.Segment(network_type="flat", physical_network="physnet1")
    vxlan = segment_pb2.Segment(network_type="vxlan", segmentation_id=1001)
    assert render.segment_text(flat) == "flat physnet1"
    assert render.segment_text(vxlan) == "vxlan 1001"


def test_agent_rows_show_liveness_and_capabilities() -> None:
    now = datetime.datetime(2026, 1, 1, 12, 0, 10, tzinfo=datetime.UTC)
    beat = timestamp_pb2.Timestamp()
    beat.FromDatetime(now - datetime.timedelta(seconds=5))
    agent = agent_pb2.Agent(
        id="a-1",
        agent_type="openvswitch",
        host="compute-ovs",
        alive=False,
        heartbeat_time=beat,
        capabilities=agent_pb2.HostCapabilities(
            bridge_mappings={"physnet1": "br-eth1"}, tunnel_types=["vxlan"], local_ip="10.0.0.5"
        ),
    )
    row = render.agent_rows([agent]).splitlines()[1]
    assert "dead" in row and "physnet1:br-eth1" in row and "vxlan" in row and "10.0.0.5" in row
    assert row.split()[3:5] == ["dead", "down"]
    detail = render.agent_detail(agent)
    assert "admin_state_up:     no (ports are not bound through it)" in detail
    assert "bridge_mappings:    physnet1:br-eth1" in detail
    assert "network_types:      (all of its mechanism)" in detail
    assert "revision:           0" in detail
    assert "revision:           7" in render.agent_detail(agent_pb2.Agent(revision=7))
    assert render.age_text(beat, now) == "5s ago"


def test_sriov_and_hyperv_agents_show_their_own_mappings() -> None:
    sriov = agent_pb2.Agent(
        id="a-2",
        agent_type="sriov",
        host="compute-sriov",
        capabilities=agent_pb2.HostCapabilities(
            device_mappings={"physnet1": agent_pb2.DeviceList(devices=["ens1f0", "ens1f1"])},
            extensions=["qos"],
        ),
    )
    assert "physnet1:ens1f0;ens1f1" in render.agent_rows([sriov]).splitlines()[1]
    detail = render.agent_detail(sriov)
    assert "device_mappings:" in detail and "physnet1:ens1f0;ens1f1" in detail
    assert "extensions:" in detail and "qos" in detail
    hyperv = agent_pb2.Agent(
        agent_type="hyperv",
        capabilities=agent_pb2.HostCapabilities(vswitch_mappings={"phys.*": "external"}),
    )
    assert "phys.*:external" in render.agent_rows([hyperv]).splitlines()[1]
    assert "vswitch_mappings:" in render.agent_detail(hyperv)
    ovs = agent_pb2.Agent(
        agent_type="openvswitch",
        capabilities=agent_pb2.HostCapabilities(baremetal_smartnic=True, hw_offload=True),
    )
    assert "baremetal_smartnic,hw_offload" in render.agent_detail(ovs)
    assert "flags" not in render.agent_detail(sriov)


def test_driver_rows_are_in_binding_order() -> None:
    drivers = [
        mechanism_manager_service_pb2.MechanismDriverInfo(
            name="openvswitch",
            address="127.0.0.1:50061",
            reachable=True,
            agent_type="openvswitch",
            supported_network_types=["flat", "vlan"],
            vif_types=["ovs"],
        ),
        mechanism_manager_service_pb2.MechanismDriverInfo(
            name="linuxbridge",
            address="127.0.0.1:50062",
            reachable=False,
            error="connection refused",
            breaker_state=mechanism_manager_service_pb2.BREAKER_STATE_OPEN,
        ),
    ]
    drivers[1].breaker_retry_time.FromSeconds(1_700_000_010)  # 22:13:30 UTC
    lines = render.driver_rows(drivers).splitlines()
    assert lines[0].split()[-1] == "BREAKER"
    assert lines[1].startswith("0      openvswitch")
    assert lines[1].rstrip().endswith("-")
    assert lines[2].startswith("1      linuxbridge") and "NO" in lines[2]
    assert "connection refused" in lines[2]
    assert lines[2].endswith("open (retries 22:13:30Z)")


def test_breaker_text_names_each_state() -> None:
    pb = mechanism_manager_service_pb2
    texts = [
        render.breaker_text(pb.MechanismDriverInfo(breaker_state=state))
        for state in (pb.BREAKER_STATE_CLOSED, pb.BREAKER_STATE_HALF_OPEN)
    ]
    assert texts == ["closed", "half-open"]


def test_process_rows_show_metrics_urls() -> None:
    rows = [
        stack.ProcessRow("portapi", "127.0.0.1:50050", "http://127.0.0.1:9100/metrics", 42, "l")
    ]
    text = render.process_rows(rows)
    assert text.splitlines()[1].split() == [
        "portapi",
        "127.0.0.1:50050",
        "http://127.0.0.1:9100/metrics",
        "42",
        "l",
    ]


def test_network_labels_are_names_unless_missing_or_shared() -> None:
    nets = [
        network_pb2.Network(id="n1", name="web"),
        network_pb2.Network(id="n2", name="db"),
        network_pb2.Network(id="n3", name="db"),
        network_pb2.Network(id="n4"),
    ]
    assert client.network_labels(nets) == {"n1": "web", "n2": "n2", "n3": "n3", "n4": "n4"}


def test_port_rows_show_network_names() -> None:
    port = port_pb2.Port(id="p1", network_id="n1")
    assert render.port_rows([port], {"n1": "web"}).splitlines()[1].split()[2] == "web"
    assert render.port_rows([port]).splitlines()[1].split()[2] == "n1"


def test_allocation_rows_name_networks_and_show_no_id_for_flat() -> None:
    allocs = [
        segment_range_pb2.SegmentAllocation(
            network_type="flat", physical_network="physnet1", network_id="n1"
        ),
        segment_range_pb2.SegmentAllocation(
            network_type="vlan", physical_network="physnet1", segmentation_id=7, network_id="n2"
        ),
    ]
    lines = ranges.allocation_rows(allocs, {"n1": "ext"}).splitlines()
    assert lines[1].split() == ["flat", "physnet1", "-", "ext", "-"]
    assert lines[2].split() == ["vlan", "physnet1", "7", "n2", "outside", "every", "range"]


def test_several_matches_of_a_name_are_named_by_id() -> None:
    nets = [network_pb2.Network(id="n1", name="x"), network_pb2.Network(id="n2", name="x")]
    with pytest.raises(client.CommandError) as exc:
        client.only("x", "network", nets)
    assert exc.value.message == "2 networks are named 'x': n1, n2; use the id"
