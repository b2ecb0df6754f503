"""The crash soak: kill writer processes a thousand times and more, and check after every kill that nothing is lost.

The long form of ``tests/reliability/test_crashes.py`` (issue 17), with the same code
(`skybutler.testing.crash` to run and kill the writers, `skybutler.testing.invariants` to check): child
processes run put, put_many, ingest (copy, move), import, remove and certify in turn and are SIGKILLed from
inside at a random storage or registry step or by this process after a random delay; after each kill the
repository is reconciled and every invariant checked (for the run just crashed; the whole repository each
``--kills-per-repo`` kills, when a fresh repository is started).  Prints kills per operation, datasets
checked, repairs by reconcile, losses (must be 0) and the time taken; exits 1 on any violation.

Run: ``python benchmarks/soak.py --kills 1000 --seconds 3600 --backend sqlite --storage local``
(``--backend postgres`` uses ``--postgres-url``, a fresh schema per repository; ``--storage s3`` a moto
server on loopback).  Figures go in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from skybutler.testing.crash import OPERATIONS, CrashError, crash_once, plan_kill, prepare_repository, run_name
from skybutler.testing.crash import sources_dir as sources_of
from skybutler.testing.fixtures import POSTGRES_URL, datastore_config, fresh_schema
from skybutler.testing.invariants import check_repository, check_sources
from skybutler.testing.s3 import MotoServer, new_bucket


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=1000, help="stop after this many kills (default 1000)")
    parser.add_argument("--seconds", type=float, default=3600.0, help="or after this long (default 3600)")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--storage", choices=["local", "s3"], default="local")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="server for --backend postgres")
    parser.add_argument("--seed", type=int, default=17, help="seed of the kill plans (default 17)")
    parser.add_argument("--kills-per-repo", type=int, default=100, help="start a fresh repository this often")
    parser.add_argument(
        "--start-method",
        choices=["spawn", "forkserver"],
        default="forkserver",
        help="how children start: forkserver (default; a fresh process forked from a clean server that has "
        "imported skybutler, so a kill costs milliseconds, not an interpreter start) or spawn (as the tests)",
    )
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--ops", default=",".join(OPERATIONS), help=f"operations, in turn (default {OPERATIONS})")
    return parser.parse_args(argv)


class _Soak:
    def __init__(self, args: argparse.Namespace, stack: ExitStack) -> None:
        self.args = args
        self.stack = stack
        self.rng = random.Random(args.seed)
        self.ops = [op for op in args.ops.split(",") if op]
        self.kills: Counter[str] = Counter()
        self.by_parent: Counter[str] = Counter()
        self.datasets = self.repairs = self.losses = self.repos = self.harness_errors = 0
        self.problems: list[str] = []
        self.seconds = 0.0
        self.endpoint: str | None = None
        if args.storage == "s3":
            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
            for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
                os.environ.setdefault(name, value)
            os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
            server = MotoServer()
            self.endpoint = server.start()
            stack.callback(server.stop)

    def _repository(self, work: Path) -> str:
        datastore: dict[str, Any] = {}
        if self.endpoint is not None:
            datastore = datastore_config("s3", f"s3://{new_bucket(self.endpoint)}/repo/", self.endpoint)
        registry = schema = None
        if self.args.backend == "postgres":
            registry = self.args.postgres_url
            schema = self.stack.enter_context(fresh_schema(registry))
        self.repos += 1
        return prepare_repository(work / "repo", registry=registry, schema=schema, datastore=datastore)

    def run(self, base: Path) -> None:
        start = time.monotonic()
        total = 0
        while total < self.args.kills and time.monotonic() - start < self.args.seconds:
            work = base / f"r{self.repos}"
            root = self._repository(work)
            for round_ in range(self.args.kills_per_repo):
                if total >= self.args.kills or time.monotonic() - start >= self.args.seconds:
                    break
                op = self.ops[total % len(self.ops)]
                self._kill(root, work, op, round_)
                total += 1
            self._note(check_repository(root, raise_on_error=False), "full check")
            shutil.rmtree(work, ignore_errors=True)
            print(f"  {total} kills, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
        self.seconds = time.monotonic() - start

    def _kill(self, root: str, work: Path, op: str, round_: int) -> None:
        kill = plan_kill(op, round_, self.rng)
        try:
            crash_once(root, work, kill, start_method=self.args.start_method)
        except CrashError as exc:
            self.harness_errors += 1
            self.problems.append(str(exc))
        self.kills[op] += 1
        self.by_parent[op] += kill.at_call is None
        report = check_repository(root, runs=[run_name(op, round_)], raise_on_error=False)
        self._note(report, str(kill))
        if op.startswith("ingest"):
            lost = check_sources(root, sources_of(work, op, round_), run_name(op, round_))
            if lost:
                self.losses += lost
                self.problems.append(f"{kill}: {lost} ingest source(s) lost")

    def _note(self, report: Any, what: str) -> None:
        self.datasets += report.datasets
        self.repairs += report.repairs
        self.losses += report.losses
        self.problems += [f"{what}: {p}" for p in report.problems]

    def summary(self) -> str:
        a = self.args
        total = sum(self.kills.values())
        lines = [
            f"soak: {a.backend}/{a.storage}, seed {a.seed}, start method {a.start_method}, "
            f"{platform.node()} ({os.cpu_count()} cores), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "",
            "| operation | kills | by the parent (random delay) | from inside (chosen step) |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {op} | {self.kills[op]} | {self.by_parent[op]} | {self.kills[op] - self.by_parent[op]} |"
            for op in self.ops
        ]
        lines += [
            f"| **all** | **{total}** | {sum(self.by_parent.values())} | {total - sum(self.by_parent.values())} |",
            "",
            f"repositories: {self.repos}; datasets checked (read back + verified, summed over checks): "
            f"{self.datasets}; repairs by reconcile: {self.repairs}; losses: {self.losses}; "
            f"other violations: {len(self.problems) - self.harness_errors}; harness errors: {self.harness_errors}; "
            f"time: {self.seconds:.0f} s ({self.seconds / max(total, 1):.2f} s per kill)",
        ]
        lines += [f"  {p}" for p in self.problems[:30]]
        return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    if args.start_method == "forkserver":
        import multiprocessing as mp

        mp.set_forkserver_preload(["skybutler.testing.crash"])
    with ExitStack() as stack:
        if args.work is None:
            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="skybutler-soak-")))
        else:
            base = args.work
            base.mkdir(parents=True, exist_ok=True)
        soak = _Soak(args, stack)
        soak.run(base)
    print(soak.summary())
    return 1 if soak.losses or soak.problems else 0


if __name__ == "__main__":
    sys.exit(main())
