"""The datastore interface the butler uses, whatever holds the datasets: files, memory, or a chain of these.

Two levels: every datastore takes puts (`prepare_many` → the caller registers → `promote_many`, or
`abort_many`) and reads (`read_first`); the *leaves* (file and memory datastores, never a chain) also answer
for the artifacts they hold: verify, delete, reconcile, list unknown ones.  Maintenance code asks the top
datastore for its `leaves` and works on each with the registry rows that name it, so a chain needs no
maintenance logic of its own.
"""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from skybutler.errors import ArtifactNotFoundError, ConfigError, StorageError

if TYPE_CHECKING:
    from skybutler.config import DatastoreConfig
    from skybutler.datasets import ArtifactInfo, DatasetRef, DatasetType, StorageClass
    from skybutler.datastore._file_datastore import FileDatastore

__all__ = ["Datastore", "LeafDatastore", "Prepared", "ReconcileReport"]


class Prepared(Protocol):
    """What a put has stored before registration: the artifacts to record for one dataset."""

    @property
    def dataset_id(self) -> str:
        """The dataset ID (hex)."""

    @property
    def artifacts(self) -> tuple[ArtifactInfo, ...]:
        """One artifact per datastore that took the dataset, in the chain's order."""


@dataclass(slots=True)
class ReconcileReport:
    """What `Butler.reconcile` found and did, over every datastore of the repository."""

    promoted: list[str] = field(default_factory=list)
    """Final paths of registered datasets whose file was still staged (in ``.staging/``, or in the pending
    area by a merge that died before promoting it): moved there now."""
    removed_staging: list[str] = field(default_factory=list)
    """Staging files of datasets never registered (and, on transports that write in place, their
    artifacts, recognised by the dataset ID stored with them): deleted."""
    removed_trash: list[str] = field(default_factory=list)
    """Artifacts of removed datasets still in storage: deleted."""
    unknown: list[str] = field(default_factory=list)
    """Other files no registered dataset refers to (deleted when asked)."""
    missing: list[str] = field(default_factory=list)
    """Registered artifacts that are gone: files lost outside skybutler's control, or objects of an
    in-memory datastore whose process has ended."""
    pending: list[str] = field(default_factory=list)
    """Files in the pending-writes area (``.pending/``: unmerged worker outputs, uncommitted uploads) whose
    area has not expired: never removed, since their owner may still register them (`PendingArea`)."""
    problems: list[str] = field(default_factory=list)
    """What could not be repaired, each with the reason (a staged file of a registered dataset whose path
    holds another file is kept, never deleted); reconcile goes on with the rest."""

    def __str__(self) -> str:
        return (
            f"promoted {len(self.promoted)} staged file(s), removed {len(self.removed_staging)} staging and "
            f"{len(self.removed_trash)} trashed file(s); {len(self.unknown)} unknown, "
            f"{len(self.missing)} missing"
            + (f", {len(self.pending)} pending" if self.pending else "")
            + (f", {len(self.problems)} not repaired" if self.problems else "")
        )

    def extend(self, other: ReconcileReport) -> None:
        """Add another datastore's findings to these."""
        self.promoted += other.promoted
        self.removed_staging += other.removed_staging
        self.removed_trash += other.removed_trash
        self.unknown += other.unknown
        self.missing += other.missing
        self.pending += other.pending
        self.problems += other.problems


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether a dataset type name matches one of the names or globs."""
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


class Datastore(ABC):
    """Maps datasets to stored artifacts; never touches the registry."""

    kind: ClassVar[str]
    """``file``, ``memory`` or ``chained`` (the ``type`` in the configuration)."""

    def __init__(self, config: DatastoreConfig) -> None:
        self.config = config
        self.name = config.name
        """Recorded with each artifact this datastore holds (``""`` for a repository's only datastore)."""

    # -- routing --------------------------------------------------------------------------------------------
    def accepts(self, dataset_type: DatasetType) -> bool:
        """Whether this datastore's constraints take datasets of ``dataset_type`` (components: the parent's)."""
        rules = self.config.constraints
        name = dataset_type.parent_name
        if rules.accept and not matches(name, rules.accept):
            return False
        if matches(name, rules.reject):
            return False
        return not rules.storage_classes or dataset_type.storage_class in rules.storage_classes

    def describe_rules(self) -> str:
        """The constraints in words, for error messages."""
        rules = self.config.constraints
        parts = [f"accept {rules.accept}" if rules.accept else "accept every type"]
        if rules.reject:
            parts.append(f"reject {rules.reject}")
        if rules.storage_classes:
            parts.append(f"storage classes {rules.storage_classes}")
        label = f"{self.kind} datastore {self.name!r}" if self.name else f"the {self.kind} datastore"
        return f"{label}: {', '.join(parts)}"

    def check_accepts(self, dataset_type: DatasetType) -> None:
        """Refuse a put of a dataset type no datastore takes, naming the rules.

        Raises
        ------
        ConfigError
            The constraints (``datastore.constraints``, or each child's in a chain) reject it.
        """
        if not self.accepts(dataset_type):
            raise ConfigError(
                f"No datastore of this repository takes {dataset_type.name!r} (storage class "
                f"{dataset_type.storage_class}): {self.describe_rules()}. Change the constraints in "
                "butler.yaml's datastore section, or put it in another repository."
            )

    # -- put ------------------------------------------------------------------------------------------------
    @abstractmethod
    def validate(self, dataset_type: DatasetType) -> None:
        """Check that datasets of ``dataset_type`` could be stored here (raise `ConfigError` if not)."""

    @abstractmethod
    def prepare_many(
        self, refs: Sequence[DatasetRef], objects: Sequence[Any], storage_class: StorageClass | None = None
    ) -> Sequence[Prepared]:
        """Store each object where it is not yet visible as the dataset; all or none (see `FileDatastore`)."""

    @abstractmethod
    def promote_many(self, staged: Sequence[Any]) -> None:
        """Make stored objects the datasets' (after registration)."""

    @abstractmethod
    def abort_many(self, staged: Sequence[Any]) -> None:
        """Drop what `prepare_many` stored (registration failed)."""

    # -- get ------------------------------------------------------------------------------------------------
    @abstractmethod
    def leaves(self) -> list[LeafDatastore]:
        """The datastores that hold artifacts: this one, or a chain's children in order."""

    def leaf(self, name: str) -> LeafDatastore:
        """The datastore recorded as ``name`` in the registry.

        Raises
        ------
        ConfigError
            No datastore of this configuration has that name (a child was removed from butler.yaml).
        """
        for leaf in self.leaves():
            if leaf.name == name:
                return leaf
        known = [leaf.name for leaf in self.leaves()]
        raise ConfigError(
            f"The registry records an artifact in datastore {name!r}, which this repository's configuration "
            f"does not have (it has {known}); restore that child in butler.yaml's datastore section."
        )

    def ordered(self, artifacts: Iterable[ArtifactInfo]) -> list[ArtifactInfo]:
        """The artifacts of one dataset in the order reads try them (a chain's order; unknown names last)."""
        rank = {leaf.name: i for i, leaf in enumerate(self.leaves())}
        return sorted(artifacts, key=lambda a: rank.get(a.datastore, len(rank)))

    def read_first(self, artifacts: Sequence[ArtifactInfo], **options: Any) -> Any:
        """Read a dataset from the first datastore holding it; a copy that is gone falls back to the next.

        The registry says which datastores hold the dataset, so nothing is guessed; a copy can still be
        gone (an in-memory datastore's process ended), and then the next copy is read.

        Raises
        ------
        ArtifactNotFoundError
            Every recorded copy is gone (the message of the first says which and what to do).
        """
        first: ArtifactNotFoundError | None = None
        for artifact in self.ordered(artifacts):
            try:
                return self.leaf(artifact.datastore).read(artifact, **options)
            except ArtifactNotFoundError as exc:
                first = first or exc
        if first is not None:
            raise first
        raise ArtifactNotFoundError("The dataset is registered but no datastore holds an artifact of it.")

    @abstractmethod
    def read(
        self,
        artifact: ArtifactInfo,
        *,
        storage_class: StorageClass | None = None,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        dataset_type: str | None = None,
    ) -> Any:
        """Read one artifact (of a leaf datastore)."""

    def uri_of(self, artifact: ArtifactInfo) -> str:
        """The URI of an artifact, asked of the datastore that holds it."""
        return self.leaf(artifact.datastore).uri(artifact)

    @abstractmethod
    def uri(self, artifact: ArtifactInfo) -> str:
        """The URI of one of this leaf's artifacts."""

    # -- files for ingest, import, export and transfer ---------------------------------------------------------
    def file_datastore(self) -> FileDatastore | None:
        """The datastore that takes and gives files (ingest, import, export, transfer), if there is one."""
        return None

    def files(self, what: str = "read or write files") -> FileDatastore:
        """`file_datastore`, or an error saying ``what`` needs one.

        Raises
        ------
        StorageError
            This repository keeps its datasets in memory only.
        """
        found = self.file_datastore()
        if found is None:
            raise StorageError(
                f"Cannot {what}: this repository's datastore holds Python objects in memory, not files. "
                "Use a chained datastore with a file child (docs/storage.md) for datasets that need files."
            )
        return found

    # -- leaf maintenance -------------------------------------------------------------------------------------
    @property
    def concurrency(self) -> int:
        """Parallel requests that pay off for bulk work (object stores); 1 where they do not."""
        return 1

    def staged_ids(self) -> list[str]:
        """Dataset IDs (hex) with an artifact stored by a put and not yet promoted or aborted."""
        return []

    def unknown_keys(self, live_paths: set[str]) -> list[str]:
        """Stored artifacts that no registered dataset refers to."""
        return []

    def retrieve(self, artifacts: Iterable[ArtifactInfo], destination: Path, *, overwrite: bool = False) -> list[Path]:
        """Copy artifacts' files under a local ``destination``.

        Raises
        ------
        StorageError
            This datastore holds no files.
        """
        raise StorageError(
            f"The {self.kind} datastore {self.name!r} holds Python objects, not files: there is nothing to "
            "copy. Get the datasets and write them where you need them."
        )


class LeafDatastore(Datastore):
    """A datastore that holds artifacts itself (files, objects in memory): what a chain's children are.

    Maintenance (`verify`, `delete`, `reconcile_files`) is asked of leaves only, through `Datastore.leaves`,
    each with the registry rows that name it; a chain has nothing of its own to check or repair.
    """

    def leaves(self) -> list[LeafDatastore]:
        """This datastore alone."""
        return [self]

    @abstractmethod
    def verify(self, artifact: ArtifactInfo) -> str | None:
        """Re-read an artifact: ``"missing"``, what differs from the record, or ``None`` when it matches."""

    @abstractmethod
    def delete(self, paths: Iterable[str]) -> None:
        """Delete this leaf's artifacts at ``paths`` (a missing one is not an error)."""

    @abstractmethod
    def reconcile_files(
        self,
        registered: Mapping[str, str],
        live_paths: set[str],
        trash_paths: Iterable[str],
        *,
        grace_seconds: float = 600.0,
        remove_unknown: bool = False,
        registered_pending: Mapping[str, ArtifactInfo] | None = None,
    ) -> ReconcileReport:
        """Repair what a crash left in this leaf (see `FileDatastore.reconcile_files`)."""
