"""The W1 harness runs end to end (N = 20): a smoke test, not a timing (benchmarks never assert speed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def _benchmark_common() -> Any:
    """benchmarks/_common.py, loaded by path (the benchmarks folder is not a package on sys.path)."""
    spec = importlib.util.spec_from_file_location("w1_common_for_tests", BENCHMARKS / "_common.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


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


def test_fair_w1_harness_interleaves_the_systems_and_writes_a_table(tmp_path: Path) -> None:
    """The interleaved harness (issue 26 part 1): every system's every step measured, one markdown table out."""
    common = _benchmark_common()
    out = tmp_path / "w1.md"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "w1.py"), "--n", "10", "--repeats", "1", "--cli-repeats", "1",
         "--out", str(out)],
        capture_output=True, text=True, check=False, cwd=BENCHMARKS, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = out.read_text()
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
    for step in (*common.W1_STEPS, "cli_query_datasets"):
        assert step in rows, f"{step} missing from\n{table}"
        assert "failed" not in rows[step], rows[step]
    assert "FAILED" not in done.stderr, done.stderr
    # SQLite: each write step's floor (w1_floors.py) beside skybutler's figure
    floors = [line for line in table.splitlines() if line.count("|") == 5 and line.startswith("| ")]
    assert {line.split("|")[1].strip() for line in floors} >= {"create_repo", "dimension_records", "register",
                                                               "ingest_copy", "calib_certify"}, table  # fmt: skip
    assert "skybutler / floor" in table
    if common.has_reference():  # both columns of the reference (as shipped, and at skybutler's durability) and ratios
        assert "reference / skybutler" in table
        assert "reference_wal / skybutler" in table
        assert "n/a" not in rows["put_meta"], rows["put_meta"]
