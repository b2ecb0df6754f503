"""The SQLite floor of a bulk ``direct`` ingest: the three rows per file inserted with the bare ``sqlite3`` module.

Usage::

    python benchmarks/ingest_floor.py [--n 10000] [--repeat 7] [--prefill 20000]

A repository is made with skybutler (the W1 sample records and an ``ing`` dataset type, so the schema is
exactly the registry's), ``--prefill`` datasets are inserted first (the benchmark's repository is not empty
when it ingests), then N datasets' ``dataset``, tags and ``datastore_record`` rows go in with ``executemany``
in one transaction, in key order, with the pragmas the registry uses (WAL, ``synchronous=NORMAL``, foreign
keys on) -- what `Datasets.insert` does, without any Python of ours around it.  Variants, run interleaved on
copies of the same file: ``schema`` (as it is), ``without_rowid`` (the three tables ``WITHOUT ROWID``),
``no_fk`` and ``lean_indexes`` (the tags data-ID index and ``dataset_run_type`` dropped) for information only:
foreign keys and those indexes stay (queries and collection deletes use them).  CPU time (process) per file,
median and range over ``--repeat`` runs of each.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _common import N_DETECTORS
from skybutler import Butler
from skybutler.testing.sample import populate_sample

TAGS = "dataset_tags_instrument_detector_visit"
VARIANTS = ("schema", "without_rowid", "no_fk", "lean_indexes")
_RECORD = "INSERT INTO datastore_record (dataset_id, component, datastore, path, formatter, storage_class, " \
    "file_size, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # fmt: skip


def _connect(path: Path, *, foreign_keys: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    return conn


def _insert(conn: sqlite3.Connection, tid: int, run: str, n: int, seed: str) -> tuple[float, ...]:
    """Insert n datasets into a new run; return CPU seconds of (dataset, tags, records, commit)."""
    conn.execute("INSERT INTO collection (name, type) VALUES (?, 1)", (run,))
    run_id = conn.execute("SELECT collection_id FROM collection WHERE name = ?", (run,)).fetchone()[0]
    ns = uuid.uuid5(uuid.NAMESPACE_URL, seed)
    order = sorted(range(n), key=lambda i: uuid.uuid5(ns, str(i)).hex)
    keys = [uuid.uuid5(ns, str(i)).hex for i in order]
    now = time.time_ns()
    datasets = [(k, tid, run_id, now) for k in keys]
    tags = [(tid, run_id, k, "Cam", i % N_DETECTORS, i // N_DETECTORS) for k, i in zip(keys, order, strict=True)]
    records = [(k, "", "", f"file:///data/{seed}/ing_{i}.yaml", "yaml", "StructuredDataDict", 400, None)
               for k, i in zip(keys, order, strict=True)]  # fmt: skip
    t = [time.process_time()]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO dataset (id, dataset_type_id, run_id, ingest_date) VALUES (?, ?, ?, ?)", datasets)
    t.append(time.process_time())
    conn.executemany(f"INSERT INTO {TAGS} (dataset_type_id, collection_id, dataset_id, instrument, detector, visit) "
                     "VALUES (?, ?, ?, ?, ?, ?)", tags)  # fmt: skip
    t.append(time.process_time())
    conn.executemany(_RECORD, records)
    t.append(time.process_time())
    conn.execute("COMMIT")
    t.append(time.process_time())
    return tuple(b - a for a, b in itertools.pairwise(t))


def _variant(template: Path, where: Path, variant: str) -> Path:
    path = where / f"{variant}.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copy(template, path)
    conn = _connect(path, foreign_keys=False)
    if variant == "without_rowid":
        tables = ("dataset", TAGS, "datastore_record")
        sql = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
        indexes = [row[0] for row in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN (?, ?, ?)", tables
        )]  # fmt: skip
        conn.execute("BEGIN")
        for table in reversed(tables):
            conn.execute(f"DROP TABLE {table}")
        for table in tables:
            conn.execute(sql[table].rstrip() + " WITHOUT ROWID")
        for index in indexes:
            conn.execute(index)
        conn.execute("COMMIT")
    elif variant == "lean_indexes":
        conn.execute(f"DROP INDEX {TAGS}_data_id")
        conn.execute("DROP INDEX dataset_run_type")
    conn.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--prefill", type=int, default=20_000, help="datasets in the repository beforehand")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ingest_floor_") as tmp:
        root = Path(tmp)
        Butler.create(root / "repo")
        with Butler(root / "repo", run="put") as butler:
            populate_sample(butler, n_visits=max(args.n, args.prefill) // N_DETECTORS + 1, n_detectors=N_DETECTORS)
            butler.register_dataset_type("ing", ["instrument", "visit", "detector"], "StructuredDataDict")
        template = root / "repo" / "registry.sqlite3"
        conn = _connect(template)
        tid = conn.execute("SELECT dataset_type_id FROM dataset_type WHERE name = 'ing'").fetchone()[0]
        if args.prefill:
            _insert(conn, tid, "prefill", args.prefill, "prefill")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        results: dict[str, list[tuple[float, ...]]] = {v: [] for v in VARIANTS}
        for r in range(args.repeat):
            for variant in VARIANTS:  # interleaved, so load from other jobs spreads over all variants
                conn = _connect(_variant(template, root, variant), foreign_keys=variant != "no_fk")
                results[variant].append(_insert(conn, tid, f"run{r}", args.n, f"r{r}"))
                conn.close()
    print(f"N = {args.n}, {args.prefill} datasets already registered, {args.repeat} runs each; CPU µs per file")
    print(f"{'variant':14s} {'dataset':>8s} {'tags':>8s} {'record':>8s} {'commit':>8s} {'total':>8s}  range")
    for variant, runs in results.items():
        parts = [statistics.median(run[i] for run in runs) * 1e6 / args.n for i in range(4)]
        totals = sorted(sum(run) * 1e6 / args.n for run in runs)
        print(f"{variant:14s} " + " ".join(f"{p:8.1f}" for p in parts)
              + f" {statistics.median(totals):8.1f}  {totals[0]:.1f}-{totals[-1]:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
