# mypy: disable-error-code="empty-body"
"""`Butler`: the one abstract interface users hold, whichever implementation answers it.

The direct implementation (`DirectButler`) works on the database and storage itself; a remote client talks to a
server that holds a direct butler.  Both implement every abstract method here with the same signature, so code
written against `Butler` runs on either, and the conformance suite (`skybutler.testing.butler.ButlerTests`) proves
they behave alike.  A method a later issue adds goes here first (and into the wire models and the suite).

``Butler(root, ...)`` picks the implementation (see `Butler.__new__` and `skybutler.butler.butler_implementations`).
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Self

from skybutler.butler._abstract import interface_method
from skybutler.butler._interface_provenance import ButlerProvenanceInterface
from skybutler.butler._interface_queries import ButlerQueryInterface
from skybutler.butler._interface_transfer import ButlerTransferInterface

if TYPE_CHECKING:
    from skybutler.butler._collections_interface import ButlerCollections
    from skybutler.butler._deferred import DeferredDatasetHandle
    from skybutler.butler._maintenance import VerifyReport
    from skybutler.butler._provenance import InputsLike
    from skybutler.datasets import DatasetIdMode, DatasetRef, DatasetType
    from skybutler.datastore import ReconcileReport
    from skybutler.dimensions import DimensionUniverse
    from skybutler.registry import CollectionType
    from skybutler.types import CollectionsLike, DataIdLike, DatasetTypeLike, Progress, TimeLike, UriLike
    from skybutler.workers import Manifest, MergeHook, MergeReport, TaskRecord

__all__ = ["Butler"]


class Butler(ButlerQueryInterface, ButlerTransferInterface, ButlerProvenanceInterface, ABC):
    """Store and find datasets by dataset type, data ID and collection.

    ``Butler(root, run=..., collections=..., writeable=..., config=...)`` opens a repository with the
    implementation chosen for ``root`` (see `__new__`); ``Butler.from_server(url, token=...)`` opens one
    through a skybutler server.  The object returned is always an instance of `Butler`.

    Parameters
    ----------
    root
        Repository root: a directory, or a URI whose transport is installed.
    run
        RUN collection that `put` writes into (created on first use).  Implies ``writeable=True``.
    collections
        Search path for `get`, `find_dataset` and `exists`; defaults to ``[run]``.
    writeable
        Allow writes; defaults to whether ``run`` is given.
    config
        Overrides of the repository's configuration (nested mapping; see `skybutler.config`).

    Examples
    --------
    >>> butler = Butler(repo, run="u/me/run1")
    >>> ref = butler.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=2)
    >>> butler.get("meta", instrument="Cam", visit=1, detector=2)
    {'a': 1}
    """

    root: str
    """The repository's root URI (a local path made absolute), or the server's URL."""
    run: str | None
    """The RUN collection `put` writes into when a call names none."""
    writeable: bool
    """Whether this butler may change the repository."""
    default_collections: list[str]
    """The search path used when a call gives no ``collections=``."""
    universe: DimensionUniverse
    """The repository's dimension universe."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Butler:
        """Choose the implementation when ``Butler`` itself is called; a subclass is made as it is.

        The rule lives in one place, `skybutler.butler._implementations.choose`: a root that is an
        ``http(s)://`` URL is offered to every registered implementation other than ``"direct"`` (a remote
        client answers for a URL that speaks as a skybutler server); everything else, and a URL no one
        claims, opens with ``"direct"``.
        """
        if cls is Butler:
            from skybutler.butler._implementations import choose

            root = args[0] if args else kwargs.get("root")
            cls = choose(root)
        return super().__new__(cls)

    @classmethod
    def accepts_root(cls, root: str) -> bool:
        """Whether this implementation answers for ``root`` when ``Butler(root)`` chooses one.

        Only consulted for ``http(s)://`` roots and implementations other than ``"direct"``; the default is
        False.  A remote client overrides it (for instance: the URL answers as a skybutler server).
        """
        return False

    @classmethod
    def from_server(
        cls,
        url: str,
        *,
        token: str | None = None,
        run: str | None = None,
        collections: CollectionsLike | None = None,
        writeable: bool | None = None,
    ) -> Butler:
        """Open a repository through a skybutler server at ``url`` with the ``"remote"`` implementation.

        The implementation registered as ``"remote"`` in `skybutler.butler.butler_implementations` (built in,
        or by a ``skybutler.butler_implementations`` entry point) is called as
        ``impl(url, token=token, run=run, collections=collections, writeable=writeable)``.

        Raises
        ------
        MissingDependencyError
            The remote implementation is registered but a package it needs is not installed.
        ConfigError
            No remote implementation is installed.
        """
        from skybutler.butler._implementations import remote_implementation

        impl = remote_implementation()
        return impl(url, token=token, run=run, collections=collections, writeable=writeable)

    # -- repository ------------------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: UriLike,
        *,
        registry: str | None = None,
        schema: str | None = None,
        universe: DimensionUniverse | str | None = None,
        config: Mapping[str, Any] | None = None,
        datastore: str | None = None,
    ) -> str:
        """Create a new, empty repository and return its root; open it with ``Butler(root)``.

        Repositories are created on storage and a database directly, whatever implementation later serves
        them, so this needs no butler instance.

        Parameters
        ----------
        root
            Directory (or URI) of the new repository; it must not hold one already.
        registry
            Database URL; default: a SQLite file in the repository.  PostgreSQL: ``postgresql://...``.
        schema
            PostgreSQL schema for this repository's tables (several repositories can share a database).
        universe
            A `DimensionUniverse`, a universe plug-in name, or a path to a universe YAML file; default:
            the default universe.
        config
            More configuration written to ``butler.yaml`` (templates, formatters, ...).
        datastore
            Root URI of the dataset files when they live elsewhere than ``root``, e.g. ``s3://bucket/prefix``
            (the registry and ``butler.yaml`` stay at ``root``); transport options go in
            ``config={"datastore": {"transport": {...}}}``.

        Raises
        ------
        ConflictError
            A repository exists there already.
        ConfigError
            The configuration is invalid.
        """
        from skybutler.butler._repository import create_repository

        return create_repository(
            root, registry=registry, schema=schema, universe=universe, config=config, datastore=datastore
        )

    @interface_method
    def close(self) -> None:
        """Release the connection to the repository (database or server); the butler is unusable after."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r}, run={self.run!r}, collections={self.default_collections!r})"

    @property
    @interface_method
    def collections(self) -> ButlerCollections:
        """Collection management: register, chain, tag, certify, history (`ButlerCollections`)."""

    # -- dataset types ------------------------------------------------------------------------------------------
    @interface_method
    def register_dataset_type(
        self,
        name: str,
        dimensions: Iterable[str],
        storage_class: str,
        *,
        is_calibration: bool = False,
        format: str | None = None,
    ) -> DatasetType:
        """Register a dataset type (a no-op when an identical one exists) and return it.

        Parameters
        ----------
        name, dimensions, storage_class
            What the datasets are: ``"src"`` with ``["instrument", "visit", "detector"]`` as ``"AstropyTable"``.
        is_calibration
            Its datasets are certified into CALIBRATION collections.
        format
            Formatter short name its datasets are written in (``"fits"``, ``"hdf5"``, ``"parquet"``, ...),
            recorded in the registry so that every butler writing to this repository uses it; it wins over
            ``datastore.formatters`` and the defaults of ``butler.yaml``.  ``None``: the configuration chooses
            (and, when the type exists, whatever format it was registered with is kept).

        Returns
        -------
        DatasetType
            The registered type, with the format it was registered with.

        Raises
        ------
        DatasetTypeError
            The name is taken by a different definition or format, the storage class is unknown, or the
            format is unknown, cannot write the storage class, or runs code when reading (pickle).
        ConfigError
            Its datasets could not be stored: no formatter, or a template that is not unique.
        """

    @interface_method
    def get_dataset_type(self, name: str) -> DatasetType:
        """Return the registered dataset type ``name``.

        Raises
        ------
        DatasetTypeError
            No dataset type has this name (the message suggests close names).
        """

    @interface_method
    def remove_dataset_type(self, name: str) -> None:
        """Remove a dataset type that has no datasets.

        Raises
        ------
        ConflictError
            Datasets of the type remain (the message says how many).
        PermissionDeniedError
            The butler is read-only.
        """

    # -- put ------------------------------------------------------------------------------------------------------
    @interface_method
    def put(
        self,
        obj: Any,
        dataset_type: DatasetTypeLike,
        data_id: DataIdLike | None = None,
        *,
        run: str | None = None,
        inputs: InputsLike | None = None,
        **kwargs: Any,
    ) -> DatasetRef:
        """Store ``obj`` as a new dataset and return its ref.

        The object's type is checked before anything is written; the file is written under a staging name,
        the dataset registered in one transaction, then the file moved to its final path.  ``inputs`` (refs
        or dataset IDs of registered datasets) are recorded in the same transaction as what it was made
        from (`lineage`, `impact`).

        Raises
        ------
        DatasetTypeError
            The dataset type is not registered.
        DataIdError
            The data ID is incomplete, has unknown keys, or names records that do not exist.
        FormatterError
            ``obj`` is not of the dataset type's storage class.
        ConflictError
            The run already has a dataset of this type and data ID.
        PermissionDeniedError
            The butler is read-only or has no run.
        DatasetNotFoundError
            An input is not registered (nothing is written).
        """

    @interface_method
    def put_many(
        self,
        items: Iterable[tuple[Any, DataIdLike] | tuple[Any, DataIdLike, InputsLike]],
        dataset_type: DatasetTypeLike,
        *,
        run: str | None = None,
        id_mode: DatasetIdMode | None = None,
        inputs: InputsLike | None = None,
    ) -> list[DatasetRef]:
        """Store many objects of one dataset type in one registry transaction.

        Either all are stored or none is (files written before a failure are removed).  ``id_mode`` makes
        dataset IDs deterministic (`DatasetIdMode`); by default they are random.  ``inputs`` are recorded as
        inputs of every dataset; an item ``(obj, data_id, inputs)`` adds inputs of its own.  Raises what
        `put` raises.
        """

    # -- find / get --------------------------------------------------------------------------------------------
    @interface_method
    def find_dataset(
        self,
        dataset_type: DatasetTypeLike,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> DatasetRef | None:
        """Return the ref of the first matching dataset along the search path, or ``None``.

        Raises
        ------
        DatasetTypeError, DataIdError, CollectionError
            The dataset type, data ID or a collection is wrong (a missing dataset is ``None``, not an error).
        """

    @interface_method
    def exists(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> bool:
        """Return whether the registry has a matching dataset (storage is not checked: the registry is the truth).

        Raises
        ------
        DatasetTypeError, DataIdError, CollectionError
            The dataset type, data ID or a collection is wrong.
        """

    @interface_method
    def get(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        parameters: Mapping[str, Any] | None = None,
        storage_class: str | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> Any:
        """Read a dataset, found by ref or by dataset type + data ID along the collections' search path.

        In CALIBRATION collections the dataset valid at ``at`` is taken (or, when the data ID names an exposure
        or visit, valid at the middle of its timespan), as recorded at ``as_of`` (default: now) -- so a
        lookup with the ``as_of`` of an old run gives what that run got, even after later corrections.

        Raises
        ------
        DatasetNotFoundError
            Before any file I/O: no such dataset in the collections searched (named), and where else it is.
        DatasetTypeError, DataIdError, CollectionError
            The dataset type, data ID or a collection is wrong.
        ArtifactNotFoundError
            The dataset is registered but its file is missing.
        """

    @interface_method
    def get_many(self, refs: Sequence[DatasetRef]) -> list[Any]:
        """Read many datasets by ref, in the order given, with one registry query per dataset type.

        Raises
        ------
        DatasetNotFoundError
            A ref is not in the registry or has no stored file (nothing is returned).
        """

    @interface_method
    def get_deferred(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        parameters: Mapping[str, Any] | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> DeferredDatasetHandle:
        """Find a dataset now (failing fast if it is missing) and return a handle that reads it on demand.

        Raises
        ------
        DatasetNotFoundError
            No such dataset (raised now, not when the handle is read).
        """

    @interface_method
    def get_uri(
        self,
        dataset_type: DatasetTypeLike | DatasetRef,
        data_id: DataIdLike | None = None,
        *,
        collections: CollectionsLike | None = None,
        at: TimeLike | None = None,
        as_of: TimeLike | None = None,
        **kwargs: Any,
    ) -> str:
        """Return the URI of a dataset's file (in a chained datastore: of the copy `get` reads first).

        Raises
        ------
        DatasetNotFoundError
            No such dataset, or it has no stored file.
        """

    def open_uri(self, uri: str) -> BinaryIO:
        """A seekable reader of the file at ``uri`` (what `get_uri` answers): read byte ranges without `get`.

        Locally any transport's URI; a remote butler's `get_uri` answers a signed URL, read here with ranged
        requests on the butler's own connections (the token is not sent with it).
        """
        from skybutler.transports import open_transport

        parent, _, name = uri.rpartition("/")
        return open_transport(parent + "/").open(name)

    # -- remove / upkeep ----------------------------------------------------------------------------------------
    @interface_method
    def remove(self, refs: Iterable[DatasetRef], *, even_if_used: bool = False) -> int:
        """Remove datasets from the registry and delete their files; return how many were removed.

        The registry rows go first, in one transaction, with the file paths put in the trash; then the
        files are deleted and the trash emptied.  A crash in between leaves trash that `reconcile` empties.

        Raises
        ------
        PermissionDeniedError
            The butler is read-only.
        ConflictError
            Another (kept) dataset records one of them as an input and ``even_if_used`` is false (nothing
            was removed); with it, the lineage keeps the removed datasets' IDs and dataset types.
        """

    @interface_method
    def reconcile(self, *, grace_seconds: float = 600.0, remove_unknown: bool = False) -> ReconcileReport:
        """Repair what crashes left behind: promote or delete staging files, empty the trash.

        Run it when no other process is writing the same data IDs: staging files younger than
        ``grace_seconds`` are left alone since their writer may still be running.

        Raises
        ------
        PermissionDeniedError
            The butler is read-only.
        """

    @interface_method
    def verify(
        self,
        refs: Iterable[DatasetRef] | None = None,
        *,
        collections: CollectionsLike | None = None,
        progress: Progress | None = None,
    ) -> VerifyReport:
        """Re-read artifacts and compare their sizes and checksums with the registry's records.

        Checks ``refs``, or every dataset in ``collections``, or (with neither) every dataset in the repository,
        which also lists unknown files.  Read-only: it repairs nothing (see `reconcile`).
        """

    @interface_method
    def retrieve_artifacts(
        self, refs: Iterable[DatasetRef], destination: UriLike, *, overwrite: bool = False
    ) -> list[str]:
        """Copy the files of datasets into a local directory, at their paths in the datastore; return the paths.

        Raises
        ------
        DatasetNotFoundError
            A dataset has no stored file (nothing was copied).
        ConflictError
            A file exists there already and ``overwrite`` is false (nothing was copied).
        """

    # -- scale-out (docs/scale-out.md) -------------------------------------------------------------------------
    @interface_method
    def plan_work(
        self,
        dataset_type: str,
        where: str = "",
        *,
        outputs: Mapping[str, Iterable[str] | DatasetType],
        run: str,
        collections: CollectionsLike | None = None,
        inputs: Iterable[str] = (),
        bind: Mapping[str, Any] | None = None,
        expires_in: float | None = None,
    ) -> Manifest:
        """Plan one task per ``dataset_type`` dataset matching ``where``, for workers with no database.

        Every input is resolved now (``inputs`` names extra ones, looked up with each task's data ID;
        calibrations at its observation's time) and every output predicted: deterministic IDs and final paths
        in ``run``.  ``outputs`` maps each output type to its dimensions (registered types) or to a `DatasetType`
        to register.  Save the plan (``plan.save(path)``) for `WorkerButler` and `merge`; workers write into a
        pending area that `reconcile` keeps for ``expires_in`` seconds (default a week).

        Raises
        ------
        DataIdError
            No dataset matches, an extra input is missing for a task, or an output needs dimensions the input
            does not have.
        DatasetTypeError
            An output type is unknown, a calibration, or registered with other dimensions.
        StorageError
            The datastore keeps no files, or an input has no file.
        """

    @interface_method
    def merge(
        self,
        manifest: Manifest | UriLike,
        results: Iterable[TaskRecord | Mapping[str, Any]] | None = None,
        *,
        batch_size: int = 10_000,
        on_register: MergeHook | None = None,
        progress: Progress | None = None,
    ) -> MergeReport:
        """Register what the workers of a plan wrote: one transaction per batch, checked, idempotent.

        ``results`` are the tasks' records (as the engines return them); ``None`` reads every record in the
        plan's pending area.  Outputs whose size or checksum differs from their record, or that are missing, are
        reported (``report.refused``), not registered; outputs registered by an earlier merge are skipped.
        ``on_register`` runs inside each batch's transaction (provenance: lineage and the run record).

        Raises
        ------
        PermissionDeniedError
            The butler is read-only.
        ConflictError
            The run holds another dataset of an output's type and data ID (that batch is not registered).
        """

    # -- conveniences every implementation shares ------------------------------------------------------------
    def query_collections(
        self,
        pattern: str | Iterable[str] = "*",
        *,
        types: CollectionType | str | Iterable[CollectionType | str] | None = None,
        flatten_chains: bool = False,
    ) -> list[str]:
        """Names of the collections matching glob pattern(s) and types, sorted (``flatten_chains`` expands chains).

        A convenience over `collections.query <ButlerCollections.query>`, shared by every implementation.
        """
        return [r.name for r in self.collections.query(pattern, types=types, flatten_chains=flatten_chains)]

    # -- dimension records ---------------------------------------------------------------------------------------
    @interface_method
    def insert_dimension_records(
        self, element: str, records: Iterable[Mapping[str, Any]], *, skip_existing: bool = False
    ) -> int:
        """Insert records of a dimension element in one transaction; return how many were inserted.

        Raises
        ------
        DataIdError
            A record lacks a key or has an unknown field, or names a record that does not exist.
        ConflictError
            A record exists already (and differs, with ``skip_existing``).
        """
