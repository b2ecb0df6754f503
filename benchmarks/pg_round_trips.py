"""Round trips and statements per W1 step on PostgreSQL, counted on the wire, with CPU and wall time.

Usage::

    python benchmarks/pg_round_trips.py --n 2000 --postgres postgresql://postgres@127.0.0.1:5432/postgres

Runs skybutler's W1 steps (`w1_skybutler`) alone in this process.  Every psycopg connection the process opens
is traced by libpq into one file: a round trip is one ``ReadyForQuery`` message from the server (it ends the
answer to a simple query, to the ``Sync`` of an extended-protocol statement or to a whole pipeline), so their
number is how many times the client waited for the server, whatever path sent the statements.  Statements are
the ``Query`` and ``Parse``/``Bind`` messages the client sent.  Timings are of the step's own (`_common.timed`), with
the tracing on (it costs some CPU: compare the counts, not these times, with `w1.py`'s).  Counts include the
step's untimed set-up and checks (a few statements; e.g. the second repository of ``import``).
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from w1_skybutler import iter_skybutler

_TRACE = tempfile.NamedTemporaryFile("w+", prefix="pg_trace_", suffix=".txt", delete=False)  # noqa: SIM115


def _traced(original: Any) -> Any:
    def connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
        conn = original.__func__(cls, *args, **kwargs)
        conn.pgconn.trace(_TRACE.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        return conn

    return classmethod(connect)


def _verb(text: str) -> str:
    """The first word of a statement's text as traced (lines of a long statement come on lines of their own)."""
    words = text.replace("\\n", " ").split()
    return words[0].upper().rstrip('";') if words else "?"


def _count() -> tuple[int, collections.Counter[str]]:
    """Round trips and statements (by their first word) traced so far."""
    _TRACE.flush()
    trips = 0
    kinds: collections.Counter[str] = collections.Counter()
    with open(_TRACE.name) as trace:
        for line in trace:
            parts = line.split("\t")
            if len(parts) < 4:
                continue
            if parts[0] == "B" and parts[2] == "ReadyForQuery":
                trips += 1
            elif parts[0] == "F" and parts[2] == "Query":
                kinds[_verb(parts[3].strip()[1:])] += 1
            elif parts[0] == "F" and parts[2] == "Parse":
                kinds[_verb(parts[3].strip().split('" "', 1)[-1])] += 1
            elif parts[0] == "F" and parts[2] == "Bind" and not parts[3].strip().startswith('"" ""'):
                kinds["(prepared)"] += 1
    return trips, kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--postgres", required=True, metavar="URL")
    args = parser.parse_args()
    psycopg.Connection.connect = _traced(psycopg.Connection.connect)  # type: ignore[method-assign]
    psycopg.connect = psycopg.Connection.connect  # the module's alias, which SQLAlchemy's dialect calls
    steps: list[Any] = []
    print("| step | round trips | statements (by kind) | CPU ms | wall ms |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="pg_rt_") as tmp:
        trips, kinds = _count()
        for _ in iter_skybutler(Path(tmp), args.n, args.postgres, steps):
            now_trips, now_kinds = _count()
            step = steps[-1]
            new = now_kinds - kinds
            shown = ", ".join(f"{k} {v}" for k, v in new.most_common(6))
            error = f" FAILED: {step.error}" if step.error else ""
            print(f"| {step.name} | {now_trips - trips} | {sum(new.values())}: {shown} | {step.cpu_seconds * 1e3:.1f} "
                  f"| {step.seconds * 1e3:.1f} |{error}")  # fmt: skip
            sys.stdout.flush()
            trips, kinds = _count()
    Path(_TRACE.name).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
