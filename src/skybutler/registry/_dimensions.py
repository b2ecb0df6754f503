"""Dimension records in the registry: bulk insert, sync (insert-or-verify), fetch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.dimensions import DimensionElement, DimensionRecord, Timespan
from skybutler.dimensions._elements import coerce_value
from skybutler.dimensions._regions import decode_region, encode_region
from skybutler.errors import ConflictError, DataIdError
from skybutler.registry._engines import _ANALYZE_ROWS
from skybutler.registry._pg_writes import PIPELINE_ROWS
from skybutler.registry._spatial_index import overlap_columns, overlap_rows
from skybutler.registry._statistics import analyze_new_postgres

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionUniverse
    from skybutler.registry._engines import Database
    from skybutler.registry._schema import DimensionTables

__all__ = ["DimensionRecords"]


def _columns(element: DimensionElement) -> list[str]:
    """The table columns of `_to_values`' tuples."""
    names = [n for n, spec in zip(element.record_fields(), element.field_specs, strict=True) if spec is not None]
    return [*names, *(("timespan_begin", "timespan_end") if element.has_timespan else ()),
            *(("region",) if element.has_region else ())]  # fmt: skip


def _to_values(element: DimensionElement, records: Iterable[DimensionRecord]) -> Iterator[tuple[Any, ...]]:
    """The table rows of ``records`` (all of ``element``), as tuples in `_columns` order."""
    plain = [i for i, spec in enumerate(element.field_specs) if spec is not None]
    index = element.field_index
    timespan = index["timespan"] if element.has_timespan else None
    region = index["region"] if element.has_region else None
    for record in records:
        values = record.values
        row = tuple([values[i] for i in plain])
        if timespan is not None:
            ts = values[timespan]
            row += (None, None) if ts is None else ts.to_db()
        if region is not None:
            data = values[region]
            row += (None if data is None else encode_region(data),)
        yield row


def _to_row(record: DimensionRecord) -> dict[str, Any]:
    element = record.element
    return dict(zip(_columns(element), next(_to_values(element, [record])), strict=True))


def _from_row(element: DimensionElement, row: Mapping[Any, Any]) -> DimensionRecord:
    values: list[Any] = []
    for name, spec in zip(element.record_fields(), element.field_specs, strict=True):
        if spec is not None:
            values.append(row[name])
        elif name == "timespan":
            begin, end = row["timespan_begin"], row["timespan_end"]
            values.append(None if begin is None and end is None else Timespan.from_db(begin, end))
        else:
            data = row["region"]
            values.append(None if data is None else decode_region(data, what=f"{element.name}.region"))
    return DimensionRecord(element, tuple(values))


class DimensionRecords:
    """Read and write the records of every element of the universe."""

    def __init__(self, db: Database, universe: DimensionUniverse, tables: DimensionTables) -> None:
        self._db = db
        self._universe = universe
        self._tables = tables
        self._by_key: dict[str, Any] = {}
        self._exists: dict[str, Any] = {}
        self._some: dict[tuple[str, tuple[str, ...], int], Any] = {}
        self._analyzed: set[str] = set()
        """Spatial elements whose companions' statistics were seen to (`_spatial_statistics`)."""

    def table(self, element: str) -> sa.Table:
        """The table of ``element``'s records."""
        try:
            return self._tables[element]
        except KeyError:
            raise DataIdError(
                f"{element!r} has no records table (unknown element or a skypix dimension)"
                f"{self._universe.suggest(element, self._tables)}"
            ) from None

    def overlap_table(self, element: str) -> sa.Table:
        """The skypix overlap table of ``element`` (an element with regions): see `_spatial_index`."""
        return self._tables.overlap(element)

    def _records(
        self, element: DimensionElement, data: Iterable[Mapping[str, Any] | DimensionRecord]
    ) -> list[DimensionRecord]:
        return list(self._made(element, data, []))

    @staticmethod
    def _made(
        element: DimensionElement, data: Iterable[Mapping[str, Any] | DimensionRecord], out: list[DimensionRecord]
    ) -> Iterator[DimensionRecord]:
        """The records of ``data`` (validated), each also appended to ``out``, as they are made."""
        for item in data:
            if isinstance(item, DimensionRecord):
                if item.element.name != element.name:
                    raise DataIdError(f"A {item.element.name!r} record cannot be inserted as {element.name!r}.")
            else:
                item = DimensionRecord.from_dict(element, item)
            out.append(item)
            yield item

    def insert(
        self,
        element_name: str,
        data: Iterable[Mapping[str, Any] | DimensionRecord],
        *,
        skip_existing: bool = False,
    ) -> int:
        """Insert records in one transaction; return how many rows were new.

        Raises
        ------
        ConflictError
            A record with the same key exists (unless ``skip_existing``).
        DataIdError
            A field is missing or ill-typed, or a record refers to a parent that does not exist.
        """
        element = self._universe[element_name]
        items = data if isinstance(data, list) else list(data)
        if not items:
            return 0
        if element.name not in self._tables:
            self.table(element.name)  # raises: the element has no records table
        records: list[DimensionRecord] = []
        try:
            # Inside a caller's transaction (import, ingest) the explanation's queries need a savepoint on
            # PostgreSQL, which refuses every statement after a failed one until the transaction ends.
            # A few new records (PostgreSQL, no caller's transaction) go in one pipelined round trip: BEGIN, the
            # INSERTs, COMMIT (`one_round_trip`); a refused one is explained after the rollback, as below.
            few = not skip_existing and not self._db._depth and len(items) < PIPELINE_ROWS
            with self._db.transaction(pipelined=True) if few else self._db.explainable() as conn:
                if not skip_existing:
                    # One bulk insert (PostgreSQL: COPY) whose rows are validated and encoded as they are sent, so
                    # that the server inserts while the next ones are made; then the overlap index, the same way.
                    made = self._made(element, items, records)
                    # Only the table's name and columns are needed, not its `Table` (0.3-0.5 ms to make, with
                    # those its foreign keys name, in a new process): those are made when a statement needs them.
                    columns = _columns(element)
                    target = sa.table(element.name, *map(sa.column, columns))
                    self._db.insert_many(conn, target, columns, _to_values(element, made))
                    inserted = len(records)
                    self._index(conn, element, records)
                else:
                    records += self._records(element, items)
                    table = self.table(element.name)
                    key_cols = [*element.parents, element.primary_key.name] if element.is_dimension else [
                        *element.required]  # fmt: skip
                    # Count the rows actually inserted: executemany rowcounts are unreliable (0 on psycopg).
                    stmt = self._db.insert_ignore(table, key_cols).returning(*[table.c[c] for c in key_cols])
                    result = conn.execute(stmt, [_to_row(r) for r in records])
                    new = {tuple(r) for r in result.all()}
                    inserted = len(new)
                    self._index(conn, element, [r for r in records if r.key in new])
        except sa.exc.IntegrityError as exc:
            raise self._explain_integrity(element, records, exc) from None
        except ConflictError as exc:
            raise self._explain_integrity(element, records, exc) from None
        if inserted >= _ANALYZE_ROWS and element.has_region and self._db.dialect == "postgresql":
            self._spatial_statistics(element)
        return inserted

    def _spatial_statistics(self, element: DimensionElement) -> None:
        """PostgreSQL, after a bulk load of a spatial element: statistics for the tables its spatial joins read.

        The bulk-loaded table itself gets them from `Database` (`_statistics`); the automatic spatial join
        also joins its overlap table and the tables of the dimensions it requires and implies, often small
        (a sky map's 620 tracts, its one skymap row), and never analyzed until autovacuum comes by (never, where
        it is off).  Without them, the patches of a visit were planned as a nested loop over every patch: 600 to
        970 ms instead of 2 ms.  Those without statistics are analyzed, once per connection, outside any
        caller's transaction (a failure there would abort it).
        """
        if self._db._depth or element.name in self._analyzed:
            return
        self._analyzed.add(element.name)
        names = {*element.required, *element.implies, element.name} - {e.name for e in self._universe.elements
                                                                       if e.is_skypix}  # fmt: skip
        tables = [self.table(n).name for n in sorted(names)]
        if self._universe.skypix_common is not None:
            tables.append(self.overlap_table(element.name).name)
        analyze_new_postgres(self._db, tables)

    def _index(self, conn: sa.Connection, element: DimensionElement, records: list[DimensionRecord]) -> None:
        """Add the records' regions to the skypix overlap index (in the insert's transaction)."""
        common = self._universe.skypix_common
        if not element.has_region or common is None or all(r.region is None for r in records):
            return
        # A generator: on PostgreSQL the pixels of a record are computed while the server inserts earlier rows.
        rows = overlap_rows(element, records, common)
        self._db.insert_many(conn, self._tables.overlap(element.name), overlap_columns(element), rows)

    def _reindex(self, conn: sa.Connection, element: DimensionElement, record: DimensionRecord) -> None:
        """Replace one record's pixels in the overlap index (its region was updated)."""
        if not element.has_region or self._universe.skypix_common is None:
            return
        table = self._tables.overlap(element.name)
        conn.execute(
            table.delete().where(*[table.c[c] == v for c, v in zip(element.required, record.key, strict=True)])
        )
        self._index(conn, element, [record])

    def _explain_integrity(
        self, element: DimensionElement, records: list[DimensionRecord], exc: Exception
    ) -> Exception:
        text = str(getattr(exc, "orig", exc))
        if "FOREIGN KEY" in text.upper() or "foreign key" in text:
            missing = self._missing_parents(element, records)
            return DataIdError(
                f"Cannot insert {element.name!r} records: they refer to records that do not exist ({missing}). "
                "Insert those first."
            )
        return ConflictError(
            f"Cannot insert {element.name!r} records: a record with the same key already exists ({text}). "
            "Use sync_dimension_records() to insert-or-verify, or skip_existing=True."
        )

    def _missing_parents(self, element: DimensionElement, records: list[DimensionRecord]) -> str:
        problems: list[str] = []
        for dep_name in (*element.requires, *element.implies):
            dep = self._universe[dep_name]
            if dep.is_skypix:
                continue
            cols = [*dep.parents, dep.name]
            wanted = {tuple(r.get(c) for c in cols) for r in records}
            existing = {r.key for r in self.fetch(dep.name)}
            for key in sorted(wanted - existing, key=str)[:5]:
                problems.append(f"{dep.name} {dict(zip(cols, key, strict=True))}")
        return "; ".join(problems) or "unknown parent"

    def sync(self, element_name: str, data: Mapping[str, Any] | DimensionRecord, *, update: bool = False) -> bool:
        """Insert a record, or check that an identical one exists; return whether it was inserted.

        Raises
        ------
        ConflictError
            A record with the same key exists with different values (the message lists them), unless
            ``update`` is true, in which case the stored record is replaced.
        """
        element = self._universe[element_name]
        (record,) = self._records(element, [data])
        table = self.table(element.name)
        try:
            with self._db.transaction() as conn:
                existing = self._fetch_one(conn, element, record.key)
                if existing is None:
                    conn.execute(table.insert(), [_to_row(record)])
                    self._index(conn, element, [record])
                    return True
                if existing == record:
                    return False
                diff = {k: (existing.get(k), v) for k, v in record.to_dict().items() if existing.get(k) != v}
                if not update:
                    raise ConflictError(
                        f"A {element.name!r} record with key {dict(zip(element.required, record.key, strict=True))} "
                        f"exists with different values (stored, given): {diff}. Pass update=True to replace it."
                    )
                clause = self._key_clause(table, element, record.key)
                conn.execute(table.update().where(*clause).values(**_to_row(record)))
                self._reindex(conn, element, record)
                return False
        except sa.exc.IntegrityError as exc:  # a missing parent, or an alternate key taken by another record
            raise self._explain_integrity(element, [record], exc) from None

    def _key_clause(self, table: sa.Table, element: DimensionElement, key: tuple[Any, ...]) -> list[Any]:
        cols = [*element.parents, element.primary_key.name] if element.is_dimension else list(element.required)
        return [table.c[c] == v for c, v in zip(cols, key, strict=True)]

    def _fetch_one(
        self, conn: sa.Connection, element: DimensionElement, key: tuple[Any, ...]
    ) -> DimensionRecord | None:
        stmt = self._by_key.get(element.name)
        if stmt is None:
            table = self.table(element.name)
            cols = [*element.parents, element.primary_key.name] if element.is_dimension else list(element.required)
            stmt = sa.select(table).where(*[table.c[c] == sa.bindparam(f"k{i}") for i, c in enumerate(cols)])
            self._by_key[element.name] = stmt
        params = {f"k{i}": v for i, v in enumerate(key)}
        row = conn.execute(stmt, params).mappings().first()
        return None if row is None else _from_row(element, row)

    def exists(self, element_name: str, key: tuple[Any, ...]) -> bool:
        """Return whether ``element_name`` has a record with this key (one primary-key probe)."""
        stmt = self._exists.get(element_name)
        if stmt is None:
            element = self._universe[element_name]
            table = self.table(element_name)
            cols = [*element.parents, element.primary_key.name] if element.is_dimension else list(element.required)
            where = [table.c[c] == sa.bindparam(f"k{i}") for i, c in enumerate(cols)]
            stmt = sa.select(sa.literal(1)).select_from(table).where(*where)
            self._exists[element_name] = stmt
        return bool(self._db.read_rows(stmt, {f"k{i}": v for i, v in enumerate(key)}))

    def existing_keys(self, element_name: str, keys: Sequence[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        """Which of ``keys`` (as `exists` takes them) have a record: one query per 500 keys, for bulk checks."""
        element = self._universe[element_name]
        table = self.table(element_name)
        cols = [*element.parents, element.primary_key.name] if element.is_dimension else list(element.required)
        columns = [table.c[c] for c in cols]
        found: set[tuple[Any, ...]] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            single = len(columns) == 1
            where = columns[0].in_([k[0] for k in chunk]) if single else sa.tuple_(*columns).in_(chunk)
            found.update(tuple(row) for row in self._db.stream_rows(sa.select(*columns).where(where)))
        return found

    def some_keys(self, element_name: str, parents: Mapping[str, Any], limit: int) -> list[Any]:
        """Up to ``limit`` primary-key values of ``element_name`` under the given parent values, sorted."""
        element = self._universe[element_name]
        names = tuple(p for p in element.parents if p in parents)
        cache_key = (element_name, names, limit)
        stmt = self._some.get(cache_key)
        if stmt is None:
            table = self.table(element_name)
            pk = table.c[element.primary_key.name]
            where = [table.c[p] == sa.bindparam(f"p_{p}") for p in names]
            stmt = sa.select(pk).where(*where).order_by(pk).limit(limit)
            self._some[cache_key] = stmt
        return [row[0] for row in self._db.read_rows(stmt, {f"p_{p}": parents[p] for p in names})]

    def fetch_one(self, element_name: str, key: tuple[Any, ...]) -> DimensionRecord | None:
        """Return the record with this key (required dimension values, in order), or ``None``."""
        element = self._universe[element_name]
        with self._db.transaction(write=False) as conn:
            return self._fetch_one(conn, element, key)

    def fetch(
        self, element_name: str, where: Mapping[str, Any] | None = None, *, limit: int | None = None
    ) -> list[DimensionRecord]:
        """Return records of ``element_name`` whose fields equal the values in ``where``."""
        element = self._universe[element_name]
        table = self.table(element.name)
        stmt = sa.select(table)
        for name, value in (where or {}).items():
            if name not in table.c:
                raise DataIdError(
                    f"{element.name!r} records have no field {name!r}; fields: {list(element.record_fields())}."
                )
            i = element.field_index.get(name)
            spec = None if i is None else element.field_specs[i]
            if spec is not None and value is not None:  # as insert does: "12" finds 12 on every back-end
                value = coerce_value(spec, value, what=f"{element.name}.{name}")
            stmt = stmt.where(table.c[name] == value)
        key_cols = [*element.parents, element.primary_key.name] if element.is_dimension else list(element.required)
        stmt = stmt.order_by(*[table.c[c] for c in key_cols])
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._db.transaction(write=False) as conn:
            rows = conn.execute(stmt).mappings().all()
        return [_from_row(element, r) for r in rows]
