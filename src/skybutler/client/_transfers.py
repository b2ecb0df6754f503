"""The transfer half of the `Butler` interface on the remote butler: files in and out through the server.

The server cannot read this machine's disk, so ingest, import and `transfer_from` (local → remote) first upload
the files into a pending upload area through signed URLs (`skybutler.server._transfer_api`), then ask the server
to run the repository's own ingest or import on them; export downloads the files through signed URLs
(`skybutler.client._export`).
`retrieve_artifacts` downloads each file through its signed URL.  Raw ingest and the scale-out calls
(`plan_work`, `merge`) are refused with a `PermissionDeniedError` that says why and where to run them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler.errors import (
    ArtifactNotFoundError,
    ConfigError,
    ConflictError,
    DatasetNotFoundError,
    DatasetTypeError,
    PermissionDeniedError,
    SkyButlerError,
)
from skybutler.wire import FindResponse, RefModel, RefsRequest, json_value, ref_from_wire, ref_to_wire
from skybutler.wire_transfer import IngestItemModel, IngestRequest

if TYPE_CHECKING:
    from skybutler.butler import Butler
    from skybutler.client._http import Session
    from skybutler.datasets import DatasetIdMode, DatasetRef, DatasetType
    from skybutler.datastore import FileDatastore
    from skybutler.dimensions import DimensionUniverse
    from skybutler.transfer import (
        ExportReport,
        FileDataset,
        ImportReport,
        IngestReport,
        MetadataTranslator,
        SourceDatasets,
        TransferSource,
    )
    from skybutler.types import CollectionsLike, Progress, UriLike
    from skybutler.workers import Manifest, MergeHook, MergeReport, TaskRecord

__all__ = ["RemoteTransfers"]


def _local_dir(path: object) -> Path:
    """A local directory to download files into (a URI of another scheme is refused before anything is sent)."""
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        raise ConfigError(f"The remote butler downloads into local directories only; {text} is not one.")
    return Path(text.removeprefix("file://"))


def _local_file(path: object) -> Path:
    """A local file to upload, refused when missing (before anything is sent)."""
    text = str(path)
    local = Path(text[len("file://") :] if text.startswith("file://") else text)
    if "://" in text and not text.startswith("file://"):
        raise ConfigError(f"The remote butler uploads local files only; {text} is not one. Download it first.")
    if not local.is_file():
        raise ArtifactNotFoundError(f"No file at {local}: nothing was uploaded or registered.")
    return local


def _local_folder(path: object) -> Path:
    """A local folder of files to upload (``directory=`` of an import)."""
    text = str(path)
    if "://" in text and not text.startswith("file://"):
        raise ConfigError(f"The remote butler uploads local files only; {text} is not a local folder.")
    return Path(text[len("file://") :] if text.startswith("file://") else text)


def _names(value: object) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[attr-defined]


def _type_name(value: object) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value.name)  # type: ignore[attr-defined]


def _plain_data_id(data_id: object) -> dict[str, Any] | None:
    """A data ID as plain values for the wire (a `DataCoordinate`'s mapping, or a dict)."""
    if data_id is None:
        return None
    from skybutler.wire import json_value

    return {str(k): json_value(v) for k, v in dict(data_id).items()}  # type: ignore[call-overload]


def _not_remote(what: str, why: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{what} is not offered by the remote butler: {why}. Run it with a butler opened on the repository itself "
        "(next to the data), e.g. on the server's machine."
    )


class RemoteTransfers:
    """Ingest, transfer, export and import of a remote butler (see the module docstring)."""

    _session: Session
    run: str | None
    writeable: bool
    universe: DimensionUniverse

    if TYPE_CHECKING:  # provided by RemoteButler

        def get_dataset_type(self, name: str) -> DatasetType: ...

        def register_dataset_type(
            self,
            name: str,
            dimensions: Iterable[str],
            storage_class: str,
            *,
            is_calibration: bool = False,
            format: str | None = None,
        ) -> DatasetType: ...

        def remove_dataset_type(self, name: str) -> None: ...

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
        """Upload local files to the server's storage and ingest them there (all or none).

        Each file is read here and uploaded to a signed URL in a pending area; the server then runs the
        repository's own ingest on them (copying them to their final paths) and deletes the area.  ``transfer``
        may be ``auto``, ``copy`` or ``upload`` (the same here) or ``move`` (the local file is deleted once
        the ingest succeeded); links and ``direct`` need the server to see this machine's disk, and are refused.
        ``transfer="stored"``: the paths are files already in the server's datastore storage (relative to its
        root, or URIs / absolute paths under it); nothing is uploaded, and the server ingests them where they
        are when it can (a local datastore), else copies them within its storage.  A path outside the root,
        the repository's own files and another dataset's file are refused (`PermissionDeniedError`).

        Raises
        ------
        ArtifactNotFoundError
            A file does not exist here (or, with ``stored``, there): nothing was uploaded or registered.
        """
        from skybutler.datasets import DatasetIdMode

        if transfer not in ("auto", "copy", "upload", "move", "stored"):
            raise ConfigError(
                f"transfer={transfer!r} needs the server to reach this machine's files; the remote butler uploads "
                "them instead: use transfer='copy' (or 'move', which deletes the local files after the ingest), "
                "or 'stored' for files already in the server's storage."
            )
        self._writeable_for_transfer("ingest")
        mode = id_mode.value if isinstance(id_mode, DatasetIdMode) else str(id_mode)
        if transfer == "stored":
            return self._ingest_stored(datasets, run or self.run, skip_existing, mode, checksum)
        paths = [_local_file(fd.path) for fd in datasets]
        if not paths:
            return []
        run = run or self.run
        target = run or next((fd.refs[0].run for fd in datasets if fd.refs), None)
        if target is None or (run is None and not all(fd.refs for fd in datasets)):
            raise PermissionDeniedError("No run to ingest into: pass run= to ingest() or to Butler().")
        area, keys = self._stage(paths, run=target, what="ingest")
        items = [
            IngestItemModel(
                key=key,
                size=size,
                refs=[ref_to_wire(r) for r in fd.refs],
                formatter=fd.formatter,
                dataset_type=_type_name(fd.dataset_type),
                data_id=_plain_data_id(fd.data_id),
            )
            for fd, (key, size) in zip(datasets, keys, strict=True)
        ]
        request = IngestRequest(area=area, datasets=items, run=run, skip_existing=skip_existing, id_mode=mode,
                                checksum=checksum)  # fmt: skip
        answer = self._session.call("POST", "/transfer/ingest", request, what="ingest")
        refs = [self._ref_from_answer(RefModel.model_validate(a)) for a in answer]
        if transfer == "move":
            for path in paths:
                path.unlink(missing_ok=True)
        return refs

    def _ingest_stored(
        self,
        datasets: tuple[FileDataset, ...],
        run: str | None,
        skip_existing: bool,
        id_mode: str,
        checksum: bool | None,
    ) -> list[DatasetRef]:
        """`ingest` of files already in the server's storage (``transfer="stored"``): no upload."""
        from skybutler.wire_transfer import StoredIngestRequest

        if not datasets:
            return []
        items = [
            IngestItemModel(key=str(fd.path), refs=[ref_to_wire(r) for r in fd.refs], formatter=fd.formatter,
                            dataset_type=_type_name(fd.dataset_type), data_id=_plain_data_id(fd.data_id))
            for fd in datasets
        ]  # fmt: skip
        request = StoredIngestRequest(datasets=items, run=run, skip_existing=skip_existing, id_mode=id_mode,
                                      checksum=checksum)  # fmt: skip
        answer = self._session.call("POST", "/transfer/ingest-stored", request, what="ingest")
        return [self._ref_from_answer(RefModel.model_validate(a)) for a in answer]

    def _writeable_for_transfer(self, what: str) -> None:
        if not self.writeable:
            raise PermissionDeniedError(f"This butler is read-only; open it with run= (or writeable=True) to {what}.")

    def _stage(self, paths: list[Path], *, run: str | None, what: str) -> tuple[str, list[tuple[str, int]]]:
        """Upload ``paths`` into a new pending area on the server: its name, and each file's key there and size
        (which the server checks before registering anything)."""
        from skybutler.wire_transfer import StageRequest, StageResponse

        request = StageRequest(run=run, names=[p.name for p in paths])
        staged = StageResponse.model_validate(self._session.call("POST", "/transfer/stage", request, what=what))
        sizes = []
        for path, url in zip(paths, staged.urls, strict=True):
            data = path.read_bytes()
            self._session.upload(url, data, f"{what}: upload of {path}")
            sizes.append(len(data))
        return staged.area, list(zip(staged.keys, sizes, strict=True))

    def _ref_from_answer(self, model: RefModel) -> DatasetRef:
        return ref_from_wire(model, self.get_dataset_type(model.dataset_type))

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
        """Not offered remotely yet (`PermissionDeniedError`): a plan names storage URIs only the repository's
        own side can hand out, so plan next to the data."""
        raise _not_remote("plan_work", "a plan hands workers storage URIs that only the repository's side can give")

    def merge(
        self,
        manifest: Manifest | UriLike,
        results: Iterable[TaskRecord | Mapping[str, Any]] | None = None,
        *,
        batch_size: int = 10_000,
        on_register: MergeHook | None = None,
        progress: Progress | None = None,
    ) -> MergeReport:
        """Not offered remotely yet (`PermissionDeniedError`): merge next to the data."""
        raise _not_remote("merge", "a merge reads the workers' outputs straight from the repository's storage")

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
        """Not offered remotely (`PermissionDeniedError`): use `ingest` with the data IDs, or ingest raws locally."""
        raise _not_remote("ingest_raws", "raw headers are read where the files are, and their records need admin")

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
        """Copy datasets (same UUIDs) from a local repository into this server's: its files are uploaded and
        ingested there with the records they stand on, all or none (see `RemoteTransfers` module docs).

        Needs ``write`` on the datasets' runs (and on every TAGGED or CALIBRATION collection ``collections=``
        carries associations into), and ``admin`` for dataset types or dimension records this repository lacks.
        """
        from skybutler.butler import DirectButler
        from skybutler.transfer import RepositorySource

        if not isinstance(source, DirectButler):
            raise ConfigError(
                f"A remote butler receives datasets from a local repository only, and {source!r} is not a direct "
                "butler; open the source by its root with Butler(root)."
            )
        if transfer not in ("auto", "copy"):
            raise ConfigError(f"transfer={transfer!r}: a remote butler copies (uploads) the source's files.")
        self._writeable_for_transfer("transfer datasets in")
        wanted = list(dict.fromkeys(refs))
        if not wanted:
            return []
        files = source.datastore.files("transfer datasets out")
        plan = RepositorySource(source.registry, files).describe(
            wanted, records=transfer_dimensions, collections=collections
        )
        added = self._transfer_types(plan.dataset_types, wanted, register_dataset_types)
        try:
            return self._transfer_in(files, plan, wanted, skip_existing)
        except BaseException:
            # The types were registered by their own calls: a refused or failed ingest must not leave them behind.
            for name in added:
                with suppress(SkyButlerError):  # best effort: the ingest's error is the one to report
                    self.remove_dataset_type(name)
            raise

    def _transfer_in(
        self, files: FileDatastore, plan: SourceDatasets, wanted: list[DatasetRef], skip_existing: bool
    ) -> list[DatasetRef]:
        """Upload the files of ``wanted`` and ingest them with their records and associations, all or none."""
        from skybutler.wire_transfer import associations_to_wire

        records = [(name, {k: json_value(v) for k, v in r.to_dict().items()}) for (name, _), r in plan.records.items()]
        by_path: dict[str, list[DatasetRef]] = {}
        for ref in wanted:
            by_path.setdefault(plan.artifacts[ref.id].path, []).append(ref)
        with ExitStack() as stack:
            datasets, paths = [], []
            for path, group in by_path.items():
                local = stack.enter_context(files.transport.as_local(path))
                paths.append(local)
                formatter = plan.artifacts[group[0].id].formatter
                datasets.append(IngestItemModel(key="", refs=[ref_to_wire(r) for r in group], formatter=formatter))
            area, keys = self._stage(paths, run=wanted[0].run, what="transfer")
            items = [d.model_copy(update={"key": k, "size": n}) for d, (k, n) in zip(datasets, keys, strict=True)]
            if records:  # with the first file: inserted (when missing) in the ingest's one transaction
                items[0] = items[0].model_copy(update={"records": records})
            associations = associations_to_wire(plan.associations) if plan.associations else None
            request = IngestRequest(area=area, datasets=items, skip_existing=skip_existing, associations=associations)
            answer = self._session.call("POST", "/transfer/ingest", request, what="transfer")
        return [self._ref_from_answer(RefModel.model_validate(a)) for a in answer]

    def _transfer_source(self) -> TransferSource:
        """This server's repository as the source of a local butler's `transfer_from` (`RemoteSource`)."""
        from skybutler.client._transfer_source import RemoteSource

        return RemoteSource(self._session, self.universe)

    def _transfer_types(self, source: Mapping[str, DatasetType], refs: list[DatasetRef], register: bool) -> list[str]:
        """Register the refs' dataset types here when missing (``register``), refuse different ones; return
        the names registered."""
        added: list[str] = []
        for name in dict.fromkeys(r.dataset_type.name for r in refs):
            wanted = source[name]
            try:
                found = self.get_dataset_type(name)
            except DatasetTypeError:
                if not register:
                    raise DatasetTypeError(
                        f"Dataset type {wanted.describe()} is not registered here; register it or pass "
                        "register_dataset_types=True."
                    ) from None
                self.register_dataset_type(name, wanted.dimensions.names, wanted.storage_class,
                                           is_calibration=wanted.is_calibration, format=wanted.format)  # fmt: skip
                added.append(name)
                continue
            if found != wanted:
                raise DatasetTypeError(
                    f"Dataset type {name!r} differs: {wanted.describe()} in the source, {found.describe()} here."
                )
        return added

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
        """Export what this caller may read: the server writes the document and sends the files' signed URLs;
        this client downloads the files into the ``.zip`` archive or the ``directory`` itself (see
        `skybutler.client._export`; ``transfer`` can only copy).
        """
        from skybutler.client._export import export_through_urls
        from skybutler.transfer import ExportReport
        from skybutler.wire_transfer import ExportRequest

        target = Path(str(path))
        folder = None if directory is None else _local_dir(directory)
        names = None if collections is None else _names(collections)
        types = None if dataset_types is None else _names(dataset_types)
        request = ExportRequest(name=target.name, refs=None if refs is None else [ref_to_wire(r) for r in refs],
                                collections=names, dataset_types=types, where=where,
                                include_dimensions=include_dimensions,
                                files=target.suffix == ".zip" or folder is not None)  # fmt: skip
        report = export_through_urls(self._session, request, target, directory=folder, transfer=transfer,
                                     progress=progress)  # fmt: skip
        if report is not None:
            return report
        if folder is not None:
            raise ConfigError(
                "Some of these files have no signed URL (the server's storage cannot sign one), so they can only "
                "come through the server as a .zip archive: export to a .zip path instead of directory=."
            )
        # The fallback: the server writes the file or archive and streams it back.
        response = self._session.raw("POST", "/transfer/export", request.model_copy(update={"transfer": transfer}),
                                     what="export")  # fmt: skip
        fields = json.loads(response.headers["x-skybutler-report"])
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(response.content)
        partial.replace(target)
        return ExportReport(**{**fields, "path": str(target)})

    def import_(
        self,
        path: UriLike,
        *,
        directory: UriLike | None = None,
        transfer: str | None = None,
        skip_existing: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Upload an export file or ``.zip`` archive to the server, which imports it in one transaction.

        With ``directory=`` (an export's files beside its document), the document, the files it names and its
        provenance sidecar are packed into a temporary archive first (`_import_dir`): the files are copied
        into the server's storage, so ``transfer`` may only be None, ``"auto"`` or ``"copy"``.
        """
        import tempfile

        from skybutler.transfer import ImportReport
        from skybutler.wire_transfer import ImportRequest

        self._writeable_for_transfer("import datasets")
        source = _local_file(path)
        with tempfile.TemporaryDirectory(prefix="skybutler-import-") as scratch:
            upload = source
            if directory is not None:
                from skybutler.client._import_dir import pack_directory_export

                folder = _local_folder(directory)
                upload = pack_directory_export(source, folder, Path(scratch) / "export.zip", transfer)
            area, keys = self._stage([upload], run=None, what="import")
        request = ImportRequest(area=area, key=keys[0][0], size=keys[0][1], skip_existing=skip_existing)
        fields = self._session.call("POST", "/transfer/import", request, what="import")
        return ImportReport(**{**fields, "source": str(source)})

    def retrieve_artifacts(
        self, refs: Iterable[DatasetRef], destination: UriLike, *, overwrite: bool = False
    ) -> list[str]:
        """Download the files of datasets under a local ``destination`` at their datastore paths; their paths.

        Raises
        ------
        ConflictError
            A file exists there already and ``overwrite`` is false (nothing was copied).
        """
        from skybutler.datastore._keys import copy_target

        request = RefsRequest(refs=[ref_to_wire(r) for r in refs], inline=True)
        answer = self._session.call("POST", "/datasets/lookup", request, idempotent=True, what="retrieve")
        found = [FindResponse.model_validate(a) for a in answer]
        root = Path(str(destination))
        chosen = []
        for item in found:
            reachable = [a for a in item.artifacts if a.inline is not None or a.url is not None]
            if not reachable:
                raise DatasetNotFoundError(f"Dataset {item.ref.id} has no file to download.")
            chosen.append((reachable[0], root / copy_target(reachable[0].path)))
        existing = [str(t) for _, t in chosen if t.exists()]
        if existing and not overwrite:
            raise ConflictError(f"{len(existing)} file(s) exist already under {root}, e.g. {existing[0]}; nothing "
                                "was copied. Choose an empty directory or allow overwriting.")  # fmt: skip
        from skybutler.client._export import download_to

        for artifact, target in chosen:
            download_to(artifact, self._session.client, target)
        return [str(t) for _, t in chosen]
