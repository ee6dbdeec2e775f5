"""The PostgreSQL fixture itself, in pytest sessions of their own: without a server it starts a
throwaway cluster and removes it afterwards; when nothing can start, CI fails instead of skipping.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]

USES_A_DATABASE = """
import json
import os

import psycopg

from tests.conftest import postgres_server, postgres_url  # noqa: F401


def test_a_database(postgres_server, postgres_url):
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as conn:
        conn.execute("CREATE TABLE t (x integer)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    with open(os.environ["SEEN"], "w") as out:
        json.dump({"cluster_dir": postgres_server.cluster_dir, "port": postgres_server.port}, out)
"""

NO_POSTGRES_AT_ALL = """
from tests import postgres
from tests.conftest import postgres_server, postgres_url  # noqa: F401


def _unavailable():
    raise RuntimeError("no server answers and no PostgreSQL binaries are installed")


postgres.start_postgres = _unavailable


def test_a_database(postgres_url):
    assert postgres_url
"""


def dead_port() -> int:
    """A loopback port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_session(tmp_path: Path, source: str, **env: str) -> subprocess.CompletedProcess[str]:
    test_file = tmp_path / "test_inner.py"
    test_file.write_text(source)
    environ = {k: v for k, v in os.environ.items() if k not in {"CI", "ML2_TEST_POSTGRES"}}
    environ.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(test_file)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def summary(result: subprocess.CompletedProcess[str]) -> str:
    """pytest's last line: the counts."""
    return result.stdout.strip().splitlines()[-1]


def test_without_a_server_a_throwaway_cluster_serves_the_run_and_is_removed(
    tmp_path: Path,
) -> None:
    port = dead_port()
    seen = tmp_path / "seen.json"
    result = run_session(
        tmp_path,
        USES_A_DATABASE,
        ML2_TEST_POSTGRES=f"postgresql://postgres@127.0.0.1:{port}/postgres",
        SEEN=str(seen),
        CI="true",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result).startswith("1 passed in ")
    got = json.loads(seen.read_text())
    assert got["cluster_dir"] and got["port"] != port  # a cluster of its own, not the dead URL
    assert not Path(got["cluster_dir"]).exists()  # removed with its data
    try:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{got['port']}/postgres").close()
    except psycopg.OperationalError:
        pass  # stopped
    else:
        raise AssertionError(f"the throwaway cluster still answers on port {got['port']}")


def test_without_any_postgresql_the_tests_are_skipped_outside_ci(tmp_path: Path) -> None:
    result = run_session(tmp_path, NO_POSTGRES_AT_ALL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(result).startswith("1 skipped in ")
    assert "no PostgreSQL binaries are installed" in result.stdout


def test_without_any_postgresql_a_ci_run_fails(tmp_path: Path) -> None:
    result = run_session(tmp_path, NO_POSTGRES_AT_ALL, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert summary(result).startswith("1 error in ")  # not "1 skipped"
    assert "CI=true: PostgreSQL tests may not be skipped" in result.stdout
