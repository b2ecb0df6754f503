"""benchmarks/cli.py runs end to end on a tiny repository: a smoke test, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def test_cli_benchmark_measures_every_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "cli.py"), "--n", "20", "--repeat", "1", "--root", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["n"] == 20
    assert {"floor", "source", "nocache", "compiled"} <= set(report["results"])
    assert report["results"]["floor"]["python -c 'import sqlalchemy' (floor)"]["cpu"] > 0
    for condition in ("source", "compiled"):  # a library process's first queries, with and without bytecode
        assert set(report["first_calls"][condition]) >= {"open", "query_all first", "query_where first"}
    for condition in ("source", "nocache", "compiled"):
        names = set(report["results"][condition])
        assert {"skybutler --help", "skybutler query-datasets (where, 10 refs)",
                "skybutler query-datasets (where again, 10 refs)"} <= names  # fmt: skip
        assert all(r["best"] > 0 and r["cpu"] >= 0 for r in report["results"][condition].values())
