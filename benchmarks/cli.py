"""Start-up of the ``skybutler`` command line, as whole processes (issue 8's targets).

* ``skybutler --help`` <= 0.15 s;
* a ``query-datasets`` on a W1-sized repository (N datasets of ``meta``, 10 detectors) <= 0.4 s.

Each command runs ``--repeat`` times as a new process (``python -m skybutler.cli`` on this source tree); the
best and the median are printed, next to the interpreter's own start-up (``python -c pass``), which this
machine's site packages make a large share of every figure.  The reference butler's ``butler --help`` is
measured too when it is installed.

Run: ``python benchmarks/cli.py [--n 2000] [--repeat 10] [--root DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

from skybutler import Butler  # noqa: E402 (after the path to this tree's sources)
from skybutler.testing.sample import populate_sample  # noqa: E402

N_DETECTORS = 10


def build_repository(root: Path, n: int) -> str:
    """A W1-sized repository: the sample instrument with N/10 visits x 10 detectors, N ``meta`` datasets in run1."""
    repo = Butler.create(root / "repo")
    with Butler(repo, run="run1") as butler:
        populate_sample(butler, n_visits=n // N_DETECTORS, n_detectors=N_DETECTORS)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        items = [
            ({"i": i, "seeing": 0.7}, {"instrument": "Cam", "visit": i // N_DETECTORS, "detector": i % N_DETECTORS})
            for i in range(n)
        ]
        butler.put_many(items, "meta")
    return repo


def time_process(argv: list[str], repeat: int) -> dict[str, float]:
    """Wall time (best, median) and CPU time (best: user + system) of ``argv`` as a new process, in seconds.

    On a shared machine the wall time includes waiting for a core; the CPU time is what the process itself
    spent, a steadier figure when other jobs run.
    """
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"best": min(walls), "median": statistics.median(walls), "cpu": min(cpus)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="datasets in the repository (default 2000, as W1)")
    parser.add_argument("--repeat", type=int, default=10, help="processes per command (default 10)")
    parser.add_argument("--root", type=Path, help="where to build the repository (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.root) as tmp:
        repo = build_repository(Path(tmp), args.n)
        sky = [sys.executable, "-m", "skybutler.cli"]
        k = args.n // N_DETECTORS - 10
        cases = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "skybutler --help": [*sky, "--help"],
            "skybutler query-datasets (where, 10 refs)": [
                *sky, "query-datasets", repo, "meta", "-c", "run1", "--where", f"visit > {k} AND detector = 3",
                "-f", "json",
            ],
            f"skybutler query-datasets (all {args.n} refs, json)": [
                *sky, "query-datasets", repo, "meta", "-c", "run1", "-f", "json",
            ],
            "skybutler query-datasets (where, table)": [
                *sky, "query-datasets", repo, "meta", "-c", "run1", "--where", f"visit > {k} AND detector = 3",
            ],
        }  # fmt: skip
        reference = shutil.which("butler")
        if reference is not None:
            cases["reference: butler --help"] = [reference, "--help"]
        results = {name: time_process(cmd, args.repeat) for name, cmd in cases.items()}

    if args.json:
        print(json.dumps({"n": args.n, "repeat": args.repeat, "results": results}))
        return 0
    print(f"N = {args.n}, {args.repeat} processes each\n")
    print("| command | wall best s | wall median s | CPU best s |")
    print("|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['best']:.3f} | {r['median']:.3f} | {r['cpu']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
