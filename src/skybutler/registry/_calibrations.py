"""CALIBRATION collections: bitemporal certify / decertify / lookup, history and diff.

Each certification row has a valid-time range ``[valid_begin, valid_end)`` (observation time) and a
transaction-time range ``[recorded_begin, recorded_end)`` (when the registry believed it).  Rows are only
appended, or *closed* by setting ``recorded_end``; nothing is deleted or edited in place, so a lookup
``as_of`` an earlier transaction time sees exactly what was known then.  Non-overlap of valid ranges among
current rows is enforced here, inside one serialized write transaction (SQLite's ``BEGIN IMMEDIATE``; a
PostgreSQL advisory lock per table and collection), so no database extension is needed and concurrent
certifiers cannot create an overlap.
"""

from __future__ import annotations

import datetime
import itertools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from skybutler.datasets import ArtifactInfo
from skybutler.dimensions import TIMESPAN_MAX, DataCoordinate, Timespan, db_instant, tai_ns_to_iso, to_tai_ns
from skybutler.errors import ConflictError, DataIdError, DatasetNotFoundError, DatasetTypeError
from skybutler.registry._datasets import ARTIFACT_COLUMNS
from skybutler.registry._pg_writes import lock_and_read

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdValue
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import StaticTables

__all__ = ["CalibrationChange", "Calibrations", "CertificationRow", "tai_now"]

Values = tuple["DataIdValue", ...]

#: Datasets per check statement of a certify at most (each binds its ID and its data ID's values; fewer with more
#: than 6 dimensions, to stay under SQLite's 32 766 parameters), so a certify of 1000 reads once.
_IN_CHUNK = 4000

#: The ``kind`` of a row of a certify's check (`Calibrations._check`).
_OVERLAP, _LATEST, _REGISTERED = 0, 1, 2


def tai_now() -> int:
    """The current time as TAI nanoseconds."""
    return to_tai_ns(datetime.datetime.now(datetime.UTC))


@dataclass(frozen=True, slots=True)
class CertificationRow:
    """One certification: a dataset valid over ``valid``, as recorded over ``recorded`` (transaction time)."""

    dataset_type: str
    data_id: DataCoordinate
    dataset_id: uuid.UUID
    valid: Timespan
    recorded: Timespan
    """``recorded.end`` is None while the row is current."""


@dataclass(frozen=True, slots=True)
class CalibrationChange:
    """What happened to one data ID over one valid-time range between two transaction times."""

    kind: Literal["certified", "replaced", "decertified"]
    dataset_type: str
    data_id: DataCoordinate
    valid: Timespan
    before: uuid.UUID | None
    """The dataset valid there at the first time (None: nothing was)."""
    after: uuid.UUID | None
    """The dataset valid there at the second time (None: nothing is)."""


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(hex=value)


class Calibrations:
    """Certification rows of every calibration dataset type (one table per set of dimensions)."""

    def __init__(self, db: Database, tables: StaticTables) -> None:
        self._db = db
        self._tables = tables
        self._find: dict[tuple[str, object], Any] = {}
        """Statements built once per table: finds by (table, no time given), certify checks by (table, "check")."""

    # -- transaction time ---------------------------------------------------------------------------------
    def _transaction_time(self, conn: sa.Connection, table: sa.Table, collection_id: int) -> int:
        """Now, but strictly after every transaction time already recorded here (clocks of hosts differ)."""
        c = table.c
        closed = sa.case((c.recorded_end < TIMESPAN_MAX, c.recorded_end), else_=None)
        stmt = sa.select(sa.func.max(c.recorded_begin), sa.func.max(closed)).where(c.collection_id == collection_id)
        latest = max((v for v in conn.execute(stmt).one() if v is not None), default=0)
        return max(tai_now(), latest + 1)

    def _lock(self, conn: sa.Connection, table: sa.Table, collection_id: int) -> None:
        self._db.lock(conn, f"{table.name}:{collection_id}")

    # -- writes -----------------------------------------------------------------------------------------------
    def certify(
        self,
        stored: StoredDatasetType,
        collection_id: int,
        collection_name: str,
        items: Sequence[tuple[uuid.UUID, Values]],
        valid: Timespan,
        *,
        replace: bool = False,
        last: bool = False,
    ) -> int:
        """Certify datasets over ``valid``; return the transaction time of the change.

        ``last``: nothing else follows in the transaction, so on PostgreSQL the new rows may go with its
        ``COMMIT`` (`Database.insert_at_commit`).

        Raises
        ------
        ConflictError
            A current row of the same data ID overlaps ``valid`` (unless ``replace``), or two of ``items``
            share a data ID.
        """
        table = _table(stored)
        dims = stored.dataset_type.dimensions.required
        seen: dict[Values, uuid.UUID] = {}
        for dataset_id, values in items:
            if values in seen:
                raise ConflictError(
                    f"Datasets {seen[values]} and {dataset_id} of {stored.dataset_type.name!r} share the data ID "
                    f"{dict(zip(dims, values, strict=True))}; certify them over different ranges."
                )
            seen[values] = dataset_id
        begin, end = valid.to_db()
        ids = [dataset_id for dataset_id, _ in items]
        with self._db.transaction() as conn:  # (under `own_begin`, PostgreSQL's BEGIN is sent by `_check`)
            latest, registered, clashes = self._check(conn, stored, collection_id, ids, list(seen), begin, end)
            missing = [str(i) for i in ids if i not in registered]
            if missing:
                raise DatasetNotFoundError(f"Cannot certify datasets that are not in the registry: {missing[:5]}.")
            now = max(tai_now(), latest + 1)  # after every transaction time already recorded (clocks differ)
            if clashes and not replace:
                order = {values: i for i, values in enumerate(seen)}  # name the first of the call's clashes
                row = min(clashes, key=lambda r: (order.get(tuple(r[d] for d in dims), 0), r["valid_begin"]))
                values = tuple(row[d] for d in dims)
                raise ConflictError(
                    f"{stored.dataset_type.name!r} {dict(zip(dims, values, strict=True))} is already certified "
                    f"in {collection_name!r} over {Timespan.from_db(row['valid_begin'], row['valid_end'])} "
                    f"(dataset {_as_uuid(row['dataset_id'])}), which overlaps {valid}; pass replace=True to "
                    "supersede it (the old certification stays in the history)."
                )
            new_rows = self._close_and_trim(conn, table, clashes, begin, end, now)
            for dataset_id, values in items:
                row = {"dataset_type_id": stored.id, "collection_id": collection_id, "dataset_id": dataset_id}
                row.update(zip(dims, values, strict=True))
                row.update(valid_begin=begin, valid_end=end, recorded_begin=now, recorded_end=TIMESPAN_MAX)
                new_rows.append(row)
            if last:
                self._db.insert_at_commit(conn, table, new_rows)
            else:
                conn.execute(table.insert(), new_rows)  # one executemany: one statement
        return now

    def decertify(
        self,
        stored: StoredDatasetType,
        collection_id: int,
        valid: Timespan,
        data_ids: Sequence[Values] | None = None,
    ) -> int:
        """Remove certifications over ``valid`` (for ``data_ids``, or all); return how many rows were closed.

        The rows are closed, and the parts of their ranges outside ``valid`` re-appended: nothing is deleted.
        """
        table = _table(stored)
        dims = stored.dataset_type.dimensions.required
        begin, end = valid.to_db()
        c = table.c
        with self._db.transaction() as conn:
            self._lock(conn, table, collection_id)
            now = self._transaction_time(conn, table, collection_id)
            where = [
                c.dataset_type_id == stored.id,
                c.collection_id == collection_id,
                c.recorded_end == TIMESPAN_MAX,
                c.valid_begin < end,
                c.valid_end > begin,
            ]
            rows = [dict(r) for r in conn.execute(sa.select(table).where(*where)).mappings()]
            if data_ids is not None:
                wanted = set(data_ids)
                rows = [r for r in rows if tuple(r[d] for d in dims) in wanted]
            pieces = self._close_and_trim(conn, table, rows, begin, end, now)
            if pieces:
                conn.execute(table.insert(), pieces)
        return len(rows)

    def _check(
        self,
        conn: sa.Connection,
        stored: StoredDatasetType,
        collection_id: int,
        ids: Sequence[uuid.UUID],
        data_ids: Sequence[Values],
        begin: int,
        end: int,
    ) -> tuple[int, set[uuid.UUID], list[dict[str, Any]]]:
        """Take the collection's certify lock, then read what a certify must know before it writes, in one
        statement per 4000 datasets.

        Returns the latest transaction time recorded in the collection (0 for none), which of ``ids`` are
        datasets of ``stored``'s type, and the current rows of any of ``data_ids`` overlapping ``[begin, end)``.
        A certify used to ask once per dataset, then once for each of these three; the statement is built once
        per table (`_check_statement`) and takes the IDs and data IDs as lists.  On PostgreSQL, at the start of
        the certify's own transaction, the lock and the first statement go in one round trip with the
        ``BEGIN`` (`lock_and_read`; the statement still runs after the lock is granted, with a snapshot taken
        then, so it sees every certify committed before).
        """
        stmt = self._check_statement(stored)
        lock = f"{_table(stored).name}:{collection_id}"  # as `_lock` names it
        dims = stored.dataset_type.dimensions.required
        latest = 0
        registered: set[uuid.UUID] = set()
        clashes: list[dict[str, Any]] = []
        params: dict[str, Any] = {"dt": stored.id, "coll": collection_id, "begin": begin, "end": end}
        step = min(_IN_CHUNK, 30_000 // (len(dims) + 1))  # SQLite binds at most 32 766 parameters a statement
        for start in range(0, max(len(ids), len(data_ids), 1), step):
            params["ids"] = list(ids[start : start + step])
            chunk = data_ids[start : start + step]
            if dims:
                params["keys"] = [v[0] for v in chunk] if len(dims) == 1 else list(chunk)
            read = None if start else lock_and_read(self._db, conn, lock, stmt, params)
            if read is None and not start:  # the lock, as usual (SQLite: nothing to send)
                self._db.lock(conn, lock)
            rows: Iterable[Mapping[Any, Any]] = conn.execute(stmt, params).mappings() if read is None else read
            for row in rows:
                kind = row["kind"]
                if kind == _OVERLAP:
                    if start == 0 or dims:  # without dimensions every chunk finds the same rows
                        clashes.append({k: v for k, v in row.items() if k != "kind"})
                elif kind == _LATEST:
                    latest = max(latest, *(v or 0 for v in (row["recorded_begin"], row["recorded_end"])))
                else:
                    registered.add(_as_uuid(row["dataset_id"]))
        return latest, registered, clashes

    def _check_statement(self, stored: StoredDatasetType) -> Any:
        """The `_check` statement of ``stored``'s table: overlapping current rows, the collection's latest
        transaction times and the registered IDs, as one ``UNION ALL`` told apart by its ``kind`` column."""
        table = _table(stored)
        key = (table.name, "check")
        stmt = self._find.get(key)
        if stmt is not None:
            return stmt
        c = table.c
        dims = stored.dataset_type.dimensions.required
        coll = c.collection_id == sa.bindparam("coll")
        where = [c.dataset_type_id == sa.bindparam("dt"), coll, c.recorded_end == TIMESPAN_MAX]
        where += [c.valid_begin < sa.bindparam("end"), c.valid_end > sa.bindparam("begin")]
        if dims:
            key_column = c[dims[0]] if len(dims) == 1 else sa.tuple_(*(c[d] for d in dims))
            where.append(key_column.in_(sa.bindparam("keys", expanding=True)))
        columns = list(c)

        def kind(value: int) -> Any:
            return sa.literal_column(str(value), sa.Integer).label("kind")

        def nulls(**given: Any) -> list[Any]:
            return [given.get(col.name, sa.cast(sa.null(), col.type)).label(col.name) for col in columns]

        closed = sa.case((c.recorded_end < TIMESPAN_MAX, c.recorded_end), else_=None)
        latest = nulls(recorded_begin=sa.func.max(c.recorded_begin), recorded_end=sa.func.max(closed))
        d = self._tables.dataset
        registered = [d.c.id.in_(sa.bindparam("ids", expanding=True)), d.c.dataset_type_id == sa.bindparam("dt")]
        stmt = sa.union_all(
            sa.select(kind(_OVERLAP), *columns).where(*where),
            sa.select(kind(_LATEST), *latest).where(coll),
            sa.select(kind(_REGISTERED), *nulls(dataset_id=d.c.id)).where(*registered),
        )
        self._find[key] = stmt
        return stmt

    @staticmethod
    def _close_and_trim(
        conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], begin: int, end: int, now: int
    ) -> list[dict[str, Any]]:
        """Close ``rows`` at ``now``; return new rows for the parts of their ranges outside ``[begin, end)``."""
        if not rows:
            return []
        c = table.c
        conn.execute(table.update().where(c.row_id.in_([r["row_id"] for r in rows])).values(recorded_end=now))
        pieces = []
        for row in rows:
            base = {k: v for k, v in row.items() if k != "row_id"}
            base.update(recorded_begin=now, recorded_end=TIMESPAN_MAX)
            if row["valid_begin"] < begin:
                pieces.append({**base, "valid_end": begin})
            if row["valid_end"] > end:
                pieces.append({**base, "valid_begin": end})
        return pieces

    # -- reads --------------------------------------------------------------------------------------------------
    def find(
        self, stored: StoredDatasetType, collection_id: int, values: Values, at: int | None, as_of: int | None
    ) -> tuple[Any, ...] | None:
        """The dataset certified for ``values`` valid at ``at``, as recorded at ``as_of`` (None: now).

        One indexed statement returning ``(dataset id, run id, artifacts)``: every stored artifact of the
        dataset, one per datastore holding it (none for a dataset without a stored file).  With ``at`` None
        (no time given) the one dataset certified for ``values`` over any validity range, as the reference
        butler answers; when several are, a `DataIdError` names their ranges and says what to add.
        """
        table = _table(stored)
        key = (table.name, at is None)
        stmt = self._find.get(key)
        if stmt is None:
            c = table.c
            dims = stored.dataset_type.dimensions.required
            where = [c.dataset_type_id == sa.bindparam("dt"), c.collection_id == sa.bindparam("coll")]
            where += [c[d] == sa.bindparam(f"v_{d}") for d in dims]
            if at is not None:
                where += [c.valid_begin <= sa.bindparam("at"), c.valid_end > sa.bindparam("at")]
            where += [c.recorded_begin <= sa.bindparam("as_of"), c.recorded_end > sa.bindparam("as_of")]
            d, r = self._tables.dataset, self._tables.datastore_record
            stmt = (
                sa.select(c.dataset_id, d.c.run_id, *(r.c[n] for n in ARTIFACT_COLUMNS), c.valid_begin, c.valid_end)
                .select_from(table)
                .join(d, d.c.id == c.dataset_id)
                .outerjoin(r, (r.c.dataset_id == c.dataset_id) & (r.c.component == ""))
                .where(*where)
                .order_by(c.valid_begin)
            )
            self._find[key] = stmt
        params: dict[str, Any] = {"dt": stored.id, "coll": collection_id}
        if at is not None:
            params["at"] = db_instant(at)
        params["as_of"] = TIMESPAN_MAX - 1 if as_of is None else as_of
        params.update((f"v_{d}", v) for d, v in zip(stored.dataset_type.dimensions.required, values, strict=True))
        rows = self._db.read_rows(stmt, params)
        if not rows:
            return None
        if len({row[0] for row in rows}) > 1:
            first: dict[Any, Timespan] = {}
            for row in rows:  # ordered by valid_begin: each dataset's first range
                first.setdefault(row[0], Timespan.from_db(int(row[-2]), int(row[-1])))
            shown = "; ".join(f"{_as_uuid(k)} valid {span}" for k, span in list(first.items())[:5])
            data_id = dict(zip(stored.dataset_type.dimensions.required, values, strict=True))
            raise DataIdError(
                f"{len(first)} {stored.dataset_type.name!r} datasets are certified for {data_id} over different "
                f"validity ranges ({shown}): pass at=... (a time), or include an exposure or visit in the data "
                "ID, to choose one."
            )
        artifacts = tuple(
            ArtifactInfo(row[2], row[3], row[4], row[5], row[6], datastore=row[7])
            for row in rows
            if row[0] == rows[0][0] and row[2] is not None
        )
        return (_as_uuid(rows[0][0]), rows[0][1], artifacts)

    def history(
        self, stored: StoredDatasetType, collection_id: int, values: Values | None = None
    ) -> list[CertificationRow]:
        """Every certification row (current and closed) of a dataset type in a collection."""
        table = _table(stored)
        c = table.c
        dims = stored.dataset_type.dimensions.required
        where = [c.dataset_type_id == stored.id, c.collection_id == collection_id]
        if values is not None:
            where += [c[d] == v for d, v in zip(dims, values, strict=True)]
        order = [*(c[d] for d in dims), c.valid_begin, c.recorded_begin]
        with self._db.transaction(write=False) as conn:
            rows = conn.execute(sa.select(table).where(*where).order_by(*order)).mappings().all()
        group, name = stored.dataset_type.dimensions, stored.dataset_type.name
        return [
            CertificationRow(
                name,
                DataCoordinate(group, tuple(r[d] for d in dims)),
                _as_uuid(r["dataset_id"]),
                Timespan.from_db(r["valid_begin"], r["valid_end"]),
                Timespan.from_db(r["recorded_begin"], r["recorded_end"]),
            )
            for r in rows
        ]

    def diff(self, stored: StoredDatasetType, collection_id: int, t1: int, t2: int) -> list[CalibrationChange]:
        """What was certified, replaced or decertified between transaction times ``t1`` and ``t2``."""
        rows = self.history(stored, collection_id)
        by_data_id: dict[DataCoordinate, list[CertificationRow]] = {}
        for row in rows:
            by_data_id.setdefault(row.data_id, []).append(row)
        changes: list[CalibrationChange] = []
        for data_id, group in by_data_id.items():
            before = [r for r in group if r.recorded.contains(t1)]
            after = [r for r in group if r.recorded.contains(t2)]
            changes += _compare(stored.dataset_type.name, data_id, before, after)
        return changes


def _table(stored: StoredDatasetType) -> sa.Table:
    if stored.calibs is None:  # the dataset type, not a data ID, is wrong: the same error as certify's
        raise DatasetTypeError(
            f"{stored.dataset_type.name!r} is not a calibration dataset type, so no CALIBRATION collection "
            "has a history of it; name a dataset type registered with is_calibration=True."
        )
    return stored.calibs


def _compare(
    dataset_type: str, data_id: DataCoordinate, before: list[CertificationRow], after: list[CertificationRow]
) -> list[CalibrationChange]:
    """Sweep the valid-time axis: where the dataset in force differs between two snapshots."""
    points = sorted({p for r in before + after for p in r.valid.to_db()})
    out: list[CalibrationChange] = []
    for lo, hi in itertools.pairwise(points):
        old = next((r.dataset_id for r in before if r.valid.to_db()[0] <= lo < r.valid.to_db()[1]), None)
        new = next((r.dataset_id for r in after if r.valid.to_db()[0] <= lo < r.valid.to_db()[1]), None)
        if old == new:
            continue
        kind: Literal["certified", "replaced", "decertified"] = (
            "certified" if old is None else "decertified" if new is None else "replaced"
        )
        last = out[-1] if out else None
        if (
            last is not None
            and (last.kind, last.before, last.after) == (kind, old, new)
            and last.valid.to_db()[1] == lo
        ):
            out[-1] = CalibrationChange(
                kind, dataset_type, data_id, Timespan.from_db(last.valid.to_db()[0], hi), old, new
            )
        else:
            out.append(CalibrationChange(kind, dataset_type, data_id, Timespan.from_db(lo, hi), old, new))
    return out


def describe_time(ns: int) -> str:
    """A TAI nanosecond count as ISO text, for messages."""
    return tai_ns_to_iso(ns) + " TAI"
