"""The reference-exports benchmark runs end to end (small N, one repeat): a smoke test, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_reference_exports_benchmark_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "reference_exports.py"), "--n", "300", "--repeat", "1", "--no-reference"],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCHMARKS,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("{")]
    results = json.loads(line)["results"]
    assert set(results) == {"hsc-rc2-subset-v0", "ci_hsc-subset", "generated-300"}
    assert all(r["skybutler_s"] > 0 for r in results.values())
