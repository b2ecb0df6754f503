"""The source side of a repository-to-repository transfer: what it must tell, and how its files are read.

`transfer_datasets` asks a `TransferSource` two things: `TransferSource.describe` -- the datasets' types,
files, the dimension records they stand on, their tags and certifications in the named collections, and
their provenance -- and `TransferSource.open` -- a file to copy, as a `SourceFile`.  `RepositorySource`
answers from a repository's own registry and file datastore (a direct butler); the remote butler's source
(`skybutler.client`) answers through its server, with the files fetched through signed URLs and checked
against their recorded size and checksum before anything is registered.  The helpers `source_artifacts`,
`check_source_paths` and `records_needed` are public for such sources (the remote butler's client uses them
to send a local repository's datasets to a server).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.datastore import key_problem
from skybutler.errors import DatasetNotFoundError, PermissionDeniedError
from skybutler.transfer._associations import Associations, find_associations
from skybutler.transfer._modes import SourceFile
from skybutler.transfer._provenance import collect_provenance

if TYPE_CHECKING:
    from skybutler.datasets import ArtifactInfo, DatasetRef, DatasetType
    from skybutler.datastore import FileDatastore
    from skybutler.dimensions import DataCoordinate, DimensionRecord
    from skybutler.registry import Registry
    from skybutler.types import CollectionsLike

__all__ = [
    "RecordKey",
    "RepositorySource",
    "SourceDatasets",
    "TransferSource",
    "check_source_paths",
    "records_needed",
    "source_artifacts",
]

RecordKey = tuple[str, tuple[Any, ...]]
"""A dimension record's identity: its element's name and its required values."""


@dataclass
class SourceDatasets:
    """What the source of a transfer says about the datasets to copy (`TransferSource.describe`)."""

    dataset_types: dict[str, DatasetType]
    """Each dataset type's definition in the source, by name (with the format registered there)."""
    artifacts: dict[uuid.UUID, ArtifactInfo]
    """Each dataset's file in the source, by dataset ID (paths already checked by `check_source_paths`)."""
    records: dict[RecordKey, DimensionRecord] = field(default_factory=dict)
    """The dimension records the datasets stand on (empty unless asked for)."""
    associations: Associations = field(default_factory=Associations)
    """Their tags and current certifications in the collections named (empty unless asked for)."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Their lineage edges and their runs' records, as `collect_provenance` gives them."""


class TransferSource(ABC):
    """Where a transfer copies from (see the module docstring)."""

    #: Whether the files are fetched to local copies that go away after the transfer: then only the ``copy``
    #: and ``auto`` modes make sense (a link or a ``direct`` record to such a copy would dangle).
    fetches: bool = False

    @abstractmethod
    def describe(
        self, refs: Sequence[DatasetRef], *, records: bool, collections: CollectionsLike | None
    ) -> SourceDatasets:
        """What a transfer of ``refs`` needs to know (``records``: the dimension records too).

        Raises
        ------
        DatasetNotFoundError
            A ref is not in the source, or has no file there.
        PermissionDeniedError
            A file is recorded outside the source's datastore, or the caller may not read what is asked.
        CollectionError
            A collection named in ``collections`` (not a glob) is not in the source.
        """

    @abstractmethod
    def open(self, artifact: ArtifactInfo) -> AbstractContextManager[SourceFile]:
        """The file of ``artifact``, for the length of a ``with`` block.

        Raises
        ------
        CorruptArtifactError
            A fetched file's size or checksum differs from the source's record.
        """


class RepositorySource(TransferSource):
    """A repository read through its registry and file datastore (a direct butler's side of a transfer)."""

    def __init__(self, registry: Registry, datastore: FileDatastore) -> None:
        self.registry = registry
        self.datastore = datastore

    def describe(
        self, refs: Sequence[DatasetRef], *, records: bool, collections: CollectionsLike | None
    ) -> SourceDatasets:
        """See `TransferSource.describe`."""
        wanted = list(refs)
        artifacts = source_artifacts(self.registry, wanted, self.datastore.name)
        check_source_paths(wanted, artifacts)
        names = dict.fromkeys(r.dataset_type.name for r in wanted)
        return SourceDatasets(
            dataset_types={n: self.registry.dataset_types.get(n).dataset_type for n in names},
            artifacts=artifacts,
            records=records_needed(self.registry, [r.data_id for r in wanted]) if records else {},
            associations=Associations()
            if collections is None
            else find_associations(self.registry, wanted, collections),
            provenance=collect_provenance(self.registry, [r.id for r in wanted], {r.run for r in wanted}),
        )

    def open(self, artifact: ArtifactInfo) -> AbstractContextManager[SourceFile]:
        """See `TransferSource.open`: the file where it is (no copy)."""
        transport, key = self.datastore.locate(artifact.path)
        return nullcontext(SourceFile.at(transport, key))


def source_artifacts(registry: Registry, refs: Sequence[DatasetRef], datastore: str) -> dict[uuid.UUID, ArtifactInfo]:
    """Each ref's file in a repository's file datastore named ``datastore``, by dataset ID.

    Raises
    ------
    DatasetNotFoundError
        A ref is not in ``registry`` (the message names up to five), or has no file in that datastore.
    """
    by_type: dict[str, list[DatasetRef]] = {}
    for ref in refs:
        by_type.setdefault(ref.dataset_type.name, []).append(ref)
    found: dict[uuid.UUID, ArtifactInfo] = {}
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


def check_source_paths(refs: Iterable[DatasetRef], artifacts: Mapping[uuid.UUID, ArtifactInfo]) -> None:
    """Refuse a source record whose file path leaves the source's datastore root (or names its own files).

    Such a record (from an import made before paths were checked) would have the transfer read a file that
    is not the dataset's; external URIs (``direct`` ingests) are files the source does not own, read as such.

    Raises
    ------
    PermissionDeniedError
        A path is refused; the message names the dataset and what to do.
    """
    for ref in refs:
        path = artifacts[ref.id].path
        if (problem := key_problem(path, external=True)) is not None:
            raise PermissionDeniedError(
                f"Dataset {ref.id} ({ref.dataset_type.name} {ref.data_id}) is recorded in the source repository "
                f"with the file path {path!r}, which {problem}; nothing was transferred. Leave that dataset out, "
                "or remove it from the source."
            )


def records_needed(registry: Registry, data_ids: Iterable[DataCoordinate]) -> dict[RecordKey, DimensionRecord]:
    """Every record the data IDs stand on: their elements' records, and those the records imply or require.

    Join elements that were never filled in (e.g. no region for a visit's detector) are left out: there is
    nothing to carry.
    """
    universe = registry.universe
    todo: list[RecordKey] = []
    for data_id in data_ids:
        for name in data_id.group.elements:
            element = universe[name]
            if element.is_skypix or not all(d in data_id for d in element.required):
                continue
            todo.append((name, tuple(data_id[d] for d in element.required)))
    found: dict[RecordKey, DimensionRecord] = {}
    absent: set[RecordKey] = set()
    while todo:
        key = todo.pop()
        if key in found or key in absent:
            continue
        record = registry.records.fetch_one(*key)
        if record is None:
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
