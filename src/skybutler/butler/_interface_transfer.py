# mypy: disable-error-code="empty-body"
"""The ingest, transfer and export/import part of the `Butler` interface (one half of it, kept apart for size)."""

from __future__ import annotations

from abc import ABC
from collections.abc import Iterable
from typing import TYPE_CHECKING

from skybutler.butler._abstract import interface_method

if TYPE_CHECKING:
    from skybutler.butler._interface import Butler
    from skybutler.datasets import DatasetIdMode, DatasetRef
    from skybutler.transfer import (
        ExportReport,
        FileDataset,
        ImportReport,
        IngestReport,
        MetadataTranslator,
        TransferSource,
    )
    from skybutler.types import CollectionsLike, Progress, UriLike

__all__ = ["ButlerTransferInterface"]


class ButlerTransferInterface(ABC):
    """Bringing datasets in and out of a repository: ingest, raw ingest, repository transfer, export, import.

    `Butler` inherits these abstract methods; they are part of its one interface, documented here.
    """

    @interface_method
    def ingest(
        self,
        *datasets: FileDataset,
        transfer: str = "auto",
        run: str | None = None,
        skip_existing: bool = False,
        id_mode: DatasetIdMode | str = "random",
        batch_size: int = 10_000,
        progress: Progress | None = None,
        checksum: bool | None = None,
    ) -> list[DatasetRef]:
        """Register existing files as datasets, bringing them in by ``transfer`` (see docs/ingest.md).

        Modes: ``copy``, ``move`` (the source is deleted after registration), ``link`` (hard link, else
        symbolic), ``hardlink``, ``symlink``, ``relsymlink``, ``direct`` (registered where it is, by URI; never
        deleted by `remove`) and ``auto`` (in place when inside the datastore, a hard link on the same file
        system, else a copy).  Each batch of ``batch_size`` files is one registry transaction; files are
        copied concurrently.  ``id_mode="deterministic"`` with ``skip_existing=True`` makes re-runs idempotent.
        Files the datastore takes in get the repository's checksum; ``direct`` files, which it neither wrote
        nor owns, only their size unless ``checksum=True`` (each is then read once); ``checksum=False``
        records sizes only.

        Returns the refs of the given files' datasets: those ingested, then those skipped as existing.

        Raises
        ------
        ArtifactNotFoundError
            A file does not exist (nothing is ingested).
        DatasetTypeError, DataIdError, CollectionError
            A dataset type, data ID or run is wrong (nothing is ingested).
        ConflictError
            A dataset exists already and ``skip_existing`` is false.
        PermissionDeniedError
            The butler is read-only, or no run is given for datasets without refs.
        """

    @interface_method
    def ingest_raws(
        self,
        paths: Iterable[UriLike],
        *,
        instrument: str | None = None,
        translator: MetadataTranslator | type[MetadataTranslator] | str | None = None,
        run: str | None = None,
        transfer: str = "auto",
        skip_existing: bool = True,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest raw FITS files: each header is translated into records (synced) and a ``raw`` dataset.

        The metadata translator (a plug-in; default ``generic``, for standard keywords) maps each primary
        header to instrument, exposure, visit, detector, day_obs and physical_filter records and the exposure
        timespan.  New records are inserted and existing ones verified, in the same transaction as the
        datasets; a file that cannot be translated or contradicts the registry is reported in the result's
        ``failures`` and nothing of it is ingested.  IDs are deterministic and existing raws are skipped, so
        re-running is safe.  ``run`` defaults to ``<instrument>/raw/all``.

        Raises
        ------
        DatasetTypeError
            ``raw`` is registered with other dimensions or storage class.
        ConfigError
            The translator or transfer mode is unknown.
        PermissionDeniedError
            The butler is read-only.
        """

    @interface_method
    def transfer_from(
        self,
        source: Butler,
        refs: Iterable[DatasetRef],
        *,
        transfer: str = "copy",
        register_dataset_types: bool = True,
        transfer_dimensions: bool = True,
        skip_existing: bool = True,
        progress: Progress | None = None,
        collections: CollectionsLike | None = None,
    ) -> list[DatasetRef]:
        """Copy datasets (same UUIDs) from another repository, with their dataset types, runs and records.

        Works across back-ends (SQLite/local → PostgreSQL/remote storage) and between a local repository and a
        server (either way); datasets already here (by UUID) are skipped.  ``transfer`` is an ingest mode other
        than ``move`` (``direct`` registers the source's files where they are); from or to a server, only
        ``copy`` (or ``auto``): the files are fetched through signed URLs and checked against their recorded
        size and checksum, or uploaded, before anything is registered.  ``collections`` (names or globs of the
        source's collections; a chain stands for its children) carries the datasets' TAGGED and CALIBRATION
        associations there -- tags, and current certifications with their validity ranges -- creating the
        collections when missing; a re-run adds nothing twice.  Chains themselves are not re-created
        (export/import does that).

        Returns the refs now in this repository: transferred, then skipped.

        Raises
        ------
        DatasetNotFoundError
            A ref is not in ``source``.
        DatasetTypeError
            A dataset type is missing here (with ``register_dataset_types=False``) or defined differently.
        ConflictError
            A dimension record differs between the repositories, a dataset exists and ``skip_existing``
            is false, or an association clashes with this repository's (checked before anything is written).
        CollectionError
            A collection named in ``collections`` is not in ``source``.
        ConfigError
            The implementation cannot read from ``source``'s kind of butler.
        PermissionDeniedError
            Through a server: the caller may not read the datasets or collections there, or write here.
        """

    @interface_method
    def export(
        self,
        path: UriLike,
        *,
        refs: Iterable[DatasetRef] | None = None,
        collections: CollectionsLike | None = None,
        dataset_types: str | Iterable[str] | None = None,
        where: str = "",
        directory: UriLike | None = None,
        transfer: str | None = None,
        include_dimensions: bool = True,
        progress: Progress | None = None,
    ) -> ExportReport:
        """Write datasets, their dimension records and collections to a YAML file the reference butler reads too.

        ``refs`` picks datasets; ``collections`` (globs; chains bring their children) with optional
        ``dataset_types`` and ``where`` picks every dataset in them, and exports the collections with their
        tags and certifications; with neither, the whole repository.  A ``.zip`` path writes an archive with
        the document, the files and an index; ``directory`` copies (``transfer``: copy, link, hardlink,
        symlink, relsymlink) the files there.  See docs/import-export.md.

        Raises
        ------
        CollectionError, DatasetTypeError, QuerySyntaxError
            The selection names an unknown collection or dataset type, or ``where`` does not parse.
        """

    @interface_method
    def import_(
        self,
        path: UriLike,
        *,
        directory: UriLike | None = None,
        transfer: str | None = None,
        skip_existing: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import an export file (ours, or the reference butler's for its universe versions 0-8), all or nothing.

        Without ``directory`` (and for a plain YAML path) only the registry is filled: files already at the
        exported paths in this datastore are recorded, others leave their datasets without a file.  With
        ``directory``, or from a ``.zip`` archive, the files are brought in (``transfer``: auto = copy, move,
        link, hardlink, symlink, relsymlink).

        Raises
        ------
        ExportFormatError
            The file is malformed; the message gives the place (``data[3].records[0].id``) and line.
        ConflictError
            A dataset ID exists with other contents, or exists at all without ``skip_existing``.
        PermissionDeniedError
            The butler is read-only.
        """

    def _transfer_source(self) -> TransferSource:
        """This repository as the source of another butler's `transfer_from` (not a user call).

        Raises
        ------
        ConfigError
            The implementation cannot be read from by a transfer.
        """
        from skybutler.errors import ConfigError

        raise ConfigError(f"{type(self).__name__} cannot be the source of a transfer; export and import instead.")
