"""The W1 harness runs end to end (N = 20): a smoke test, not a timing (benchmarks never assert speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_w1_on_skybutler_runs_every_implemented_step(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "w1_skybutler.py"), "--n", "20", "--root", str(tmp_path), "--baselines"],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCHMARKS,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    ours = next(r for r in records if r["system"] == "skybutler")
    steps = {s["name"]: s for s in ours["steps"]}
    for name in ("put_meta", "get_meta", "put_arr", "get_arr", "get_missing", "calib_lookup", "calib_get"):
        assert steps[name]["error"] is None, steps[name]
        assert steps[name]["n_ops"] > 0
    assert all(s["error"] is None or s["error"].startswith("not in skybutler yet") for s in ours["steps"])
    assert {r["system"] for r in records} == {"skybutler", "baseline"}


def test_scale_workload_runs_on_a_small_registry() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "scale.py"), "--sizes", "2000", "--repeats", "10"],
        capture_output=True, text=True, check=False, cwd=BENCHMARKS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert result["size"] == 2000
    assert {"find", "get", "where_1000", "partial", "calib_lookup"} <= set(result)


def test_memory_check_reports_one_copy_for_a_small_get() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "memory.py"), "--gib", "0.05", "--format", "npy"],
        capture_output=True, text=True, check=False, cwd=BENCHMARKS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["array_mib"] > 40


def test_repeated_queries_benchmark_runs_on_a_small_repository() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "queries.py"), "--n", "100", "--passes", "1"],
        capture_output=True, text=True, check=False, cwd=BENCHMARKS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["step"] for r in results] == ["query_where", "query_partial"]
    assert all(r["warm_cpu_ms"] > 0 for r in results)
