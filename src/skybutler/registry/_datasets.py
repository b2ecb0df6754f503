"""Datasets in the registry: insert with their artifact records, find (one indexed statement), remove via trash."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.datasets import ArtifactInfo, as_uuid
from skybutler.dimensions import utc_ns_to_tai
from skybutler.registry._bulk_load import bulk_load
from skybutler.registry._pg_writes import PIPELINE_ROWS

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdValue
    from skybutler.registry._dataset_types import StoredDatasetType
    from skybutler.registry._engines import Database
    from skybutler.registry._provenance import Lineage
    from skybutler.registry._schema import StaticTables

__all__ = ["ARTIFACT_COLUMNS", "DatasetRow", "Datasets", "NewDataset"]

Values = tuple["DataIdValue", ...]


@dataclass(frozen=True, slots=True)
class NewDataset:
    """One dataset to insert: its ID, the required data ID values and its artifact (if stored)."""

    id: uuid.UUID
    values: tuple[DataIdValue, ...]
    artifact: ArtifactInfo | None
    copies: tuple[ArtifactInfo, ...] = ()
    """More artifacts of the same dataset in other datastores (the children of a chained datastore)."""


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """A dataset found in the registry."""

    id: uuid.UUID
    dataset_type_id: int
    collection_id: int
    run_id: int
    values: tuple[DataIdValue, ...]
    artifacts: tuple[ArtifactInfo, ...]
    """Every stored artifact of the whole dataset: one per datastore holding it (none: registered, no file)."""

    @property
    def artifact(self) -> ArtifactInfo | None:
        """The artifact of a repository with one datastore (with several: any one of them)."""
        return self.artifacts[0] if self.artifacts else None


_RECORD_COLUMNS = (
    "dataset_id", "component", "datastore", "path", "formatter", "storage_class", "file_size", "checksum"
)  # fmt: skip


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


_third = itemgetter(2)


def _datastore_of(row: tuple[Any, ...]) -> Any:
    return row[7]


#: The artifact columns every lookup selects, in `_artifact`'s order.
ARTIFACT_COLUMNS = ("path", "formatter", "storage_class", "file_size", "checksum", "datastore")


def _artifact(row: Any) -> ArtifactInfo | None:
    """The artifact of a mapping row that has the `ARTIFACT_COLUMNS` (None for a dataset with no file)."""
    if row["path"] is None:
        return None
    return ArtifactInfo(
        row["path"], row["formatter"], row["storage_class"], row["file_size"], row["checksum"],
        datastore=row["datastore"],
    )  # fmt: skip


def _grouped(rows: Iterable[Any]) -> dict[Any, tuple[Any, list[ArtifactInfo]]]:
    """Mapping rows of (dataset, artifact) joins grouped by dataset id: first row, and every artifact."""
    out: dict[Any, tuple[Any, list[ArtifactInfo]]] = {}
    for row in rows:
        entry = out.setdefault(row["dataset_id"], (row, []))
        artifact = _artifact(row)
        if artifact is not None:
            entry[1].append(artifact)
    return out


class Datasets:
    """Insert, find and remove datasets and their artifact records."""

    def __init__(self, db: Database, tables: StaticTables) -> None:
        self._db = db
        self._t = tables
        self._find_cache: dict[tuple[str, int], Any] = {}

    # -- insert ---------------------------------------------------------------------------------------------
    def insert(
        self,
        stored: StoredDatasetType,
        run_id: int,
        new: Sequence[NewDataset],
        *,
        inputs: Sequence[Sequence[uuid.UUID]] = (),
        lineage: Lineage | None = None,
        fresh: bool = True,
        also: Callable[[], None] | None = None,
    ) -> None:
        """Insert datasets into their RUN in one transaction (dataset, tags and artifact rows).

        ``inputs`` (one sequence per dataset, given with ``lineage``) are recorded as lineage edges in the same
        transaction (`Lineage.write`): on PostgreSQL in the same round trip when ``fresh`` (random new IDs).
        ``also`` runs last in the transaction (a run's first put records the run): on PostgreSQL it may only
        insert through `Database.insert_many` or `queue_insert`, which join the round trip.

        Raises
        ------
        sqlalchemy.exc.IntegrityError
            A uniqueness or foreign-key rule failed, or an input is not registered; the caller explains it
            (it knows the data IDs and the inputs).
        ConflictError
            Not ``fresh``: an edge would make a cycle.
        """
        if not new:
            return
        now = time.time_ns()
        edges: list[tuple[uuid.UUID, str, uuid.UUID]] = []
        if lineage is not None:  # before the rows are put in key order below
            name = stored.dataset_type.name
            edges = [(n.id, name, i) for n, ins in zip(new, inputs, strict=True) for i in dict.fromkeys(ins)]
        tid = stored.id
        dims = stored.dataset_type.dimensions.required
        db = self._db
        keys = db.id_values([n.id for n in new])
        if db.dialect == "sqlite":  # in key order: each index is then filled in one sweep, not at random
            order = sorted(range(len(keys)), key=keys.__getitem__)  # (cheaper than sorting pairs by a key)
            keys, new = [keys[i] for i in order], [new[i] for i in order]
        pairs = list(zip(keys, new, strict=True))
        dataset_rows = [(k, tid, run_id, now) for k in keys]
        tag_rows = [(tid, run_id, k, *n.values) for k, n in pairs]
        if any(n.copies for n in new):
            artifact_rows = [
                (k, a.component, a.datastore, a.path, a.formatter, a.storage_class, a.size, a.checksum)
                for k, n in pairs
                for a in ((n.artifact, *n.copies) if n.artifact is not None else n.copies)
            ]
        else:  # the usual case, one artifact (or none) per dataset: no tuple of artifacts per row
            artifact_rows = [
                (k, a.component, a.datastore, a.path, a.formatter, a.storage_class, a.size, a.checksum)
                for k, n in pairs
                if (a := n.artifact) is not None
            ]
        # a put's few rows: BEGIN, the inserts and COMMIT in one round trip on PostgreSQL (where `_bulk` does nothing);
        # its edges too, unless a cycle check must read first
        pipelined = len(new) <= PIPELINE_ROWS and (fresh or not edges)
        with db.transaction(pipelined=pipelined) as conn, self._bulk(conn, [stored.tags.name], len(tag_rows)):
            db.insert_many(conn, self._t.dataset, ("id", "dataset_type_id", "run_id", "ingest_date"), dataset_rows)
            db.insert_many(conn, stored.tags, ("dataset_type_id", "collection_id", "dataset_id", *dims), tag_rows)
            if artifact_rows:
                db.insert_many(conn, self._t.datastore_record, _RECORD_COLUMNS, artifact_rows)
            if edges:
                assert lineage is not None, "inputs need the registry's lineage"
                lineage.write(conn, edges, utc_ns_to_tai(now), fresh=fresh)
            if also is not None:
                also()

    def insert_values(
        self, stored: StoredDatasetType, run_id: int, ids: Sequence[uuid.UUID], values: Sequence[Values]
    ) -> None:
        """`insert` of datasets with no artifact, by column: ``ids[k]`` has the required data ID ``values[k]``.

        What a registry-only import inserts: the same rows as `insert`, without a `NewDataset` per dataset.

        Raises
        ------
        sqlalchemy.exc.IntegrityError
            A uniqueness or foreign-key rule failed; the caller explains it (it knows the data IDs).
        """
        if not ids:
            return
        now, tid, db = time.time_ns(), stored.id, self._db
        tag_rows = [(tid, run_id, k, *v) for k, v in zip(db.id_values(ids), values, strict=True)]
        if db.dialect == "sqlite":  # in key order, as in `insert`
            tag_rows.sort(key=_third)
        dataset_rows = [(row[2], tid, run_id, now) for row in tag_rows]
        pipelined = len(tag_rows) <= PIPELINE_ROWS
        with db.transaction(pipelined=pipelined) as conn, self._bulk(conn, [stored.tags.name], len(tag_rows)):
            db.insert_many(conn, self._t.dataset, ("id", "dataset_type_id", "run_id", "ingest_date"), dataset_rows)
            columns = ("dataset_type_id", "collection_id", "dataset_id", *stored.dataset_type.dimensions.required)
            db.insert_many(conn, stored.tags, columns, tag_rows)

    def _bulk(self, conn: sa.Connection, tables: list[str], rows: int) -> AbstractContextManager[None]:
        """On SQLite, `bulk_load` around an insert of ``rows`` rows into ``tables`` (PostgreSQL: nothing)."""
        if self._db.dialect != "sqlite":
            return nullcontext()
        return bulk_load(conn.connection.driver_connection, tables, rows)

    def insert_artifacts(self, artifacts: Sequence[tuple[uuid.UUID, ArtifactInfo]]) -> None:
        """Record the artifacts of datasets inserted (without them) earlier in the caller's transaction.

        Bulk ingest registers its datasets while their files are still being copied, and their artifacts
        (sizes and checksums come from the copy) once the copies are done, before the transaction commits.

        Raises
        ------
        sqlalchemy.exc.IntegrityError
            A dataset is unknown, or already has that artifact.
        """
        if not artifacts:
            return
        db = self._db
        keys = db.id_values([dataset_id for dataset_id, _ in artifacts])
        rows = [
            (k, a.component, a.datastore, a.path, a.formatter, a.storage_class, a.size, a.checksum)
            for k, (_, a) in zip(keys, artifacts, strict=True)
        ]
        if db.dialect == "sqlite":
            rows.sort(key=_first)
        with db.transaction() as conn:
            db.insert_many(conn, self._t.datastore_record, _RECORD_COLUMNS, rows)

    # -- find -----------------------------------------------------------------------------------------------
    def _find_statement(self, stored: StoredDatasetType, n_collections: int) -> Any:
        key = (stored.tags.name, n_collections)
        stmt = self._find_cache.get(key)
        if stmt is None:
            tags, d, r = stored.tags, self._t.dataset, self._t.datastore_record
            where = [tags.c.dataset_type_id == sa.bindparam("dt")]
            if n_collections == 1:
                where.append(tags.c.collection_id == sa.bindparam("c0"))
            else:
                where.append(tags.c.collection_id.in_([sa.bindparam(f"c{i}") for i in range(n_collections)]))
            where += [tags.c[dim] == sa.bindparam(f"v_{dim}") for dim in stored.dataset_type.dimensions.required]
            stmt = (
                sa.select(tags.c.dataset_id, tags.c.collection_id, d.c.run_id, *(r.c[c] for c in ARTIFACT_COLUMNS))
                .select_from(tags)
                .join(d, d.c.id == tags.c.dataset_id)
                .outerjoin(r, (r.c.dataset_id == tags.c.dataset_id) & (r.c.component == ""))
                .where(*where)
            )
            self._find_cache[key] = stmt
        return stmt

    def find(
        self, stored: StoredDatasetType, collection_ids: Sequence[int], values: tuple[DataIdValue, ...]
    ) -> DatasetRow | None:
        """Return the dataset of this type and data ID in the first collection of the search path that has one."""
        params: dict[str, Any] = {"dt": stored.id}
        for i, cid in enumerate(collection_ids):
            params[f"c{i}"] = cid
        for dim, value in zip(stored.dataset_type.dimensions.required, values, strict=True):
            params[f"v_{dim}"] = value
        rows = self._db.read_rows(self._find_statement(stored, len(collection_ids)), params)
        if not rows:
            return None
        if len(rows) > 1:
            order = {cid: i for i, cid in enumerate(collection_ids)}
            rows.sort(key=lambda row: order[row[1]])
        first = rows[0]
        # one row per datastore holding the dataset (chained datastores): keep them all
        artifacts = tuple(
            ArtifactInfo(row[3], row[4], row[5], row[6], row[7], datastore=row[8])
            for row in rows
            if row[0] == first[0] and row[1] == first[1] and row[3] is not None
        )
        return DatasetRow(as_uuid(first[0]), stored.id, first[1], first[2], values, artifacts)

    def collections_with(self, stored: StoredDatasetType, values: tuple[DataIdValue, ...]) -> list[int]:
        """Ids of the collections holding a dataset of this type and data ID (at most 20, for messages)."""
        dims = stored.dataset_type.dimensions.required
        key = (stored.tags.name, -1)
        stmt = self._find_cache.get(key)
        if stmt is None:
            tags = stored.tags
            where = [tags.c.dataset_type_id == sa.bindparam("dt")]
            where += [tags.c[d] == sa.bindparam(f"v_{d}") for d in dims]
            stmt = sa.select(tags.c.collection_id).where(*where).limit(20)
            self._find_cache[key] = stmt
        params: dict[str, Any] = {"dt": stored.id}
        params.update((f"v_{d}", v) for d, v in zip(dims, values, strict=True))
        return [row[0] for row in self._db.read_rows(stmt, params)]

    def by_id(self, stored: StoredDatasetType, dataset_id: uuid.UUID) -> DatasetRow | None:
        """The dataset with this ID, of this type (None: not in the registry); one cached statement.

        ``Butler.get(ref)`` asks this for every ref: `by_ids` builds and compiles a new ``IN`` statement per
        call (about 0.5 ms); this statement is built once per dataset type and, on SQLite, runs on the driver
        (`Database.read_rows`), as a find by data ID does.
        """
        key = (stored.tags.name, -2)
        stmt = self._find_cache.get(key)
        if stmt is None:
            tags, d, r = stored.tags, self._t.dataset, self._t.datastore_record
            dims = stored.dataset_type.dimensions.required
            # On SQLite the ID is bound as the hex text it is stored as (read_rows passes values to the driver).
            key_param = sa.bindparam("id", type_=sa.String()) if self._db.dialect == "sqlite" else sa.bindparam("id")
            stmt = (
                sa.select(
                    tags.c.collection_id, d.c.run_id, *(r.c[c] for c in ARTIFACT_COLUMNS), *(tags.c[x] for x in dims)
                )
                .select_from(tags)
                .join(d, (d.c.id == tags.c.dataset_id) & (d.c.run_id == tags.c.collection_id))
                .outerjoin(r, (r.c.dataset_id == tags.c.dataset_id) & (r.c.component == ""))
                .where(tags.c.dataset_id == key_param, tags.c.dataset_type_id == sa.bindparam("dt"))
            )
            self._find_cache[key] = stmt
        rows = self._db.read_rows(stmt, {"id": self._db.id_values([dataset_id])[0], "dt": stored.id})
        if not rows:
            return None
        first = rows[0]
        artifacts = tuple(
            ArtifactInfo(row[2], row[3], row[4], row[5], row[6], datastore=row[7]) for row in rows if row[2] is not None
        )
        return DatasetRow(dataset_id, stored.id, first[0], first[1], tuple(first[8:]), artifacts)

    def by_ids(self, stored_types: Iterable[StoredDatasetType], ids: Sequence[uuid.UUID]) -> list[DatasetRow]:
        """Return the datasets with these IDs (in any of the given dataset types), in no particular order."""
        out: list[DatasetRow] = []
        d, r = self._t.dataset, self._t.datastore_record
        with self._db.transaction(write=False) as conn:
            for stored in stored_types:
                tags = stored.tags
                dims = stored.dataset_type.dimensions.required
                for chunk in _chunks(ids, 500):
                    stmt = (
                        sa.select(tags, d.c.run_id, *(r.c[c] for c in ARTIFACT_COLUMNS))
                        .select_from(tags)
                        .join(d, (d.c.id == tags.c.dataset_id) & (d.c.run_id == tags.c.collection_id))
                        .outerjoin(r, (r.c.dataset_id == tags.c.dataset_id) & (r.c.component == ""))
                        .where(tags.c.dataset_id.in_(chunk), tags.c.dataset_type_id == stored.id)
                    )
                    for row, artifacts in _grouped(conn.execute(stmt).mappings()).values():
                        out.append(
                            DatasetRow(
                                row["dataset_id"],
                                stored.id,
                                row["collection_id"],
                                row["run_id"],
                                tuple(row[x] for x in dims),
                                tuple(artifacts),
                            )
                        )
        return out

    def registered_paths(self, ids: Sequence[uuid.UUID]) -> dict[int, str | None]:
        """Which of ``ids`` are registered, keyed by the ID's integer, with the path of each one's own artifact
        (component ``""``; None when it has none).

        The lean form of `by_ids` for a merge, which looks up its 10 000 outputs at once (a re-run finds them
        all): SQL text, one statement per 500 IDs on SQLite and one array on PostgreSQL, no row objects.
        """
        db = self._db
        sql = (
            "SELECT d.id, r.path FROM dataset d LEFT JOIN datastore_record r ON r.dataset_id = d.id "
            "AND r.component = '' WHERE d.id "
        )
        out: dict[int, str | None] = {}
        with db.transaction(write=False) as conn:
            if db.dialect != "sqlite":
                for dataset_id, path in conn.exec_driver_sql(sql + "= ANY(%s)", (list(ids),)):
                    out.setdefault(dataset_id.int, path)
                return out
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                for chunk in _chunks(db.id_values(ids), 500):
                    for id_hex, path in cursor.execute(f"{sql}IN ({', '.join('?' * len(chunk))})", chunk):
                        out.setdefault(int(id_hex, 16), path)
            finally:
                cursor.close()
        return out

    def in_run(self, stored: StoredDatasetType, run_id: int) -> list[DatasetRow]:
        """Every dataset of a type born in a run, in data-ID order."""
        tags, r = stored.tags, self._t.datastore_record
        dims = stored.dataset_type.dimensions.required
        stmt = (
            sa.select(tags, *(r.c[c] for c in ARTIFACT_COLUMNS))
            .select_from(tags)
            .outerjoin(r, (r.c.dataset_id == tags.c.dataset_id) & (r.c.component == ""))
            .where(tags.c.dataset_type_id == stored.id, tags.c.collection_id == run_id)
            .order_by(*(tags.c[d] for d in dims))  # data-ID order, whichever index the database reads
        )
        with self._db.transaction(write=False) as conn:
            rows = conn.execute(stmt).mappings().all()
        return [
            DatasetRow(row["dataset_id"], stored.id, run_id, run_id, tuple(row[x] for x in dims), tuple(artifacts))
            for row, artifacts in _grouped(rows).values()
        ]

    # -- TAGGED collections -----------------------------------------------------------------------------------
    def associate(
        self, stored: StoredDatasetType, collection_id: int, rows: Sequence[tuple[uuid.UUID, Values]]
    ) -> None:
        """Add datasets to a TAGGED collection (already-present ones are kept).

        Raises
        ------
        sqlalchemy.exc.IntegrityError
            Another dataset of the same type and data ID is in the collection; the caller explains it.
        """
        if not rows:
            return
        tags = stored.tags
        dims = stored.dataset_type.dimensions.required
        new = []
        for dataset_id, values in rows:
            row: dict[str, Any] = {
                "dataset_type_id": stored.id,
                "collection_id": collection_id,
                "dataset_id": dataset_id,
            }
            row.update(zip(dims, values, strict=True))
            new.append(row)
        with self._db.transaction() as conn:
            conn.execute(self._db.insert_ignore(tags, ["dataset_id", "collection_id"]), new)

    def tagged_ids(self, stored: StoredDatasetType, collection_id: int) -> list[uuid.UUID]:
        """The IDs of the datasets of a type in a collection (a TAGGED one's members, a RUN's datasets)."""
        tags = stored.tags
        stmt = sa.select(tags.c.dataset_id).where(
            tags.c.collection_id == collection_id, tags.c.dataset_type_id == stored.id
        )
        with self._db.transaction(write=False) as conn:
            return [as_uuid(v) for v in conn.execute(stmt).scalars()]

    def disassociate(self, stored: StoredDatasetType, collection_id: int, ids: Sequence[uuid.UUID]) -> int:
        """Remove datasets from a TAGGED collection; return how many were there."""
        tags = stored.tags
        removed = 0
        with self._db.transaction() as conn:
            for chunk in _chunks(list(ids), 500):
                stmt = tags.delete().where(tags.c.collection_id == collection_id, tags.c.dataset_id.in_(chunk))
                removed += conn.execute(stmt).rowcount
        return removed

    def clear_collection(self, stored_types: Iterable[StoredDatasetType], collection_id: int) -> None:
        """Drop every association of a (TAGGED) collection, in every tags table."""
        with self._db.transaction() as conn:
            for tags in {s.tags.name: s.tags for s in stored_types}.values():
                conn.execute(tags.delete().where(tags.c.collection_id == collection_id))

    # -- remove and trash -----------------------------------------------------------------------------------
    def remove(self, ids: Sequence[uuid.UUID]) -> tuple[int, list[tuple[uuid.UUID, str, str]]]:
        """Delete datasets and move their artifact paths to the trash, in one transaction.

        Returns how many datasets were deleted and the ``(dataset id, datastore, path)`` trash entries; the
        caller deletes the artifacts, then calls `drop_trash`.
        """
        d, r, trash = self._t.dataset, self._t.datastore_record, self._t.trash
        now = time.time_ns()
        entries: list[tuple[uuid.UUID, str, str]] = []
        with self._db.transaction() as conn:
            for chunk in _chunks(ids, 500):
                stmt = sa.select(r.c.dataset_id, r.c.datastore, r.c.path).where(r.c.dataset_id.in_(chunk))
                entries.extend((row[0], row[1], row[2]) for row in conn.execute(stmt))
            if entries:
                rows = [{"dataset_id": i, "datastore": s, "path": p, "created": now} for i, s, p in entries]
                conn.execute(trash.insert(), rows)
            deleted = 0
            for chunk in _chunks(ids, 500):
                conn.execute(r.delete().where(r.c.dataset_id.in_(chunk)))
                deleted += conn.execute(d.delete().where(d.c.id.in_(chunk))).rowcount
        return deleted, entries

    def trash(self) -> list[tuple[int, uuid.UUID, str, str]]:
        """Every trash entry: ``(trash id, dataset id, datastore, path)``."""
        t = self._t.trash
        stmt = sa.select(t.c.trash_id, t.c.dataset_id, t.c.datastore, t.c.path)
        with self._db.transaction(write=False) as conn:
            return [(r[0], r[1], r[2], r[3]) for r in conn.execute(stmt)]

    def drop_trash(self, paths: Iterable[str], *, datastore: str | None = None) -> None:
        """Forget trash entries whose files are gone (of every datastore, or only of ``datastore``).

        The children of a chained datastore keep files at the same relative paths: a path deleted from one
        child must not drop the entry of another child whose file is still there (one not configured now).
        """
        t = self._t.trash
        where = [] if datastore is None else [t.c.datastore == datastore]
        with self._db.transaction() as conn:
            for chunk in _chunks(list(paths), 500):
                conn.execute(t.delete().where(t.c.path.in_(chunk), *where))

    def live_paths(self, paths: Iterable[str] | None = None, *, datastore: str | None = None) -> set[str]:
        """Paths referenced by a registered dataset (all of them, or those among ``paths``).

        ``datastore`` restricts them to one datastore's (a chained datastore's children have separate roots).
        """
        r = self._t.datastore_record
        where = [] if datastore is None else [r.c.datastore == datastore]
        with self._db.transaction(write=False) as conn:
            if paths is None:
                return set(conn.execute(sa.select(r.c.path).where(*where)).scalars())
            found: set[str] = set()
            for chunk in _chunks(list(paths), 500):
                found.update(conn.execute(sa.select(r.c.path).where(r.c.path.in_(chunk), *where)).scalars())
            return found

    def artifacts(
        self, ids: Sequence[uuid.UUID] | None = None, *, datastore: str | None = None
    ) -> dict[uuid.UUID, ArtifactInfo]:
        """The artifact record of each of ``ids`` that has one (of every dataset when ``ids`` is None).

        ``datastore`` picks that datastore's artifact; without it a dataset held by several children of a
        chained datastore maps to any one of them (`all_artifacts` has them all).
        """
        return {i: found[0] for i, found in self.all_artifacts(ids, datastore=datastore).items()}

    def all_artifacts(
        self, ids: Sequence[uuid.UUID] | None = None, *, datastore: str | None = None
    ) -> dict[uuid.UUID, tuple[ArtifactInfo, ...]]:
        """Every artifact record (one per datastore holding it) of each of ``ids`` (every dataset when None)."""
        r = self._t.datastore_record
        out: dict[uuid.UUID, list[ArtifactInfo]] = {}
        if ids is not None:  # by the IDs' keys, through the driver on SQLite (no per-row type processing)
            ids = list(ids)
            by_key = dict(zip(self._db.id_values(ids), ids, strict=True))
            columns = ("dataset_id", "component", *ARTIFACT_COLUMNS)
            rows = self._db.select_in(r, columns, "dataset_id", list(by_key))
            rows.sort(key=_datastore_of)  # each dataset's artifacts in datastore order, as below
            for row in rows:
                if row[1] == "" and (datastore is None or row[7] == datastore):
                    artifact = ArtifactInfo(row[2], row[3], row[4], row[5], row[6], datastore=row[7])
                    out.setdefault(by_key[row[0]], []).append(artifact)
            return {i: tuple(found) for i, found in out.items()}
        with self._db.transaction(write=False) as conn:  # every dataset's
            stmt = sa.select(r).where(r.c.component == "")
            if datastore is not None:
                stmt = stmt.where(r.c.datastore == datastore)
            for mapping in conn.execute(stmt.order_by(r.c.datastore)).mappings():
                stored = _artifact(mapping)
                assert stored is not None  # path is NOT NULL
                out.setdefault(mapping["dataset_id"], []).append(stored)
        return {i: tuple(found) for i, found in out.items()}

    def existing(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
        """Which of ``ids`` are registered: id → ``(dataset type id, run id)`` (bulk; for ingest and transfer)."""
        rows = self._db.select_in(self._t.dataset, ("id", "dataset_type_id", "run_id"), "id", self._db.id_values(ids))
        return {as_uuid(row[0]): (row[1], row[2]) for row in rows}

    def count(self) -> int:
        """Number of registered datasets."""
        with self._db.transaction(write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self._t.dataset)).scalar_one())


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
