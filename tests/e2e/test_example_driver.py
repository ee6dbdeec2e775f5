"""The example out-of-tree driver (``examples/acme-switch``), as a third party ships it: installed
from its folder, with the contract and the SDK from theirs, into a clean virtual environment
(none of the services' dependencies), it passes its own tests and the conformance kit there,
``ml2 driver check`` passes it, and a stack binds ports through it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest
from ml2.v1 import port_service_pb2_grpc

from services import launcher
from services.rpc import channels
from tests.e2e.conftest import bind_new_port, create_vlan_network, run_ml2, running_up

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "acme-switch"
TOPOLOGY = "compute-1=tor1/Eth1/1,compute-2=tor1/Eth1/2"
SERVICE_DEPENDENCIES = {"sqlalchemy", "alembic", "psycopg", "psycopg-binary", "modular-l2"}

# Making the clean environment installs grpcio, protobuf and the rest from the package index:
# that can take minutes on a busy machine, well beyond the suite's default timeout.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding the contract, the SDK and the example (with pytest for
    the example's own tests), each built into a wheel from a copy of its folder, as it is
    published, and installed from that wheel with its dependencies; returns its Python. The
    wheels are built with the suite's own build tools (setuptools), which the clean environment
    then does not hold."""
    root = tmp_path_factory.mktemp("clean")
    for folder in ("contract", "sdk", "examples/acme-switch"):
        shutil.copytree(
            ROOT / folder,
            root / "src" / Path(folder).name,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
        )
    src, wheels = root / "src", root / "wheels"
    pip = ("-m", "pip", "--quiet", "--disable-pip-version-check")
    subprocess.run(
        [sys.executable, *pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels)]
        + [str(src / name) for name in ("contract", "sdk", "acme-switch")],
        check=True,
        timeout=300,
    )
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    built = {path.name.split("-")[0]: path for path in wheels.glob("*.whl")}
    assert set(built) == {"modular_l2_contract", "modular_l2_driver_sdk", "ml2_acme_switch"}
    subprocess.run(
        [
            str(python),
            *pip,
            "install",
            str(built["modular_l2_contract"]),
            str(built["modular_l2_driver_sdk"]),
            f"{built['ml2_acme_switch']}[test]",
        ],
        check=True,
        timeout=600,
    )
    return python


@pytest.fixture(scope="module")
def driver(clean: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example driver served from the clean environment; yields its address."""
    served = launcher.start(
        "acme-switch",
        "acme_switch",
        {
            "MECHDRIVER_LISTEN": "127.0.0.1:0",
            "MECHDRIVER_METRICS_PORT": "0",
            "ACME_SWITCH_TOPOLOGY": TOPOLOGY,
        },
        log_dir=tmp_path_factory.mktemp("acme-logs"),
        python=str(clean),
    )
    yield served.address
    assert served.stop() == 0


def _in_clean(python: Path, code: str) -> str:
    return subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def test_the_clean_environment_holds_the_sdk_and_none_of_the_services(clean: Path) -> None:
    names = set(
        json.loads(
            _in_clean(
                clean,
                "import json, importlib.metadata as m; "
                "print(json.dumps([d.metadata['Name'].lower() for d in m.distributions()]))",
            )
        )
    )
    assert {"ml2-acme-switch", "modular-l2-driver-sdk", "modular-l2-contract"} <= names
    assert not names & SERVICE_DEPENDENCIES
    found = _in_clean(
        clean,
        "import importlib.util as u; "
        "print([n for n in ('services', 'sqlalchemy', 'alembic', 'psycopg') if u.find_spec(n)])",
    )
    assert found.strip() == "[]"


def test_the_example_passes_its_own_tests_and_the_kit_in_the_clean_environment(
    clean: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "acme-switch"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    run = subprocess.run(
        [str(clean), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    passed = [line for line in run.stdout.splitlines() if line.startswith("PASSED")]
    kit = [line for line in passed if "ml2-conformance::" in line]
    assert len(kit) == 10, run.stdout
    assert "skipped" not in run.stdout.splitlines()[-1]


def test_ml2_driver_check_passes_the_example_driver(driver: str) -> None:
    checked = run_ml2("driver", "check", driver, "--json")
    assert checked.code == 0, checked.out + checked.err
    report = checked.json()
    assert report["driver"] == "acme-switch"
    assert report["passed"] is True
    assert len(report["checks"]) == 10
    assert [c["id"] for c in report["checks"] if not c["passed"]] == []


def test_a_stack_binds_through_the_example_driver_and_explains_where_it_cannot(
    driver: str, tmp_path: Path
) -> None:
    with running_up(tmp_path, "--mechanism-drivers", f"acme-switch={driver},openvswitch") as up:
        portapi = channels.make_channel(up.portapi)
        network = create_vlan_network(portapi, "acme")
        ports = port_service_pb2_grpc.PortServiceStub(portapi)

        wired = bind_new_port(ports, network.id, "compute-2")
        assert wired.binding.vif_type == "vhostuser"
        details = dict(wired.binding.vif_details.items())
        assert (details["acme_switch"], details["acme_switch_port"]) == ("tor1", "Eth1/2")
        assert details["vhostuser_socket"] == f"/var/run/acme/vhu{wired.id[:11]}"
        assert [level.driver for level in wired.binding.levels] == ["acme-switch"]

        unwired = bind_new_port(ports, network.id, "compute-9")
        assert unwired.binding.vif_type == "binding_failed"
        codes = {(v.driver, r.code) for v in unwired.binding.trace for r in v.reasons}
        assert codes == {("acme-switch", "HOST_NOT_SERVED"), ("openvswitch", "NO_AGENT")}
        explained = up.ml2("port", "explain", unwired.id)
        assert "host compute-9 is not wired to an ACME switch" in explained.out, explained.err
        portapi.close()
