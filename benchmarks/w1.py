"""Workload W1, the fair form: skybutler and the reference butler interleaved step by step, N repeats.

Usage::

    python benchmarks/w1.py [--n 2000] [--repeats 3] [--postgres URL] [--out w1.md] [--no-reference]

Each system runs in its own worker process (``w1_skybutler.py --worker``, ``w1_reference.py --worker``) on its own
fresh repository. Step k of every system runs alone on the machine, one system after the other, the order rotating
from step to step and run to run, so load drift and garbage-collection passes fall evenly (each worker also
collects garbage, untimed, before each step). On SQLite the reference is measured twice: as shipped (rollback
journal, ``synchronous=FULL``) and at skybutler's durability (WAL, ``synchronous=NORMAL``). After the last step the
command-line target is timed on the same repositories: ``skybutler query-datasets`` as a whole process, against
``python -c "import sqlalchemy"`` + 0.15 s and the reference's ``butler query-datasets``.  Then the floors of the
write steps run, alone too: on SQLite ``w1_floors.py`` (bare sqlite3), on PostgreSQL ``w1_pg_floors.py`` (what
our step sends, replayed by bare psycopg); ``--no-floors`` leaves them out.

Prints, and writes to ``--out`` if given, a markdown table: per step the min/median/max seconds of each system
over the runs, and the ratios reference/skybutler (above 1: skybutler is faster) as median and min-max over runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import W1_STEPS, WORKER_TAG, has_reference, run_baselines
from w1_floors import Template, make_template, run_floors

if TYPE_CHECKING:
    from w1_pg_floors import Template as PgTemplate

HERE = Path(__file__).resolve().parent
CLI_FLOOR_SLACK = 0.15  # issue 26 part 6: whole-process query-datasets <= import sqlalchemy + this many seconds
CLI_STEP = "cli_query_datasets"


@dataclass
class Worker:
    """One system's worker process, answering one line per command."""

    label: str
    command: list[str]
    process: subprocess.Popen[str] | None = None
    done: bool = False
    repo: str = ""
    exit_info: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE, bufsize=1
        )
        self.read()  # {"ready": true}: imports are done, outside any timing

    def read(self) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(WORKER_TAG):
                record: dict[str, Any] = json.loads(line[len(WORKER_TAG) :])
                return record
        raise RuntimeError(f"{self.label} worker ended without answering (exit {self.process.wait()})")

    def send(self, command: str) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            self.exit_info = self.send("exit")
        finally:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=120)


def _python_cli(module: str) -> list[str]:
    return [sys.executable, "-m", module]


def _reference_cli() -> list[str]:
    """The reference's ``butler`` script of this Python (not a version-manager shim, whose start-up is not its)."""
    script = Path(sysconfig.get_path("scripts")) / "butler"
    return [str(script)] if script.exists() else _python_cli("lsst.daf.butler.cli.butler")


def time_command(command: list[str]) -> float:
    """Wall seconds of one whole process; it must succeed."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=HERE)
    return time.perf_counter() - start


def cli_round(repos: dict[str, str], repeats: int) -> dict[str, float]:
    """Best-of-``repeats`` whole-process times of the query-datasets commands, alternating their order."""
    commands = {"import_sqlalchemy": [sys.executable, "-c", "import sqlalchemy"]}
    if "skybutler" in repos:
        commands["skybutler"] = [*_python_cli("skybutler.cli"), "query-datasets", repos["skybutler"], "meta",
                                 "-c", "run1"]  # fmt: skip
    for label in ("reference", "reference_wal"):
        if label in repos:
            commands[label] = [*_reference_cli(), "query-datasets", repos[label], "meta", "--collections", "run1"]
    best = dict.fromkeys(commands, float("inf"))
    names = list(commands)
    for i in range(repeats):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            best[name] = min(best[name], time_command(commands[name]))
    return best


Figures = dict[str, dict[str, float]]


def one_run(workers: list[Worker], run_index: int, cli_repeats: int) -> tuple[Figures, Figures]:
    """One interleaved run of every worker: wall and CPU seconds, {label: {step: seconds}} (failed steps left out)."""
    seconds: Figures = {w.label: {} for w in workers}
    cpu: Figures = {w.label: {} for w in workers}
    for worker in workers:
        worker.start()
    try:
        for k in range(len(W1_STEPS)):
            shift = (k + run_index) % len(workers)
            for worker in workers[shift:] + workers[:shift]:
                if worker.done:
                    continue
                answer = worker.send("step")
                worker.done, worker.repo = answer["done"], answer["repo"]
                for step in answer["steps"]:
                    if step["error"] is None:
                        seconds[worker.label][step["name"]] = step["seconds"]
                        cpu[worker.label][step["name"]] = step["cpu_seconds"]
                    else:
                        print(f"# {worker.label} {step['name']} FAILED: {step['error']}", file=sys.stderr)
        repos = {w.label: w.repo for w in workers if w.repo and "create_repo" in seconds[w.label]}
        cli = cli_round(repos, cli_repeats)
        floor = cli.pop("import_sqlalchemy")
        seconds.setdefault("floor", {})[CLI_STEP] = floor + CLI_FLOOR_SLACK
        for label, value in cli.items():
            seconds[label][CLI_STEP] = value
    finally:
        for worker in workers:
            worker.stop()
    return seconds, cpu


def _spread(values: list[float]) -> str:
    if not values:
        return "failed"
    if len(values) == 1:
        return f"{values[0] * 1000:.1f}"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{mid * 1000:.1f} ({low * 1000:.1f}-{high * 1000:.1f})"


def _ratio(runs: list[Figures], theirs: str, step: str) -> str:
    """Reference/skybutler per run (each run's pair was measured side by side): median (min-max)."""
    ratios = [r[theirs][step] / r["skybutler"][step] for r in runs
              if step in r.get(theirs, {}) and r["skybutler"].get(step)]  # fmt: skip
    if not ratios:
        return "n/a"
    if len(ratios) == 1:
        return f"{ratios[0]:.1f}x"
    return f"{statistics.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"


_FLOOR_NOTES = {
    "sqlite": "`w1_floors.py`: the same rows, tables and files by bare sqlite3 and shutil",
    "postgresql": "`w1_pg_floors.py`: the statements and rows our step sends, and the put's files, replayed by bare "
    "psycopg, one pipeline per transaction",
}


def markdown(runs: list[Figures], labels: list[str], header: str, registry: str = "sqlite") -> str:
    """The table: ms per step (whole step, not per operation) as median (min-max), and the ratios."""
    others = [label for label in labels if label != "skybutler"]
    columns = ["step", *(f"{label} ms" for label in labels), *(f"{label} / skybutler" for label in others)]
    lines = [header, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for step in (*W1_STEPS, CLI_STEP):
        if not any(step in r.get(label, {}) for r in runs for label in labels):
            continue  # e.g. no CPU figure for the whole-process command-line step
        cells = [step]
        cells += [_spread([r[label][step] for r in runs if step in r.get(label, {})]) for label in labels]
        cells += [_ratio(runs, label, step) for label in others]
        lines.append("| " + " | ".join(cells) + " |")
    with_floor = [s for s in W1_STEPS if any(s in r.get("floor", {}) for r in runs)]
    if with_floor:
        lines += ["", f"Floors ({_FLOOR_NOTES[registry]}), ms:", "",
                  "| step | skybutler ms | floor ms | skybutler / floor |", "|---|---|---|---|"]  # fmt: skip
        for step in with_floor:
            ours = [r["skybutler"][step] for r in runs if step in r["skybutler"]]
            floor = [r["floor"][step] for r in runs if step in r.get("floor", {})]
            over = [r["skybutler"][step] / r["floor"][step] for r in runs
                    if step in r["skybutler"] and r.get("floor", {}).get(step)]  # fmt: skip
            ratio = f"{statistics.median(over):.2f} ({min(over):.2f}-{max(over):.2f})" if over else "n/a"
            lines.append(f"| {step} | {_spread(ours)} | {_spread(floor)} | {ratio} |")
    floors = [r["floor"][CLI_STEP] for r in runs if CLI_STEP in r.get("floor", {})]
    if floors:
        lines.append("")
        lines.append(f"CLI floor (`python -c \"import sqlalchemy\"` + {CLI_FLOOR_SLACK} s): {_spread(floors)} ms; "
                     "skybutler's `cli_query_datasets` must stay under it.")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="W1, skybutler and the reference butler interleaved step by step")
    parser.add_argument("--n", type=int, default=2000, help="number of datasets N (a multiple of 10)")
    parser.add_argument("--repeats", type=int, default=3, help="whole interleaved runs (min/median/max over them)")
    parser.add_argument("--postgres", metavar="URL", help="registry database URL instead of SQLite")
    parser.add_argument("--no-reference", action="store_true", help="skybutler alone (no ratios)")
    parser.add_argument("--cli-repeats", type=int, default=5, help="best of this many whole-process CLI runs")
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    parser.add_argument("--no-floors", action="store_true", help="skip the floors of the write steps")
    args = parser.parse_args(argv)
    registry = "postgresql" if args.postgres else "sqlite"
    with_reference = not args.no_reference and has_reference()
    labels = ["skybutler"] + (["reference"] if with_reference else [])
    if with_reference and not args.postgres:
        labels.append("reference_wal")
    runs: list[Figures] = []
    cpu_runs: list[Figures] = []
    baseline: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        template: Template | PgTemplate | None = None  # the floors' template, made once (untimed) before the runs
        if not args.no_floors:
            where = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="w1t_")))
            if args.postgres:
                import w1_pg_floors  # psycopg: only with --postgres

                template = w1_pg_floors.make_template(where, args.n, args.postgres)
            else:
                template = make_template(where, args.n)
        for run_index in range(args.repeats):
            _one_interleaved(run_index, labels, args, template, runs, cpu_runs, baseline)
    _report(runs, cpu_runs, baseline, labels, args, registry)
    failed = any(step not in r["skybutler"] for r in runs for step in W1_STEPS)
    return 1 if failed else 0


def _one_interleaved(
    run_index: int,
    labels: list[str],
    args: argparse.Namespace,
    template: Template | PgTemplate | None,
    runs: list[Figures],
    cpu_runs: list[Figures],
    baseline: dict[str, list[float]],
) -> None:
    """One interleaved run of every worker, then the baselines and the floors, alone on the machine."""
    with tempfile.TemporaryDirectory(prefix="w1_") as tmp:
        workers = [_worker(label, Path(tmp) / label, args) for label in labels]
        seconds, cpu = one_run(workers, run_index, args.cli_repeats)
        runs.append(seconds)
        cpu_runs.append(cpu)
        for step in run_baselines(Path(tmp) / "baseline", args.n):
            baseline.setdefault(step.name, []).append(step.seconds)
        if template is not None:
            if isinstance(template, Template):
                floors = run_floors(Path(tmp) / "floors", args.n, template)
            else:
                import w1_pg_floors

                floors = w1_pg_floors.run_floors(args.postgres, template, Path(tmp) / "floors")
            for step in floors:
                name = step.name.removeprefix("floor_")
                seconds.setdefault("floor", {})[name] = step.seconds
                cpu.setdefault("floor", {})[name] = step.cpu_seconds
        info = {w.label: w.exit_info for w in workers}
    print(f"# run {run_index + 1}/{args.repeats} done: {json.dumps(info)}", file=sys.stderr)


def _report(
    runs: list[Figures],
    cpu_runs: list[Figures],
    baseline: dict[str, list[float]],
    labels: list[str],
    args: argparse.Namespace,
    registry: str,
) -> None:
    load = os.getloadavg()
    header = (
        f"W1 interleaved, n={args.n}, {registry}, {args.repeats} run(s), Python {platform.python_version()}, "
        f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    table = markdown(runs, labels, header, registry)
    cpu_header = "CPU time of the worker process over each step (same runs; a floor's: of the harness process):"
    table += "\n\n" + markdown(cpu_runs, labels, cpu_header, registry)
    floor_lines = [f"- baseline {name}: {_spread(values)} ms (whole step)" for name, values in baseline.items()]
    text = table + "\n\n" + "\n".join(floor_lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


def _worker(label: str, root: Path, args: argparse.Namespace) -> Worker:
    script = "w1_skybutler.py" if label == "skybutler" else "w1_reference.py"
    command = [sys.executable, str(HERE / script), "--worker", "--n", str(args.n), "--root", str(root)]
    if args.postgres:
        command += ["--postgres", args.postgres]
    if label == "reference_wal":
        command.append("--wal")
    return Worker(label, command)


if __name__ == "__main__":
    sys.exit(main())
