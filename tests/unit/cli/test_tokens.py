"""The CLI's token: where it comes from, and the project a new resource belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli import client, config
from services.security import local, tokens


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    local.prepare(tmp_path, ["typemgr"])
    return tmp_path


def test_the_token_file_option_wins_then_the_environment_then_the_data_dir(
    data_dir: Path, tmp_path: Path
) -> None:
    given = tmp_path / "given.token"
    given.write_text("given\n")
    assert config.token_source(str(given), {"ML2_TOKEN": "env"}).token() == "given"  # type: ignore[union-attr]
    assert config.token_source("", {"ML2_TOKEN": "env"}).token() == "env"  # type: ignore[union-attr]
    found = config.token_source("", {"ML2_DATA_DIR": str(data_dir)})
    assert found is not None
    assert found.token() == local.token_path(data_dir, "admin").read_text().strip()
    assert config.token_source("", {"ML2_DATA_DIR": str(tmp_path / "none")}) is None


def test_the_key_is_kept_across_starts_and_tokens_are_fresh(data_dir: Path) -> None:
    key = local.key_path(data_dir).read_bytes()
    before = local.token_path(data_dir, "admin").read_text()
    local.prepare(data_dir, ["typemgr"])
    assert local.key_path(data_dir).read_bytes() == key
    assert local.token_path(data_dir, "admin").read_text() != before


def owner(token: str, project: str) -> str:
    c = client.Client("a:1", "b:2", token=client.TokenSource(token=token))
    return client.owning_project(c, project)


def test_a_new_resource_belongs_to_the_tokens_project(data_dir: Path) -> None:
    key = local.load_key(data_dir)
    member = tokens.member(key, "p1")
    assert owner(member, "") == "p1"
    assert owner(member, "p1") == "p1"
    with pytest.raises(client.CommandError) as info:
        owner(member, "p2")
    assert info.value.exit_code == client.EXIT_USAGE
    assert "--project p2" in info.value.message and "token of p2" in info.value.message
    assert owner(tokens.admin(key), "p2") == "p2"
    assert owner(tokens.admin(key), "") == "default"
