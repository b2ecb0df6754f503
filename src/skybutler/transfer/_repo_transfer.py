"""Repository-to-repository transfer: datasets keep their UUIDs; what they need comes along.

The destination gets, for every ref not already there (by UUID): its dataset type and run (registered when
missing), the dimension records of its data ID -- the required dimensions, what their records imply, and so
on to the closure -- and its file, brought in through the same staged, batched path as ingest.  Records
that exist in the destination must be equal to the source's: a difference is a conflict, reported before
anything is written.  With ``collections=``, the transferred datasets' TAGGED and CALIBRATION associations in
those source collections come along too (`_associations`: checked before anything is written, applied in one
transaction after the datasets).

Source and destination may use different back-ends (SQLite ↔ PostgreSQL, local ↔ remote storage) and file
templates: each file is named by the destination's template.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from skybutler.datastore import key_problem
from skybutler.errors import (
    ConfigError,
    ConflictError,
    DatasetNotFoundError,
    DatasetTypeError,
    PermissionDeniedError,
    SkyButlerError,
)
from skybutler.transfer._associations import Associations, apply_associations, check_associations, find_associations
from skybutler.transfer._ingest import (
    DEFAULT_BATCH,
    FileDataset,
    IngestPlanner,
    check_records_exist,
    parse_id_mode,
    run_ingest,
)
from skybutler.transfer._modes import FileMover, SourceFile
from skybutler.transfer._provenance import apply_provenance, collect_provenance

if TYPE_CHECKING:
    from skybutler.datasets import ArtifactInfo, DatasetRef, DatasetType
    from skybutler.datastore import FileDatastore
    from skybutler.dimensions import DataCoordinate, DimensionRecord
    from skybutler.registry import Registry
    from skybutler.types import CollectionsLike, Progress

__all__ = ["transfer_datasets"]

_Key = tuple[str, tuple[Any, ...]]


def transfer_datasets(
    dest: tuple[Registry, FileDatastore],
    source: tuple[Registry, FileDatastore],
    refs: Iterable[DatasetRef],
    *,
    transfer: str = "copy",
    register_dataset_types: bool = True,
    transfer_dimensions: bool = True,
    skip_existing: bool = True,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    collections: CollectionsLike | None = None,
) -> list[DatasetRef]:
    """Copy datasets from ``source`` into ``dest`` (see `Butler.transfer_from`); return the refs now in ``dest``.

    Raises
    ------
    DatasetNotFoundError
        A ref is not in the source repository, or has no file there.
    DatasetTypeError
        A dataset type is missing in the destination (and ``register_dataset_types`` is false) or defined
        differently there.
    ConflictError
        A dimension record differs between the repositories, a dataset exists in the destination and
        ``skip_existing`` is false, or an association to carry clashes with the destination's (a collection
        of another type, another dataset tagged or certified for the same data ID).
    CollectionError
        A collection named in ``collections`` (not a glob) is not in the source.
    ConfigError
        ``transfer="move"`` (transfers never delete from the source), or an unknown mode.
    """
    if transfer == "move":
        raise ConfigError(
            "transfer_from does not move: transfer with 'copy', then remove the datasets from the source."
        )
    dest_registry, dest_datastore = dest
    source_registry, source_datastore = source
    wanted = list(dict.fromkeys(refs))
    if progress is not None:
        progress("check", 0, len(wanted))
    artifacts = _source_artifacts(source_registry, wanted, source_datastore.name)
    _check_paths(wanted, artifacts)
    to_register = _dataset_types(dest_registry, dest_datastore, source_registry, wanted, register_dataset_types)
    records = _records_needed(source_registry, [r.data_id for r in wanted]) if transfer_dimensions else {}
    new_records = _check_records(dest_registry, records)
    if not transfer_dimensions:
        check_records_exist(dest_registry, ((f"dataset {r.id}", r) for r in wanted))
    associations = Associations() if collections is None else find_associations(source_registry, wanted, collections)
    check_associations(dest_registry, associations)
    for dataset_type in to_register:  # after every check: a refused transfer registers nothing
        dest_registry.dataset_types.register(dataset_type)
    # Checksums are recomputed, also of files registered `direct` (the source recorded one; so do we).
    mover = FileMover(dest_datastore, checksum=True)
    planner = IngestPlanner(dest_registry, dest_datastore, mover, parse_id_mode(None))
    items = []
    for ref in wanted:
        transport, key = source_datastore.locate(artifacts[ref.id].path)
        fd = FileDataset(key, refs=[ref], formatter=artifacts[ref.id].formatter)
        items.append(planner.item(fd, transfer, None, SourceFile.at(transport, key)))
    if progress is not None:
        progress("check", len(wanted), len(wanted))
    # The missing records go in with the first batch: one transaction with its datasets.
    report = run_ingest(planner, items, skip_existing=skip_existing, batch_size=batch_size, progress=progress,
                        records=new_records, what="transfer")  # fmt: skip
    if associations:
        try:
            apply_associations(dest_registry, associations)
        except SkyButlerError as exc:  # a concurrent change since the check: the datasets stay; say so
            note = "The datasets were transferred; re-run the transfer to add the associations."
            raise type(exc)(f"{exc} ({note})") from None
    # Lineage and run records follow the datasets (after them: edges are kept only for registered outputs).
    carried = collect_provenance(source_registry, [r.id for r in wanted], {r.run for r in wanted})
    apply_provenance(dest_registry, carried)
    return report.refs


def _source_artifacts(registry: Registry, refs: list[DatasetRef], datastore: str) -> dict[Any, ArtifactInfo]:
    """Each ref's artifact in the source's file datastore (``datastore``: its name there)."""
    by_type: dict[str, list[DatasetRef]] = {}
    for ref in refs:
        by_type.setdefault(ref.dataset_type.name, []).append(ref)
    found: dict[Any, ArtifactInfo] = {}
    for name, group in by_type.items():
        stored = registry.dataset_types.get(name)
        for row in registry.datasets.by_ids([stored], [r.id for r in group]):
            files = [a for a in row.artifacts if a.datastore == datastore]
            if not files:
                raise DatasetNotFoundError(f"Dataset {row.id} ({name}) has no stored file in the source repository.")
            found[row.id] = files[0]
    missing = [r for r in refs if r.id not in found]
    if missing:
        shown = ", ".join(f"{r.dataset_type.name} {r.data_id} ({r.id})" for r in missing[:5])
        raise DatasetNotFoundError(
            f"{len(missing)} dataset(s) to transfer are not in the source repository: {shown}"
            + (" ..." if len(missing) > 5 else ".")
        )
    return found


def _check_paths(refs: list[DatasetRef], artifacts: Mapping[Any, ArtifactInfo]) -> None:
    """Refuse a source record whose file path leaves the source's datastore root (or names its own files).

    Such a record (from an import made before paths were checked) would have the transfer read a file that
    is not the dataset's; external URIs (``direct`` ingests) are files the source does not own, read as such.
    """
    for ref in refs:
        path = artifacts[ref.id].path
        if (problem := key_problem(path, external=True)) is not None:
            raise PermissionDeniedError(
                f"Dataset {ref.id} ({ref.dataset_type.name} {ref.data_id}) is recorded in the source repository "
                f"with the file path {path!r}, which {problem}; nothing was transferred. Leave that dataset out, "
                "or remove it from the source."
            )


def _dataset_types(
    registry: Registry, datastore: FileDatastore, source: Registry, refs: list[DatasetRef], register: bool
) -> list[DatasetType]:
    """The dataset types to register in the destination; refuse missing (unless ``register``) or different ones.

    Definitions come from the source registry, with the format registered there (refs built by hand may lack
    it); a destination type of the same definition but another registered format is refused, as a
    registration would be.
    """
    out = []
    for name in dict.fromkeys(r.dataset_type.name for r in refs):
        dataset_type = source.dataset_types.get(name).dataset_type
        found = registry.dataset_types.find(dataset_type.name)
        if found is None:
            if not register:
                raise DatasetTypeError(
                    f"Dataset type {dataset_type.describe()} is not registered in the destination; register it "
                    "or pass register_dataset_types=True."
                )
            datastore.validate(dataset_type)
            out.append(dataset_type)
        elif found.dataset_type != dataset_type or dataset_type.format not in (None, found.dataset_type.format):
            raise DatasetTypeError(
                f"Dataset type {dataset_type.name!r} differs: {dataset_type.describe()} in the source, "
                f"{found.dataset_type.describe()} in the destination."
            )
    return out


def _records_needed(registry: Registry, data_ids: Iterable[DataCoordinate]) -> dict[_Key, DimensionRecord]:
    """Every record the data IDs stand on: their elements' records, and those the records imply or require."""
    universe = registry.universe
    todo: list[_Key] = []
    for data_id in data_ids:
        for name in data_id.group.elements:
            element = universe[name]
            if element.is_skypix or not all(d in data_id for d in element.required):
                continue
            todo.append((name, tuple(data_id[d] for d in element.required)))
    found: dict[_Key, DimensionRecord] = {}
    absent: set[_Key] = set()
    while todo:
        key = todo.pop()
        if key in found or key in absent:
            continue
        record = registry.records.fetch_one(*key)
        if record is None:  # a join element (e.g. a region) that was never filled in: nothing to carry
            absent.add(key)
            continue
        found[key] = record
        element = record.element
        for dep_name in (*element.requires, *element.implies):
            dep = universe[dep_name]
            value = record.get(dep_name)
            if dep.is_skypix or value is None:
                continue
            parents = tuple(record.get(p) for p in dep.parents)
            if None not in parents:
                todo.append((dep_name, (*parents, value)))
    return found


def _check_records(registry: Registry, records: Mapping[_Key, DimensionRecord]) -> list[DimensionRecord]:
    """The records the destination lacks; a record it has with other values is a conflict."""
    new: list[DimensionRecord] = []
    for (name, key), record in records.items():
        existing = registry.records.fetch_one(name, key)
        if existing is None:
            new.append(record)
        elif existing != record:
            diff = {k: (v, existing.get(k)) for k, v in record.to_dict().items() if existing.get(k) != v}
            raise ConflictError(
                f"The {name} record {key} differs between the repositories (source, destination): {diff}. "
                "Make them agree, or transfer with transfer_dimensions=False."
            )
    return new
