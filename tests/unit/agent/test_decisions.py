"""The agent's pure decisions: what to wire, isolate, report and whom to tunnel to."""

from __future__ import annotations

from ml2.v1 import admin_state_pb2, binding_pb2, port_pb2, segment_pb2
from ml2_contract import values

from services.agent import decisions
from services.agent.dataplane import Attachment, Device, TunnelPeer

HOST = "compute-1"
VXLAN = values.Segment("seg-vx", "vxlan", segmentation_id=1001)


def _port(
    port_id: str = "p1",
    *,
    host: str = HOST,
    state: int = binding_pb2.BINDING_STATE_BOUND,
    driver: str = "openvswitch",
    segment_id: str = "seg-vx",
    generation: int = 1,
    admin: int = admin_state_pb2.ADMIN_STATE_UP,
    network_id: str = "net1",
) -> port_pb2.Port:
    return port_pb2.Port(
        id=port_id,
        network_id=network_id,
        mac_address="fa:16:3e:00:00:01",
        admin_state=admin,  # type: ignore[arg-type]
        binding=binding_pb2.PortBinding(
            host_id=host,
            state=state,  # type: ignore[arg-type]
            vif_type="ovs" if state == binding_pb2.BINDING_STATE_BOUND else "unbound",
            generation=generation,
            levels=[
                binding_pb2.BindingLevel(
                    level=0,
                    driver=driver,
                    segment=segment_pb2.Segment(
                        id=segment_id, network_type="vxlan", segmentation_id=1001
                    ),
                )
            ]
            if state == binding_pb2.BINDING_STATE_BOUND
            else [],
        ),
    )


def _att(port_id: str = "p1", generation: int = 1, admin_up: bool = True) -> Attachment:
    att = decisions.attachment_of(_port(port_id, generation=generation), HOST, "openvswitch")
    assert att is not None
    if not admin_up:
        att = Attachment(**{**att.__dict__, "admin_up": False})
    return att


def _dev(port_id: str = "p1") -> Device:
    return Device(port_id, f"tap{port_id}")


def test_attachment_of_takes_the_last_level_and_admin_state() -> None:
    att = decisions.attachment_of(_port(generation=7), HOST, "openvswitch")
    assert att is not None
    assert att.segment.id == "seg-vx" and att.segment.segmentation_id == 1001
    assert att.generation == 7 and att.admin_up and att.vif_type == "ovs"
    down = decisions.attachment_of(
        _port(admin=admin_state_pb2.ADMIN_STATE_DOWN), HOST, "openvswitch"
    )
    assert down is not None and not down.admin_up


def test_attachment_of_ignores_what_is_not_ours() -> None:
    assert decisions.attachment_of(_port(host="other"), HOST, "openvswitch") is None
    assert decisions.attachment_of(_port(driver="linuxbridge"), HOST, "openvswitch") is None
    for state in (binding_pb2.BINDING_STATE_UNBOUND, binding_pb2.BINDING_STATE_FAILED):
        assert decisions.attachment_of(_port(state=state), HOST, "openvswitch") is None


def test_bound_and_present_is_wired_once() -> None:
    att = _att()
    plan = decisions.plan({"p1": att}, {"p1": _dev()}, {})
    assert plan.wire == [att] and not plan.unwire
    done = {"p1": decisions.Record(att, device=True)}
    assert not decisions.plan({"p1": att}, {"p1": _dev()}, done)


def test_a_new_generation_is_wired_again() -> None:
    done = {"p1": decisions.Record(_att(generation=1), device=True)}
    new = _att(generation=2)
    assert decisions.plan({"p1": new}, {"p1": _dev()}, done).wire == [new]


def test_bound_without_device_waits() -> None:
    assert not decisions.plan({"p1": _att()}, {}, {})


def test_device_gone_reports_down_once() -> None:
    att = _att()
    done = {"p1": decisions.Record(att, device=True)}
    plan = decisions.plan({"p1": att}, {}, done)
    assert plan.gone == [att]
    assert not decisions.plan({"p1": att}, {}, {"p1": decisions.Record(None, device=False)})


def test_device_back_is_wired_again() -> None:
    att = _att()
    done = {"p1": decisions.Record(None, device=False)}
    assert decisions.plan({"p1": att}, {"p1": _dev()}, done).wire == [att]


def test_unknown_device_is_isolated_once() -> None:
    plan = decisions.plan({}, {"p9": _dev("p9")}, {})
    assert plan.unwire == ["p9"]
    done = {"p9": decisions.Record(None, device=True)}
    assert not decisions.plan({}, {"p9": _dev("p9")}, done)


def test_unbound_or_deleted_port_is_unwired_and_forgotten() -> None:
    done = {"p1": decisions.Record(_att(), device=True)}
    plan = decisions.plan({}, {"p1": _dev()}, done)
    assert plan.unwire == ["p1"] and not plan.forget
    gone = decisions.plan({}, {}, done)
    assert gone.unwire == ["p1"] and gone.forget == ["p1"]
    isolated = {"p1": decisions.Record(None, device=False)}
    assert decisions.plan({}, {}, isolated).forget == ["p1"]
    assert not decisions.plan({}, {}, isolated).unwire


def test_failed_wiring_is_retried_when_due_or_at_resync() -> None:
    att = _att()
    done = {"p1": decisions.Record(att, device=True, error="boom", failures=1, retry_at=10.0)}
    assert not decisions.plan({"p1": att}, {"p1": _dev()}, done)
    assert not decisions.plan({"p1": att}, {"p1": _dev()}, done, now=9.9)
    assert decisions.plan({"p1": att}, {"p1": _dev()}, done, now=10.0).wire == [att]
    assert decisions.plan({"p1": att}, {"p1": _dev()}, done, retry_errors=True).wire == [att]


def test_restart_rewires_everything_present_and_isolates_the_deleted() -> None:
    plan = decisions.plan({"p1": _att("p1")}, {"p1": _dev("p1"), "p2": _dev("p2")}, {})
    assert [a.port_id for a in plan.wire] == ["p1"]
    assert plan.unwire == ["p2"]


def test_tunnel_peers_are_other_hosts_on_the_same_segment() -> None:
    mine = _att()
    ports = [
        _port("p1"),
        _port("p2", host="compute-2"),
        _port("p3", host="compute-3"),
        _port("p4", host="compute-4", segment_id="another"),
        _port("p5", host="compute-5", state=binding_pb2.BINDING_STATE_FAILED),
        _port("p6", host="compute-6"),
    ]
    endpoints = {
        "compute-2": {"vxlan": "10.0.0.2"},
        "compute-3": {"vxlan": "10.0.0.3", "gre": "10.0.0.33"},
        "compute-4": {"vxlan": "10.0.0.4"},
        "compute-5": {"vxlan": "10.0.0.5"},
        "compute-6": {"gre": "10.0.0.6"},
    }
    peers = decisions.tunnel_peers(HOST, [mine], ports, endpoints)
    segment, found = peers["seg-vx"]
    assert segment == mine.segment
    assert found == {TunnelPeer("compute-2", "10.0.0.2"), TunnelPeer("compute-3", "10.0.0.3")}


def test_a_segment_without_other_ports_has_no_peers() -> None:
    peers = decisions.tunnel_peers(HOST, [_att()], [_port("p1")], {})
    assert peers == {"seg-vx": (VXLAN, frozenset())}


def test_endpoints_of_agents() -> None:
    agents = [
        values.Agent(
            "a1",
            "openvswitch",
            "h1",
            capabilities=values.HostCapabilities(tunnel_types=("vxlan", "gre"), local_ip="1.1.1.1"),
        ),
        values.Agent("a2", "linuxbridge", "h2", capabilities=values.HostCapabilities()),
    ]
    assert decisions.endpoints_of(agents) == {"h1": {"vxlan": "1.1.1.1", "gre": "1.1.1.1"}}


def test_wired_ports_shown_down_are_reported_up_again() -> None:
    att = _att()
    down = Attachment(**{**_att("p2").__dict__, "admin_up": False})
    done = {
        "p1": decisions.Record(att, device=True),
        "p2": decisions.Record(down, device=True),
        "p3": decisions.Record(_att("p3"), device=True, error="boom"),
        "p4": decisions.Record(None, device=True),
        "p5": decisions.Record(_att("p5"), device=True),
    }
    statuses = {p: port_pb2.PORT_STATUS_DOWN for p in done} | {"p5": port_pb2.PORT_STATUS_BUILD}
    again = decisions.to_report_up_again(done, statuses, ["p1", "p2", "p3", "p4", "p5"])
    assert again == [att]
    assert decisions.to_report_up_again(done, statuses, []) == []
