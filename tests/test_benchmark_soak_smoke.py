"""The crash soak runs end to end (one kill of each operation): a smoke test, not a timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"

pytestmark = pytest.mark.slow


def test_soak_kills_each_operation_and_reports_no_loss(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "soak.py"), "--kills", "7", "--kills-per-repo", "4", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=BENCHMARKS,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for op in ("put", "put_many", "ingest_copy", "ingest_move", "import", "remove", "certify"):
        assert f"| {op} | 1 |" in done.stdout
    assert "| **all** | **7** |" in done.stdout
    assert "losses: 0; other violations: 0; harness errors: 0" in done.stdout
