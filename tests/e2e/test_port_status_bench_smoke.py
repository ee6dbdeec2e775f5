"""Tiny runs of the port status benchmarks (time to ACTIVE, ml2 compute plug, WatchPorts at
scale), so that they keep working; nothing here is timed against a target."""

from __future__ import annotations

from tests import postgres
from tests.e2e.conftest import run_bench


def test_active_latency_benchmark_sees_every_port_active() -> None:
    figures = run_bench("active_latency.py", "--ports", "3", "--warmup", "1")
    assert (figures["ports"], figures["failures"]) == (3, 0)
    assert 0 < figures["active_p50_ms"] <= figures["active_p99_ms"] <= figures["active_max_ms"]
    assert figures["bind_p50_ms"] > 0
    assert "polling_interval" in figures["note"]


def test_compute_plug_benchmark_reports_each_step_and_the_process_cost() -> None:
    figures = run_bench("compute_plug.py", "--plugs", "2", "--cli-plugs", "1", "--warmup", "0")
    assert (figures["plugs"], figures["failures"], figures["cli_plugs"]) == (2, 0, 1)
    assert set(figures["steps"]) == {"bind", "plug", "active"}
    assert all(s["p50_ms"] > 0 for s in figures["steps"].values())
    assert figures["total"]["p50_ms"] >= figures["steps"]["bind"]["p50_ms"]
    assert figures["cli_wall"]["p50_ms"] > figures["cli_steps_sum"]["p50_ms"] > 0


def test_watchers_benchmark_delivers_every_event_to_every_matching_watcher(
    postgres_server: postgres.PostgresServer,
) -> None:
    figures = run_bench(
        "watchers.py",
        *("--watchers", "12", "--binds", "12", "--clients", "2", "--hosts", "2"),
        *("--networks", "2", "--channels", "2", "--postgres-url", postgres_server.admin_dsn()),
    )
    check = figures["check"]
    assert figures["watchers"] == check["watchers_ok"] == 12
    assert check["expected"] == check["delivered"] > 0
    assert (check["missing"], check["duplicates"], check["out_of_order"]) == (0, 0, 0)
    assert figures["binds_per_s_without"] > 0 and figures["binds_per_s_with"] > 0
    assert 0 < figures["delivery_p50_ms"] <= figures["delivery_p99_ms"]
    assert set(figures["mix"]) == {"all", "host", "network", "port"}
