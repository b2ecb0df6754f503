"""The ingest, transfer and export/import methods of `DirectButler` (the logic lives in `skybutler.transfer`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from skybutler.errors import ConfigError, PermissionDeniedError

if TYPE_CHECKING:
    from skybutler.butler._interface import Butler
    from skybutler.datasets import DatasetIdMode, DatasetRef
    from skybutler.datastore import Datastore
    from skybutler.registry import Registry
    from skybutler.transfer import (
        ExportReport,
        FileDataset,
        ImportReport,
        IngestReport,
        MetadataTranslator,
        TransferSource,
    )
    from skybutler.types import CollectionsLike, Progress, UriLike

__all__ = ["DirectTransfers"]


class DirectTransfers:
    """`DirectButler`'s half of `ButlerTransferInterface`: each method checks and delegates to `skybutler.transfer`.

    A mixin, so `DirectButler` stays one class of one concept per module; it uses only the attributes below.
    """

    registry: Registry
    datastore: Datastore
    writeable: bool
    run: str | None

    # -- ingest and transfer (logic in skybutler.transfer) ------------------------------------------------------
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
        from skybutler.transfer import ingest_files

        self._writeable_for("ingest")
        report = ingest_files(
            self.registry, self.datastore.files("ingest files"), datasets, transfer=transfer, run=run or self.run,
            skip_existing=skip_existing, id_mode=id_mode, batch_size=batch_size, progress=progress,
            checksum=checksum,
        )  # fmt: skip
        return report.refs

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
        from skybutler.transfer import ingest_raws

        self._writeable_for("ingest raws")
        return ingest_raws(
            self.registry, self.datastore.files("ingest raws"), paths, instrument=instrument, translator=translator,
            run=run, transfer=transfer, skip_existing=skip_existing, progress=progress,
        )  # fmt: skip

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
        from skybutler.butler._interface import Butler
        from skybutler.transfer import transfer_datasets

        if not isinstance(source, Butler):
            raise ConfigError(f"transfer_from reads from a butler, and {source!r} is not one; open it with Butler().")
        origin = source._transfer_source()  # a repository's own side, or a server's (issue 20)
        self._writeable_for("transfer datasets in")
        return transfer_datasets(
            (self.registry, self.datastore.files("transfer datasets in")), origin, refs, transfer=transfer,
            register_dataset_types=register_dataset_types, transfer_dimensions=transfer_dimensions,
            skip_existing=skip_existing, progress=progress, collections=collections,
        )  # fmt: skip

    def _transfer_source(self) -> TransferSource:
        from skybutler.transfer import RepositorySource

        return RepositorySource(self.registry, self.datastore.files("transfer datasets out"))

    def _writeable_for(self, what: str) -> None:
        if not self.writeable:
            raise PermissionDeniedError(
                f"This butler is read-only; open it with Butler(root, run=...) or writeable=True to {what}."
            )

    # -- export / import (skybutler.transfer) -------------------------------------------------------------------
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
        from skybutler.transfer import export_datasets

        return export_datasets(self.registry, self.datastore, path, refs=refs, collections=collections,
                               dataset_types=dataset_types, where=where, directory=directory, transfer=transfer,
                               include_dimensions=include_dimensions, progress=progress)  # fmt: skip

    def import_(
        self,
        path: UriLike,
        *,
        directory: UriLike | None = None,
        transfer: str | None = None,
        skip_existing: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        from skybutler.transfer import import_export

        self._writeable_for("import datasets")
        return import_export(self.registry, self.datastore, path, directory=directory, transfer=transfer,
                             skip_existing=skip_existing, progress=progress)  # fmt: skip
