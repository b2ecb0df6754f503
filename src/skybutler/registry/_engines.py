"""Database connections: the only place where SQLite and PostgreSQL differ.

SQLite runs in WAL mode with ``synchronous=NORMAL``, foreign keys on, and write transactions that start with
``BEGIN IMMEDIATE`` so that concurrent writers queue on the busy timeout instead of failing on lock upgrade;
read "transactions" run in autocommit mode (each statement sees its own snapshot).
PostgreSQL uses psycopg 3, with ``search_path`` set to the repository's schema on every connection
(`skybutler.registry._pg_connect`).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from skybutler.errors import ConfigError, ConflictError, StorageError
from skybutler.registry._checkpoints import Checkpointer
from skybutler.registry._insert_sql import sqlite_insert
from skybutler.registry._pg_connect import pg_engine
from skybutler.registry._pg_snapshot import read_snapshot
from skybutler.registry._pg_writes import (
    advisory_key,
    commit_with_inserts,
    defer_insert,
    insert_rows,
    one_round_trip,
)
from skybutler.registry._single_reads import one_row
from skybutler.registry._small_reads import SMALL_ROWS, read_all, stream_select, stream_text
from skybutler.registry._statistics import analyze_new_postgres, refresh_sqlite

__all__ = ["Database", "LostCommitError", "normalize_url"]

_SHAPES = 500
"""Compiled statement shapes kept per connection."""
_UNSEEN = object()
_AUTO_CHECKPOINT = 1000
"""SQLite's default inline checkpoint threshold (pages of write-ahead log), restored after a bulk commit."""
_BULK_ROWS = 2000
"""Rows inserted in bulk from which a SQLite transaction leaves its checkpoint to a background thread."""
_ANALYZE_ROWS = 1000
"""Rows inserted into a PostgreSQL table from which it is analyzed if it has no statistics yet."""
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}\Z")


class LostCommitError(StorageError):
    """The connection broke while a transaction committed: the change may or may not have been saved.

    A `StorageError` (code ``storage``) of its own so that a caller that can look what was saved (a put,
    whose staged files must be kept if its datasets were registered) tells it from a failure before the
    commit, which certainly changed nothing.
    """


def normalize_url(url: str) -> str:
    """Pick our drivers: ``postgresql://`` means psycopg 3."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """One connection to the registry database, with explicit read and write transactions.

    A `Database` is used by one thread at a time (each Butler has its own); processes each open their own.
    """

    def __init__(self, url: str, *, schema: str | None = None, busy_timeout: float = 60.0) -> None:
        self.url = normalize_url(url)
        try:
            parsed = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise ConfigError(f"Invalid registry URL {url!r}: {exc}") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigError(f"Unsupported registry database {self.dialect!r}; use sqlite or postgresql.")
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ConfigError(f"Invalid PostgreSQL schema name {schema!r}: use letters, digits and '_'.")
        if schema is not None and self.dialect != "postgresql":
            raise ConfigError("A registry schema name only applies to PostgreSQL registries.")
        self.schema = schema
        self.busy_timeout = busy_timeout
        self._immediate = False
        self._depth = 0
        self._pipeline: Any = None
        """PostgreSQL: the cursor of the pipelined transaction in progress (see `one_round_trip`)."""
        self._generic: Any = None
        """PostgreSQL: the connection that plans spatial plans' statements generically (`_pg_generic`)."""
        self._at_commit: list[tuple[str, list[tuple[Any, ...]]]] = []
        """PostgreSQL: inserts sent with the current transaction's COMMIT (`insert_at_commit`)."""
        self._bulk: dict[str, int] = {}
        """Rows `insert_many` wrote to each table in the current transaction."""
        self._inserted: dict[str, int] = {}
        """Rows `insert_many` wrote to each table through this connection (committed or not)."""
        self._stats_checked: set[str] = set()
        """PostgreSQL tables whose statistics were checked (see `_statistics.analyze_new_postgres`)."""
        self.analyzed: list[str] = []
        """SQLite tables this connection analyzed (see `_statistics.refresh_sqlite`), oldest first."""
        self._checkpointer: Checkpointer | None = None
        self._compiled: dict[int, tuple[Any, str, tuple[str, ...], dict[str, Any]]] = {}
        self._shapes: OrderedDict[Any, Any] = OrderedDict()
        """Statement cache key → compiled SELECT (or None: not reusable), least recently used first."""
        self.small_rows = SMALL_ROWS
        """PostgreSQL: rows up to which a streamed query is one plain statement, not a cursor (`_small_reads`)."""
        if self.dialect == "sqlite":
            self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
            sa.event.listen(self.engine, "connect", self._sqlite_connect)
            sa.event.listen(self.engine, "begin", self._sqlite_begin)
            if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
                self._checkpointer = Checkpointer(str(Path(parsed.database).absolute()), int(busy_timeout * 1000))
        else:
            if "psycopg" not in self.url.split("://")[0]:
                raise ConfigError("PostgreSQL registries use psycopg 3: give a postgresql:// URL.")
            try:
                import psycopg  # noqa: F401
            except ModuleNotFoundError:
                from skybutler.errors import MissingDependencyError

                raise MissingDependencyError(
                    "PostgreSQL registries need psycopg 3; run: pip install 'skybutler[postgres]'"
                ) from None
            self.engine = pg_engine(self.url, schema, busy_timeout)
        try:
            self.conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            if self.dialect == "sqlite" and not isinstance(exc, sa.exc.OperationalError):
                raise self.failure(exc, "could not be opened") from None
            raise StorageError(f"Cannot connect to the registry database {parsed!r}: {exc.orig}") from None

    @property
    def runs_in_server(self) -> bool:
        """Whether statements run in a server process (PostgreSQL), not in this one (SQLite).

        Then a thread waiting for a statement leaves the client's CPU free: bulk writers can prepare the next
        batch meanwhile (an import parses the next part of its file while the server checks keys).
        """
        return self.dialect != "sqlite"

    @property
    def background_checkpoints(self) -> int:
        """SQLite checkpoints run by the background thread so far (see `Checkpointer`; 0 on PostgreSQL)."""
        return 0 if self._checkpointer is None else self._checkpointer.done

    # -- connection set-up ----------------------------------------------------------------------------------
    def _sqlite_connect(self, dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        # 32 MiB of page cache (the default is 2): at 10 M datasets an indexed find re-read its index pages from
        # the OS each call, 0.13 against 0.05 ms; memory grows only with pages actually read (RESULTS.md).
        cur.execute("PRAGMA cache_size = -32768")
        cur.close()

    def _sqlite_begin(self, conn: sa.Connection) -> None:
        # Reads run in SQLite's autocommit mode: each statement is its own consistent snapshot, which is
        # all a single-statement read needs, and it saves two round trips per call on the hot path.
        if self._immediate:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    # -- transactions ---------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, write: bool = True, pipelined: bool = False) -> Iterator[sa.Connection]:
        """Run the block in one transaction (nested calls join the outer one).

        ``pipelined``: a block of inserts only (`insert_many`) is sent in one round trip on PostgreSQL, when
        it is not nested (see `one_round_trip`); the block must then not read.

        Commits after bulk inserts (`insert_many`) are followed by maintenance: on SQLite the checkpoint the
        commit would run inline runs on a background thread (see `Checkpointer`); on PostgreSQL tables that
        now hold a thousand rows or more and have no statistics yet are analyzed (`_statistics`).
        At commit, integrity errors become `ConflictError` and other driver errors `StorageError`.  Inside the
        block, a driver error other than an integrity error becomes a `StorageError` once the outermost
        transaction has rolled back; integrity errors pass through, for callers that explain them.
        """
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        if pipelined and self.dialect == "postgresql":
            with one_round_trip(self) as conn:
                yield conn
            return
        # PostgreSQL: a read of several statements sees one snapshot (`read_snapshot`)
        snapshot = read_snapshot(self) if not write and self.dialect == "postgresql" else contextlib.nullcontext()
        with snapshot:
            self._immediate = write
            txn = self._begin()
            self._depth = 1
            self._bulk.clear()
            self._at_commit.clear()
            deferred = False
            try:
                try:
                    yield self.conn
                except BaseException as exc:
                    self._depth = 0
                    self._discard(txn, invalidate=False)
                    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
                        raise StorageError(
                            f"The connection to the registry database was lost ({exc.orig}); nothing was changed. "
                            "The next call reconnects: retry the operation."
                        ) from exc
                    if isinstance(exc, sa.exc.IntegrityError | sqlite3.IntegrityError):
                        raise  # for callers that explain them
                    if isinstance(exc, sa.exc.DBAPIError | sqlite3.Error):
                        # A lock held past the busy timeout, a value the server refuses, a full disk: the
                        # transaction is rolled back.
                        what = "refused or failed a statement, and the change was rolled back"
                        raise self.failure(exc, what) from exc
                    raise
                self._depth = 0
                if self._checkpointer is not None and sum(self._bulk.values()) >= _BULK_ROWS:
                    deferred = True
                    self._auto_checkpoint(0)
                try:
                    if self._at_commit:
                        commit_with_inserts(self)  # then SQLAlchemy's commit finds nothing left to commit
                    txn.commit()
                except sa.exc.DBAPIError as exc:
                    # A failed commit (a full disk, a deferred constraint, a lost server) leaves SQLAlchemy's
                    # transaction open and the driver connection in doubt: both are discarded, so the next call
                    # starts afresh instead of failing with "already initialized a SQLAlchemy Transaction".
                    deferred = False
                    self._discard(txn, invalidate=True)
                    if isinstance(exc, sa.exc.IntegrityError):
                        raise ConflictError(f"The registry refused the change: {exc.orig}") from None
                    if exc.connection_invalidated:  # the server may have committed before the connection broke
                        raise LostCommitError(
                            f"The connection to the registry database was lost while committing "
                            f"({str(exc.orig).strip().splitlines()[0]}): the change may or may not have been saved. "
                            "The next call reconnects: look before you retry."
                        ) from exc
                    raise self.failure(exc, "could not commit; nothing was changed") from None
            finally:
                if deferred:
                    self._auto_checkpoint(_AUTO_CHECKPOINT)
            self._after_commit(deferred)

    def _discard(self, txn: sa.RootTransaction, *, invalidate: bool) -> None:
        """End a failed transaction so that the next one can begin on this `Database`.

        Until a failed transaction is rolled back, SQLAlchemy refuses every later call ("This connection has
        already initialized a SQLAlchemy Transaction()"): one full disk would wedge the Butler for good.  If
        the rollback fails too, or the commit failed (the driver connection is then in doubt: SQLite after an
        I/O error, PostgreSQL in an aborted state), the connection is invalidated: the database discards what
        it did not commit, and SQLAlchemy opens a new connection, with our settings, on the next call.
        """
        if not invalidate:
            try:
                txn.rollback()
                return
            except Exception:  # handled below: the connection is replaced
                pass
        try:
            self.conn.invalidate()
        finally:
            if self.conn.get_transaction() is txn:  # a failed rollback has detached it already
                txn.rollback()  # on an invalidated connection this only detaches it

    def failure(self, exc: BaseException, what: str) -> StorageError:
        """Our error for a driver error ``exc``: the registry ``what`` (a damaged SQLite file says so)."""
        orig = getattr(exc, "orig", None) or exc
        text = str(orig)
        if self.dialect == "sqlite" and ("malformed" in text or "not a database" in text):
            return StorageError(
                f"The registry database {self.engine.url.database} is damaged ({text}); skybutler cannot use or "
                "repair it. Restore it from a backup, or recover its rows with the sqlite3 shell's `.recover` "
                "into a new file, then open the repository again."
            )
        hint = " If the disk is full or a file-size limit was reached, free space, then retry." if "I/O" in text else ""
        return StorageError(f"The registry database {what}: {text}.{hint}")

    def _after_commit(self, checkpoint: bool) -> None:
        """Maintenance after a commit with bulk inserts: the deferred SQLite checkpoint, then statistics
        (SQLite: large tags tables, `_statistics.refresh_sqlite`; PostgreSQL: tables that have none yet)."""
        if checkpoint:
            assert self._checkpointer is not None
            self._checkpointer.after_bulk_commit(self._driver())
            self.analyzed += refresh_sqlite(self._driver(), list(self._bulk))
        elif self.dialect == "postgresql" and self._bulk:
            due = [t for t in self._bulk if t not in self._stats_checked and self._inserted[t] >= _ANALYZE_ROWS]
            if due:
                self._stats_checked.update(due)
                analyze_new_postgres(self, sorted(due))

    def _auto_checkpoint(self, pages: int) -> None:
        """Set SQLite's inline checkpoint threshold on this connection (0: off)."""
        self.conn.connection.driver_connection.execute(f"PRAGMA wal_autocheckpoint = {pages}")  # type: ignore[union-attr]

    @contextmanager
    def savepoint(self) -> Iterator[sa.Connection]:
        """Inside a transaction: if the block raises, undo only its statements, so the transaction goes on.

        PostgreSQL refuses every statement of a transaction after one fails; a caller that explains a refused
        insert with more queries (which record is missing) needs the savepoint to run them.
        """
        if not self._depth:
            raise AssertionError("savepoint() is for use inside transaction()")
        nested = self.conn.begin_nested()
        try:
            yield self.conn
        except BaseException:
            if nested.is_active:
                nested.rollback()
            raise
        nested.commit()

    @contextmanager
    def explainable(self) -> Iterator[sa.Connection]:
        """`transaction`, in which a refused statement can still be explained by more queries before raising.

        Only a PostgreSQL transaction joined from a caller's needs a savepoint for that: PostgreSQL refuses
        every statement of a transaction after one fails, SQLite goes on, and a transaction of the block's own
        is rolled back whole before the caller explains.  Elsewhere the savepoint would only cost two
        statements per call (round trips, on PostgreSQL).  Use `savepoint` instead where the explanation must
        not see the rows the refused statement inserted before it failed (SQLite keeps them until rollback).
        """
        if not self._depth or self.dialect == "sqlite":
            with self.transaction() as conn:
                yield conn
            return
        with self.transaction() as conn, self.savepoint():
            yield conn

    def _check_open(self) -> None:
        """Refuse use after `close` with our error: SQLAlchemy's says only "This Connection is closed"."""
        if self.conn.closed:
            raise StorageError(
                "This butler's registry connection is closed (by close() or the end of its 'with' block); "
                "open a new Butler to go on."
            )

    def _driver(self) -> Any:
        """The driver connection, for the SQLite fast paths that bypass SQLAlchemy (after `_check_open`)."""
        self._check_open()
        return self.conn.connection.driver_connection

    def _begin(self) -> sa.RootTransaction:
        self._check_open()
        for attempt in range(5):
            try:
                return self.conn.begin()
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc.orig) or attempt == 4:
                    raise StorageError(f"The registry database is busy: {exc.orig}") from None
                self.conn.rollback()
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- hot-path reads ---------------------------------------------------------------------------------------
    def read_rows(self, stmt: Any, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a cached, parameterized SELECT and return its raw rows.

        On SQLite the statement is compiled once and executed on the driver connection directly: for a
        single-statement read this skips SQLAlchemy's per-call machinery (about 40 µs) and SQLite's
        autocommit mode gives the statement its own snapshot.  Values come back as the driver returns them
        (UUIDs as hex strings on SQLite): callers convert what they need.  On PostgreSQL the same, through
        `_small_reads.read_all` (one round trip outside a transaction; SQLAlchemy's execution and rows were a
        third of a get's client time, issue 26).  Inside a SQLite write transaction it runs through SQLAlchemy.
        """
        if self.dialect != "sqlite":
            return read_all(self, stmt, params)
        if self._depth:
            with self.transaction(write=False) as conn:
                return [tuple(r) for r in conn.execute(stmt, dict(params)).all()]
        entry = self._compiled.get(id(stmt))
        if entry is None:
            compiled = stmt.compile(dialect=self.engine.dialect)
            names = tuple(compiled.positiontup or ())
            fixed = {k: v for k, v in compiled.params.items() if v is not None}  # literals in the statement
            entry = (stmt, str(compiled), names, fixed)
            self._compiled[id(stmt)] = entry
        _, sql, names, fixed = entry
        raw = self._driver()
        values = [params[n] if n in params else fixed[n] for n in names]
        try:
            return raw.execute(sql, values).fetchall()  # type: ignore[no-any-return]
        except sqlite3.DatabaseError as exc:
            raise self.failure(exc, "could not be read") from None

    def one_row(self, sql: str, params: Mapping[str, Any], *, write: bool = False) -> tuple[Any, ...] | None:
        """The first row of one statement of SQL text, the same on both databases (`_single_reads.one_row`)."""
        return one_row(self, sql, params, write=write)

    def stream_rows(self, stmt: Any, page: int = 1000) -> Iterator[tuple[Any, ...]]:
        """Yield the rows of a one-off SELECT page by page, without holding them all in memory.

        On SQLite the statement is compiled with its values inlined as parameters and run on the driver
        connection (SQLAlchemy's first execution of a new statement shape costs tens of milliseconds; this
        costs one compile).  Values come back as the driver returns them (UUIDs as hex text on SQLite).
        """
        if self.dialect != "sqlite" or self._depth:
            yield from stream_select(self, stmt, page)  # one statement if small, else a server-side cursor
            return
        sql, values = self._compile_select(stmt)
        cursor = self._driver().execute(sql, values)
        try:
            while rows := cursor.fetchmany(page):
                yield from rows
        except sqlite3.DatabaseError as exc:
            raise self.failure(exc, "could not be read") from None
        finally:
            cursor.close()

    def stream_sql(self, sql: str, params: Sequence[Any] | Mapping[str, Any], page: int = 1000) -> Iterator[list[Any]]:
        """Yield pages of rows of SQL text compiled earlier for this database (a query plan), with ``params``.

        On SQLite it runs on the driver connection (positional ``params``), inside a write transaction too
        (the same connection: it sees that transaction's rows).  On PostgreSQL it runs in a read transaction
        with named ``params``, one statement if the result is small, else a server-side cursor, like
        `stream_rows`.  Rows are tuples as the driver returns them (UUIDs as hex text on SQLite).
        """
        if self.dialect != "sqlite":
            yield from stream_text(self, sql, params, page)
            return
        cursor = self._driver().cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(page):
                yield rows
        except sqlite3.DatabaseError as exc:
            raise self.failure(exc, "could not be read") from None
        finally:
            cursor.close()

    def _compile_select(self, stmt: Any) -> tuple[str, Any]:
        """SQL text and positional values of a SELECT, compiling each statement *shape* once.

        Queries rebuilt for every call differ only in their values: SQLAlchemy's cache key separates the two,
        so the compiled text is reused and only the values are taken from the new statement.  Statements with
        expanding parameters (``IN`` lists) are compiled each time with the lists rendered in.
        """
        key = stmt._generate_cache_key()
        compiled = self._shapes.get(key.key, _UNSEEN) if key is not None else None
        if compiled is _UNSEEN:
            dialect = self.engine.dialect
            compiled = dialect.statement_compiler(dialect, stmt, cache_key=key)
            if compiled.post_compile_params:
                compiled = None  # remembered as not reusable
            self._shapes[key.key] = compiled
            if len(self._shapes) > _SHAPES:
                self._shapes.popitem(last=False)
        elif key is not None:
            self._shapes.move_to_end(key.key)
        if compiled is None:
            compiled = stmt.compile(dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True})
            params = compiled.construct_params()
        else:
            params = compiled.construct_params(extracted_parameters=key.bindparams)
        if not compiled.positional:  # PostgreSQL (psycopg's named parameters)
            return compiled.string, params
        return compiled.string, [params[name] for name in compiled.positiontup or ()]

    def id_values(self, ids: Sequence[uuid.UUID]) -> list[Any]:
        """Dataset IDs as this database takes them in `insert_many` and `select_in`: hex text on SQLite.

        That is how SQLAlchemy's `Uuid` type stores them on SQLite; PostgreSQL takes the UUIDs themselves.
        """
        if self.dialect == "sqlite":
            return [u.hex for u in ids]
        return list(ids)

    def insert_many(
        self, conn: sa.Connection, table: sa.TableClause, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
    ) -> None:
        """INSERT ``rows`` (tuples in ``columns`` order) in bulk, inside the caller's transaction.

        SQLite: the driver's ``executemany`` (SQLAlchemy's per-row parameter processing costs ~30 µs a row); UUIDs
        as `uuid.UUID` or as `id_values` gives them.  PostgreSQL: one ``INSERT`` for a few rows (a list) or in a
        pipelined transaction, else ``COPY``, as the rows come (a generator's rows are made while the server
        inserts those sent before; see `insert_rows`).  A refused row raises `sqlalchemy.exc.IntegrityError`."""
        if self.dialect != "sqlite":
            self.count_inserted(table.name, insert_rows(conn, table, columns, rows, self._pipeline))
            return
        rows = list(rows)
        self.count_inserted(table.name, len(rows))
        sql, uuids = sqlite_insert(table, columns)
        if uuids and rows and any(isinstance(rows[0][k], uuid.UUID) for k in uuids):
            converted = []
            for row in rows:
                values = list(row)
                for k in uuids:
                    v = values[k]
                    if isinstance(v, uuid.UUID):
                        values[k] = v.hex
                converted.append(values)
            rows = converted  # type: ignore[assignment]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise sa.exc.IntegrityError(sql, None, exc) from None
        finally:
            cursor.close()

    def count_inserted(self, table: str, n: int) -> None:
        """Count ``n`` rows written to ``table`` in bulk (as `insert_many` does) for the maintenance after commit.

        For bulk writes of other forms (an ``INSERT ... SELECT``): a large one is then checkpointed on SQLite
        and gets statistics on PostgreSQL as if it had come through `insert_many`.
        """
        self._bulk[table] = self._bulk.get(table, 0) + n
        self._inserted[table] = self._inserted.get(table, 0) + n

    def select_in(
        self, table: sa.Table, columns: Sequence[str], key: str, values: Sequence[Any], chunk: int = 500
    ) -> list[tuple[Any, ...]]:
        """The ``columns`` of the rows of ``table`` whose ``key`` is one of ``values`` (bulk look-ups).

        One statement per ``chunk`` values; on SQLite through the driver (values and results of UUID
        columns as `id_values` gives them: hex text), on PostgreSQL through SQLAlchemy.
        """
        out: list[tuple[Any, ...]] = []
        if self.dialect != "sqlite":
            with self.transaction(write=False) as conn:
                for start in range(0, len(values), chunk):
                    part = list(values[start : start + chunk])
                    stmt = sa.select(*[table.c[c] for c in columns]).where(table.c[key].in_(part))
                    out += [tuple(row) for row in conn.execute(stmt)]
            return out
        names = ", ".join('"' + c + '"' for c in columns)
        raw = self._driver()
        # Several statements read one snapshot (a concurrent remove is seen whole or not at all): SQLite's reads
        # run in autocommit (`_sqlite_begin`), so outside our transactions a deferred BEGIN holds one.
        own = not self._depth and len(values) > chunk
        try:
            if own:
                raw.execute("BEGIN")
            try:
                for start in range(0, len(values), chunk):
                    part = list(values[start : start + chunk])
                    sql = f'SELECT {names} FROM "{table.name}" WHERE "{key}" IN ({", ".join("?" * len(part))})'
                    out += raw.execute(sql, part).fetchall()
            finally:
                if own:
                    raw.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise self.failure(exc, "could not be read") from None
        return out

    # -- dialect differences --------------------------------------------------------------------------------
    def insert_ignore(self, table: sa.Table, index: Sequence[str] | None = None) -> Any:
        """An INSERT that silently skips rows that conflict with an existing key."""
        # Each dialect's module is imported only when used: the PostgreSQL one pulls in asyncio and asyncpg
        # support, a fifth of a SQLite command's start-up.
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing(index_elements=index)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=index)

    def insert_at_commit(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        """INSERT ``rows`` into ``table`` as the transaction's last statement: nothing after it may read them.

        On PostgreSQL, in a transaction whose ``BEGIN`` went with its first statements (`_pg_writes.own_begin`),
        they are sent with the ``COMMIT``, in one round trip (`_pg_writes.defer_insert`); elsewhere at once.
        """
        if not defer_insert(self, table, rows):
            conn.execute(table.insert(), rows)

    def lock(self, conn: sa.Connection, name: str) -> None:
        """Serialize writers of ``name`` between processes until the current transaction ends.

        SQLite write transactions are already serialized (``BEGIN IMMEDIATE``); PostgreSQL takes an advisory
        transaction lock on a 64-bit hash of ``name``.
        """
        if self.dialect == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(name)})

    def lock_ddl(self, conn: sa.Connection, name: str) -> None:
        """Serialize schema changes (new tables) between processes, within the current transaction."""
        self.lock(conn, f"ddl:{name}")

    def close(self) -> None:
        """Close the connection and dispose of the engine (after a background checkpoint, if one runs)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        if self._generic is not None:
            from skybutler.registry._pg_generic import close_generic

            close_generic(self)
        self.conn.close()
        self.engine.dispose()
