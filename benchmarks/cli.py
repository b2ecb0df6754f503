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

The command line keeps the parse of each ``--where`` shape in the per-user cache folder (here one in the
temporary folder): ``(where, 10 refs)`` is measured as the first query of its shape (lark loaded and run),
``(where again, ...)`` as a repeated one.

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


def time_process(
    argv: list[str], repeat: int, src: Path = SRC, cache: Path | None = None, *, fresh_parses: bool = False
) -> dict[str, float]:
    """Wall time (best, median) and CPU time (best: user + system) of ``argv`` as a new process, in seconds.

    On a shared machine the wall time includes waiting for a core; the CPU time is what the process itself
    spent, a steadier figure when other jobs run.  The process imports skybutler from ``src`` and never
    writes bytecode (see `source_tree`).  ``cache`` is its per-user cache folder (``XDG_CACHE_HOME``); with
    ``fresh_parses`` a ``where`` command is measured with its expression new to the cache of parses, whose
    folder is removed before each run (the parser's tables stay).
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(src) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("SKYBUTLER_NO_CACHE", None)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    walls, cpus = [], []
    for _ in range(repeat):
        if cache is not None and fresh_parses:
            for parses in (cache / "skybutler").glob("where-*"):
                if parses.is_dir():
                    shutil.rmtree(parses)
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
        where = ["--where", f"visit > {k} AND detector = 3"]
        query = [*sky, "query-datasets", repo, "meta", "-c", "run1"]
        cases = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "skybutler --help": [*sky, "--help"],
            "skybutler query-datasets (where, 10 refs)": [*query, *where, "-f", "json"],
            "skybutler query-datasets (where again, 10 refs)": [*query, *where, "-f", "json"],
            f"skybutler query-datasets (all {args.n} refs, json)": [*query, "-f", "json"],
            "skybutler query-datasets (where again, table)": [*query, *where],
        }
        #: Measured with the expression new to the per-user cache of parses (lark imported and run), as a
        #: first query of its shape; the others find it there, as a repeated command does.
        fresh = {"skybutler query-datasets (where, 10 refs)"}
        reference = shutil.which("butler")
        results: dict[str, dict[str, dict[str, float]]] = {}
        for condition in args.bytecode:
            src = source_tree(Path(tmp), condition)
            cache = Path(tmp) / f"cache-{condition}"
            time_process(cases["skybutler query-datasets (where again, 10 refs)"], 1, src, cache)  # parser tables
            results[condition] = {}
            for name, cmd in cases.items():
                results[condition][name] = time_process(cmd, args.repeat, src, cache, fresh_parses=name in fresh)
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
