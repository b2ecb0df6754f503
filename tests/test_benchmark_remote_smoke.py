"""benchmarks/remote.py runs end to end on tiny sizes (every part, the load test on PostgreSQL + S3): a smoke
test, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skybutler.testing.fixtures import require_postgres

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def _run(tmp_path: Path, args: list[str]) -> dict[str, Any]:
    """The JSON report of ``benchmarks/remote.py args`` (checked to exit cleanly)."""
    require_postgres()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "remote.py"), *args, "--root", str(tmp_path), "--json"],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.mark.postgres
@pytest.mark.s3
def test_remote_benchmark_measures_every_part(tmp_path: Path) -> None:
    report = _run(tmp_path, ["--n", "5", "--query-refs", "300", "--image-side", "512", "--clients", "2",
                             "--duration", "2"])  # fmt: skip
    assert report["latency"]["remote get"]["n"] == 5
    assert 0 < report["cutout"]["fraction_percent"] < 100
    assert report["query"]["refs"] == 300
    assert report["load"]["errors"] == 0
    assert report["load"]["lost_writes"] == 0
    assert report["load"]["writes"] > 0


@pytest.mark.postgres
@pytest.mark.s3
def test_remote_benchmark_exports_and_loads_with_client_processes(tmp_path: Path) -> None:
    report = _run(tmp_path, ["--parts", "export", "load", "--export-files", "12", "--export-kib", "8",
                             "--clients", "2", "--processes", "2", "--duration", "4"])  # fmt: skip
    s3 = report["export"]["s3"]
    assert s3["urls bytes_from_elsewhere"] > s3["urls bytes_from_server"]  # the files came from S3
    assert s3["server_archive bytes_from_elsewhere"] == 0
    assert report["load"]["processes"] == 2
    assert report["load"]["errors"] == 0
    assert report["load"]["lost_writes"] == 0
