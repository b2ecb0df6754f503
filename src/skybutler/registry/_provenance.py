"""Lineage in the registry: edges "output used input", checked on write, walked with one recursive query.

Both directions are one ``WITH RECURSIVE`` statement on SQLite and PostgreSQL alike: ``up`` follows
``output_id → input_id`` through the primary key, ``down`` (impact) ``input_id → output_id`` through the
``dataset_input_input`` index, so a walk costs one index range read per dataset reached, however large the
graph.  ``UNION`` (not ``UNION ALL``) keeps one row per dataset and depth, so diamonds do not multiply rows.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from skybutler.datasets import as_uuid
from skybutler.errors import ConflictError, DatasetNotFoundError

if TYPE_CHECKING:
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import StaticTables

__all__ = ["MAX_DEPTH", "Edge", "Lineage", "Reached"]

#: Deepest walk: a bound that no real pipeline reaches, so that a walk always ends.
MAX_DEPTH = 10_000
_EDGES_PER_STATEMENT = 300
"""Edges per ``INSERT ... SELECT`` on SQLite (three parameters each: well under its 32 766)."""

Direction = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class Edge:
    """One recorded use: ``output`` (of type ``output_type``) was made from ``input``."""

    output: uuid.UUID
    input: uuid.UUID
    output_type: str
    input_type: str
    recorded: int
    """Transaction time of the record (TAI ns)."""


@dataclass(frozen=True, slots=True)
class Reached:
    """A dataset reached by a walk: its ID, dataset type name, and shortest distance from the start."""

    id: uuid.UUID
    dataset_type: str
    depth: int


class Lineage:
    """Write and walk lineage edges."""

    def __init__(self, db: Database, tables: StaticTables) -> None:
        self._db = db
        self._t = tables
        # The hot statements are SQL text run with `exec_driver_sql`: a put with inputs runs three, and
        # compiling SQLAlchemy constructs for each (an IN list, a recursive CTE) cost more than the put itself.
        self._mark = "?" if db.dialect == "sqlite" else "%s"
        self._chunk = 500 if db.dialect == "sqlite" else 100_000  # IDs per statement (PostgreSQL: one array)
        self._edge_sql: dict[tuple[int, bool, bool], str] = {}

    def _marks(self, n: int) -> str:
        return ", ".join([self._mark] * n)

    def _in(self, column: str, keys: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """``column IN (...)`` and its parameters: on PostgreSQL one array parameter (``= ANY``), which the
        server plans and binds faster than hundreds of separate ones."""
        if self._db.dialect == "sqlite":
            return f"{column} IN ({self._marks(len(keys))})", tuple(keys)
        return f"{column} = ANY(%s)", (list(keys),)

    def _fetch(self, conn: sa.Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """Rows of SQL text: on SQLite straight from the driver (SQLAlchemy's per-call work is most of the cost)."""
        if self._db.dialect == "sqlite":
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                return cursor.execute(sql, params).fetchall()  # type: ignore[no-any-return]
            finally:
                cursor.close()
        return list(conn.exec_driver_sql(sql, params))

    # -- write --------------------------------------------------------------------------------------------------
    def input_types(self, conn: sa.Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The dataset type name of each of ``ids``; `DatasetNotFoundError` names any that is not registered."""
        found: dict[uuid.UUID, str] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 500):
            chunk = self._db.id_values(unique[start : start + 500])
            where, params = self._in("d.id", chunk)
            sql = (
                "SELECT d.id, t.name FROM dataset d JOIN dataset_type t ON t.dataset_type_id = d.dataset_type_id "
                f"WHERE {where}"
            )
            for row in self._fetch(conn, sql, params):
                found[as_uuid(row[0])] = row[1]
        missing = [i for i in unique if i not in found]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DatasetNotFoundError(
                f"Input dataset(s) {', '.join(str(i) for i in missing[:3])}{more} are not in the registry; "
                "inputs must be registered datasets (put or ingest them first). Nothing was written."
            )
        return found

    def add(
        self,
        outputs: Mapping[uuid.UUID, tuple[str, Sequence[uuid.UUID]]],
        recorded: int,
        *,
        fresh: bool = False,
    ) -> int:
        """Record that each output (id → (its type name, its input IDs)) was made from its inputs.

        Runs inside the caller's transaction when there is one (a merge registers datasets and edges together;
        a direct put uses `write`, inside `Datasets.insert`).
        Inputs must be registered: the edges are inserted by one ``INSERT ... SELECT`` (per 300 edges on SQLite) that
        joins each input to its dataset row and takes the input's type from the registry (not from the
        caller's refs, which may be stale), so checking that
        the inputs exist, finding their types and writing the edges is one statement; an input without a row
        makes fewer rows than edges, and the error names it.  An edge that would close a cycle (an output
        among its own ancestors) is refused.  ``fresh`` says the outputs are new random IDs (never made before), which
        no recorded edge can name, so no cycle through them is possible and the cycle check is skipped;
        deterministic IDs are never fresh: a dataset removed and put again has the same ID, and edges that
        used it outlive it.  Returns the number of edges written.

        Raises
        ------
        DatasetNotFoundError
            An input is not registered.
        ConflictError
            An edge would make a cycle.
        """
        rows = [
            (out_id, out_type, in_id) for out_id, (out_type, ins) in outputs.items() for in_id in dict.fromkeys(ins)
        ]
        if not rows:
            return 0
        db = self._db
        with db.transaction() as conn:
            if not fresh:
                self._refuse_cycles(conn, outputs, list(dict.fromkeys(r[2] for r in rows)))
            written, step = 0, _EDGES_PER_STATEMENT if db.dialect == "sqlite" else self._chunk
            for start in range(0, len(rows), step):
                written += self._insert_edges(conn, rows[start : start + step], recorded)
            db.count_inserted(self._t.provenance.edge.name, written)
            if written < len(rows):  # some input has no dataset row: name it (raises), and roll back
                self.input_types(conn, list(dict.fromkeys(r[2] for r in rows)))
        return written

    def write(
        self, conn: sa.Connection, rows: Sequence[tuple[uuid.UUID, str, uuid.UUID]], recorded: int, *, fresh: bool
    ) -> None:
        """Record a put's edges ``(output, output type, input)`` in its transaction: one statement (per 300 on SQLite).

        `Datasets.insert` calls this after the put's own inserts, so on PostgreSQL the edges ride in the put's
        pipeline (one round trip for all) when ``fresh`` (new random IDs: no cycle through them is possible,
        and nothing reads).  Each edge takes its input's dataset type from the registry; an input without a
        dataset row makes an edge without an input ID, which the key's NOT NULL refuses: the whole put fails
        with `sqlalchemy.exc.IntegrityError`, and the caller names the missing inputs (`input_types`).
        Not ``fresh`` (deterministic IDs): cycles are refused first, and an edge already recorded for the same
        output and input (a dataset removed, then put again with its inputs) is kept as it was: edges are
        history and outlive the datasets they name.
        """
        if not fresh:
            outputs: dict[uuid.UUID, tuple[str, list[uuid.UUID]]] = {}
            for out_id, out_type, in_id in rows:
                outputs.setdefault(out_id, (out_type, []))[1].append(in_id)
            self._refuse_cycles(conn, outputs, list(dict.fromkeys(r[2] for r in rows)))
        step = _EDGES_PER_STATEMENT if self._db.dialect == "sqlite" else self._chunk
        for start in range(0, len(rows), step):
            self._insert_edges(conn, rows[start : start + step], recorded, checked=True, keep=not fresh)
        self._db.count_inserted("dataset_input", len(rows))

    def _insert_edges(
        self,
        conn: sa.Connection,
        rows: Sequence[tuple[uuid.UUID, str, uuid.UUID]],
        recorded: int,
        *,
        checked: bool = False,
        keep: bool = False,
    ) -> int:
        """INSERT the edges ``(output, output type, input)`` and return the number inserted.

        Not ``checked``: edges whose input is not registered are left out (the caller compares the count).
        ``checked``: they are refused (a NULL input ID), with `sqlalchemy.exc.IntegrityError`; on PostgreSQL
        the statement joins the pipeline of `Database.transaction` when one is open (the count is then not known
        and ``len(rows)`` is returned).  ``keep``: an edge already recorded is kept as it was.
        """
        key = (len(rows), checked, keep)
        sql = self._edge_sql.get(key)
        if sql is None:
            sql = self._edge_sql[key] = self._edge_statement(len(rows), checked, keep)
        if self._db.dialect != "sqlite":  # three array parameters, whatever the number of edges
            params = (recorded, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            pipeline = self._db._pipeline
            if pipeline is not None:
                pipeline.execute(sql, params)  # sent, and answered, with the rest of the put
                return len(rows)
            return int(conn.exec_driver_sql(sql, params).rowcount)
        params_sqlite: list[Any] = [recorded]
        for out_id, out_type, in_id in rows:  # IDs as the hex text SQLAlchemy's Uuid stores
            params_sqlite += (out_id.hex, out_type, in_id.hex)
        try:
            return int(conn.connection.driver_connection.execute(sql, params_sqlite).rowcount)  # type: ignore[union-attr]
        except sqlite3.IntegrityError as exc:  # as `Database.insert_many` raises it, for callers that explain it
            raise sa.exc.IntegrityError(sql, None, exc) from None

    def _edge_statement(self, n: int, checked: bool, keep: bool) -> str:
        """The SQL of `_insert_edges` for ``n`` edges (made once per form: a put's is the same every time)."""
        head = "INSERT INTO dataset_input (output_id, input_id, output_type, input_type, recorded) "
        kind = "LEFT JOIN" if checked else "JOIN"
        join = f"{kind} dataset d ON d.id = v.i {kind} dataset_type t ON t.dataset_type_id = d.dataset_type_id"
        tail = " WHERE true ON CONFLICT (output_id, input_id) DO NOTHING" if keep else ""
        if self._db.dialect != "sqlite":
            return (
                f"{head}SELECT v.o, d.id, v.ot, t.name, CAST(%s AS BIGINT) "
                f"FROM unnest(%s::uuid[], %s::text[], %s::uuid[]) AS v(o, ot, i) {join}{tail}"
            )
        # SQLite: a VALUES list, whose columns are column1..3
        values = ", ".join(["(?, ?, ?)"] * n)
        join = join.replace("v.i", "v.column3")
        return f"{head}SELECT v.column1, d.id, v.column2, t.name, ? FROM (VALUES {values}) AS v {join}{tail}"

    def restore(self, edges: Sequence[Edge]) -> int:
        """Insert edges read from an export or another repository, as they were (types, recorded times).

        Edges already present are skipped; inputs need not be registered here (history keeps removed or
        unexported inputs by ID and type).  A cycle is refused as in `add`.  Returns the number inserted.
        """
        if not edges:
            return 0
        with self._db.transaction() as conn:
            present = {(e.output, e.input) for e in self.edges({e.output for e in edges})}
            new = [e for e in dict.fromkeys(edges) if (e.output, e.input) not in present]
            outputs: dict[uuid.UUID, tuple[str, list[uuid.UUID]]] = {}
            for e in new:
                outputs.setdefault(e.output, (e.output_type, []))[1].append(e.input)
            if not new:
                return 0
            self._refuse_cycles(conn, outputs, list({e.input for e in new}))
            rows = [(e.output, e.input, e.output_type, e.input_type, e.recorded) for e in new]
            t = self._t.provenance.edge
            self._db.insert_many(conn, t, ("output_id", "input_id", "output_type", "input_type", "recorded"), rows)
        return len(new)

    def _refuse_cycles(
        self, conn: sa.Connection, outputs: Mapping[uuid.UUID, tuple[str, Sequence[uuid.UUID]]], inputs: list[uuid.UUID]
    ) -> None:
        """Refuse new edges that would close a cycle, with each other or with recorded edges.

        Only recorded edges downstream of the new outputs can be on a cycle through a new edge: one walk
        finds them (none, for a put's fresh datasets), and the small graph they make with the new edges is
        sorted topologically here.
        """
        for out_id, (_, ins) in outputs.items():
            if out_id in ins:
                raise ConflictError(f"Dataset {out_id} cannot be an input of itself. Nothing was written.")
        down: dict[uuid.UUID, set[uuid.UUID]] = {}
        for out_id, (_, ins) in outputs.items():
            for in_id in ins:
                down.setdefault(in_id, set()).add(out_id)
        keys = self._db.id_values(list(outputs))
        used = [] if len(keys) > 500 else ["?"]
        if used:  # the usual put: nothing uses the new datasets yet, so no recorded edge can be on a cycle
            where, params = self._in("input_id", keys)
            used = self._fetch(conn, f"SELECT 1 FROM dataset_input WHERE {where} LIMIT 1", params)
        reached = self._walk(conn, list(outputs), "down", MAX_DEPTH) if used else []
        if reached:
            e = self._t.provenance.edge
            sources = list({*outputs, *(r.id for r in reached)})
            for start in range(0, len(sources), 500):
                chunk = sources[start : start + 500]
                for row in conn.execute(sa.select(e.c.input_id, e.c.output_id).where(e.c.input_id.in_(chunk))):
                    down.setdefault(as_uuid(row[0]), set()).add(as_uuid(row[1]))
        if not reached and outputs.keys().isdisjoint(inputs):
            return  # no recorded edge leaves the outputs and none is an input: no path can come back to one
        looping = _on_cycle(down)
        if looping is not None:
            raise ConflictError(
                f"Recording these inputs would put dataset {looping} on a cycle (it would be made, directly or "
                "through others, from itself): lineage must not have cycles. Nothing was written."
            )

    # -- read ---------------------------------------------------------------------------------------------------
    def walk(self, start: Sequence[uuid.UUID], direction: Direction, depth: int | None = None) -> list[Reached]:
        """Every dataset reached from ``start`` within ``depth`` edges (None: to the end), with its distance."""
        with self._db.transaction(write=False) as conn:
            return self._walk(conn, start, direction, MAX_DEPTH if depth is None else depth)

    def _walk(self, conn: sa.Connection, start: Sequence[uuid.UUID], direction: Direction, depth: int) -> list[Reached]:
        if not start or depth < 1:
            return []
        src, dst = ("output_id", "input_id") if direction == "up" else ("input_id", "output_id")
        dst_type = dst.replace("_id", "_type")
        found: dict[uuid.UUID, Reached] = {}
        keys = self._db.id_values(list(dict.fromkeys(start)))
        for first in range(0, len(keys), self._chunk):
            where, params = self._in(src, keys[first : first + self._chunk])
            sql = (
                f"WITH RECURSIVE walk(id, type, depth) AS ("
                f"SELECT {dst}, {dst_type}, 1 FROM dataset_input WHERE {where} "
                f"UNION SELECT e.{dst}, e.{dst_type}, w.depth + 1 FROM dataset_input e JOIN walk w ON e.{src} = w.id "
                f"WHERE w.depth < {self._mark}) "
                "SELECT id, type, MIN(depth) FROM walk GROUP BY id, type"
            )
            for row in self._fetch(conn, sql, (*params, depth)):
                reached = Reached(as_uuid(row[0]), row[1], row[2])
                known = found.get(reached.id)
                if known is None or known.depth > reached.depth:
                    found[reached.id] = reached
        return list(found.values())

    def births(
        self, stored: StoredDatasetType, ids: Sequence[uuid.UUID]
    ) -> list[tuple[uuid.UUID, tuple[Any, ...], int]]:
        """``(id, required data ID values, run id)`` of the registered datasets of ``stored`` among ``ids``.

        The lean form of `Datasets.by_ids` (no artifacts) for walks that return many refs at once.
        """
        dims = stored.dataset_type.dimensions.required
        columns = ", ".join(f't."{d}"' for d in dims)
        out: list[tuple[uuid.UUID, tuple[Any, ...], int]] = []
        keys = self._db.id_values(list(ids))
        with self._db.transaction(write=False) as conn:
            for first in range(0, len(keys), self._chunk):
                where, params = self._in("t.dataset_id", keys[first : first + self._chunk])
                sql = (
                    f'SELECT t.dataset_id, d.run_id{", " if dims else ""}{columns} FROM "{stored.tags.name}" t '
                    "JOIN dataset d ON d.id = t.dataset_id AND d.run_id = t.collection_id "
                    f"WHERE t.dataset_type_id = {self._mark} AND {where}"
                )
                out += [(as_uuid(r[0]), tuple(r[2:]), r[1]) for r in self._fetch(conn, sql, (stored.id, *params))]
        return out

    def edges(self, ids: Iterable[uuid.UUID], *, of: Literal["output", "input", "either"] = "output") -> list[Edge]:
        """The edges whose output (or input, or either end) is one of ``ids``."""
        e = self._t.provenance.edge
        out: list[Edge] = []
        unique = list(dict.fromkeys(ids))
        columns = {"output": [e.c.output_id], "input": [e.c.input_id], "either": [e.c.output_id, e.c.input_id]}[of]
        seen: set[tuple[uuid.UUID, uuid.UUID]] = set()
        with self._db.transaction(write=False) as conn:
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                for column in columns:
                    for row in conn.execute(sa.select(e).where(column.in_(chunk))):
                        edge = _edge(row)
                        if (edge.output, edge.input) not in seen:
                            seen.add((edge.output, edge.input))
                            out.append(edge)
        return out

    def edges_of_input_types(self, types: Sequence[str], *, recorded_before: int | None = None) -> list[Edge]:
        """The edges whose input is of one of ``types`` (recorded at or before ``recorded_before``)."""
        if not types:
            return []
        e = self._t.provenance.edge
        stmt = sa.select(e).where(e.c.input_type.in_(list(types)))
        if recorded_before is not None:
            stmt = stmt.where(e.c.recorded <= recorded_before)
        with self._db.transaction(write=False) as conn:
            return [_edge(row) for row in conn.execute(stmt)]

    def all_edges(self, *, recorded_before: int | None = None) -> list[Edge]:
        """Every edge (recorded at or before ``recorded_before`` when given)."""
        e = self._t.provenance.edge
        stmt = sa.select(e)
        if recorded_before is not None:
            stmt = stmt.where(e.c.recorded <= recorded_before)
        with self._db.transaction(write=False) as conn:
            return [_edge(row) for row in conn.execute(stmt)]

    def users(self, conn: sa.Connection, ids: Sequence[uuid.UUID], limit: int = 5) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """Up to ``limit`` ``(input, output)`` pairs where an output outside ``ids`` used one of ``ids``."""
        e = self._t.provenance.edge
        found: list[tuple[uuid.UUID, uuid.UUID]] = []
        inside = set(ids)
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            stmt = sa.select(e.c.input_id, e.c.output_id).where(e.c.input_id.in_(chunk))
            for row in conn.execute(stmt):
                pair = (as_uuid(row[0]), as_uuid(row[1]))
                if pair[1] not in inside:
                    found.append(pair)
                    if len(found) >= limit:
                        return found
        return found


def _edge(row: Any) -> Edge:
    return Edge(as_uuid(row.output_id), as_uuid(row.input_id), row.output_type, row.input_type, row.recorded)


def _on_cycle(graph: Mapping[uuid.UUID, set[uuid.UUID]]) -> uuid.UUID | None:
    """A node on a cycle of ``graph`` (node → successors), or None when it has none (Kahn's algorithm)."""
    indegree: dict[uuid.UUID, int] = {}
    for node, targets in graph.items():
        indegree.setdefault(node, 0)
        for target in targets:
            indegree[target] = indegree.get(target, 0) + 1
    ready = [node for node, k in indegree.items() if k == 0]
    while ready:
        node = ready.pop()
        for target in graph.get(node, ()):
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    left = [node for node, k in indegree.items() if k > 0]
    return left[0] if left else None
