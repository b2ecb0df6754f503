"""Workload W1 on skybutler and, when it is installed, on the reference butler, in one invocation.

Usage::

    python benchmarks/w1.py [--n 2000] [--postgres URL] [--no-reference] [--json-only]

Prints each system's table and JSON line, the baselines, start-up costs, then the ratio reference/skybutler
per step (above 1: skybutler is faster).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Step, dir_size_bytes, has_reference, peak_rss_kib, report, run_baselines
from w1_skybutler import run_skybutler


def startup_costs(repeats: int = 5) -> list[Step]:
    """Whole-process start-up: ``python -c "import skybutler"`` and ``skybutler --help`` (best of ``repeats``)."""
    commands = {
        "python_bare": [sys.executable, "-c", "pass"],
        "import_skybutler": [sys.executable, "-c", "import skybutler"],
        "cli_help": [sys.executable, "-m", "skybutler.cli", "--help"],
    }
    steps = []
    for name, command in commands.items():
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            best = min(best, time.perf_counter() - start)
        steps.append(Step(name, 1, best, best * 1000.0))
    return steps


def ratio_table(ours: list[Step], theirs: list[Step]) -> str:
    """Reference ms/op divided by skybutler ms/op, step by step."""
    by_name = {s.name: s for s in theirs}
    lines = [f"{'step':<24}{'skybutler ms':>14}{'reference ms':>14}{'ratio':>9}"]
    for step in ours:
        other = by_name.get(step.name)
        if other is None or not step.ok or not other.ok or step.ms_per_op == 0:
            why = "n/a" if step.ok else "skybutler: not yet"
            lines.append(f"{step.name:<24}{'':>14}{'':>14}  {why}")
            continue
        lines.append(
            f"{step.name:<24}{step.ms_per_op:>14.3f}{other.ms_per_op:>14.3f}{other.ms_per_op / step.ms_per_op:>9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="W1 on skybutler and the reference butler")
    parser.add_argument("--n", type=int, default=2000, help="number of datasets N (a multiple of 10)")
    parser.add_argument("--postgres", metavar="URL", help="registry database URL instead of SQLite")
    parser.add_argument("--no-reference", action="store_true", help="skip lsst-daf-butler even if installed")
    args = parser.parse_args(argv)
    registry = "postgresql" if args.postgres else "sqlite"
    with tempfile.TemporaryDirectory(prefix="w1_") as tmp:
        root = Path(tmp)
        ours = run_skybutler(root / "skybutler", args.n, args.postgres)
        report("skybutler", args.n, ours, registry=registry, peak_rss_kib=peak_rss_kib(),
               repo_bytes=dir_size_bytes(root / "skybutler" / "repo"))  # fmt: skip
        report("baseline", args.n, run_baselines(root / "baseline", args.n))
        report("startup", 1, startup_costs())
        if args.no_reference or not has_reference():
            print("lsst-daf-butler is not installed (pip install -e '.[bench]'): no ratios.")
            return 0 if all(s.ok or s.name in _not_yet() for s in ours) else 1
        from w1_reference import SYSTEM, reference_version, run_reference

        theirs = run_reference(root / "reference", args.n, args.postgres)
        report(SYSTEM, args.n, theirs, version=reference_version(), registry=registry,
               repo_bytes=dir_size_bytes(root / "reference" / "repo"))  # fmt: skip
        print(f"== ratio {SYSTEM} / skybutler (n={args.n}, {registry})")
        print(ratio_table(ours, theirs))
    return 0 if all(s.ok or s.name in _not_yet() for s in ours) else 1


def _not_yet() -> set[str]:
    from w1_skybutler import NOT_YET

    return set(NOT_YET)


if __name__ == "__main__":
    sys.exit(main())
