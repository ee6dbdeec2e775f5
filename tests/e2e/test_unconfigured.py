"""A server process started without authentication settings refuses to start, naming them,
unless it is told to serve openly (``ML2_AUTH_DISABLED=1``); a refused start touches no
database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import child_env

SERVICES = ("typemgr", "mechmgr", "portapi")


def start(
    tmp_path: Path, service: str = "typemgr", **settings: str
) -> subprocess.CompletedProcess[str]:
    prefix = service.upper()
    env = child_env(
        **{
            f"{prefix}_LISTEN": "127.0.0.1:0",
            f"{prefix}_METRICS_PORT": "0",
            f"{prefix}_DATABASE_URL": f"sqlite:///{tmp_path / 'db' / f'{service}.db'}",
        }
    )
    env.pop("ML2_AUTH_DISABLED", None)
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("settings", [{}, {"ML2_AUTH_REQUIRED": "1", "ML2_AUTH_DISABLED": "1"}])
def test_a_process_without_settings_refuses_to_start_naming_them(
    tmp_path: Path, settings: dict[str, str]
) -> None:
    refused = start(tmp_path, **settings)
    assert refused.returncode == 2, refused.stderr
    assert "ML2_AUTH_JWT_KEY_FILES" in refused.stderr
    assert "ML2_AUTH_DISABLED=1" in refused.stderr
    assert "listening" not in refused.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_a_refused_start_creates_and_migrates_no_database(tmp_path: Path, service: str) -> None:
    refused = start(tmp_path, service)
    assert refused.returncode == 2, refused.stderr
    assert "no authentication is configured" in refused.stderr
    assert not (tmp_path / "db").exists(), sorted((tmp_path / "db").iterdir())
