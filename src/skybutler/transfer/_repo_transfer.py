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
from contextlib import ExitStack
from typing import TYPE_CHECKING

from skybutler.errors import (
    ConfigError,
    ConflictError,
    DatasetTypeError,
    SkyButlerError,
)
from skybutler.transfer._associations import apply_associations, check_associations
from skybutler.transfer._ingest import (
    DEFAULT_BATCH,
    FileDataset,
    IngestPlanner,
    check_records_exist,
    parse_id_mode,
    run_ingest,
)
from skybutler.transfer._modes import FileMover
from skybutler.transfer._provenance import apply_provenance
from skybutler.transfer._source import RecordKey, RepositorySource, TransferSource

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef, DatasetType
    from skybutler.datastore import FileDatastore
    from skybutler.dimensions import DimensionRecord
    from skybutler.registry import Registry
    from skybutler.types import CollectionsLike, Progress

__all__ = ["transfer_datasets"]


def transfer_datasets(
    dest: tuple[Registry, FileDatastore],
    source: TransferSource | tuple[Registry, FileDatastore],
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

    ``source`` is a `TransferSource`, or a repository's (registry, file datastore), read as a `RepositorySource`.

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
    if isinstance(source, tuple):
        source = RepositorySource(*source)
    if source.fetches and transfer not in ("copy", "auto"):
        raise ConfigError(
            f"transfer={transfer!r}: the source's files are fetched through its server, so the destination "
            "keeps copies of them; use transfer='copy'."
        )
    wanted = list(dict.fromkeys(refs))
    if progress is not None:
        progress("check", 0, len(wanted))
    plan = source.describe(wanted, records=transfer_dimensions, collections=collections)
    to_register = _dataset_types(dest_registry, dest_datastore, plan.dataset_types, wanted, register_dataset_types)
    new_records = _check_records(dest_registry, plan.records)
    if not transfer_dimensions:
        check_records_exist(dest_registry, ((f"dataset {r.id}", r) for r in wanted))
    associations = plan.associations
    check_associations(dest_registry, associations)
    with ExitStack() as files:
        # Fetched before anything is written: a file that does not arrive whole refuses the whole transfer.
        sources = [files.enter_context(source.open(plan.artifacts[ref.id])) for ref in wanted]
        for dataset_type in to_register:  # after every check: a refused transfer registers nothing
            dest_registry.dataset_types.register(dataset_type)
        # Checksums are recomputed, also of files registered `direct` (the source recorded one; so do we).
        mover = FileMover(dest_datastore, checksum=True)
        planner = IngestPlanner(dest_registry, dest_datastore, mover, parse_id_mode(None))
        items = []
        for ref, found in zip(wanted, sources, strict=True):
            fd = FileDataset(found.local or found.key, refs=[ref], formatter=plan.artifacts[ref.id].formatter)
            items.append(planner.item(fd, transfer, None, found))
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
    apply_provenance(dest_registry, plan.provenance)
    return report.refs


def _dataset_types(
    registry: Registry,
    datastore: FileDatastore,
    source: Mapping[str, DatasetType],
    refs: list[DatasetRef],
    register: bool,
) -> list[DatasetType]:
    """The dataset types to register in the destination; refuse missing (unless ``register``) or different ones.

    Definitions come from the source registry, with the format registered there (refs built by hand may lack
    it); a destination type of the same definition but another registered format is refused, as a
    registration would be.
    """
    out = []
    for name in dict.fromkeys(r.dataset_type.name for r in refs):
        dataset_type = source[name]
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


def _check_records(registry: Registry, records: Mapping[RecordKey, DimensionRecord]) -> list[DimensionRecord]:
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
