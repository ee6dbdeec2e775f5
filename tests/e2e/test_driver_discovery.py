"""Drivers by entry point, end to end: a third-party distribution on the path is listed by
``ml2 driver list --installed``, served by ``ml2 driver run``, started by name by ``ml2 up
--mechanism-drivers``, shown with its distribution in ``ml2 driver list``, and binds ports."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from ml2.v1 import mechanism_driver_service_pb2 as driver_pb
from ml2.v1 import mechanism_driver_service_pb2_grpc as driver_grpc
from ml2.v1 import port_service_pb2_grpc

from services import launcher
from services.rpc import channels
from tests.drivers import third_party
from tests.e2e.conftest import bind_new_port, child_env, create_vlan_network, run_ml2, running_up


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The third-party distribution, on the PYTHONPATH of every process the test starts."""
    site = third_party.make(tmp_path / "acme")
    monkeypatch.setenv("PYTHONPATH", str(site))
    return site


def test_an_installed_third_party_driver_is_listed_with_its_distribution(acme: Path) -> None:
    listed = run_ml2("driver", "list", "--installed", "--json")
    assert listed.code == 0, listed.err
    rows = {row["name"]: row for row in listed.json()}
    assert rows[third_party.NAME] == {
        "name": third_party.NAME,
        "from": f"{third_party.DISTRIBUTION} {third_party.VERSION}",
        "entry_point": "acme_ml2:SPEC",
        "summary": "ACME fabric switches",
    }
    assert rows["openvswitch"]["from"].startswith("modular-l2 ")
    text = run_ml2("driver", "list", "--installed").out.splitlines()
    assert text[0].split() == ["NAME", "FROM", "ENTRY_POINT", "SUMMARY"]
    assert any(line.startswith(f"{third_party.NAME} ") for line in text)


def test_ml2_driver_run_serves_an_installed_driver_and_refuses_an_unknown_one(
    acme: Path, tmp_path: Path
) -> None:
    unknown = run_ml2("driver", "run", "nosuch")
    assert unknown.code == 2
    assert "no installed mechanism driver is called 'nosuch'" in unknown.err
    served = launcher.start(
        "acme",
        "services.cli",
        {**child_env(), "MECHDRIVER_LISTEN": "127.0.0.1:0", "MECHDRIVER_METRICS_PORT": "0"},
        log_dir=tmp_path / "logs",
        args=("driver", "run", third_party.NAME),
    )
    try:
        with grpc.insecure_channel(served.address) as channel:
            described = driver_grpc.MechanismDriverServiceStub(channel).DescribeDriver(
                driver_pb.DescribeDriverRequest(), timeout=10
            )
        assert described.name == third_party.NAME
    finally:
        assert served.stop() == 0


def test_ml2_up_starts_an_installed_driver_by_name_and_it_binds(acme: Path, tmp_path: Path) -> None:
    with running_up(tmp_path, "--mechanism-drivers", f"{third_party.NAME},openvswitch") as up:
        listed = up.ml2("driver", "list")
        assert listed.code == 0, listed.err
        lines = listed.out.splitlines()
        header = lines[0].split()
        assert header[-2:] == ["FROM", "BREAKER"]
        first = lines[1].split()
        assert first[:2] == ["0", third_party.NAME] and "yes" in first
        assert f"{third_party.DISTRIBUTION} {third_party.VERSION}" in lines[1]
        assert "modular-l2" in lines[2]

        portapi = channels.make_channel(up.portapi)
        network = create_vlan_network(portapi, "acme")
        ports = port_service_pb2_grpc.PortServiceStub(portapi)
        bound = bind_new_port(ports, network.id, "rack-7")
        assert bound.binding.vif_type == third_party.VIF_TYPE
        assert dict(bound.binding.vif_details.items())["fabric"] == "acme"
        portapi.close()
