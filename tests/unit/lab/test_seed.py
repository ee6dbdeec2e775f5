"""The seed scenario's pure parts: what the machine lacks, and how pings and outcomes read."""

from __future__ import annotations

from pathlib import Path

from services.lab import seed


def everything(program: str) -> str | None:
    return f"/usr/bin/{program}"


def test_nothing_is_missing_as_root_with_every_program(tmp_path: Path) -> None:
    schema = tmp_path / "vswitch.ovsschema"
    schema.write_text("{}")
    assert seed.missing_prerequisites(euid=0, which=everything, schema=schema) == []


def test_a_user_is_told_to_run_it_as_root(tmp_path: Path) -> None:
    schema = tmp_path / "vswitch.ovsschema"
    schema.write_text("{}")
    [missing] = seed.missing_prerequisites(euid=1000, which=everything, schema=schema)
    assert missing.startswith("root:") and "sudo" in missing


def test_missing_open_vswitch_names_the_programs_and_the_package(tmp_path: Path) -> None:
    def no_ovs(program: str) -> str | None:
        return None if program.startswith("ovs") else f"/usr/bin/{program}"

    [missing] = seed.missing_prerequisites(euid=0, which=no_ovs, schema=tmp_path / "none")
    assert "ovsdb-tool, ovsdb-server, ovs-vswitchd, ovs-vsctl, ovs-ofctl not found" in missing
    assert "apt-get install openvswitch-switch" in missing


def test_a_missing_schema_counts_as_missing_open_vswitch(tmp_path: Path) -> None:
    [missing] = seed.missing_prerequisites(euid=0, which=everything, schema=tmp_path / "none")
    assert f"its database schema {tmp_path / 'none'}" in missing


def test_nothing_at_all_lists_every_missing_piece(tmp_path: Path) -> None:
    missing = seed.missing_prerequisites(euid=1, which=lambda _: None, schema=tmp_path / "x")
    assert [m.split(" ")[0] for m in missing] == ["root:", "Open", "ping:", "ip:"]


def test_ping_text_and_loss() -> None:
    answered = seed.Ping("a", "b", "10.0.0.2", 3, 3, 0.5)
    lost = seed.Ping("a", "c", "10.0.0.3", 2, 0)
    half = seed.Ping("a", "d", "10.0.0.4", 4, 2, 1.0)
    assert answered.text() == "a -> b (10.0.0.2): 3/3 received, 0% loss, avg 0.500 ms"
    assert lost.text() == "a -> c (10.0.0.3): 0/2 received, 100% loss"
    assert (answered.loss, lost.loss, half.loss) == (0, 100, 50)


def test_an_outcome_holds_only_with_checks_that_all_held() -> None:
    outcome = seed.Outcome()
    assert not outcome.all_held
    outcome.checks.append(seed.Check(True, "one"))
    assert outcome.all_held
    outcome.checks.append(seed.Check(False, "two"))
    assert not outcome.all_held and outcome.failed() == [seed.Check(False, "two")]
    assert "expectations: 1 of 2 held" in outcome.summary()
    assert "FAIL  two" in outcome.summary()
