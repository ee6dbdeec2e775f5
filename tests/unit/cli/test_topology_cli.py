"""``ml2 topology``: its command line and its table."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
from google.protobuf import timestamp_pb2
from ml2.v1 import topology_pb2

from services.cli import main, topology


def parse(*argv: str) -> argparse.Namespace:
    return main.parse_args(list(argv))


def test_set_takes_the_host_the_switch_and_its_port_and_optional_info_and_physnet():
    args = parse(
        "topology",
        "set",
        "compute-1",
        "--switch-id",
        "52:54:00:aa:bb:cc",
        "--port-id",
        "Ethernet1/7",
        "--physical-network",
        "physnet1",
    )

    assert (args.host, args.switch_id, args.port_id) == (
        "compute-1",
        "52:54:00:aa:bb:cc",
        "Ethernet1/7",
    )
    assert (args.switch_info, args.physical_network) == ("", "physnet1")
    assert args.func is topology.set_link


@pytest.mark.parametrize("missing", ["--switch-id", "--port-id"])
def test_set_without_the_switch_or_its_port_is_bad_usage(missing: str):
    argv = ["topology", "set", "compute-1", "--switch-id", "sw", "--port-id", "p"]
    at = argv.index(missing)
    del argv[at : at + 2]

    with pytest.raises(SystemExit) as exited:
        parse(*argv)

    assert exited.value.code == 2


def test_list_filters_by_host_and_delete_names_the_host():
    assert parse("topology", "list", "--host", "h1").host == "h1"
    assert parse("topology", "list").host == ""
    deleting = parse("--json", "topology", "delete", "h1")
    assert (deleting.host, deleting.json, deleting.func) == ("h1", True, topology.delete_link)


def test_the_table_has_a_row_per_link_with_dashes_for_what_is_not_given():
    when = timestamp_pb2.Timestamp()
    when.FromDatetime(dt.datetime(2026, 3, 1, 12, 0, 0))
    links = [
        topology_pb2.HostLink(
            host="compute-1",
            switch_id="sw-1",
            port_id="Ethernet1/7",
            switch_info="tor-1",
            physical_network="physnet1",
            update_time=when,
        ),
        topology_pb2.HostLink(host="node-1", switch_id="sw-2", port_id="Gi 0/1"),
    ]

    lines = topology.link_rows(links).splitlines()

    assert lines[0].split() == [
        "HOST",
        "SWITCH_ID",
        "PORT_ID",
        "SWITCH_INFO",
        "PHYSICAL_NETWORK",
        "UPDATED",
    ]
    assert lines[1].split() == [
        "compute-1",
        "sw-1",
        "Ethernet1/7",
        "tor-1",
        "physnet1",
        "2026-03-01T12:00:00Z",
    ]
    assert lines[2].split() == ["node-1", "sw-2", "Gi", "0/1", "-", "-", "-"]
