"""Shared helpers for workload W1 (shared/benchmarks/W1.md): timing, memory, sizes, baselines, reporting.

Every system under test returns a list of :class:`Step`; the same step names are used for each system so that
their figures can be compared side by side (see :data:`W1_STEPS`).
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

# Sizes fixed by W1.md, whatever N is.
N_ARRAY = 500
ARRAY_LENGTH = 12_800  # float64 values: 100 kB
N_MISSING = 100
N_QUERIES = 100
N_DETECTORS = 10

# Step names, in run order, shared by every system measured.
W1_STEPS: tuple[str, ...] = (
    "create_repo",
    "dimension_records",
    "register",
    "put_meta",
    "get_meta",
    "put_arr",
    "get_arr",
    "get_missing",
    "query_all",
    "query_where",
    "query_data_ids",
    "query_partial",
    "ingest_direct",
    "ingest_copy",
    "export",
    "import",
    "calib_put",
    "calib_certify",
    "calib_lookup",
    "calib_get",
)

BASELINE_STEPS: tuple[str, ...] = ("json_write", "json_read", "sqlite_insert_one_tx", "sqlite_insert_tx_each")


@dataclass
class Step:
    """The result of one timed step: ``n_ops`` operations took ``seconds``; ``error`` is set if it failed."""

    name: str
    n_ops: int
    seconds: float = 0.0
    ms_per_op: float = 0.0
    error: str | None = None
    cpu_seconds: float = 0.0
    """CPU time of the whole process (all threads) over the step: steadier than wall time on a shared machine."""

    @property
    def ok(self) -> bool:
        return self.error is None


class Timed:
    """Context manager made by :func:`timed`."""

    def __init__(self, name: str, n: int, into: list[Step] | None) -> None:
        self.step = Step(name, n)
        if into is not None:
            into.append(self.step)
        self._start = 0.0
        self._cpu = 0.0

    def __enter__(self) -> Step:
        self._cpu = time.process_time()
        self._start = time.perf_counter()
        return self.step

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object) -> bool:
        step = self.step
        step.seconds = time.perf_counter() - self._start
        step.cpu_seconds = time.process_time() - self._cpu
        step.ms_per_op = 1000.0 * step.seconds / step.n_ops if step.n_ops else 0.0
        if isinstance(exc, Exception):
            step.error = _describe(exc)
            return True  # swallowed: the step is marked failed
        return False


def timed(name: str, n: int, into: list[Step] | None = None) -> Timed:
    """Time a ``with`` block as step ``name`` of ``n`` operations, appended to ``into`` if given.

    An exception raised in the block does not propagate: it marks the step failed (``Step.error``), so one
    broken step does not end the run. The block may change ``step.n_ops`` before it ends.
    """
    return Timed(name, n, into)


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


@contextmanager
def untimed(step: Step) -> Iterator[None]:
    """Run untimed work of ``step`` (set-up, answer checks): an exception in it marks the step failed."""
    try:
        yield
    except Exception as exc:
        if step.error is None:
            step.error = _describe(exc)


class CheckError(RuntimeError):
    """A benchmark step returned a wrong answer."""


def check(condition: bool, message: str) -> None:
    """Fail the current step with ``message`` unless ``condition`` holds (unlike ``assert``, never off)."""
    if not condition:
        raise CheckError(message)


def peak_rss_kib() -> int:
    """Peak resident set size of this process so far, in KiB (``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def dir_size_bytes(path: Path) -> int:
    """Total size of the regular files under ``path`` (symbolic links are not followed)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(path):
        for filename in filenames:
            total += (Path(dirpath) / filename).lstat().st_size
    return total


def meta_payload(i: int) -> dict[str, Any]:
    """The ~12-key dict stored as dataset ``meta`` number ``i`` (also the baselines' JSON document)."""
    return {
        "index": i,
        "visit": i // N_DETECTORS + 1,
        "detector": i % N_DETECTORS,
        "exposure_time": 30.0,
        "airmass": 1.0 + (i % 17) / 100.0,
        "seeing": 0.7 + (i % 13) / 100.0,
        "sky_level": 1234.5 + i,
        "zero_point": 31.4,
        "filter": "Cam-r" if (i // N_DETECTORS) % 2 == 0 else "Cam-g",
        "observer": "w1",
        "flags": ["ok", "w1"],
        "wcs": {"crval1": 150.0, "crval2": 2.2, "cd1_1": -5.5e-05, "cd2_2": 5.5e-05},
    }


def run_baselines(root: Path, n: int) -> list[Step]:
    """W1's floor: ``n`` JSON files written then read with ``open()``; ``n`` sqlite3 rows in one transaction,
    then in ``n`` transactions."""
    steps: list[Step] = []
    json_dir = root / "json"
    json_dir.mkdir(parents=True, exist_ok=True)
    payloads = [meta_payload(i) for i in range(n)]
    paths = [json_dir / f"meta_{i}.json" for i in range(n)]
    with timed("json_write", n, steps):
        for path, payload in zip(paths, payloads, strict=True):
            with open(path, "w") as stream:
                json.dump(payload, stream)
    with timed("json_read", n, steps):
        for path, payload in zip(paths, payloads, strict=True):
            with open(path) as stream:
                check(json.load(stream) == payload, f"{path} read back wrong")
    rows = [(i, "Cam", i // N_DETECTORS + 1, i % N_DETECTORS, json.dumps(p)) for i, p in enumerate(payloads)]
    insert = "INSERT INTO dataset (id, instrument, visit, detector, payload) VALUES (?, ?, ?, ?, ?)"
    for name, one_tx in (("sqlite_insert_one_tx", True), ("sqlite_insert_tx_each", False)):
        connection = sqlite3.connect(root / f"{name}.sqlite3", isolation_level=None)
        try:
            connection.execute(
                "CREATE TABLE dataset (id INTEGER PRIMARY KEY, instrument TEXT, visit INTEGER,"
                " detector INTEGER, payload TEXT)"
            )
            with timed(name, n, steps):
                if one_tx:
                    connection.execute("BEGIN")
                    for row in rows:
                        connection.execute(insert, row)
                    connection.execute("COMMIT")
                else:
                    for row in rows:
                        connection.execute("BEGIN")
                        connection.execute(insert, row)
                        connection.execute("COMMIT")
        finally:
            connection.close()
    return steps


def format_table(system: str, steps: Sequence[Step]) -> str:
    """A plain-text table of ``steps``: operations, seconds, ms per operation, CPU seconds, errors of failed steps."""
    lines = [f"== {system}", f"{'step':<24}{'ops':>8}{'seconds':>11}{'ms/op':>11}{'cpu s':>9}  status"]
    for step in steps:
        status = "ok" if step.ok else f"FAILED {step.error}"
        figures = f"{step.n_ops:>8}{step.seconds:>11.3f}{step.ms_per_op:>11.3f}{step.cpu_seconds:>9.3f}"
        lines.append(f"{step.name:<24}{figures}  {status}")
    return "\n".join(lines)


def json_line(system: str, n: int, steps: Sequence[Step], **extra: Any) -> str:
    """One JSON object on one line for ``system``: ``n``, its steps, and ``extra`` fields (e.g. peak RSS)."""
    record: dict[str, Any] = {"system": system, "n": n, **extra, "steps": [asdict(step) for step in steps]}
    return json.dumps(record, sort_keys=False)


def report(system: str, n: int, steps: Sequence[Step], *, out: TextIO = sys.stdout, **extra: Any) -> None:
    """Print the table of ``steps`` for ``system``, then its JSON line."""
    print(format_table(system, steps), file=out)
    print(json_line(system, n, steps, **extra), file=out, flush=True)


def single_system_main(
    system: str,
    runner: Callable[[Path, int, str | None], list[Step]],
    argv: list[str] | None,
    *,
    description: str,
    extra: Mapping[str, Any] | None = None,
    ok: Callable[[Step], bool] = lambda step: step.ok,
) -> int:
    """The command line of a one-system W1 script: run it, print its table and JSON line (and baselines)."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=2000, help="number of datasets N (a multiple of 10)")
    parser.add_argument("--postgres", metavar="URL", help="registry database URL instead of SQLite")
    parser.add_argument("--root", type=Path, help="working directory (default: a temporary one, removed)")
    parser.add_argument("--baselines", action="store_true", help="also run the JSON and sqlite3 baselines")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="w1_") as tmp:
        root = args.root or Path(tmp)
        steps = runner(root / system, args.n, args.postgres)
        registry = "postgresql" if args.postgres else "sqlite"
        report(system, args.n, steps, **dict(extra or {}), registry=registry, peak_rss_kib=peak_rss_kib(),
               repo_bytes=dir_size_bytes(root / system / "repo"))  # fmt: skip
        if args.baselines:
            report("baseline", args.n, run_baselines(root / "baseline", args.n))
    return 0 if all(ok(step) for step in steps) else 1


def has_reference() -> bool:
    """Whether the reference butler (``lsst-daf-butler``, the bench extra) is importable."""
    import importlib.util

    try:
        return importlib.util.find_spec("lsst.daf.butler") is not None
    except ModuleNotFoundError:  # no ``lsst`` namespace at all
        return False


#: Prefix of the lines a W1 worker answers on (other output, e.g. a library's log, is ignored by the harness).
WORKER_TAG = "W1WORKER "


def worker_main(
    system: str, iterate: Callable[[Path, int, str | None, list[Step]], Iterator[None]], argv: list[str]
) -> int:
    """Run W1 one step per command read from standard input (``step``, then ``exit``): the fair harness's worker.

    Before each step the worker collects garbage (untimed), so a pass owed by an earlier step does not land in this
    one's timing. It answers each command with one line: :data:`WORKER_TAG` and a JSON object holding the new
    steps and whether the run is over. On ``exit`` (or end of input) it closes the run, which removes its
    PostgreSQL schemas, and reports peak memory and repository size.
    """
    import argparse
    import gc

    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--root", type=Path, required=True)
    args = parser.parse_args(argv)
    steps: list[Step] = []
    work = root = args.root / system
    running = iterate(work, args.n, args.postgres, steps)

    def answer(record: dict[str, Any]) -> None:
        print(WORKER_TAG + json.dumps(record), flush=True)

    answer({"ready": True})
    sent, done = 0, False
    for line in sys.stdin:
        if line.strip() != "step" or done:
            break
        gc.collect()
        try:
            next(running)
        except StopIteration:
            done = True
        answer({"steps": [asdict(s) for s in steps[sent:]], "done": done, "repo": str(root / "repo")})
        sent = len(steps)
    peak, size = peak_rss_kib(), dir_size_bytes(root / "repo")
    running.close()
    answer({"exit": True, "peak_rss_kib": peak, "repo_bytes": size})
    return 0
