"""The datastore benchmark runs end to end on a small size: a smoke test, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_datastores_benchmark_runs_every_kind() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "datastores.py"), "--n", "20", "--repeat", "1", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    for kind in ("file", "memory", "memory-shared", "chained"):
        for key in ("put_wall", "put_cpu", "get_wall", "get_cpu"):
            assert figures[f"{kind}_{key}_ms"] > 0, (kind, key)
