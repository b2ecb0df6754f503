"""W1's PostgreSQL floors (benchmarks/w1_pg_floors.py): what our steps send is recorded, cut into the transactions
they ran in, replayed by bare psycopg into schemas that are dropped afterwards.  A smoke test, not a timing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from skybutler.testing.fixtures import POSTGRES_URL, require_postgres

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def _floors() -> Any:
    """benchmarks/w1_pg_floors.py, loaded by path (it imports ``_common`` from its folder)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("w1_pg_floors_for_tests", BENCHMARKS / "w1_pg_floors.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


def test_statements_are_cut_into_the_transactions_they_ran_in() -> None:
    floors = _floors()
    sent = floors.Sent
    recorded = [
        # psycopg opens a transaction itself (not in autocommit) with the isolation level of the moment
        sent(0, "execute", "SELECT 1", autocommit=False, begin="BEGIN ISOLATION LEVEL REPEATABLE READ", step="a"),
        sent(1, "execute", "SELECT 2", step="a"),  # another connection, autocommit: a transaction of its own
        sent(0, "execute", "SELECT 3", autocommit=False, step="a"),
        sent(0, "commit", step="a"),
        sent(0, "commit", step="a"),  # nothing open: no transaction
        sent(0, "execute", "BEGIN", step="b"),  # ours, in autocommit (a pipelined transaction)
        sent(0, "executemany", 'INSERT INTO "t" ("x") VALUES (%s)', [(1,), (2,)], step="b"),
        sent(0, "execute", "COMMIT", step="b"),
        sent(0, "execute", "SELECT 4", autocommit=False, step=None),
        sent(0, "rollback"),
    ]
    got = [(t.conn, t.step, [s.sql for s in t.statements], t.begin, t.end, t.writes)
           for t in floors.transactions_of(recorded)]  # fmt: skip
    assert got == [
        (0, "a", ["SELECT 1", "SELECT 3"], "BEGIN ISOLATION LEVEL REPEATABLE READ", "COMMIT", False),
        (1, "a", ["SELECT 2"], None, "", False),
        (0, "b", ['INSERT INTO "t" ("x") VALUES (%s)'], "BEGIN", "COMMIT", True),
        (0, None, ["SELECT 4"], "BEGIN", "ROLLBACK", False),
    ]


def test_an_advisory_lock_counts_as_a_write() -> None:
    floors = _floors()
    lock = floors.Sent(0, "execute", "SELECT pg_advisory_xact_lock(%s)", [1])
    assert floors.Transaction(0, "x", [lock], "BEGIN", "COMMIT").writes


def _schemas(prefix: str) -> set[str]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", [prefix + "%"]).fetchall()
    return {r[0] for r in rows}


@pytest.mark.postgres
def test_every_floor_replays_and_leaves_no_schema_behind() -> None:
    require_postgres()
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "w1_pg_floors.py"), "--n", "20", "--repeats", "1",
         "--postgres", POSTGRES_URL, "--show", "put_arr"],
        capture_output=True, text=True, check=False, cwd=BENCHMARKS, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    timed = {line.split()[0]: line for line in lines if line.startswith("floor_")}
    floors = _floors()
    assert set(timed) == {f"floor_{step}" for step in floors.FLOOR_STEPS}, done.stdout
    # put_arr: at n=20, 20 puts, each one transaction of three inserts (the dataset, its tags row, its file's row)
    puts = [line for line in lines if line.startswith("  [BEGIN]") and "datastore_record" in line]
    assert len(puts) == 20, done.stdout
    assert "(20 transactions)" in timed["floor_put_arr"]
    (template,) = (line.split()[-1] for line in lines if line.startswith("template schema: "))
    assert template not in _schemas("w1sky_")  # the template's schema was dropped
    floor_schemas = {line.split()[-1] for line in lines if line.startswith("floor schema: ")}
    assert len(floor_schemas) == len(floors.FLOOR_STEPS)  # each floor in a schema of its own
    assert not floor_schemas & _schemas("w1floor_")  # and each was dropped
