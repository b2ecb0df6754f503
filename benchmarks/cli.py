"""Start-up of the ``skybutler`` command line, as whole processes, and a library process's first queries.

Targets: ``skybutler --help`` <= 0.15 s; a ``query-datasets`` on a W1-sized repository (N datasets of
``meta``, 10 detectors) <= ``python -c "import sqlalchemy"`` + 0.15 s, measured in the same run (issue 26
part 6); a library process's first ``query_datasets`` calls cheap (part 4).

Each command runs ``--repeat`` times as a new process (``python -m skybutler.cli`` on a copy of this source
tree), the conditions interleaved command by command; the best and median wall time and the best CPU time
are printed, next to ``python -c pass`` and the floor, ``python -c "import sqlalchemy"``.  The reference
butler's ``butler --help`` is measured too when it is installed.

Three conditions (``--bytecode``), all with ``PYTHONDONTWRITEBYTECODE=1`` as on the development machine:
``source``, skybutler's modules from source with the command line's bytecode in the per-user cache
(`skybutler._bytecode`, warm after the first process); ``nocache``, the same with ``SKYBUTLER_NO_CACHE=1``
(every module compiled in every process, nothing read from the per-user cache); ``compiled``, with their
bytecode beside the sources (``compileall``, as ``pip install`` of a wheel leaves it).  Third-party packages
are as installed in all three.

The command line keeps the parse of each ``--where`` shape in the per-user cache folder: ``(where, 10 refs)``
is measured as the first query of its shape, ``(where again, ...)`` as a repeated one.

``first calls`` times, inside one library process per repeat (no per-user cache: a library keeps none), the
opening of the butler and the first and second where-less and where queries of W1 (CPU ms).

Run: ``python benchmarks/cli.py [--n 2000] [--repeat 10] [--bytecode source nocache compiled] [--root DIR] [--json]``.
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


#: One library process: open the butler, then W1's where-less query and a where query, each twice (CPU s).
FIRST_CALLS = """
import json, sys, time
from skybutler import Butler
repo, n = sys.argv[1], int(sys.argv[2])
out = {}
def timed(name, call):
    t = time.process_time()
    result = call()
    out[name] = time.process_time() - t
    return result
butler = timed("open", lambda: Butler(repo))
for label in ("first", "again"):
    refs = timed(f"query_all {label}", lambda: list(butler.query_datasets("meta", collections="run1")))
    assert len(refs) == n, len(refs)
for label, k in (("first", 1), ("again", 2)):
    where = f"instrument = 'Cam' AND visit > {k} AND detector = 3"
    timed(f"query_where {label}", lambda: list(butler.query_datasets("meta", collections="run1", where=where)))
print(json.dumps(out))
"""


def first_calls(repo: str, n: int, repeat: int, src: Path) -> dict[str, dict[str, float]]:
    """Best and median CPU seconds of each step of `FIRST_CALLS`, one new process per repeat."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1", "SKYBUTLER_NO_CACHE": "1"}
    runs = [
        json.loads(subprocess.run([sys.executable, "-c", FIRST_CALLS, repo, str(n)], check=True,
                                  capture_output=True, text=True, env=env).stdout)
        for _ in range(repeat)
    ]  # fmt: skip
    return {step: {"best": min(r[step] for r in runs), "median": statistics.median(r[step] for r in runs)}
            for step in runs[0]}  # fmt: skip


CONDITIONS = ("source", "nocache", "compiled")


def time_process(
    argv: list[str],
    repeat: int,
    src: Path = SRC,
    cache: Path | None = None,
    *,
    fresh_parses: bool = False,
    no_cache: bool = False,
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
    if no_cache:
        env["SKYBUTLER_NO_CACHE"] = "1"
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
        "--bytecode", nargs="+", choices=CONDITIONS, default=list(CONDITIONS),
        help="skybutler with the command line's bytecode cache, with no per-user cache, and/or compiled "
        "beside its sources (default: all three)",
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
        floors = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import sqlalchemy' (floor)": [sys.executable, "-c", "import sqlalchemy"],
        }
        cases = {
            "skybutler --help": [*sky, "--help"],
            "skybutler query-datasets (where, 10 refs)": [*query, *where, "-f", "json"],
            "skybutler query-datasets (where again, 10 refs)": [*query, *where, "-f", "json"],
            f"skybutler query-datasets (all {args.n} refs, json)": [*query, "-f", "json"],
            f"skybutler query-datasets (all {args.n} refs, table)": query,
        }
        #: Measured with the expression new to the per-user cache of parses, as a first query of its shape;
        #: the others find it there, as a repeated command does.
        fresh = {"skybutler query-datasets (where, 10 refs)"}
        reference = shutil.which("butler")
        trees = {
            kind: source_tree(Path(tmp), kind)
            for kind in {"compiled" if c == "compiled" else "source" for c in args.bytecode}
        }
        srcs = {condition: trees["compiled" if condition == "compiled" else "source"] for condition in args.bytecode}
        results: dict[str, dict[str, dict[str, float]]] = {c: {} for c in ["floor", *args.bytecode]}
        for name, cmd in floors.items():
            results["floor"][name] = time_process(cmd, args.repeat)
        for condition, src in srcs.items():  # the per-user cache filled (bytecode, parses), as after a first use
            time_process(
                cases["skybutler query-datasets (where again, 10 refs)"], 1, src, Path(tmp) / f"cache-{condition}"
            )
        for name, cmd in cases.items():  # condition after condition for each command: load drift lands evenly
            for condition, src in srcs.items():
                results[condition][name] = time_process(
                    cmd, args.repeat, src, Path(tmp) / f"cache-{condition}", fresh_parses=name in fresh,
                    no_cache=condition == "nocache",
                )  # fmt: skip
        floor = time_process(floors["python -c 'import sqlalchemy' (floor)"], args.repeat)
        results["floor"]["python -c 'import sqlalchemy' (floor, again)"] = floor
        library = {c: first_calls(repo, args.n, args.repeat, src) for c, src in srcs.items() if c != "nocache"}
        if reference is not None:
            results["reference"] = {"reference: butler --help": time_process([reference, "--help"], args.repeat)}

    if args.json:
        print(json.dumps({"n": args.n, "repeat": args.repeat, "results": results, "first_calls": library,
                          "load": os.getloadavg()}))  # fmt: skip
        return 0
    print(f"N = {args.n}, {args.repeat} processes each, load {os.getloadavg()[0]:.1f}\n")
    print("| bytecode | command | wall best s | wall median s | CPU best s |")
    print("|---|---|---|---|---|")
    for condition, by_name in results.items():
        for name, r in by_name.items():
            print(f"| {condition} | {name} | {r['best']:.3f} | {r['median']:.3f} | {r['cpu']:.3f} |")
    print("\nLibrary process, first calls (CPU ms, best / median):\n")
    steps = list(next(iter(library.values()), {}))
    print("| bytecode | " + " | ".join(steps) + " |")
    print("|---" * (len(steps) + 1) + "|")
    for condition, by_step in library.items():
        cells = " | ".join(f"{1e3 * by_step[s]['best']:.1f} / {1e3 * by_step[s]['median']:.1f}" for s in steps)
        print(f"| {condition} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
