"""A tiny run of the benchmark, so that it keeps working (nothing here is timed)."""

from __future__ import annotations

from tests import postgres
from tests.e2e.conftest import run_bench


def test_benchmark_runs_and_every_port_binds() -> None:
    levels = run_bench("bind_bench.py", "--clients", "1,3", "--ports", "6", "--warmup", "2")
    assert [level["clients"] for level in levels] == [1, 3]
    for level in levels:
        assert level["failures"] == 0
        for phase in ("create", "bind", "read"):
            assert level[phase]["calls"] == 6
            assert 0 < level[phase]["p50_ms"] <= level[phase]["p99_ms"]
        assert "portapi" in level["bind_cpu_ms"]


def test_listing_benchmark_runs_on_both_databases(postgres_server: postgres.PostgresServer) -> None:
    results = run_bench(
        "list_bench.py",
        *("--sizes", "60,150", "--page-size", "20", "--repeat", "1"),
        *("--postgres-url", postgres_server.admin_dsn()),
        timeout=300,
    )
    assert [(r["database"], r["ports"]) for r in results] == [
        ("sqlite", 60),
        ("sqlite", 150),
        ("postgres", 60),
        ("postgres", 150),
    ]
    for r in results:
        assert min(r["first_ms"], r["middle_ms"], r["last_ms"]) > 0
        assert r["walk_pages"] == 2


def test_check_bindable_benchmark_runs_and_every_answer_is_the_predicted_one() -> None:
    result = run_bench(
        "check_bindable.py",
        *("--hosts", "20", "--calls", "2", "--warmup", "1", "--agent-down-time", "6"),
        *("--heartbeats", "3"),
    )
    assert (result["hosts"], result["calls"], result["bindable"]) == (20, 2, 16)
    assert 0 < result["min_ms"] <= result["p50_ms"] <= result["max_ms"]
    assert (result["cache_seconds"], result["cache_default"], result["heartbeats"]) == (5, True, 3)


def test_heartbeat_benchmark_runs_by_stream_and_by_unary_calls() -> None:
    tiny = (
        *("--agents", "40", "--interval", "2", "--workers", "2", "--binds", "4", "--warmup", "2"),
        *("--idle-seconds", "0.5", "--warmup-seconds", "1", "--measure-seconds", "2"),
        *("--floor-seconds", "1"),
    )
    for mode in ("stream", "unary"):
        (result,) = run_bench("heartbeats.py", "--mode", mode, *tiny, timeout=300)
        assert result["mode"] == mode and result["heartbeat_failures"] == 0
        assert result["heartbeats_per_s"] > 0 and result["mechmgr_cpu_ms_per_heartbeat"] > 0
        # Every agent's stream (and the bench host's agent's, once its first heartbeat is due).
        assert result["open_streams"] in ((40, 41) if mode == "stream" else (0, 1))
        for phase in ("idle", "loaded", "floor_loaded", "after"):
            assert result[phase]["failures"] == 0
