"""The port status lifecycle and event types (``status``) and watch filters, as pure logic."""

from __future__ import annotations

from dataclasses import replace

from ml2_contract import vocabulary

from services.portapi import resources as r
from services.portapi import status

from .test_updates import make_port


def report(state: str, generation: int = 3, message: str = "") -> r.DeviceReport:
    return r.DeviceReport("p1", state, generation, message)


def test_base_status_follows_host_admin_state_and_binding_state() -> None:
    assert status.base(make_port()) == status.Status(r.PORT_DOWN, "unbound")
    pending = make_port(host="h1")
    assert status.base(pending) == status.Status(r.PORT_DOWN, "binding on host h1")
    bound = make_port(vocabulary.BOUND, host="h1")
    assert status.base(bound).status == r.PORT_BUILD
    assert status.base(replace(bound, admin_state_up=False)) == status.Status(
        r.PORT_DOWN, "admin down"
    )
    failed = make_port(vocabulary.FAILED, host="h1")
    failed = replace(
        failed,
        binding=replace(
            failed.binding, result=replace(failed.binding.result, failure_message="no agent")
        ),
    )
    assert status.base(failed) == status.Status(r.PORT_DOWN, "binding failed: no agent")


def test_reports_are_classified_against_host_and_generation() -> None:
    bound = make_port(vocabulary.BOUND, host="h1")
    assert status.classify(None, "h1", report(r.DEVICE_UP)) == r.REPORT_NOT_FOUND
    assert status.classify(bound, "h2", report(r.DEVICE_UP)) == r.REPORT_NOT_BOUND_HERE
    assert status.classify(make_port(), "h1", report(r.DEVICE_UP)) == r.REPORT_NOT_BOUND_HERE
    assert status.classify(bound, "h1", report(r.DEVICE_UP, 2)) == r.REPORT_STALE_GENERATION
    assert status.classify(bound, "h1", report(r.DEVICE_UP)) == r.REPORT_APPLIED


def test_up_makes_only_a_bound_admin_up_port_active() -> None:
    bound = make_port(vocabulary.BOUND, host="h1")
    assert status.reported(bound, "a1", report(r.DEVICE_UP)) == status.Status(r.PORT_ACTIVE, "")
    off = replace(bound, admin_state_up=False)
    assert status.reported(off, "a1", report(r.DEVICE_UP)) == status.Status(
        r.PORT_DOWN, "admin down"
    )
    pending = make_port(host="h1")
    assert status.reported(pending, "a1", report(r.DEVICE_UP)).status == r.PORT_DOWN


def test_down_and_error_reports_say_why() -> None:
    bound = make_port(vocabulary.BOUND, host="h1")
    down = status.reported(bound, "a1", report(r.DEVICE_DOWN, message="unplugged"))
    assert down == status.Status(r.PORT_DOWN, "agent a1 reported the device down: unplugged")
    error = status.reported(bound, "a1", report(r.DEVICE_ERROR, message="ofport -1"))
    assert error == status.Status(r.PORT_ERROR, "ofport -1")
    assert status.reported(bound, "a1", report(r.DEVICE_ERROR)).message.startswith("agent a1")


def test_agent_death_ends_only_active_and_build() -> None:
    active = replace(
        make_port(vocabulary.BOUND, host="h1"), status=r.PORT_ACTIVE, status_agent_id="a1"
    )
    assert status.agent_dead(active, gone=False) == status.Status(
        r.PORT_DOWN, "agent a1 on host h1 is dead"
    )
    gone = status.agent_dead(replace(active, status=r.PORT_BUILD), gone=True)
    assert gone is not None and gone.message.endswith("is no longer registered")
    assert status.agent_dead(replace(active, status=r.PORT_ERROR), gone=False) is None


def test_event_types_name_plugging_and_unplugging() -> None:
    assert status.event_type(None, r.PORT_DOWN) == status.EVENT_CREATED
    assert status.event_type(r.PORT_ACTIVE, None) == status.EVENT_DELETED
    assert status.event_type(r.PORT_BUILD, r.PORT_ACTIVE) == status.EVENT_VIF_PLUGGED
    assert status.event_type(r.PORT_ACTIVE, r.PORT_DOWN) == status.EVENT_VIF_UNPLUGGED
    assert status.event_type(r.PORT_ACTIVE, r.PORT_ACTIVE) == status.EVENT_UPDATED
    assert status.event_type(r.PORT_DOWN, r.PORT_BUILD) == status.EVENT_UPDATED


def test_watch_filters_match_every_kind_and_the_host_before_or_after() -> None:
    everything = r.WatchFilter()
    assert everything.matches("p1", "n1", "", "")
    hosts = r.WatchFilter(host_ids=frozenset({"h1"}))
    assert hosts.matches("p1", "n1", "h1", "")
    assert hosts.matches("p1", "n1", "h2", "h1")
    assert not hosts.matches("p1", "n1", "h2", "")
    assert not hosts.matches("p1", "n1", "", "")
    both = r.WatchFilter(network_ids=frozenset({"n1"}), port_ids=frozenset({"p1", "p2"}))
    assert both.matches("p2", "n1", "", "")
    assert not both.matches("p3", "n1", "", "")
    assert not both.matches("p1", "n2", "", "")


def test_a_bound_port_its_driver_made_active_is_active_at_once_but_never_when_admin_down() -> None:
    bound = make_port(vocabulary.BOUND, host="h1")
    active = replace(
        bound,
        binding=replace(
            bound.binding,
            result=replace(bound.binding.result, port_status=vocabulary.PORT_STATUS_ACTIVE),
        ),
    )
    assert status.base(active) == status.Status(r.PORT_ACTIVE, "")
    assert status.base_agent(status.base(active)) == ""
    assert status.base(replace(active, admin_state_up=False)) == status.Status(
        r.PORT_DOWN, "admin down"
    )
    assert status.base_agent(status.base(bound)) is None
    assert status.reported(active, "a1", report(r.DEVICE_UP)).status == r.PORT_ACTIVE
