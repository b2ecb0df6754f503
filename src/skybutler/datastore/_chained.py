"""The chained datastore: an ordered list of file and memory datastores, with per-dataset-type routing.

Each child has a name (recorded in the registry with every artifact it holds) and optional constraints
(accepted and rejected dataset type names or globs, storage classes).  A put goes to every child that accepts
the dataset type (``put: all``, the default: memory in front of files, a local copy in front of S3) or to the
first one only (``put: first``: pure routing); a type no child accepts is refused, naming each child's rules.
All children are written under staging names first and registered together, so a failure in any child
leaves nothing behind in the others.  A get reads from the first child, in chain order, that the registry
says holds the dataset; a copy that is gone (an in-memory child after a restart) falls back to the next.
Remove, verify and reconcile work child by child on the registry rows that name each one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skybutler.datastore._base import Datastore, LeafDatastore
from skybutler.datastore._file_datastore import FileDatastore
from skybutler.datastore._memory import MemoryDatastore
from skybutler.errors import ConfigError, StorageError
from skybutler.transports import open_transport

if TYPE_CHECKING:
    from skybutler.config import DatastoreConfig
    from skybutler.datasets import ArtifactInfo, DatasetRef, DatasetType, StorageClass
    from skybutler.transports import Transport

__all__ = ["ChainedDatastore", "open_datastore"]


@dataclass(frozen=True, slots=True)
class ChainStaged:
    """One dataset as staged in each child that takes it: ``(child index, that child's staged entry)``."""

    dataset_id: str
    parts: tuple[tuple[int, Any], ...]

    @property
    def artifacts(self) -> tuple[ArtifactInfo, ...]:
        """One artifact per child, in chain order."""
        return tuple(a for _, staged in self.parts for a in staged.artifacts)


class ChainedDatastore(Datastore):
    """Children in order; routing by each child's constraints (see the module docstring)."""

    kind = "chained"

    def __init__(self, config: DatastoreConfig, children: Sequence[LeafDatastore]) -> None:
        super().__init__(config)
        self.children = list(children)

    def leaves(self) -> list[LeafDatastore]:
        """The children, in chain order."""
        return list(self.children)

    def targets(self, dataset_type: DatasetType) -> list[LeafDatastore]:
        """The children a put of ``dataset_type`` writes to: all that accept it, or the first (``put: first``)."""
        if not super().accepts(dataset_type):
            return []
        found = [child for child in self.children if child.accepts(dataset_type)]
        return found[:1] if self.config.put == "first" else found

    def accepts(self, dataset_type: DatasetType) -> bool:
        """Whether some child takes ``dataset_type``."""
        return bool(self.targets(dataset_type))

    def describe_rules(self) -> str:
        """Every child's constraints (and the chain's own, if any), for error messages."""
        rules = [child.describe_rules() for child in self.children]
        own = self.config.constraints
        if own.accept or own.reject or own.storage_classes:
            rules.insert(0, super().describe_rules())
        return "; ".join(rules)

    def validate(self, dataset_type: DatasetType) -> None:
        """Check ``dataset_type`` in every child that would store it (a type no child takes is refused at put)."""
        for child in self.targets(dataset_type):
            child.validate(dataset_type)

    # -- put ------------------------------------------------------------------------------------------------
    def prepare_many(
        self, refs: Sequence[DatasetRef], objects: Sequence[Any], storage_class: StorageClass | None = None
    ) -> list[ChainStaged]:
        """Stage each object in every child that takes it; on any failure, nothing stays in any child.

        Raises
        ------
        ConfigError
            No child takes a dataset type (the message names every child's rules).
        """
        routes = {}
        for ref in refs:
            if ref.dataset_type.name not in routes:
                self.check_accepts(ref.dataset_type)
                routes[ref.dataset_type.name] = {id(child) for child in self.targets(ref.dataset_type)}
        parts: dict[str, list[tuple[int, Any]]] = {ref.id.hex: [] for ref in refs}
        done: list[tuple[LeafDatastore, Sequence[Any]]] = []
        try:
            for index, child in enumerate(self.children):
                chosen = [
                    (r, o) for r, o in zip(refs, objects, strict=True) if id(child) in routes[r.dataset_type.name]
                ]
                if not chosen:
                    continue
                staged = child.prepare_many([r for r, _ in chosen], [o for _, o in chosen], storage_class)
                done.append((child, staged))
                for s in staged:
                    parts[s.dataset_id].append((index, s))
        except BaseException:
            for child, staged in done:
                child.abort_many(staged)
            raise
        return [ChainStaged(ref.id.hex, tuple(parts[ref.id.hex])) for ref in refs]

    def _by_child(self, staged: Sequence[Any]) -> list[tuple[Datastore, list[Any]]]:
        groups: dict[int, list[Any]] = {}
        for entry in staged:
            for index, part in entry.parts:
                groups.setdefault(index, []).append(part)
        return [(self.children[i], groups[i]) for i in sorted(groups)]

    def promote_many(self, staged: Sequence[Any]) -> None:
        """Promote in every child; a child that fails does not stop the others (reconcile finishes it).

        Raises
        ------
        StorageError
            The first child's failure, after every child was tried.
        """
        first: StorageError | None = None
        for child, parts in self._by_child(staged):
            try:
                child.promote_many(parts)
            except StorageError as exc:
                first = first or exc
        if first is not None:
            raise first

    def abort_many(self, staged: Sequence[Any]) -> None:
        """Drop what every child staged."""
        for child, parts in self._by_child(staged):
            child.abort_many(parts)

    # -- get ------------------------------------------------------------------------------------------------
    def read(
        self,
        artifact: ArtifactInfo,
        *,
        storage_class: StorageClass | None = None,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        dataset_type: str | None = None,
    ) -> Any:
        """Read an artifact from the child the registry names."""
        return self.leaf(artifact.datastore).read(
            artifact, storage_class=storage_class, component=component, parameters=parameters,
            dataset_type=dataset_type,
        )  # fmt: skip

    def uri(self, artifact: ArtifactInfo) -> str:
        """The URI given by the child holding the artifact."""
        return self.leaf(artifact.datastore).uri(artifact)

    def file_datastore(self) -> FileDatastore | None:
        """The first file child: ingest, import and transfer bring files there (whatever its constraints)."""
        for child in self.children:
            found = child.file_datastore()
            if found is not None:
                return found
        return None

    @property
    def concurrency(self) -> int:
        """The largest of the children's."""
        return max(child.concurrency for child in self.children)


def open_datastore(
    config: DatastoreConfig, repo_root: str, *, repository_key: str, root_transport: Transport | None = None
) -> Datastore:
    """Build the datastore a repository's configuration describes.

    Parameters
    ----------
    config
        The ``datastore`` section of the configuration.
    repo_root
        The repository root, substituted for ``{root}``.
    repository_key
        What identifies the repository in this process (its registry): in-memory datastores of butlers with
        the same key share their objects.
    root_transport
        The transport already open on ``repo_root``, reused by a file datastore rooted there.

    Raises
    ------
    ConfigError
        A child's root or transport options are invalid.
    """
    if config.type == "memory":
        return MemoryDatastore(config, repository_key)
    if config.type == "chained":
        children = [
            open_datastore(child, repo_root, repository_key=repository_key, root_transport=root_transport)
            for child in config.effective_children()
        ]
        leaves = [c for c in children if isinstance(c, LeafDatastore)]
        if len(leaves) != len(children):  # the configuration refuses nested chains before this
            raise ConfigError("A chained datastore's children must be file or memory datastores, not chains.")
        return ChainedDatastore(config, leaves)
    root = config.root.replace("{root}", repo_root)
    if root_transport is not None and root == repo_root and not config.transport:
        return FileDatastore(root_transport, config)
    try:
        transport = open_transport(root, **config.transport)
    except ConfigError as exc:
        where = f"child {config.name!r}" if config.name else "datastore"
        raise ConfigError(f"The {where} of this repository cannot be opened: {exc}") from None
    return FileDatastore(transport, config)
