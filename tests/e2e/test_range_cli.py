"""``ml2 range`` against a running ``ml2 up``: ranges managed at run time, project ranges first,
shrinking never takes an allocated id away, dry runs change nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import UpProcess, start_up


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    process = start_up(tmp_path_factory.mktemp("ranges"))
    yield process
    assert process.stop() == 0, process.err()


def ok(up: UpProcess, *args: str) -> object:
    result = up.ml2(*args, "--json")
    assert result.code == 0, result.err
    return result.json()


def test_configuration_seeds_shared_default_ranges(up: UpProcess) -> None:
    ranges = ok(up, "range", "list")

    seeded = {(r["network_type"], r["minimum"], r["maximum"]) for r in ranges if r["default"]}
    assert ("vlan", 100, 199) in seeded and ("vxlan", 1000, 1999) in seeded
    assert all(r["shared"] for r in ranges if r["default"])


def test_a_project_range_serves_that_project_first_and_shrinks_without_losing_ids(
    up: UpProcess,
) -> None:
    created = ok(
        up,
        "range",
        "create",
        "--name",
        "acme-vlan",
        "--network-type",
        "vlan",
        "--physical-network",
        "physnet1",
        "--minimum",
        "3000",
        "--maximum",
        "3001",
        "--project",
        "acme",
    )
    assert created["available"] == "2"  # uint64 is a JSON string
    nets = [
        ok(
            up,
            "network",
            "create",
            f"acme-{i}",
            "--project",
            "acme",
            "--provider-network-type",
            "vlan",
            "--provider-physical-network",
            "physnet1",
        )
        for i in range(3)
    ]
    ids = [n["segments"][0]["segmentation_id"] for n in nets]
    # Both ids of the project's range first, then the shared default range.
    assert sorted(ids[:2]) == [3000, 3001] and 100 <= ids[2] <= 199

    preview = ok(up, "range", "update", "acme-vlan", "--maximum", "3000", "--dry-run")
    assert preview["change"]["dry_run"] is True
    assert preview["change"]["orphaned_ids"] == [3001]
    assert ok(up, "range", "show", "acme-vlan")["maximum"] == 3001  # nothing changed

    ok(up, "range", "update", "acme-vlan", "--maximum", "3000")
    outside = ok(up, "range", "allocations", "--outside-ranges")
    assert [(a["segmentation_id"], a["network_id"]) for a in outside] == [
        (3001, next(n["id"] for n in nets if n["segments"][0]["segmentation_id"] == 3001))
    ]

    deleted = ok(up, "range", "delete", "acme-vlan")
    assert deleted["change"]["dry_run"] is False
    assert "acme-vlan" not in {r["name"] for r in ok(up, "range", "list")}
    for net in nets:  # every network keeps its segment
        assert ok(up, "network", "show", net["id"])["segments"] == net["segments"]


def test_an_overlapping_range_is_refused_and_nothing_is_created(up: UpProcess) -> None:
    before = ok(up, "range", "list")

    result = up.ml2(
        "range",
        "create",
        "--network-type",
        "vxlan",
        "--minimum",
        "1500",
        "--maximum",
        "2500",
        "--shared",
    )

    assert result.code == 1
    assert "ALREADY_EXISTS" in result.err and "overlaps" in result.err
    assert ok(up, "range", "list") == before


def test_allocations_name_networks_and_a_flat_network_is_never_outside_a_range(
    up: UpProcess,
) -> None:
    flat = ok(
        up,
        "network",
        "create",
        "e2e-flat",
        "--provider-network-type",
        "flat",
        "--provider-physical-network",
        "physnet1",
    )
    vlan = ok(
        up,
        "network",
        "create",
        "e2e-provider-vlan",
        "--provider-network-type",
        "vlan",
        "--provider-physical-network",
        "physnet1",
        "--provider-segmentation-id",
        "4000",
    )
    outside = ok(up, "range", "allocations", "--outside-ranges")
    assert flat["id"] not in {a["network_id"] for a in outside}
    assert vlan["id"] in {a["network_id"] for a in outside}

    rows = [
        line.split()
        for line in up.ml2(
            "range", "allocations", "--physical-network", "physnet1"
        ).out.splitlines()
    ]
    assert rows[0] == ["TYPE", "PHYSNET", "ID", "NETWORK", "RANGE"]
    assert ["flat", "physnet1", "-", "e2e-flat", "-"] in rows
    assert ["vlan", "physnet1", "4000", "e2e-provider-vlan", "outside", "every", "range"] in rows
    for net in (flat, vlan):
        assert up.ml2("network", "delete", net["id"]).code == 0


def test_an_unknown_network_type_filter_is_refused(up: UpProcess) -> None:
    for command in (["range", "list"], ["range", "allocations"]):
        result = up.ml2(*command, "--network-type", "vxlam")
        assert result.code == 2 and "invalid choice: 'vxlam'" in result.err
