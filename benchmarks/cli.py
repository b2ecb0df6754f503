"""Start-up of the ``skybutler`` command line, as whole processes (issue 8's targets).

* ``skybutler --help`` <= 0.15 s;
* a ``query-datasets`` on a W1-sized repository (N datasets of ``meta``, 10 detectors) <= 0.4 s.

Each command runs ``--repeat`` times as a new process (``python -m skybutler.cli`` on this source tree); the
best and the median are printed, next to the interpreter's own start-up (``python -c pass``), which this
machine's site packages make a large share of every figure.  The reference butler's ``butler --help`` is
measured too when it is installed.

Two conditions (``--bytecode``): ``source``, skybutler's modules compiled from source in every process (an
editable install where ``PYTHONDONTWRITEBYTECODE`` is set, as on the development machine), and
``compiled``, with their bytecode cached first (``compileall``, as ``pip install`` does).  Each runs on a
copy of ``src/`` in the temporary folder.  Third-party packages are as installed in both.

Run: ``python benchmarks/cli.py [--n 2000] [--repeat 10] [--bytecode source compiled] [--root DIR] [--json]``.
"""

from __future__ import annotations

import argparse
import compileall
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


def source_tree(root: Path, condition: str) -> Path:
    """A copy of skybutler's source tree for one condition: without bytecode, or with all of it compiled.

    A copy, so that neither condition depends on (or changes) the ``__pycache__`` folders of the working tree.
    """
    copy = root / f"src-{condition}"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    if condition == "compiled":
        compileall.compile_dir(copy, quiet=1)
    return copy


def time_process(argv: list[str], repeat: int, src: Path = SRC) -> dict[str, float]:
    """Wall time (best, median) and CPU time (best: user + system) of ``argv`` as a new process, in seconds.

    On a shared machine the wall time includes waiting for a core; the CPU time is what the process itself
    spent, a steadier figure when other jobs run.  The process imports skybutler from ``src`` and never
    writes bytecode (see `source_tree`).
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
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
    parser.add_argument(
        "--bytecode", nargs="+", choices=["source", "compiled"], default=["source", "compiled"],
        help="skybutler compiled from source in every process, and/or with its bytecode cached (default: both)",
    )  # fmt: skip
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
        results: dict[str, dict[str, dict[str, float]]] = {}
        for condition in args.bytecode:
            src = source_tree(Path(tmp), condition)
            results[condition] = {name: time_process(cmd, args.repeat, src) for name, cmd in cases.items()}
        if reference is not None:
            results["reference"] = {"reference: butler --help": time_process([reference, "--help"], args.repeat)}

    if args.json:
        print(json.dumps({"n": args.n, "repeat": args.repeat, "results": results}))
        return 0
    print(f"N = {args.n}, {args.repeat} processes each\n")
    print("| bytecode | command | wall best s | wall median s | CPU best s |")
    print("|---|---|---|---|---|")
    for condition, by_name in results.items():
        for name, r in by_name.items():
            print(f"| {condition} | {name} | {r['best']:.3f} | {r['median']:.3f} | {r['cpu']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
