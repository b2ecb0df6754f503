"""benchmarks/web.py runs end to end on tiny sizes (every page on W1 and on a bulk repository, the previews): a
smoke test, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_web_benchmark_measures_every_page(tmp_path: Path) -> None:
    args = ["--w1-n", "100", "--size", "2000", "--image-side", "300", "--repeats", "2", "--root", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "web.py"), *args, "--json"],
        capture_output=True, text=True, check=False, timeout=600, cwd=BENCHMARKS,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for part in ("w1", "scale"):
        pages = report[part]["pages"]
        assert {"home", "home_cold", "collection", "datasets_page1", "dataset", "lineage", "timeline"} <= set(pages)
        assert all(m["server_ms_median"] > 0 and m["bytes"] > 0 for m in pages.values())
    assert report["scale"]["size"] >= 2000
    assert report["thumbnail"]["256"]["png_bytes"] > 0
    assert (tmp_path / "scale-2000" / "BUILT").exists()  # kept, for a later run to reuse
