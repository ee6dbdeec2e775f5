"""The topology store against a real database (a SQLite file and PostgreSQL), and the validation
of SetHostLink: a bad request is INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from ml2.v1 import topology_pb2, topology_service_pb2
from ml2_contract import values
from ml2_driver_sdk.runtime.errors import InvalidArgument

from services import sql
from services.mechmgr import errors, topology, validation
from services.mechmgr.db import models

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture
def links(database_url: str) -> Iterator[topology.Topology]:
    engine = sql.make_engine(database_url)
    models.metadata.create_all(engine)
    yield topology.Topology(sql.session_factory(engine), clock=lambda: T0)
    engine.dispose()


def link(host: str = "compute-1", **fields: str) -> values.HostLink:
    given = {"switch_id": "sw-1", "port_id": "Ethernet1/1", **fields}
    return values.HostLink(host, **given)


def test_set_records_a_new_link_and_returns_it_with_its_time(links):
    stored, created = links.set(link(switch_info="tor-1", physical_network="physnet1"))

    assert created
    assert stored == values.HostLink(
        "compute-1", "sw-1", "Ethernet1/1", "tor-1", "physnet1", T0.replace(tzinfo=dt.UTC)
    )
    assert links.host_links("compute-1") == (stored,)


def test_set_again_replaces_the_hosts_link(links):
    links.set(link(physical_network="physnet1", switch_info="tor-1"))

    stored, created = links.set(link(port_id="Ethernet1/2"))

    assert not created
    assert (stored.port_id, stored.physical_network, stored.switch_info) == ("Ethernet1/2", "", "")
    assert links.host_links("compute-1") == (stored,)


def test_delete_removes_the_link_and_an_unknown_host_is_not_found(links):
    stored, _ = links.set(link())

    assert links.delete("compute-1") == stored
    assert links.host_links("compute-1") == ()
    with pytest.raises(errors.HostLinkNotFound, match="compute-1"):
        links.delete("compute-1")


def test_list_pages_in_host_order_and_filters_by_host(links):
    for host in ("c", "a", "d", "b"):
        links.set(link(host))

    first = links.list_links(limit=3)
    rest = links.list_links(limit=3, after=first.next_after)

    assert [x.host for x in first.links] == ["a", "b", "c"] and first.next_after == "c"
    assert [x.host for x in rest.links] == ["d"] and rest.next_after is None
    assert [x.host for x in links.list_links(host="b").links] == ["b"]
    assert links.list_links(host="z").links == ()


def test_links_by_host_reads_many_hosts_at_once(links):
    a, _ = links.set(link("a"))

    assert links.links_by_host(["a", "b"]) == {"a": (a,), "b": ()}
    assert links.links_by_host([]) == {}


def request(**fields: str) -> topology_service_pb2.SetHostLinkRequest:
    given = {"host": "compute-1", "switch_id": "sw-1", "port_id": "Ethernet1/1", **fields}
    return topology_service_pb2.SetHostLinkRequest(link=topology_pb2.HostLink(**given))


def test_a_valid_request_becomes_a_link_with_inner_spaces_kept_in_the_port():
    got = validation.host_link(request(port_id="GigabitEthernet 1/0/1", physical_network="p1"))

    assert got == values.HostLink("compute-1", "sw-1", "GigabitEthernet 1/0/1", "", "p1")


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"host": ""}, "link.host", "is required"),
        ({"host": "bad host"}, "link.host", "must be a host name"),
        ({"switch_id": ""}, "link.switch_id", "is required"),
        ({"switch_id": "sw 1"}, "link.switch_id", "must not contain spaces"),
        ({"switch_id": "s" * 256}, "link.switch_id", "at most 255"),
        ({"port_id": ""}, "link.port_id", "is required"),
        ({"port_id": " Eth1"}, "link.port_id", "leading or trailing"),
        ({"port_id": "Eth\x001"}, "link.port_id", "printable"),
        ({"switch_info": "tor\n1"}, "link.switch_info", "printable"),
        ({"physical_network": "phys net"}, "link.physical_network", "at most 64"),
        ({"physical_network": "p" * 65}, "link.physical_network", "at most 64"),
    ],
)
def test_a_bad_field_is_invalid_argument_naming_it(fields, field, rule):
    with pytest.raises(InvalidArgument) as refused:
        validation.host_link(request(**fields))

    assert refused.value.field == field
    assert rule in str(refused.value)


def test_a_request_without_a_link_is_invalid_argument_naming_link():
    with pytest.raises(InvalidArgument) as refused:
        validation.host_link(topology_service_pb2.SetHostLinkRequest())

    assert refused.value.field == "link"
