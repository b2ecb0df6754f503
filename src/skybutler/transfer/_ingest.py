"""Ingest of existing files: `FileDataset` in, datasets registered in batches, files brought in by a transfer mode.

Each batch follows the put protocol (DESIGN invariant 2): its files are staged concurrently (a thread pool:
copies and checksums release the GIL), then all its datasets -- and, for raw ingest, the dimension records
they need -- are registered in one transaction, then the staged files are promoted (and ``move`` sources
deleted).  Everything is checked before the first batch starts (files exist, dataset types, data IDs, runs,
duplicates), so bad input changes nothing.  A failure inside a batch removes that batch's staged files and
registers none of its datasets; earlier batches stay registered, and re-running with ``skip_existing=True``
(and deterministic IDs) continues where it stopped.  A commit that lost its connection is looked into
first, as for a put (`settle_lost_commit`): if it went through, the batch is promoted and the ingest goes on.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler._lost_commit import settle_lost_commit
from skybutler.datasets import ArtifactInfo, DatasetIdMode, DatasetRef, DatasetType
from skybutler.datastore import STAGING, Staged, key_problem, with_suffix
from skybutler.errors import (
    ConfigError,
    ConflictError,
    DatasetTypeError,
    PermissionDeniedError,
    SkyButlerError,
    StorageError,
)
from skybutler.registry import CollectionType
from skybutler.transfer._ingest_plan import IngestItem, IngestPlanner, check_records_exist, parse_id_mode
from skybutler.transfer._modes import FileMover
from skybutler.transfer._nogc import gc_paused

if TYPE_CHECKING:
    from skybutler.datastore import FileDatastore
    from skybutler.dimensions import DataCoordinate, DimensionRecord
    from skybutler.registry import CollectionRecord, NewDataset, Registry, StoredDatasetType
    from skybutler.types import DataIdLike, Progress

__all__ = [
    "DEFAULT_BATCH",
    "FileDataset",
    "IngestPlanner",
    "IngestReport",
    "check_records_exist",
    "ingest_files",
    "parse_id_mode",
    "run_ingest",
]

DEFAULT_BATCH = 10_000


@dataclass(slots=True)
class FileDataset:
    """A file to ingest and the dataset(s) it holds.

    Give either ``refs`` (datasets with their IDs and runs, e.g. from another repository) or ``dataset_type``
    and ``data_id`` (the ID is then made by the ingest's ``id_mode`` and the run is the ingest's ``run``).

    Parameters
    ----------
    path
        A local path, a ``file://`` URI, or a URI of an installed transport.
    refs
        The datasets the file holds (usually one).
    dataset_type
        A registered dataset type (name or `DatasetType`), when no ``refs`` are given.
    data_id
        The data ID of the dataset, when no ``refs`` are given.
    formatter
        Short name of the formatter that reads the file; default: the one the repository would write with.
    records
        Dimension records the dataset needs, inserted (when missing) in the same transaction as the dataset;
        raw ingest fills this from the file's header.

    Examples
    --------
    >>> FileDataset("raw/r_0001_S00.fits", dataset_type="raw", data_id={"instrument": "Cam", "exposure": 1,
    ...             "detector": 0})  # doctest: +SKIP
    """

    path: str | os.PathLike[str]
    refs: list[DatasetRef] = field(default_factory=list)
    dataset_type: DatasetType | str | None = None
    data_id: DataIdLike | None = None
    formatter: str | None = None
    records: tuple[DimensionRecord, ...] = ()

    def __post_init__(self) -> None:
        refs: Any = self.refs  # one DatasetRef is accepted too
        self.refs = [refs] if isinstance(refs, DatasetRef) else list(refs)
        if bool(self.refs) == (self.dataset_type is not None):
            raise DatasetTypeError(
                f"FileDataset({os.fspath(self.path)!r}): give either refs=[...] or dataset_type= and data_id=, "
                "not both and not neither."
            )


@dataclass(slots=True)
class IngestReport:
    """What an ingest did: datasets registered now, datasets found already registered, files that failed."""

    ingested: list[DatasetRef] = field(default_factory=list)
    skipped: list[DatasetRef] = field(default_factory=list)
    """Already registered (``skip_existing``): the refs as registered."""
    failures: dict[str, str] = field(default_factory=dict)
    """Path → why it was not ingested (raw ingest reports per file instead of raising)."""
    notes: list[str] = field(default_factory=list)
    """What went wrong after datasets were registered (raw ingest): a ``move`` whose sources could not be
    deleted, files left to ``reconcile``.  Those datasets are in `ingested`."""

    @property
    def refs(self) -> list[DatasetRef]:
        """Every dataset the given files now stand for: ingested, then skipped."""
        return self.ingested + self.skipped

    def __str__(self) -> str:
        text = f"ingested {len(self.ingested)}, skipped {len(self.skipped)} existing, {len(self.failures)} failed"
        return text + (f", {len(self.notes)} note(s)" if self.notes else "")


def ingest_files(
    registry: Registry,
    datastore: FileDatastore,
    datasets: Iterable[FileDataset],
    *,
    transfer: str = "auto",
    run: str | None = None,
    skip_existing: bool = False,
    id_mode: DatasetIdMode | str | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    workers: int | None = None,
    checksum: bool | None = None,
) -> IngestReport:
    """Register existing files as datasets (see `Butler.ingest`); return what was ingested and skipped.

    ``checksum``: None (the default) records the repository's checksum of every file the datastore takes
    in (copied, linked, moved or in place), but only the size of ``direct`` files, which the datastore
    neither wrote nor owns (see docs/ingest.md); True reads ``direct`` files for their checksum too;
    False records sizes only.

    Raises
    ------
    ArtifactNotFoundError
        A file does not exist.
    DatasetTypeError, DataIdError, CollectionError
        A dataset type is not registered, a data ID is wrong, or a run is not a RUN collection.
    ConflictError
        A dataset (same ID, or same type, data ID and run) exists and ``skip_existing`` is false, or the
        input names one dataset twice.
    ConfigError
        An unknown transfer mode, or a link mode with non-local files.
    StorageError
        A file could not be copied or linked (that batch is rolled back).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}.")
    planner = IngestPlanner(registry, datastore, FileMover(datastore, checksum=checksum), parse_id_mode(id_mode))
    with gc_paused():
        items = planner.items(datasets, transfer, run)
        if progress is not None:
            progress("check", len(items), len(items))
        return run_ingest(planner, items, skip_existing=skip_existing, batch_size=batch_size, progress=progress,
                          workers=workers)  # fmt: skip


def run_ingest(
    planner: IngestPlanner,
    items: list[IngestItem],
    *,
    skip_existing: bool,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    workers: int | None = None,
    records: Sequence[DimensionRecord] = (),
    what: str = "ingest",
) -> IngestReport:
    """Ingest checked items: set existing ones aside, register new runs, then stage → register → promote per batch.

    ``what`` names the operation in messages (``"transfer"`` for a repo transfer).
    """
    registry, datastore, mover = planner.registry, planner.datastore, planner.mover
    report = IngestReport()
    items = _drop_existing(planner, items, skip_existing, report)
    _check_records_exist(registry, items, records)
    created = []
    for name, record in list(planner.runs.items()):
        if record.id == -1 and items:
            planner.runs[name], new = registry.collections.register(name, CollectionType.RUN)
            if new:
                created.append(name)
    # Items still hold the placeholder records of runs registered just now: from here on, runs go by name.
    total = len(items)
    done = 0
    n_workers = workers or min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="skybutler-ingest") as pool:
        for start in range(0, total, batch_size):
            batch = items[start : start + batch_size]
            try:
                copying = _stage(pool, n_workers, mover, datastore, batch)
                if registry.db.dialect == "sqlite":
                    # One writer at a time: registering while a batch copies would hold the write lock for
                    # the whole copy (minutes for a batch of raws), stalling every other writer past its
                    # busy timeout.  The copies finish first; PostgreSQL's writers do not wait on each other.
                    _finish_staging(datastore, batch, copying)
                    copying = []
                _register(registry, datastore, batch, records if start == 0 else (), planner.runs, copying, what)
            except BaseException:
                if done == 0:  # nothing of this call is registered: the runs it made go too
                    _forget_runs(registry, planner, created)
                raise
            _promote(pool, n_workers, mover, datastore, batch)
            report.ingested += [ref for item in batch for _, _, ref in item.refs]
            done += len(batch)
            if progress is not None:
                progress("ingest", done, total)
    return report


def _forget_runs(registry: Registry, planner: IngestPlanner, names: list[str]) -> None:
    for name in names:
        try:
            registry.collections.remove(name)
        except SkyButlerError:  # another process put something there meanwhile: it stays
            continue
        planner.runs.pop(name, None)


def _check_records_exist(registry: Registry, items: list[IngestItem], extra: Sequence[DimensionRecord]) -> None:
    """Refuse data IDs naming records that neither exist nor come with the ingest (see `check_records_exist`)."""
    coming = {(r.element.name, r.key) for r in extra}
    coming.update((r.element.name, r.key) for item in items for r in item.records)
    check_records_exist(registry, ((item.source, ref) for item in items for _, _, ref in item.refs), coming)


def _drop_existing(
    planner: IngestPlanner, items: list[IngestItem], skip_existing: bool, report: IngestReport
) -> list[IngestItem]:
    """Refuse (or, with ``skip_existing``, set aside) datasets already registered; refuse duplicates in the input.

    IDs this ingest made for a run it has yet to create cannot be registered (the run is part of a
    deterministic ID; random ones do not collide), so only the others are looked up.  A concurrent ingest
    of the same files into the same new run fails at insert (a `ConflictError`), with nothing half-done.
    """
    registry, runs = planner.registry, planner.runs
    entries = [(item, stored, runs[run.name], ref) for item in items for stored, run, ref in item.refs]
    ids = [entry[3].id for entry in entries]
    keys = [(stored.id, run.name, ref.data_id.required_values) for _, stored, run, ref in entries]
    if len(set(ids)) != len(ids) or len(set(keys)) != len(keys):
        _refuse_duplicates(entries)
    if planner.id_mode is DatasetIdMode.DETERMINISTIC_NO_RUN:
        wanted = ids
    else:
        wanted = [ref.id for item, _, run, ref in entries if run.id != -1 or item.given_ids]
    existing = registry.datasets.existing(wanted) if wanted else {}
    if not existing and not (skip_existing and any(run.id != -1 for _, _, run, _ in entries)):
        return items  # the bulk case: all new (nothing to set aside, no per-dataset look-up needed)
    kept: list[IngestItem] = []
    for item in items:
        found: list[DatasetRef] = []
        for stored, placeholder, ref in item.refs:
            run = runs[placeholder.name]
            hit = existing.get(ref.id)
            if hit is not None:
                if not skip_existing or hit != (stored.id, run.id):
                    raise ConflictError(
                        f"Dataset ID {ref.id} ({ref.dataset_type.name} {ref.data_id}, {item.source.uri}) is already "
                        "registered"
                        + ("" if hit == (stored.id, run.id) else " as another dataset")
                        + "; pass skip_existing=True to skip what is there already."
                    )
                found.append(ref)
                continue
            if skip_existing and run.id != -1 and not item.given_ids:
                row = registry.datasets.find(stored, [run.id], ref.data_id.required_values)
                if row is not None:
                    found.append(DatasetRef(row.id, stored.dataset_type, ref.data_id, run.name))
        if found and len(found) != len(item.refs):
            raise ConflictError(f"Some but not all datasets of {item.source.uri} are registered; ingest them singly.")
        if found:
            report.skipped.extend(found)
        else:
            kept.append(item)
    return kept


def _refuse_duplicates(entries: list[tuple[IngestItem, StoredDatasetType, CollectionRecord, DatasetRef]]) -> None:
    seen_ids: set[uuid.UUID] = set()
    seen_keys: set[tuple[int, str, tuple[Any, ...]]] = set()
    for item, stored, run, ref in entries:
        key = (stored.id, run.name, ref.data_id.required_values)
        if ref.id in seen_ids or key in seen_keys:
            raise ConflictError(
                f"The input names the dataset {ref.dataset_type.name} {ref.data_id} in run {run.name!r} twice "
                f"(the second time for {item.source.uri})."
            )
        seen_ids.add(ref.id)
        seen_keys.add(key)


def _chunks(todo: list[IngestItem], workers: int) -> list[list[IngestItem]]:
    size = max(1, min(256, len(todo) // (workers * 4)))
    return [todo[i : i + size] for i in range(0, len(todo), size)]


def _stage(
    pool: ThreadPoolExecutor, workers: int, mover: FileMover, datastore: FileDatastore, batch: list[IngestItem]
) -> list[Future[list[BaseException]]]:
    """Start bringing a batch's files in under staging names, concurrently; return the work still running.

    ``direct`` files whose size is known and that are not to be read for a checksum need no file work at
    all: their artifact is made here, without the pool.  The rest is done by the pool while the caller
    registers the batch's datasets (see `_register`); `_wait` collects the outcome.
    """
    todo = []
    name, unread_size = datastore.name, mover.unread_size
    for item in batch:
        if item.mode == "direct":
            item.path = item.source.uri
            size = unread_size(item.source)
            if size is not None:
                item.artifact = ArtifactInfo(item.path, item.formatter, item.storage_class, size, None, "", name)
                continue
        elif item.mode == "inplace":
            item.path = mover.in_place_key(item.source)
            if (problem := key_problem(item.path)) is not None:  # `resolve` adopts only safe keys
                raise PermissionDeniedError(
                    f"Cannot register {item.source.uri} in place: its path in the datastore {problem}. "
                    "Ingest it with transfer='copy'."
                )
        todo.append(item)
    if not todo:
        return []
    extensions: dict[str, str] = {}

    def work(chunk: Sequence[IngestItem]) -> list[BaseException]:
        errors: list[BaseException] = []
        for item in chunk:
            first = item.refs[0][2].id.hex
            try:
                ext = "" if item.mode in ("direct", "inplace") else _final_path(datastore, item, extensions)
                staging = f"{STAGING}{first}{ext}"
                size, checksum = mover.bring(item.mode, item.source, staging, item.path)
            except BaseException as exc:  # reported once every worker has finished
                errors.append(exc)
                continue
            item.artifact = ArtifactInfo(
                item.path, item.formatter, item.storage_class, size, checksum, datastore=datastore.name
            )
            if item.mode not in ("direct", "inplace"):
                item.staged = Staged(first, staging, item.artifact)
        return errors

    return [pool.submit(work, chunk) for chunk in _chunks(todo, workers)]


def _final_path(datastore: FileDatastore, item: IngestItem, extensions: dict[str, str]) -> str:
    """Set ``item.path`` to the file's path in the datastore by its template; return its extension.

    ``extensions`` caches each formatter's default extension (shared by the workers).
    """
    default = extensions.get(item.formatter)
    if default is None:
        default = extensions[item.formatter] = datastore.formatter_instance(item.formatter).extensions[0]
    ext = item.source.extension(default)
    stored, _, ref = item.refs[0]
    dt = stored.dataset_type
    path = datastore.artifact_path(dt, ref, ext)
    if datastore.transport.exists(path):  # a removed dataset's file may await deletion (promote never replaces)
        path = with_suffix(path, ext, ref.id.hex)
    item.path = path
    return ext


def _wait(copying: Sequence[Future[list[BaseException]]]) -> None:
    """Wait for every file of a batch to be staged; raise the first failure (after all have finished)."""
    errors = [exc for future in copying for exc in future.result()]
    if errors:
        raise errors[0]


def _promote(
    pool: ThreadPoolExecutor, workers: int, mover: FileMover, datastore: FileDatastore, batch: list[IngestItem]
) -> None:
    """After registration: move staged files to their final paths (and delete ``move`` sources), concurrently.

    A failure to promote leaves registered datasets with staged files, which ``reconcile`` promotes.  A
    ``move`` source that cannot be deleted (a read-only file system) stops nothing else of the batch: its
    datasets are registered and their files in place, so the `StorageError` raised at the end says so and
    names the sources left behind.
    """
    todo = [item for item in batch if item.staged is not None or item.mode == "move"]

    def work(chunk: Sequence[IngestItem]) -> list[tuple[str, OSError]]:
        kept = []
        for item in chunk:
            if item.staged is not None:
                datastore.promote(item.staged)
            if item.mode == "move":
                try:
                    mover.finish(item.mode, item.source)
                except OSError as exc:  # StorageError too: the dataset is in, only the source stays
                    kept.append((item.source.uri, exc))
        return kept

    # pool.map waits for every chunk and raises a worker's exception (a failed promotion).
    kept = [entry for part in pool.map(work, _chunks(todo, workers)) for entry in part]
    if kept:
        uri, exc = kept[0]
        raise StorageError(
            f"The {len(batch)} file(s) of this batch are ingested, but {len(kept)} source(s) could not be deleted "
            f"after the move (first: {uri}: {exc}); delete them yourself. Ingest the files left (if any) with "
            "skip_existing=True, and with transfer='copy' where the sources are read-only."
        )


def _finish_staging(
    datastore: FileDatastore, batch: Sequence[IngestItem], copying: Sequence[Future[list[BaseException]]]
) -> None:
    """Wait for a batch's files to be staged; on any failure remove them all and raise the first."""
    try:
        _wait(copying)
    except BaseException:
        _abort(datastore, batch, copying)
        raise


def _abort(
    datastore: FileDatastore, batch: Sequence[IngestItem], copying: Sequence[Future[list[BaseException]]] = ()
) -> None:
    """Remove a failed batch's staged files, once the copies still running have finished."""
    futures.wait(copying)
    for item in batch:
        if item.staged is not None:
            datastore.abort(item.staged)
            item.staged = None


_Group = tuple["StoredDatasetType", "CollectionRecord", list["NewDataset"], list["DataCoordinate"]]
"""The datasets of one dataset type and run in a batch, with their data IDs (for messages)."""


def _register(
    registry: Registry,
    datastore: FileDatastore,
    batch: list[IngestItem],
    extra: Sequence[DimensionRecord],
    runs: Mapping[str, CollectionRecord],
    copying: Sequence[Future[list[BaseException]]] = (),
    what: str = "ingest",
) -> None:
    """One transaction: the records the batch needs (missing ones), then its datasets; staged files go on failure.

    With files still being copied (``copying``), the datasets are inserted while the copies run and their
    artifacts (whose sizes and checksums come from the copies) once every copy is done, still before the
    commit: the registration point stays after the last byte is staged (DESIGN invariant 2), and the wall
    time of a batch is nearer the larger of copy and registry than their sum.
    """
    from skybutler.registry import LostCommitError, NewDataset

    groups: dict[tuple[int, str], _Group] = {}
    records: dict[str, dict[tuple[Any, ...], DimensionRecord]] = {}
    for record in extra:
        records.setdefault(record.element.name, {})[record.key] = record
    later = bool(copying)
    last: tuple[Any, Any, list[NewDataset], list[DataCoordinate]] = (None, None, [], [])
    for item in batch:
        artifact = None if later else item.artifact
        for stored, run, ref in item.refs:
            if stored is not last[0] or run is not last[1]:  # most items share the previous one's group
                group = groups.get((stored.id, run.name))
                if group is None:
                    group = groups[stored.id, run.name] = (stored, runs[run.name], [], [])
                last = (stored, run, group[2], group[3])
            last[2].append(NewDataset(ref.id, ref.data_id.required_values, artifact))
            last[3].append(ref.data_id)
        for record in item.records:
            records.setdefault(record.element.name, {})[record.key] = record
    order = {e.name: i for i, e in enumerate(registry.universe.elements)}
    current: _Group | None = None
    try:
        with registry.db.transaction():
            for element in sorted(records, key=order.__getitem__):
                registry.records.insert(element, list(records[element].values()), skip_existing=True)
            for current in groups.values():
                registry.datasets.insert(current[0], current[1].id, current[2])
            current = None
            if later:
                _wait(copying)
                registry.datasets.insert_artifacts(
                    [(ref.id, item.artifact) for item in batch if item.artifact is not None for _, _, ref in item.refs]
                )
    except LostCommitError as exc:  # returns if the commit went through: the batch is then promoted
        ids = [ref.id for item in batch for _, _, ref in item.refs]
        settle_lost_commit(registry, exc, ids, what, lambda: _abort(datastore, batch, copying))
    except sa.exc.IntegrityError as exc:
        _abort(datastore, batch, copying)
        if current is None:
            raise ConflictError(f"The registry refused the ingest: {exc.orig}") from None
        raise registry.explain_insert_failure(current[0], current[1], current[3], exc) from None
    except BaseException:
        _abort(datastore, batch, copying)
        raise
