"""``ml2 compute``'s command line: its handlers, options before the command, bad usage."""

from __future__ import annotations

import pytest

from services.cli import compute, main


def test_plug_and_unplug_reach_their_handlers_without_the_stacks_client() -> None:
    plug = main.parse_args(["compute", "plug", "p", "--instance", "vm-1"])
    unplug = main.parse_args(["compute", "unplug", "p"])

    assert plug.func is compute.plug_port
    assert unplug.func is compute.unplug_port
    assert not plug.needs_client
    assert (plug.host, plug.portapi, plug.config, plug.timeout) == (None, None, None, 30.0)


def test_portapi_and_json_may_come_before_the_command() -> None:
    args = main.parse_args(["--portapi", "10.0.0.1:1", "--json", "compute", "unplug", "p"])

    assert (args.portapi, args.json) == ("10.0.0.1:1", True)


@pytest.mark.parametrize(
    "argv",
    [
        ["compute", "plug", "p"],  # --instance is required
        ["compute", "plug", "p", "--instance", "i", "--output", "yaml"],
        ["--mechmgr", "127.0.0.1:1", "compute", "unplug", "p"],  # compute talks to portapi only
    ],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main.parse_args(argv)

    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--instance", " "], "--instance: must not be empty"),
        (["--instance", "vm/1"], "--instance (the default --netns): 'vm/1' is no network"),
        (["--instance", "vm", "--netns", "a b"], "--netns: 'a b' is no network namespace name"),
        (["--instance", "vm", "--timeout", "0"], "--timeout: must be more than 0 seconds"),
        (["--instance", "vm", "--host", ""], "--host: must not be empty"),
    ],
)
def test_bad_values_print_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main.run(["compute", "plug", "p", "--config", "", *argv])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {message}")
    assert err.count("\n") == 1
