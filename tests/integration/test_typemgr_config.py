"""typemgr refuses bad configuration at start: exit status 2 and one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services import launcher


def run_typemgr(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = launcher.python_path_env(
        {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TYPEMGR_", "ML2_"))},
            "ML2_AUTH_DISABLED": "1",
            "TYPEMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
            "TYPEMGR_LISTEN": "127.0.0.1:0",
            "TYPEMGR_METRICS_PORT": "0",
            **variables,
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "services.typemgr"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("variables", "line"),
    [
        (
            {"TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:200:100"},
            "typemgr: configuration error: TYPEMGR_NETWORK_VLAN_RANGES: 'physnet1:200:100': "
            "maximum 100 is smaller than minimum 200",
        ),
        (
            {"TYPEMGR_NETWORK_VLAN_RANGES": "physnet1:1:4095"},
            "typemgr: configuration error: TYPEMGR_NETWORK_VLAN_RANGES: 'physnet1:1:4095': "
            "VLAN id must be between 1 and 4094, got 4095",
        ),
        (
            {"TYPEMGR_VXLAN_VNI_RANGES": "1:16777216"},
            "typemgr: configuration error: TYPEMGR_VXLAN_VNI_RANGES: '1:16777216': "
            "VXLAN VNI must be between 1 and 16777215, got 16777216",
        ),
        (
            {"TYPEMGR_TENANT_NETWORK_TYPES": "vxlan,ethernet"},
            "typemgr: configuration error: TYPEMGR_TENANT_NETWORK_TYPES: unknown network type "
            "'ethernet'; known: local, flat, vlan, gre, vxlan, geneve",
        ),
        (
            {"TYPEMGR_TENANT_NETWORK_TYPES": "flat"},
            "typemgr: configuration error: TYPEMGR_TENANT_NETWORK_TYPES: flat cannot be a tenant "
            "network type (flat has no ids)",
        ),
        (
            {"TYPEMGR_TYPE_DRIVERS": "flat,vlan"},
            "typemgr: configuration error: TYPEMGR_TENANT_NETWORK_TYPES: 'vxlan' is not enabled in "
            "TYPEMGR_TYPE_DRIVERS (flat, vlan)",
        ),
        (
            {"TYPEMGR_DATABASE_URL": "mysql://db/typemgr"},
            "typemgr: configuration error: TYPEMGR_DATABASE_URL: must be a sqlite:/// or "
            "postgresql+psycopg:// URL, got 'mysql'",
        ),
        (
            {"TYPEMGR_OVERLAY_IP_VERSION": "5"},
            "typemgr: configuration error: TYPEMGR_OVERLAY_IP_VERSION=5: must be 4 or 6",
        ),
        (
            {"TYPEMGR_RPC_WORKERS": "0"},
            "typemgr: configuration error: TYPEMGR_RPC_WORKERS=0: must be at least 1",
        ),
        (
            {"TYPEMGR_RPC_WORKERS": "8", "TYPEMGR_DB_POOL_SIZE": "4"},
            "typemgr: configuration error: TYPEMGR_DB_POOL_SIZE=4: must be at least "
            "TYPEMGR_RPC_WORKERS (8), as every worker may hold a connection",
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    tmp_path: Path, variables: dict[str, str], line: str
) -> None:
    result = run_typemgr(tmp_path, **variables)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line]
    assert not (tmp_path / "never.db").exists()


def test_unreachable_database_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    result = run_typemgr(
        tmp_path,
        TYPEMGR_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none",
        ML2_LOG_LEVEL="ERROR",
    )
    assert result.returncode == 1
    output = result.stdout.splitlines() + result.stderr.splitlines()
    assert len(output) == 1, output
    assert output[0].startswith("typemgr: cannot prepare the database: OperationalError")
