"""``ml2_contract`` stands alone: a driver or an agent can use it without any of the services.

It may import only the standard library, protobuf, the generated ``ml2.v1`` message modules
(not their ``*_pb2_grpc`` stubs) and itself.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import ml2_contract

PACKAGE = Path(ml2_contract.__file__).parent
ROOT = PACKAGE.parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in ("ml2_contract", "google"):
        return top != "google" or module.startswith("google.protobuf")
    return top == "ml2" and module.startswith("ml2.v1") and not module.endswith("_grpc")


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ml2.v1":
                found.extend(f"ml2.v1.{alias.name}" for alias in node.names)
            else:
                found.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append("ml2_contract")
    return found


def test_the_package_imports_only_protobuf_the_generated_messages_and_itself() -> None:
    assert MODULES == ["convert", "hosts", "values", "vocabulary"]
    offending = {
        f"{path.name}: {name}"
        for path in PACKAGE.glob("*.py")
        for name in _imports(path)
        if not _allowed(name)
    }
    assert not offending


def test_the_import_rule_catches_what_it_forbids() -> None:
    assert not _allowed("sqlalchemy")
    assert not _allowed("ml2_driver_sdk.runtime.errors")
    assert not _allowed("grpc")
    assert not _allowed("ml2.v1.mechanism_driver_service_pb2_grpc")
    assert not _allowed("google.rpc.status_pb2")
    assert _allowed("ml2.v1.binding_pb2") and _allowed("google.protobuf.struct_pb2")


def test_importing_every_module_loads_neither_a_database_nor_grpc_nor_a_service() -> None:
    code = (
        "import json, sys\n"
        + "".join(f"import ml2_contract.{m}\n" for m in MODULES)
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = json.loads(out.stdout)
    assert "ml2_contract.convert" in loaded
    tops = {name.split(".")[0] for name in loaded}
    assert not tops & {"sqlalchemy", "services", "grpc", "alembic", "psycopg", "prometheus_client"}
