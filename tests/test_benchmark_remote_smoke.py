"""benchmarks/remote.py runs end to end on tiny sizes (every part, the load test on PostgreSQL + S3): a smoke
test, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from skybutler.testing.fixtures import require_postgres

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


@pytest.mark.postgres
@pytest.mark.s3
def test_remote_benchmark_measures_every_part(tmp_path: Path) -> None:
    require_postgres()
    args = ["--n", "5", "--query-refs", "300", "--image-side", "512", "--clients", "2", "--duration", "2"]
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "remote.py"), *args, "--root", str(tmp_path), "--json"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["latency"]["remote get"]["n"] == 5
    assert 0 < report["cutout"]["fraction_percent"] < 100
    assert report["query"]["refs"] == 300
    assert report["load"]["errors"] == 0
    assert report["load"]["lost_writes"] == 0
    assert report["load"]["writes"] > 0
