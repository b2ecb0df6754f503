"""Ingest of existing files: `FileDataset` in, datasets registered in batches, files brought in by a transfer mode.

Each batch follows the put protocol (DESIGN invariant 2): its files are staged concurrently (a thread pool:
copies and checksums release the GIL), then all its datasets -- and, for raw ingest, the dimension records
they need -- are registered in one transaction, then the staged files are promoted (and ``move`` sources
deleted).  Everything is checked before the first batch starts (files exist, dataset types, data IDs, runs,
duplicates), so bad input changes nothing.  A failure inside a batch removes that batch's staged files and
registers none of its datasets; earlier batches stay registered, and re-running with ``skip_existing=True``
(and deterministic IDs) continues where it stopped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.datasets import ArtifactInfo, DatasetIdMode, DatasetRef, DatasetType, make_dataset_id
from skybutler.datastore import STAGING, Staged
from skybutler.dimensions import DataCoordinate, normalize_data_id
from skybutler.errors import (
    CollectionError,
    ConfigError,
    ConflictError,
    DataIdError,
    DatasetTypeError,
    PermissionDeniedError,
    SkyButlerError,
)
from skybutler.registry import CollectionType
from skybutler.transfer._modes import FileMover, SourceFile, source_file

if TYPE_CHECKING:
    from skybutler.datastore import FileDatastore
    from skybutler.dimensions import DimensionRecord
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType
    from skybutler.types import DataIdLike, Progress

__all__ = ["FileDataset", "IngestReport", "check_records_exist", "ingest_files", "parse_id_mode", "run_ingest"]

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

    @property
    def refs(self) -> list[DatasetRef]:
        """Every dataset the given files now stand for: ingested, then skipped."""
        return self.ingested + self.skipped

    def __str__(self) -> str:
        return f"ingested {len(self.ingested)}, skipped {len(self.skipped)} existing, {len(self.failures)} failed"


@dataclass(slots=True)
class IngestItem:
    """One file on its way in."""

    source: SourceFile
    refs: list[tuple[StoredDatasetType, CollectionRecord, DatasetRef]]
    formatter: str
    storage_class: str
    mode: str
    records: tuple[DimensionRecord, ...]
    given_ids: bool
    """IDs came with the input (refs): a dataset of the same data ID but another ID is a conflict, not a skip."""
    path: str = ""
    artifact: ArtifactInfo | None = None
    staged: Staged | None = None


def parse_id_mode(id_mode: DatasetIdMode | str | None) -> DatasetIdMode:
    """``"random"``, ``"deterministic"``, ``"deterministic-no-run"`` (or the enum, or None: random)."""
    if id_mode is None or isinstance(id_mode, DatasetIdMode):
        return id_mode or DatasetIdMode.RANDOM
    try:
        return DatasetIdMode(id_mode)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in DatasetIdMode)
        raise ConfigError(f"Unknown id_mode {id_mode!r}; use one of {choices}.") from None


_PY_TYPES = {"int": int, "string": str}


def data_coordinate(registry: Registry, dataset_type: DatasetType, data_id: DataIdLike | None) -> DataCoordinate:
    """The data ID of a dataset of ``dataset_type``: minimal when only required keys are given (no query).

    A plain dict holding exactly the required dimensions, with values of the key types already, is taken as
    it is (the bulk-ingest case: no normalization needed); anything else is normalized and, when it names
    more than the required keys, completed from the records.
    """
    group = dataset_type.dimensions
    if type(data_id) is dict and len(data_id) == len(group.required):
        types = _key_types(registry, group)
        try:
            values = tuple([data_id[d] for d in group.required])
        except KeyError:
            pass
        else:
            if all(type(v) is t for v, t in zip(values, types, strict=True)):
                return DataCoordinate(group, values)
    if isinstance(data_id, DataCoordinate):
        if data_id.group is group:
            return data_id
        if all(d in data_id for d in group.required):
            return data_id.subset(group)
    given = normalize_data_id(registry.universe, data_id, None, group=group, what=f"dataset type {dataset_type.name!r}")
    if len(given.values) == len(group.required) and not given.alternates:
        minimal = given.minimal(group)
        if minimal is not None:
            return minimal
    return registry.resolver.complete(group, given)


_TYPES_BY_GROUP: dict[int, tuple[Any, list[type | None]]] = {}


def _key_types(registry: Registry, group: Any) -> list[type | None]:
    """The Python type of each required dimension's key (cached per group object)."""
    found = _TYPES_BY_GROUP.get(id(group))
    if found is None or found[0] is not group:
        types = [_PY_TYPES.get(registry.universe[d].primary_key.type) for d in group.required]
        found = (group, types)
        _TYPES_BY_GROUP[id(group)] = found
    return found[1]


class IngestPlanner:
    """Turns `FileDataset` inputs into checked `IngestItem` plans (no registry writes)."""

    def __init__(self, registry: Registry, datastore: FileDatastore, mover: FileMover, id_mode: DatasetIdMode) -> None:
        self.registry = registry
        self.datastore = datastore
        self.mover = mover
        self.id_mode = id_mode
        self.runs: dict[str, CollectionRecord] = {}
        self._stored: dict[str, StoredDatasetType] = {}

    def run(self, name: str) -> CollectionRecord:
        record = self.runs.get(name)
        if record is None:
            found = self.registry.collections.find(name)
            if found is not None and found.type is not CollectionType.RUN:
                raise CollectionError(
                    f"Collection {name!r} is {found.type.name}, not a RUN; datasets are born in runs."
                )
            # A placeholder until the run is registered (after every check passed): id -1.
            record = found or _new_run(name)
            self.runs[name] = record
        return record

    def stored(self, dataset_type: DatasetType | str) -> StoredDatasetType:
        name = dataset_type if isinstance(dataset_type, str) else dataset_type.name
        found = self._stored.get(name)
        if found is None:
            if "." in name:
                raise DatasetTypeError(f"Cannot ingest a component ({name}); ingest the whole dataset.")
            found = self.registry.dataset_types.get(name)
            self._stored[name] = found
        if not isinstance(dataset_type, str) and found.dataset_type != dataset_type:
            raise DatasetTypeError(
                f"The dataset type given, {dataset_type.describe()}, differs from the registered "
                f"{found.dataset_type.describe()}."
            )
        return found

    def item(self, fd: FileDataset, mode: str, default_run: str | None, source: SourceFile | None = None) -> IngestItem:
        """Check one input and plan its ingest (``source``: the file already described, e.g. by a transfer)."""
        source = source or source_file(fd.path)
        refs: list[tuple[StoredDatasetType, CollectionRecord, DatasetRef]] = []
        if fd.refs:
            for ref in fd.refs:
                stored = self.stored(ref.dataset_type)
                refs.append((stored, self.run(ref.run), ref))
        else:
            assert fd.dataset_type is not None
            if default_run is None:
                raise PermissionDeniedError("No run to ingest into: pass run= to ingest() or to Butler().")
            stored = self.stored(fd.dataset_type)
            dt = stored.dataset_type
            coord = data_coordinate(self.registry, dt, fd.data_id)
            run = self.run(default_run)
            refs.append(
                (stored, run, DatasetRef(make_dataset_id(dt, coord, run.name, self.id_mode), dt, coord, run.name))
            )
        dt = refs[0][0].dataset_type
        if len({s.dataset_type.storage_class for s, _, _ in refs}) > 1:
            raise DatasetTypeError(f"The datasets of one file ({source.uri}) must share one storage class.")
        formatter = fd.formatter or self.datastore.formatter_for(dt)[0]
        if fd.formatter is not None:
            instance = self.datastore.formatter_instance(fd.formatter)
            if not instance.supports(dt.storage_class):
                raise ConfigError(
                    f"Formatter {fd.formatter!r} does not handle storage class {dt.storage_class!r} "
                    f"({dt.name}); it handles {instance.storage_classes}."
                )
        mode = self.mover.resolve(mode, source)
        return IngestItem(source, refs, formatter, dt.storage_class, mode, fd.records, bool(fd.refs))


def _new_run(name: str) -> CollectionRecord:
    from skybutler.registry import CollectionRecord

    return CollectionRecord(-1, name, CollectionType.RUN)


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
) -> IngestReport:
    """Register existing files as datasets (see `Butler.ingest`); return what was ingested and skipped.

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
    planner = IngestPlanner(registry, datastore, FileMover(datastore), parse_id_mode(id_mode))
    items = [planner.item(fd, transfer, run) for fd in datasets]
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
) -> IngestReport:
    """Ingest checked items: set existing ones aside, register new runs, then stage → register → promote per batch."""
    registry, datastore, mover = planner.registry, planner.datastore, planner.mover
    report = IngestReport()
    items = _drop_existing(registry, items, skip_existing, report)
    _check_records_exist(registry, items, records)
    created = []
    for name, record in list(planner.runs.items()):
        if record.id == -1 and items:
            planner.runs[name], new = registry.collections.register(name, CollectionType.RUN)
            if new:
                created.append(name)
    for item in items:
        item.refs = [(s, planner.runs[r.name], ref) for s, r, ref in item.refs]
    total = len(items)
    done = 0
    n_workers = workers or min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="skybutler-ingest") as pool:
        for start in range(0, total, batch_size):
            batch = items[start : start + batch_size]
            try:
                _stage(pool, n_workers, mover, datastore, batch)
                _register(registry, datastore, batch, records if start == 0 else ())
            except BaseException:
                if done == 0:  # nothing of this call is registered: the runs it made go too
                    _forget_runs(registry, planner, created)
                raise
            for item in batch:
                if item.staged is not None:
                    datastore.promote(item.staged)
                mover.finish(item.mode, item.source)
                report.ingested.extend(ref for _, _, ref in item.refs)
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


def check_records_exist(
    registry: Registry, refs: Iterable[tuple[Any, DatasetRef]], coming: Collection[tuple[str, tuple[Any, ...]]] = ()
) -> None:
    """Raise `DataIdError` for the first ref whose data ID names a record that does not exist (and is not coming).

    One primary-key probe per distinct record, before anything is written: a wrong data ID changes nothing.
    ``refs`` pairs each ref with what to call it in the message (a `SourceFile` is named by its URI).
    """
    probed: set[tuple[str, tuple[Any, ...]]] = set()
    plans: dict[Any, list[tuple[str, tuple[int, ...]]]] = {}
    for what, ref in refs:
        group = ref.data_id.group
        plan = plans.get(group)
        if plan is None:  # per element: where its key values sit among the data ID's required values
            universe = registry.universe
            plan = [
                (name, tuple(group.required.index(d) for d in universe[name].required))
                for name in group.required
                if not universe[name].is_skypix
            ]
            plans[group] = plan
        values = ref.data_id.required_values
        for name, positions in plan:
            key = (name, tuple([values[i] for i in positions]))
            if key in probed or key in coming:
                continue
            probed.add(key)
            if not registry.records.exists(name, key[1]):
                label = what.uri if isinstance(what, SourceFile) else what
                raise DataIdError(
                    f"Cannot ingest {label} as {ref.dataset_type.name} {ref.data_id}: "
                    f"{registry.resolver.unknown_record(ref.data_id)}"
                )


def _drop_existing(
    registry: Registry, items: list[IngestItem], skip_existing: bool, report: IngestReport
) -> list[IngestItem]:
    """Refuse (or, with ``skip_existing``, set aside) datasets already registered; refuse duplicates in the input."""
    seen_ids: set[uuid.UUID] = set()
    seen_keys: set[tuple[int, str, tuple[Any, ...]]] = set()
    for item in items:
        for stored, run, ref in item.refs:
            key = (stored.id, run.name, ref.data_id.required_values)
            if ref.id in seen_ids or key in seen_keys:
                raise ConflictError(
                    f"The input names the dataset {ref.dataset_type.name} {ref.data_id} in run {run.name!r} twice "
                    f"(the second time for {item.source.uri})."
                )
            seen_ids.add(ref.id)
            seen_keys.add(key)
    existing = registry.datasets.existing(list(seen_ids))
    kept: list[IngestItem] = []
    for item in items:
        found: list[DatasetRef] = []
        for stored, run, ref in item.refs:
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


def _stage(
    pool: ThreadPoolExecutor, workers: int, mover: FileMover, datastore: FileDatastore, batch: list[IngestItem]
) -> None:
    """Bring a batch's files in under staging names, concurrently; on any failure remove them all and raise."""
    for item in batch:
        stored, _, ref = item.refs[0]
        dt = stored.dataset_type
        if item.mode == "direct":
            item.path = item.source.uri
            continue
        if item.mode == "inplace":
            item.path = mover.in_place_key(item.source)
            continue
        ext = item.source.extension(datastore.formatter_instance(item.formatter).extensions[0])
        path = datastore.template_for(dt).render(dt, ref.data_id, ref.run, ref.id.hex) + ext
        if datastore.transport.exists(path):  # a removed dataset's file may await deletion: never overwrite it
            path = path[: -len(ext)] + f"_{ref.id.hex[:12]}" + ext
        item.path = path

    def work(chunk: Sequence[IngestItem]) -> list[BaseException]:
        errors: list[BaseException] = []
        for item in chunk:
            first = item.refs[0][2].id.hex
            staging = f"{STAGING}{first}{item.source.extension('')}"
            try:
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

    size = max(1, min(256, len(batch) // (workers * 4)))
    chunks = [batch[i : i + size] for i in range(0, len(batch), size)]
    errors = [exc for part in pool.map(work, chunks) for exc in part]
    if errors:
        _abort(datastore, batch)
        raise errors[0]


def _abort(datastore: FileDatastore, batch: Sequence[IngestItem]) -> None:
    for item in batch:
        if item.staged is not None:
            datastore.abort(item.staged)
            item.staged = None


def _register(
    registry: Registry, datastore: FileDatastore, batch: list[IngestItem], extra: Sequence[DimensionRecord]
) -> None:
    """One transaction: the records the batch needs (missing ones), then its datasets; staged files go on failure."""
    from skybutler.registry import NewDataset

    groups: dict[
        tuple[int, int], tuple[StoredDatasetType, CollectionRecord, list[NewDataset], list[DataCoordinate]]
    ] = {}
    records: dict[str, dict[tuple[Any, ...], DimensionRecord]] = {}
    for record in extra:
        records.setdefault(record.element.name, {})[record.key] = record
    for item in batch:
        for stored, run, ref in item.refs:
            group = groups.setdefault((stored.id, run.id), (stored, run, [], []))
            group[2].append(NewDataset(ref.id, ref.data_id.required_values, item.artifact))
            group[3].append(ref.data_id)
        for record in item.records:
            records.setdefault(record.element.name, {})[record.key] = record
    order = {e.name: i for i, e in enumerate(registry.universe.elements)}
    current: tuple[StoredDatasetType, CollectionRecord, list[NewDataset], list[DataCoordinate]] | None = None
    try:
        with registry.db.transaction():
            for element in sorted(records, key=order.__getitem__):
                registry.records.insert(element, list(records[element].values()), skip_existing=True)
            for current in groups.values():
                registry.datasets.insert(current[0], current[1].id, current[2])
    except sa.exc.IntegrityError as exc:
        _abort(datastore, batch)
        if current is None:
            raise ConflictError(f"The registry refused the ingest: {exc.orig}") from None
        raise registry.explain_insert_failure(current[0], current[1], current[3], exc) from None
    except BaseException:
        _abort(datastore, batch)
        raise
