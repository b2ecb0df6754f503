"""The floors of W1's server-bound steps on PostgreSQL: what our step sends, replayed by bare psycopg.

Usage::

    python benchmarks/w1_pg_floors.py --postgres URL [--n 2000] [--repeats 3] [--show STEP]

(`benchmarks/w1.py --postgres URL` runs them after each interleaved run and prints them beside skybutler's
figures.)

A *template* run of skybutler's W1 (`w1_skybutler`, untimed, in this process) goes up to ``calib_certify``
with psycopg recorded: every statement our code sends (``Cursor.execute``, ``executemany``, ``copy`` with its
rows), every ``commit`` and ``rollback``, on which connection, whether psycopg would open a transaction for it
(``BEGIN`` with the isolation level of the moment), and in which W1 step's timed block.  The statements are
then cut into the transactions they ran in: an explicit ``BEGIN`` ... ``COMMIT``, psycopg's own ``BEGIN`` up to
``commit()``, or one statement in autocommit.

The floor of a step replays exactly those statements, with the same parameters and rows, and no Python of
skybutler's, in a new schema (dropped afterwards): the template's writes before the step (untimed), then,
timed, the step's transactions, each sent as one pipeline -- ``BEGIN``, its statements, ``COMMIT`` and one
``Sync``: one round trip, the fewest a transaction can take (a transaction holding a ``COPY``, which a pipeline
cannot carry, is sent statement by statement).  All of it goes over one connection, opened the cheapest way
(``psycopg.connect`` with the schema as ``search_path`` in the start-up packet).  Per step:

- ``create_repo``: the connection is opened inside the timing (ours opens one to create, one to open the
  repository), then the step's transactions (schema, tables, indexes, first rows; the open's reads), and
  ``butler.yaml`` written to a temporary name and renamed, as ours does;
- ``dimension_records``, ``register``, ``calib_certify``: the step's transactions;
- ``put_meta``, ``put_arr``, ``calib_put``: per put, its file (the bytes skybutler stored, read back from the
  template's datastore) written to a temporary name, the put's transaction, then the rename: the order of our
  put (write, register, promote).

So a floor is the server's work for our statements, one round trip per transaction, and the files: what a
put or a set-up write costs with no client code at all.  It says nothing on whether every statement is needed;
the statement and transaction counts it prints show that.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from _common import Step

FLOOR_STEPS = ("create_repo", "dimension_records", "register", "put_meta", "put_arr", "calib_put", "calib_certify")
PUT_STEPS = ("put_meta", "put_arr", "calib_put")
_LAST = "calib_certify"
_READ = re.compile(r"\s*(SELECT|SHOW)\b", re.IGNORECASE)
_WRITE_IN_READ = re.compile(r"\b(nextval|setval|pg_advisory)\w*\s*\(", re.IGNORECASE)
_PATH_COLUMN = re.compile(r'INSERT INTO "?(\w+)"? \(([^)]*)\)', re.IGNORECASE)
_SEARCH_PATH = re.compile(r"search_path=\"?(\w+)\"?")
_INHERITED = object()


@dataclass
class Sent:
    """One thing our code did on a psycopg connection during the template run."""

    conn: int
    """Index of the connection (in the order they were opened)."""
    kind: str
    """``execute``, ``executemany``, ``copy`` (with ``params`` the rows written), ``commit`` or ``rollback``."""
    sql: str = ""
    params: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    autocommit: bool = True
    begin: str = "BEGIN"
    """The ``BEGIN`` psycopg would send before this statement if no transaction were open (not in autocommit)."""
    step: str | None = None
    """The W1 step whose timed block sent it (None: untimed set-up or checks)."""


@dataclass
class Transaction:
    """Statements that ran in one transaction, as our code made it."""

    conn: int
    step: str | None
    statements: list[Sent]
    begin: str | None
    """``BEGIN`` text, or None: one statement in autocommit (its own transaction)."""
    end: str = ""
    """``COMMIT`` or ``ROLLBACK`` (empty for an autocommit statement)."""

    @property
    def writes(self) -> bool:
        """Whether any statement may change something (reads are left out of the untimed set-up)."""
        return any(not _READ.match(s.sql) or _WRITE_IN_READ.search(s.sql) for s in self.statements)

    @property
    def has_copy(self) -> bool:
        return any(s.kind == "copy" for s in self.statements)


@dataclass
class Template:
    """What the template run sent, per main-schema connection, cut into transactions; and the put's files."""

    schema: str
    options: str
    """The ``options`` of our connections (``lock_timeout``, ``search_path``), the template's schema in it."""
    transactions: list[Transaction]
    config_text: bytes
    files: dict[str, list[tuple[str, bytes]]]
    """Per put step, (path under the datastore root, bytes) of each put, in order."""
    connects: dict[str, int]
    """Main-schema connections our code opened during each step."""


class _Recorder:
    """Patches psycopg's cursors and connections to record what is sent (`Sent`), and which step is timed."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.options: list[str] = []
        self.step: str | None = None
        self._index: dict[int, int] = {}
        self._keep: list[Any] = []  # the connections, so no id is reused during the run
        self._saved: list[tuple[Any, str, Any]] = []
        self._copy_rows: list[Any] | None = None

    def conn_index(self, conn: Any) -> int:
        return self._index.get(id(conn), -1)

    def _add(self, conn: Any, kind: str, sql: Any = "", params: Any = None, kwargs: Any = None) -> None:
        text = sql if isinstance(sql, str) else sql.decode() if isinstance(sql, bytes) else sql.as_string(conn)
        begin = "BEGIN"
        if conn.isolation_level is not None:
            begin += f" ISOLATION LEVEL {conn.isolation_level.name.replace('_', ' ')}"
        if conn.read_only:
            begin += " READ ONLY"
        self.sent.append(Sent(self.conn_index(conn), kind, text, params, dict(kwargs or {}), conn.autocommit,
                              begin, self.step))  # fmt: skip

    def _patch(self, owner: Any, name: str, new: Any) -> None:
        self._saved.append((owner, name, owner.__dict__.get(name, _INHERITED)))
        setattr(owner, name, new)

    def __enter__(self) -> _Recorder:
        rec = self
        connect = psycopg.Connection.__dict__["connect"].__func__

        def traced_connect(cls: Any, *args: Any, **kwargs: Any) -> Any:
            conn = connect(cls, *args, **kwargs)
            rec._index[id(conn)] = len(rec._keep)
            rec._keep.append(conn)
            rec.options.append(str(kwargs.get("options", "")))
            return conn

        cursor_execute = psycopg.Cursor.execute
        cursor_executemany = psycopg.Cursor.executemany
        server_execute = psycopg.ServerCursor.execute
        cursor_copy = psycopg.Cursor.copy
        write_row = psycopg.Copy.write_row
        commit, rollback = psycopg.Connection.commit, psycopg.Connection.rollback

        def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            rec._add(self.connection, "execute", query, params, kwargs)
            return cursor_execute(self, query, params, **kwargs)

        def s_execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
            rec._add(self.connection, "execute", query, params)
            return server_execute(self, query, params, **kwargs)

        def executemany(self: Any, query: Any, params_seq: Any, **kwargs: Any) -> Any:
            rows = list(params_seq)
            rec._add(self.connection, "executemany", query, rows, kwargs)
            return cursor_executemany(self, query, rows, **kwargs)

        @contextlib.contextmanager
        def copy(self: Any, statement: Any, params: Any = None, **kwargs: Any) -> Iterator[Any]:
            rows: list[Any] = []
            rec._add(self.connection, "copy", statement, rows)
            rec._copy_rows = rows
            try:
                with cursor_copy(self, statement, params, **kwargs) as cp:
                    yield cp
            finally:
                rec._copy_rows = None

        def traced_write_row(self: Any, row: Any) -> None:
            if rec._copy_rows is not None:
                rec._copy_rows.append(tuple(row))
            write_row(self, row)

        def traced_commit(self: Any) -> None:
            rec._add(self, "commit")
            commit(self)

        def traced_rollback(self: Any) -> None:
            rec._add(self, "rollback")
            rollback(self)

        self._patch(psycopg.Connection, "connect", classmethod(traced_connect))
        self._saved.append((psycopg, "connect", psycopg.connect))
        psycopg.connect = psycopg.Connection.connect  # the module's alias, which SQLAlchemy's dialect calls
        self._patch(psycopg.Cursor, "execute", execute)
        self._patch(psycopg.Cursor, "executemany", executemany)
        self._patch(psycopg.ServerCursor, "execute", s_execute)
        self._patch(psycopg.Cursor, "copy", copy)
        self._patch(psycopg.Copy, "write_row", traced_write_row)
        self._patch(psycopg.Connection, "commit", traced_commit)
        self._patch(psycopg.Connection, "rollback", traced_rollback)
        return self

    def __exit__(self, *_exc: object) -> None:
        for owner, name, value in reversed(self._saved):
            if value is _INHERITED:
                delattr(owner, name)
            else:
                setattr(owner, name, value)
        self._keep.clear()


def transactions_of(sent: list[Sent]) -> list[Transaction]:
    """Cut what was sent into transactions, per connection, in the order they began."""
    out: list[Transaction] = []
    current: dict[int, Transaction] = {}
    for s in sent:
        word = s.sql.strip().split(None, 1)[0].upper() if s.sql.strip() else ""
        txn = current.get(s.conn)
        if s.kind in ("commit", "rollback") or word in ("COMMIT", "ROLLBACK", "END"):
            if txn is not None:
                txn.end = "ROLLBACK" if s.kind == "rollback" or word == "ROLLBACK" else "COMMIT"
                del current[s.conn]
            continue
        if word in ("BEGIN", "START") and s.kind == "execute":
            if txn is None:
                current[s.conn] = Transaction(s.conn, s.step, [], s.sql)
                out.append(current[s.conn])
            continue
        if txn is not None:
            txn.statements.append(s)
            txn.step = txn.step or s.step
        elif not s.autocommit:  # psycopg opens one itself
            current[s.conn] = Transaction(s.conn, s.step, [s], s.begin)
            out.append(current[s.conn])
        else:
            out.append(Transaction(s.conn, s.step, [s], None))
    return out


def make_template(root: Path, n: int, url: str) -> Template:
    """Run skybutler's W1 up to ``calib_certify`` in ``root`` with psycopg recorded (see the module)."""
    import w1_skybutler
    from _common import timed, untimed

    steps: list[Step] = []
    with _Recorder() as rec:

        @contextlib.contextmanager
        def rec_timed(name: str, n_ops: int, into: list[Step] | None = None) -> Iterator[Step]:
            with timed(name, n_ops, into) as step:
                rec.step = name
                try:
                    yield step
                finally:
                    rec.step = None

        @contextlib.contextmanager
        def rec_untimed(step: Step) -> Iterator[None]:
            outer, rec.step = rec.step, None
            try:
                with untimed(step):
                    yield
            finally:
                rec.step = outer

        saved = w1_skybutler.timed, w1_skybutler.untimed
        w1_skybutler.timed, w1_skybutler.untimed = rec_timed, rec_untimed  # type: ignore[assignment]
        running = w1_skybutler.iter_skybutler(root, n, url, steps)
        connects: dict[str, int] = {}
        try:
            for _ in running:
                done = steps[-1]
                if not done.ok:
                    raise RuntimeError(f"template run: {done.name} failed: {done.error}")
                schema = next(s for o in rec.options if (s := _schema_of(o)) is not None)  # the repository's
                connects[done.name] = sum(_schema_of(o) == schema for o in rec.options) - sum(connects.values())
                if done.name == _LAST:
                    break
            files = _put_files(rec, schema, root / "repo")
            config_text = (root / "repo" / "butler.yaml").read_bytes()
        finally:
            w1_skybutler.timed, w1_skybutler.untimed = saved  # type: ignore[assignment]
            running.close()  # drops the template's schemas
    ours = {i for i, o in enumerate(rec.options) if _schema_of(o) == schema}
    transactions = [t for t in transactions_of(rec.sent) if t.conn in ours]
    options = next(o for o in rec.options if _schema_of(o) == schema)
    return Template(schema, options, transactions, config_text, files, connects)


def _schema_of(options: str) -> str | None:
    match = _SEARCH_PATH.search(options)
    return match.group(1) if match else None


def _records(s: Sent) -> list[Any]:
    """The rows ``s`` inserts into ``datastore_record`` (a dataset's file), if it does."""
    match = _PATH_COLUMN.match(s.sql)
    if s.kind != "executemany" or match is None or match.group(1) != "datastore_record":
        return []
    at = [c.strip().strip('"') for c in match.group(2).split(",")].index("path")
    return [row[at] for row in s.params]


def _n_files(txn: Transaction) -> int:
    return sum(len(_records(s)) for s in txn.statements)


def _put_files(rec: _Recorder, schema: str | None, repo: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Per put step, the path and bytes of each dataset's file, from the rows its puts inserted."""
    files: dict[str, list[tuple[str, bytes]]] = {}
    for s in rec.sent:
        if s.step not in PUT_STEPS or _schema_of(rec.options[s.conn]) != schema:
            continue
        for path in _records(s):
            files.setdefault(s.step, []).append((path, (repo / path).read_bytes()))
    return files


# -- the floors --------------------------------------------------------------------------------------------
def _swap(value: Any, old: str, new: str) -> Any:
    """``value`` with the template's schema name replaced by the floor's (statement text and string values)."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list | tuple):
        return type(value)(_swap(v, old, new) for v in value)
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    return value


def _renamed(txn: Transaction, old: str, new: str) -> Transaction:
    """``txn`` with the template's schema name ``old`` replaced by ``new`` (made before any timing)."""
    statements = [dataclasses.replace(s, sql=_swap(s.sql, old, new), params=_swap(s.params, old, new))
                  for s in txn.statements]  # fmt: skip
    return dataclasses.replace(txn, statements=statements)


def _send(cursor: Any, s: Sent) -> None:
    if s.kind == "execute":
        cursor.execute(s.sql, s.params, **s.kwargs)
    elif s.kind == "executemany":
        cursor.executemany(s.sql, s.params, **s.kwargs)
    else:
        with cursor.copy(s.sql) as copy:
            for row in s.params:
                copy.write_row(row)


def _send_transaction(cursor: Any, txn: Transaction) -> None:
    if txn.begin is not None:
        cursor.execute(txn.begin, prepare=False)
    for s in txn.statements:
        _send(cursor, s)
    if txn.end:
        cursor.execute(txn.end, prepare=False)


def replay(conn: psycopg.Connection[Any], txn: Transaction) -> None:
    """One transaction of ours on ``conn`` (autocommit): one pipeline, one round trip (see the module)."""
    with contextlib.ExitStack() as stack:
        if not txn.has_copy:
            stack.enter_context(conn.pipeline())
        _send_transaction(stack.enter_context(conn.cursor()), txn)


def _set_up(conn: psycopg.Connection[Any], transactions: list[Transaction]) -> None:
    """The template's writes among ``transactions``, untimed: runs of them in one pipeline each (a Sync after each
    transaction), a transaction with a ``COPY`` on its own."""
    batch: list[Transaction] = []

    def flush() -> None:
        with conn.pipeline() as pipeline, conn.cursor() as cursor:
            for txn in batch:
                _send_transaction(cursor, txn)
                pipeline.sync()
        batch.clear()

    for txn in transactions:
        if not txn.writes:
            continue
        if txn.has_copy:
            flush()
            replay(conn, txn)
        else:
            batch.append(txn)
    flush()


def _connect(url: str, template: Template, schema: str) -> psycopg.Connection[Any]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    options = template.options.replace(template.schema, schema)
    return psycopg.connect(conninfo, options=options, autocommit=True)


@contextlib.contextmanager
def _fresh_schema(url: str) -> Iterator[str]:
    name = f"w1floor_{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def floor_step(url: str, template: Template, step: str, work: Path, *, verbose: bool = False) -> Step:
    """Time the floor of one W1 step in a new schema (dropped afterwards) and folder ``work``."""
    mine = [i for i, t in enumerate(template.transactions) if t.step == step]
    if not mine:
        raise RuntimeError(f"the template recorded no statement for {step}")
    files = iter(template.files.get(step, []))
    puts = step in PUT_STEPS
    store = work / "store"
    made: set[Path] = set()
    with _fresh_schema(url) as schema:
        if verbose:
            print(f"floor schema: {schema}")
        result = Step(f"floor_{step}", len(mine))
        txns = [_renamed(t, template.schema, schema) for t in template.transactions[: mine[-1] + 1]]
        conn = None
        try:
            if step != "create_repo":
                conn = _connect(url, template, schema)
                _set_up(conn, txns[: mine[0]])
            cpu, start = time.process_time(), time.perf_counter()
            if conn is None:
                conn = _connect(url, template, schema)
            for i in mine:
                txn = txns[i]
                promote: list[tuple[Path, Path]] = []
                for path, data in (next(files) for _ in range(_n_files(txn) if puts else 0)):
                    # the put's file first, renamed once its rows are committed
                    target = store / path
                    if target.parent not in made:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        made.add(target.parent)
                    temp = target.with_name(f".{target.name}.tmp")
                    temp.write_bytes(data)
                    promote.append((temp, target))
                replay(conn, txn)
                for temp, target in promote:
                    temp.replace(target)
            if step == "create_repo":
                config = work / "butler.yaml"
                temp = work / "butler.yaml.tmp"
                temp.write_bytes(template.config_text.replace(template.schema.encode(), schema.encode()))
                temp.replace(config)
                config.read_bytes()
            result.seconds = time.perf_counter() - start
            result.cpu_seconds = time.process_time() - cpu
        finally:
            if conn is not None:
                conn.close()
    return result


def run_floors(url: str, template: Template, work: Path, *, verbose: bool = False) -> list[Step]:
    """Each floor once, in order, in new folders under ``work`` (``verbose``: print each floor's schema)."""
    out = []
    for step in FLOOR_STEPS:
        folder = work / step
        folder.mkdir(parents=True, exist_ok=True)
        out.append(floor_step(url, template, step, folder, verbose=verbose))
    return out


def describe(template: Template, step: str) -> str:
    """The step's transactions and statements (first words), for reading what a floor replays."""
    lines = [f"{step}: {template.connects.get(step, 0)} connection(s) opened by ours"]
    for t in template.transactions:
        if t.step != step:
            continue
        words = [f"{s.kind}:{' '.join(s.sql.split()[:4])[:60]}" for s in t.statements]
        lines.append(f"  [{t.begin or 'autocommit'}] {' | '.join(words)} [{t.end}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", required=True, metavar="URL")
    parser.add_argument("--show", action="append", default=[], metavar="STEP", help="print what STEP replays")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="w1pgfloor_") as tmp:
        template = make_template(Path(tmp) / "template", args.n, args.postgres)
        print(f"template schema: {template.schema}")
        for step in args.show:
            print(describe(template, step))
        for i in range(args.repeats):
            for result in run_floors(args.postgres, template, Path(tmp) / f"run{i}", verbose=True):
                print(f"{result.name:24s} {result.seconds * 1000:9.1f} ms  cpu {result.cpu_seconds * 1000:8.1f} ms"
                      f"  ({result.n_ops} transactions)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
