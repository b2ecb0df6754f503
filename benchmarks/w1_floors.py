"""The floors of W1's write steps on SQLite: the same rows, tables and files by bare ``sqlite3`` and ``shutil``.

Usage::

    python benchmarks/w1_floors.py [--n 2000] [--repeats 3]

(`benchmarks/w1.py` runs them after each interleaved run and prints them beside skybutler's figures.)

A *template* run of skybutler (untimed) does W1's steps up to ``calib_certify`` and records what each write step
left in the registry: the tables it created (their SQL, from ``sqlite_master``) and the rows it added to each
table.  Each floor then replays exactly that, with the pragmas the registry uses (WAL, ``synchronous=NORMAL``,
foreign keys on), as one transaction per call the W1 step makes -- each call must be durable on its own:

- ``create_repo``: a new database file in WAL, every table and index and the first rows in one transaction,
  ``butler.yaml`` written to a temporary name and renamed, then the database opened again and its attributes read
  (W1's step makes the repository and opens it);
- ``dimension_records``: one ``executemany`` transaction per element (six calls);
- ``register``: one transaction per dataset type (with its new tables) and per collection (eight calls);
- ``ingest_copy``: every file copied (one read, one write; each folder made once) to the path skybutler gave it,
  and the rows in one transaction;
- ``calib_certify``: per call, ``BEGIN IMMEDIATE``, one query for current rows of the call's data IDs that overlap
  its range, one ``executemany`` of its rows, ``COMMIT``;
- ``import``: into a new, empty registry (made by ``Butler.create``, as W1's step makes it, untimed), every exported
  file copied to the path skybutler gave it (as ``ingest_copy``), then in one transaction the tables the import
  created and the rows it added;
- ``query_data_ids``: the cheapest statement found that returns the step's rows (the data IDs of the ``meta``
  datasets in ``run1``, implied values included: `QUERY_DATA_IDS`), its rows fetched as the plain tuples
  ``sqlite3`` makes, on a connection that has run it once before (its pages read: a floor, not a first call).

No Python of skybutler's runs in a floor: it is the cost of the database and file work itself.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import Step, timed

FLOOR_STEPS = (
    "create_repo",
    "dimension_records",
    "register",
    "ingest_copy",
    "import",
    "calib_certify",
    "query_data_ids",
)

QUERY_DATA_IDS = (
    "WITH v AS MATERIALIZED (SELECT v.instrument, v.id, f.band, v.physical_filter, v.day_obs FROM visit AS v "
    "JOIN physical_filter AS f ON f.instrument = v.instrument AND f.name = v.physical_filter) "
    "SELECT t.instrument, t.detector, t.visit, v.band, v.physical_filter, v.day_obs FROM {tags} AS t "
    "JOIN v ON v.instrument = t.instrument AND v.id = t.visit "
    "WHERE t.dataset_type_id = ? AND t.collection_id = ? ORDER BY t.instrument, t.detector, t.visit"
)
"""The floor's statement for ``query_data_ids``: of the forms tried that return its rows in its order (the data
ID's), the cheapest on W1's repository: every visit's implied values made once (SQLite indexes them for the
join), rather than two primary-key look-ups per dataset (skybutler's and the reference's statement) or visits
first and a sort (benchmarks/RESULTS.md, session 13).  It reads every visit of the repository: a floor for W1,
not a plan for a repository with more visits than datasets in the run."""

Rows = dict[str, list[tuple[Any, ...]]]


@dataclass
class _Change:
    """What one W1 step left in the registry: new schema objects (SQL) and new rows per table."""

    ddl: list[str] = field(default_factory=list)
    rows: Rows = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    replace: set[str] = field(default_factory=set)
    """Tables whose rows may replace rows there before (by key): the import's update of ``butler_attributes``."""


@dataclass
class Template:
    """The registry file before each step, and each step's change (see `make_template`)."""

    before: dict[str, Path]
    changes: dict[str, _Change]
    config_text: bytes
    repo: Path
    ingest_files: list[tuple[Path, str]]
    """(input file, path skybutler stored it at, relative to the repository) of each dataset of ``ingest_copy``."""
    import_files: list[tuple[Path, str]] = field(default_factory=list)
    """(exported file, path skybutler stored it at in the second repository) of each dataset of ``import``."""


def _snapshot(db: Path) -> tuple[dict[str, str], Rows, dict[str, list[str]]]:
    conn = sqlite3.connect(db)
    try:
        query = "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
        schema = dict(conn.execute(query).fetchall())
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
        columns = {t: [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')] for t in tables}
    finally:
        conn.close()
    return schema, rows, columns


def _diff(before: tuple[dict[str, str], Rows, Any], after: tuple[dict[str, str], Rows, Any]) -> _Change:
    change = _Change(ddl=[sql for name, sql in after[0].items() if name not in before[0]], columns=after[2])
    for table, rows in after[1].items():
        old = set(before[1].get(table, []))
        new = [r for r in rows if r not in old]
        if new:
            change.rows[table] = new
    return change


def make_template(root: Path, n: int) -> Template:
    """Run skybutler's W1 up to ``calib_certify`` in ``root``, recording each write step's change."""
    import w1_skybutler

    steps: list[Step] = []
    repo = root / "repo"
    db = repo / "registry.sqlite3"
    before: dict[str, Path] = {}
    changes: dict[str, _Change] = {}
    follows = {"create_repo": "dimension_records", "dimension_records": "register", "ingest_direct": "ingest_copy",
               "calib_put": "calib_certify"}  # fmt: skip
    pending: tuple[str, Any] | None = None
    for _ in w1_skybutler.iter_skybutler(root, n, None, steps):
        done = steps[-1].name
        if not steps[-1].ok:
            raise RuntimeError(f"template run: {done} failed: {steps[-1].error}")
        if done == "create_repo":
            changes[done] = _diff(({}, {}, {}), _snapshot(db))
        if pending is not None:
            changes[pending[0]] = _diff(pending[1], _snapshot(db))
            pending = None
        if done in follows:
            before[follows[done]] = _copy_state(db, root / f"before_{follows[done]}.sqlite3")
            pending = (follows[done], _snapshot(db))
        if done == "query_where":  # the registry query_data_ids reads (no later step changes its rows)
            before["query_data_ids"] = _copy_state(db, root / "before_query_data_ids.sqlite3")
        if done == "import":
            before["import"], changes["import"], imported = _import_change(root)
        if done == "calib_certify":
            break
    ingest = changes["ingest_copy"]
    path_at = ingest.columns["datastore_record"].index("path")
    inputs = sorted((root / "inputs").glob("ing_*.yaml"))  # paired in order: the floor needs only their bytes
    files = [(source, row[path_at]) for source, row in zip(inputs, ingest.rows["datastore_record"], strict=True)]
    return Template(before, changes, (repo / "butler.yaml").read_bytes(), repo, files, imported)


def _import_change(root: Path) -> tuple[Path, _Change, list[tuple[Path, str]]]:
    """The empty registry W1's import starts from, what the import added to it, and its files' (export, stored)
    paths (paired by dataset ID through the first repository's records: the export keeps their paths)."""
    from skybutler import Butler

    Butler.create(root / "empty")  # as W1 makes the second repository
    empty = _copy_state(root / "empty" / "registry.sqlite3", root / "before_import.sqlite3")
    before = _snapshot(empty)
    change = _diff(before, _snapshot(root / "repo2" / "registry.sqlite3"))
    change.replace = {table for table, rows in before[1].items() if rows}
    columns = change.columns["datastore_record"]
    id_at, path_at = columns.index("dataset_id"), columns.index("path")
    conn = sqlite3.connect(root / "repo" / "registry.sqlite3")
    try:
        exported = dict(conn.execute("SELECT dataset_id, path FROM datastore_record").fetchall())
    finally:
        conn.close()
    files = [(root / "export" / exported[row[id_at]], row[path_at]) for row in change.rows["datastore_record"]]
    return empty, change, files


def _copy_state(db: Path, target: Path) -> Path:
    """A consistent single-file copy of the registry as it is now (SQLite's online backup)."""
    source = sqlite3.connect(db)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()
    return target


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _one_transaction(conn: sqlite3.Connection, change: _Change) -> None:
    """The whole of a step's change as one write transaction: its new tables and indexes, then its rows."""
    conn.execute("BEGIN IMMEDIATE")
    for sql in change.ddl:
        conn.execute(sql)
    for table, rows in change.rows.items():
        _insert(conn, change, table, rows)
    conn.execute("COMMIT")


def _insert(conn: sqlite3.Connection, change: _Change, table: str, rows: list[tuple[Any, ...]]) -> None:
    names = ", ".join(f'"{c}"' for c in change.columns[table])
    marks = ", ".join("?" * len(change.columns[table]))
    verb = "INSERT OR REPLACE" if table in change.replace else "INSERT"
    conn.executemany(f'{verb} INTO "{table}" ({names}) VALUES ({marks})', rows)


def _fresh(template: Template, step: str, work: Path) -> Path:
    path = work / f"{step}.sqlite3"
    shutil.copyfile(template.before[step], path)
    return path


def floor_steps(template: Template, work: Path) -> Iterator[Step]:
    """Time each floor once in ``work`` (a new folder); yields the steps named ``floor_<W1 step>``."""
    steps: list[Step] = []
    # create_repo: new file, schema and first rows in one transaction, butler.yaml, reopened
    change = template.changes["create_repo"]
    repo = work / "repo"
    with timed("floor_create_repo", 1, steps):
        repo.mkdir(parents=True)
        conn = _connect(repo / "registry.sqlite3")
        _one_transaction(conn, change)
        conn.close()
        tmp = repo / "butler.yaml.tmp"
        tmp.write_bytes(template.config_text)
        tmp.rename(repo / "butler.yaml")
        (repo / "butler.yaml").read_bytes()
        conn = _connect(repo / "registry.sqlite3")
        conn.execute("SELECT name, value FROM butler_attributes").fetchall()
    conn.close()
    # dimension_records: one transaction per element
    change = template.changes["dimension_records"]
    conn = _connect(_fresh(template, "dimension_records", work))
    with timed("floor_dimension_records", sum(map(len, change.rows.values())), steps):
        for table, rows in change.rows.items():
            conn.execute("BEGIN IMMEDIATE")
            _insert(conn, change, table, rows)
            conn.execute("COMMIT")
    conn.close()
    # register: one transaction per dataset type (its new tables with the first) and per collection
    change = template.changes["register"]
    conn = _connect(_fresh(template, "register", work))
    with timed("floor_register", 1, steps):
        ddl = list(change.ddl)
        for table, rows in change.rows.items():
            for row in rows:
                conn.execute("BEGIN IMMEDIATE")
                while table == "dataset_type" and ddl:
                    conn.execute(ddl.pop(0))
                _insert(conn, change, table, [row])
                conn.execute("COMMIT")
    conn.close()
    # ingest_copy: the files copied where skybutler put them, the rows in one transaction
    change = template.changes["ingest_copy"]
    conn = _connect(_fresh(template, "ingest_copy", work))
    store = work / "store"
    with timed("floor_ingest_copy", len(template.ingest_files), steps):
        made: set[Path] = set()
        for source, stored in template.ingest_files:
            target = store / stored
            if target.parent not in made:  # each folder made once
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            with open(source, "rb") as src, open(target, "wb") as dst:  # small files: one read, one write
                dst.write(src.read())
        _one_transaction(conn, change)
    conn.close()
    # import: the files copied where skybutler put them, then the new tables and rows in one transaction
    change = template.changes["import"]
    conn = _connect(_fresh(template, "import", work))
    store = work / "store2"
    with timed("floor_import", len(template.import_files), steps):
        made = set()
        for source, stored in template.import_files:
            target = store / stored
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            with open(source, "rb") as src, open(target, "wb") as dst:
                dst.write(src.read())
        _one_transaction(conn, change)
    conn.close()
    # calib_certify: per call, an overlap query for its data IDs and one insert of its rows
    change = template.changes["calib_certify"]
    conn = _connect(_fresh(template, "calib_certify", work))
    ((table, rows),) = ((t, r) for t, r in change.rows.items() if t.startswith("dataset_calibs_"))
    columns = change.columns[table]
    at = {c: columns.index(c) for c in columns}
    calls: dict[int, list[tuple[Any, ...]]] = {}
    for row in rows:
        calls.setdefault(row[at["valid_begin"]], []).append(row)
    dims = [c for c in columns if c not in ("row_id", "dataset_type_id", "collection_id", "dataset_id", "valid_begin",
                                            "valid_end", "recorded_begin", "recorded_end")]  # fmt: skip
    key = ", ".join(f'"{d}"' for d in dims)
    overlap = (
        f'SELECT * FROM "{table}" WHERE dataset_type_id = ? AND collection_id = ? AND recorded_end = ? '
        "AND valid_begin < ? AND valid_end > ? AND ({key}) IN (VALUES {values})"
    )
    one = "(" + ", ".join("?" * len(dims)) + ")"
    with timed("floor_calib_certify", len(calls), steps):
        for begin, call in calls.items():
            first = call[0]
            keys = [v for r in call for v in (r[at[d]] for d in dims)]
            fixed = [first[at[c]] for c in ("dataset_type_id", "collection_id", "recorded_end", "valid_end")]
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                overlap.format(key=key, values=", ".join([one] * len(call))), [*fixed, begin, *keys]
            ).fetchall()
            _insert(conn, change, table, call)
            conn.execute("COMMIT")
    conn.close()
    # query_data_ids: the cheapest statement giving the step's rows, on a connection that has read them once
    conn = _connect(_fresh(template, "query_data_ids", work))
    type_id, tags = conn.execute("SELECT dataset_type_id, tag_table FROM dataset_type WHERE name = 'meta'").fetchone()
    (run_id,) = conn.execute("SELECT collection_id FROM collection WHERE name = 'run1'").fetchone()
    sql = QUERY_DATA_IDS.format(tags=tags)
    conn.execute(sql, (type_id, run_id)).fetchall()
    with timed("floor_query_data_ids", 1, steps):
        rows = conn.execute(sql, (type_id, run_id)).fetchall()
    conn.close()
    if len(rows) != len(template.ingest_files):  # one data ID per meta dataset, as many as files ingested
        raise RuntimeError(f"floor_query_data_ids: {len(rows)} rows, expected {len(template.ingest_files)}")
    yield from steps


def run_floors(root: Path, n: int, template: Template | None = None) -> list[Step]:
    """The floors of one run (a template is made first, untimed, unless given)."""
    if template is None:
        template = make_template(root / "template", n)
    work = root / "floors"
    work.mkdir(parents=True, exist_ok=True)
    return list(floor_steps(template, work))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="w1floor_") as tmp:
        template = make_template(Path(tmp) / "template", args.n)
        for i in range(args.repeats):
            for step in run_floors(Path(tmp) / f"run{i}", args.n, template):
                print(f"{step.name:24s} {step.seconds * 1000:9.1f} ms  cpu {step.cpu_seconds * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
