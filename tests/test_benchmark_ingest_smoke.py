"""The ingest benchmark runs end to end (N = 20): a smoke test, not a timing (benchmarks never assert speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_ingest_benchmark_runs_every_step() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "ingest.py"), "--n", "20", "--no-reference"],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCHMARKS,
    )
    assert done.returncode == 0, done.stderr
    records = {r["system"]: r for r in (json.loads(x) for x in done.stdout.splitlines() if x.startswith("{"))}
    steps = {s["name"]: s for s in records["skybutler"]["steps"]}
    for mode in ("direct", "copy", "hardlink", "symlink"):
        assert steps[f"ingest_{mode}"]["error"] is None
    assert steps["reingest_skip"]["n_ops"] == 20
    assert [s["name"] for s in records["baseline"]["steps"]] == ["plain_copy", "plain_link"]
