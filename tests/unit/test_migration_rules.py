"""The migration framework's rules that need no database: the setting, the registry of services,
the shape of every service's revision history, and how ``ml2 up`` and ``ml2 db`` use them."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest
from ml2_driver_sdk.runtime import config

from services import migrations
from services.cli import main, stack
from services.mechmgr import config as mechmgr_config
from services.migrations import locking, scripts
from services.portapi import config as portapi_config

NOT_YET_VERSIONED: set[str] = set()
"""Stateful services whose tables are still created by the service itself. Remove a service
from here in the same change that adds its first revision."""


def test_ml2_db_migrate_defaults_to_auto_and_accepts_check() -> None:
    assert config.get_migrate_mode({}) == "auto"
    assert config.get_migrate_mode({"ML2_DB_MIGRATE": ""}) == "auto"
    assert config.get_migrate_mode({"ML2_DB_MIGRATE": " Check "}) == "check"
    with pytest.raises(config.ConfigError, match=r"ML2_DB_MIGRATE='later': must be auto or check"):
        config.get_migrate_mode({"ML2_DB_MIGRATE": "later"})


def test_the_stateful_services_read_ml2_db_migrate() -> None:
    env = {"ML2_DB_MIGRATE": "check"}
    assert mechmgr_config.Settings.from_env(env).db_migrate == "check"
    assert portapi_config.Settings.from_env(env).db_migrate == "check"
    assert mechmgr_config.Settings.from_env({}).db_migrate == "auto"
    with pytest.raises(config.ConfigError, match="ML2_DB_MIGRATE"):
        portapi_config.Settings.from_env({"ML2_DB_MIGRATE": "yes"})


def test_the_services_without_migrations_are_exactly_the_listed_ones() -> None:
    unversioned = {s for s in migrations.SERVICES if not migrations.is_versioned(s)}
    assert unversioned == NOT_YET_VERSIONED


@pytest.mark.parametrize("service", migrations.SERVICES)
def test_every_service_has_models_and_its_own_version_table_and_lock(service: str) -> None:
    assert scripts.metadata(service).tables
    assert scripts.version_table(service) == f"alembic_version_{service}"
    keys = {locking.lock_key(s) for s in migrations.SERVICES}
    assert len(keys) == len(migrations.SERVICES)
    assert 0 < locking.lock_key(service) < 2**63


def test_the_lock_keys_are_the_ones_the_services_used_before_migrations() -> None:
    assert locking.lock_key("mechmgr") == 0x6D6563686D6772
    assert locking.lock_key("typemgr") == 0x747970656D6772


def test_an_unknown_service_is_refused() -> None:
    with pytest.raises(scripts.UnknownService, match="unknown service 'ipam'"):
        scripts.versions_dir("ipam")


@pytest.mark.parametrize("service", scripts.versioned_services())
def test_revisions_form_one_numbered_line_from_0001(service: str) -> None:
    files = sorted(p for p in scripts.versions_dir(service).glob("*.py"))
    chain: dict[str, str | None] = {}
    for path in files:
        values = _assignments(path)
        revision, down = values["revision"], values["down_revision"]
        assert isinstance(revision, str) and path.name.startswith(f"{revision}_"), path
        chain[revision] = down if isinstance(down, str) else None
    expected = [f"{n:04d}" for n in range(1, len(files) + 1)]
    assert sorted(chain) == expected
    assert [chain[rev] for rev in expected] == [None, *expected[:-1]]
    assert migrations.heads(service) == (expected[-1],)
    assert scripts.base(service) == "0001"
    assert scripts.next_revision_id(service) == f"{len(files) + 1:04d}"


def _assignments(path: Path) -> dict[str, object]:
    tree = ast.parse(path.read_text())
    return {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }


def test_status_states() -> None:
    head = migrations.Status("mechmgr", True, "0001", "0001", True)
    assert head.at_head and head.state == "at head"
    assert migrations.Status("mechmgr", True, None, "0001", False).state == "empty"
    behind = migrations.Status("mechmgr", True, "0001", "0002", True)
    assert not behind.at_head and behind.state == "behind"
    legacy = migrations.Status("mechmgr", True, None, "0001", True)
    assert legacy.state.startswith("unversioned tables")
    newer = migrations.Status("mechmgr", True, "0009", "0001", True, known=False)
    assert newer.state.startswith("unknown revision 0009")
    loose = migrations.Status("typemgr", False, None, None, True)
    assert loose.at_head and loose.state.startswith("not versioned")


def test_ensure_current_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode must be one of auto, check"):
        migrations.ensure_current("sqlite://", "mechmgr", "sometimes")


def test_ml2_up_runs_the_stateful_services_in_check_mode_and_extra_env_wins() -> None:
    cfg = stack.StackConfig(data_dir=Path("/srv/ml2"))
    drivers = {"openvswitch": "o:1", "linuxbridge": "l:1"}
    for env in (
        stack.typemgr_env(cfg),
        stack.mechmgr_env(cfg, "t:1", drivers),
        stack.portapi_env(cfg, "t:1", "m:1"),
    ):
        assert env["ML2_DB_MIGRATE"] == "check"
    assert "ML2_DB_MIGRATE" not in stack.driver_env(cfg, "openvswitch")
    loose = stack.StackConfig(extra_env={"ML2_DB_MIGRATE": "auto"})
    assert stack.portapi_env(loose, "t:1", "m:1")["ML2_DB_MIGRATE"] == "auto"


def parse(*argv: str) -> argparse.Namespace:
    return main.build_parser().parse_args(list(argv))


def test_ml2_db_defaults_to_every_service_in_the_data_dir() -> None:
    args = parse("db", "upgrade")
    assert (args.service, args.data_dir, args.database_url, args.revision) == (
        "all",
        Path("data"),
        "",
        "head",
    )
    assert parse("db", "current", "--service", "portapi", "--json").json


@pytest.mark.parametrize(
    "argv",
    [
        ("db", "upgrade", "--data-dir", "d", "--database-url", "sqlite://"),
        ("db", "upgrade", "--service", "ipam"),
        ("db", "downgrade", "base"),
        ("db", "downgrade", "base", "--service", "all"),
        ("db", "revision", "--service", "mechmgr"),
    ],
)
def test_ml2_db_refuses_bad_usage(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(*argv)
    assert exited.value.code == 2
