"""The file-format benchmark runs end to end on small sizes: a smoke test, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_formats_benchmark_runs_and_reports_every_figure(tmp_path: Path) -> None:
    small = ["--size", "256", "--rows", "2000", "--repeat", "1", "--root", str(tmp_path), "--json"]
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "formats.py"), *small],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    for key in ("fits_put", "hdf5_cutout_cold", "parquet_2col_get_warm", "pyarrow_full_read_cold"):
        assert figures[key] > 0
    assert "100x100 cut-out" in done.stdout
