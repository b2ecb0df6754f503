"""W1's first three steps (create_repo, dimension_records, register) in fresh processes, two source trees alternated.

Usage::

    python benchmarks/w1_writes.py --runs 7 [--tree main=/work/main/src --tree branch=/path/to/src] [--n 2000]

Each run is a new Python process (``PYTHONPATH`` set to the tree's ``src``) that imports ``w1_skybutler``
(untimed, as in ``w1.py``'s worker) and runs the steps exactly as W1 times them, so each step pays its first
calls in a process as it does there.  Trees run in alternating order; the table gives, per step and tree,
the median and minimum of wall and CPU milliseconds.  The process environment is kept as it is (with
``PYTHONDONTWRITEBYTECODE`` set, skybutler's modules are compiled from source in every process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
STEPS = ("create_repo", "dimension_records", "register")

_CHILD = """
import gc, json, sys, tempfile
from pathlib import Path
sys.path.insert(0, {here!r})
import w1_skybutler
steps = []
with tempfile.TemporaryDirectory() as d:
    it = w1_skybutler.iter_skybutler(Path(d), {n}, None, steps)
    for _ in it:
        if not steps[-1].ok:
            raise SystemExit(steps[-1].error)
        if steps[-1].name == "register":
            break
        gc.collect()
    it.close()
print(json.dumps({{s.name: [1000 * s.seconds, 1000 * s.cpu_seconds] for s in steps}}))
"""


def _run(src: str, n: int) -> dict[str, list[float]]:
    env = {**os.environ, "PYTHONPATH": src}
    code = _CHILD.format(here=str(HERE), n=n)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    result: dict[str, list[float]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--tree", action="append", metavar="NAME=SRC", help="a source tree (default: this one)")
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree or [f"this={HERE.parent / 'src'}"])
    got: dict[str, list[dict[str, list[float]]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory():
        for run in range(args.runs):
            order = list(trees) if run % 2 == 0 else list(trees)[::-1]
            for name in order:
                got[name].append(_run(trees[name], args.n))
    print("| step | tree | wall ms median (min) | CPU ms median (min) |")
    print("|---|---|---|---|")
    for step in STEPS:
        for name, runs in got.items():
            wall = [r[step][0] for r in runs]
            cpu = [r[step][1] for r in runs]
            print(
                f"| {step} | {name} | {statistics.median(wall):.1f} ({min(wall):.1f}) "
                f"| {statistics.median(cpu):.1f} ({min(cpu):.1f}) |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
