"""The contract (``contract/``) and the driver SDK (``sdk/``) ship on their own: every module
they import is the standard library, their own, or provided by a distribution their
``pyproject.toml`` depends on (directly or through those); pytest only in the kit's plugin. And
importing the kit or a driver's building blocks loads none of modular-l2's services."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {
    "contract": ("modular-l2-contract", ("ml2", "ml2_contract")),
    "sdk": ("modular-l2-driver-sdk", ("ml2_driver_sdk",)),
}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _closure(names: list[str]) -> set[str]:
    """The distributions ``names`` need, with what those need, as installed here."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for req in metadata.requires(name) or []:
            if "extra ==" not in req:
                todo.append(_name(req))
    return seen


def _providers() -> dict[str, set[str]]:
    return {
        top: {d.lower().replace("_", "-") for d in dists}
        for top, dists in metadata.packages_distributions().items()
    }


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


@pytest.mark.parametrize("folder", sorted(DISTRIBUTIONS))
def test_a_distribution_imports_only_what_it_declares(folder: str) -> None:
    project = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    distribution, packages = DISTRIBUTIONS[folder]
    assert project["name"] == distribution
    allowed = _closure([_name(r) for r in project["dependencies"]])
    providers = _providers()
    offending = set()
    for package in packages:
        for path in (ROOT / folder / package).rglob("*.py"):
            for module in _imports(path):
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in packages:
                    continue
                if top in ("pytest", "_pytest") and path.name == "pytest_plugin.py":
                    continue
                if not providers.get(top, set()) & allowed:
                    offending.add(f"{path.relative_to(ROOT)}: {module}")
    assert not offending


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        (
            "ml2_driver_sdk.conformance, ml2_driver_sdk.conformance.pytest_plugin",
            {"services", "sqlalchemy", "alembic", "psycopg", "prometheus_client"},
        ),
        (
            "ml2_driver_sdk.serve, ml2_driver_sdk.agent_based, ml2_driver_sdk.reasons",
            {"services", "sqlalchemy", "alembic", "psycopg"},
        ),
    ],
)
def test_importing_the_sdk_loads_no_service(modules: str, absent: set[str]) -> None:
    code = f"import json, sys\nimport {modules}\nprint(json.dumps(sorted(sys.modules)))\n"
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path[:0] = {_paths()!r}\n{code}"],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    tops = {name.split(".")[0] for name in json.loads(out.stdout)}
    assert "ml2_driver_sdk" in tops
    assert not tops & absent


def _paths() -> list[str]:
    return [str(ROOT / "contract"), str(ROOT / "sdk")]
