"""Drivers found by entry points (``discovery``): the shipped ones, a third party's, and the
errors that name what is wrong."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ml2_driver_sdk import discovery

from services.drivers.openvswitch import driver as ovs
from tests.drivers import third_party


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = third_party.make(
        tmp_path,
        extra_entry_points="acme-broken = acme_ml2:NOT_A_SPEC\nacme-missing = acme_nowhere:SPEC\n",
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m.startswith("acme_ml2")]:
        del sys.modules[name]


def test_the_shipped_drivers_are_declared_by_modular_l2() -> None:
    found = discovery.installed()
    for name in ("openvswitch", "linuxbridge", "noop"):
        assert found[name].distribution == "modular-l2", found[name]
    spec = found["openvswitch"].load()
    assert spec is ovs.SPEC
    assert (spec.default_port, spec.default_metrics_port) == (50061, 9111)
    assert spec.factory({}).describe().name == "openvswitch"


def test_a_third_party_distribution_is_found_and_loads(acme: Path) -> None:
    found = discovery.find(third_party.NAME)
    assert found.source == f"{third_party.DISTRIBUTION} {third_party.VERSION}"
    assert found.value == "acme_ml2:SPEC"
    spec = found.load()
    assert spec.default_port == 50199 and spec.summary == "ACME fabric switches"
    assert spec.factory({}).describe().name == third_party.NAME


def test_an_entry_point_that_is_not_a_spec_or_does_not_import_is_named(acme: Path) -> None:
    with pytest.raises(discovery.DiscoveryError) as broken:
        discovery.find("acme-broken").load()
    assert "'acme-broken' (acme_ml2:NOT_A_SPEC, from acme-ml2-fabric 1.2.3) is a str" in str(
        broken.value
    )
    with pytest.raises(discovery.DiscoveryError) as missing:
        discovery.find("acme-missing").load()
    assert "does not load: ModuleNotFoundError" in str(missing.value)


def test_an_unknown_name_lists_what_is_installed() -> None:
    with pytest.raises(discovery.DiscoveryError) as info:
        discovery.find("nosuch")
    assert "no installed mechanism driver is called 'nosuch'" in str(info.value)
    assert "openvswitch" in str(info.value)
