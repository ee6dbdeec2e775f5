"""``ml2_driver_sdk`` ships on its own: it imports only grpc, protobuf, the generated ``ml2.v1``
modules, ``ml2_contract`` and the standard library (and pytest, in its pytest plugin)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import ml2_driver_sdk

PACKAGE = Path(ml2_driver_sdk.__file__).parent
ROOT = PACKAGE.parent


def _allowed(module: str, path: Path) -> bool:
    top = module.split(".")[0]
    if top == "google":
        return module.startswith("google.protobuf")
    if top == "ml2":
        return module.startswith("ml2.v1")
    if top == "pytest":
        return path.name == "pytest_plugin.py"
    return top in sys.stdlib_module_names or top in ("grpc", "ml2_contract", "ml2_driver_sdk")


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module if node.level == 0 else "ml2_driver_sdk")
    return found


def test_the_package_imports_only_grpc_protobuf_the_contract_and_itself() -> None:
    paths = list(PACKAGE.rglob("*.py"))
    assert {p.name for p in paths} >= {"checks.py", "probe.py", "pytest_plugin.py"}
    offending = {f"{p.name}: {m}" for p in paths for m in _imports(p) if not _allowed(m, p)}
    assert not offending


def test_importing_the_kit_loads_no_service() -> None:
    code = (
        "import json, sys\n"
        "import ml2_driver_sdk.conformance, ml2_driver_sdk.conformance.pytest_plugin\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    tops = {name.split(".")[0] for name in json.loads(out.stdout)}
    assert "ml2_driver_sdk" in tops
    assert not tops & {"services", "sqlalchemy", "alembic", "prometheus_client"}
