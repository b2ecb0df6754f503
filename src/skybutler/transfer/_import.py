"""``butler.import_``: load an export (ours or the reference butler's) into a repository, all or nothing.

1. Read and check the whole file into an `ImportPlan` (`_import_plan`): a malformed file fails here, with
   its place in the file, before anything is touched.
2. Stage the dataset files (when the export has them) under staging names in the datastore.
3. Apply the plan in one registry transaction: dimension records, dataset types, collections, datasets,
   tags, certifications.
4. Promote the staged files.  On any failure in 2-3 the staged files are deleted, the transaction rolled
   back and the in-memory caches dropped: the repository is as it was.  A commit that lost its connection
   is looked into first (`settle_lost_commit`, as for a put): if it went through, the import goes on.

On PostgreSQL a registry-only import overlaps the client's work with the server's: the ``dataset`` entries
are left unparsed in step 1, and in step 3 one thread parses and checks each entry while another inserts the
one before, the server checking its foreign keys (most of the server's time) on its own CPU.  A malformed
entry then fails inside the transaction, which is rolled back: still nothing is imported.
"""

from __future__ import annotations

import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler._lost_commit import settle_lost_commit
from skybutler.datasets import ArtifactInfo
from skybutler.datastore import RootLinks, Staged, with_suffix
from skybutler.datastore._checksums import checksum_stream
from skybutler.dimensions import DataCoordinate
from skybutler.errors import (
    ConfigError,
    ConflictError,
    DataIdError,
    ExportFormatError,
    SkyButlerError,
    StorageError,
)
from skybutler.formatters import formatters
from skybutler.registry import CollectionType, LostCommitError, NewDataset
from skybutler.registry._collection_ops import associate, certify
from skybutler.registry._key_check import keys_checked_at_end, worth_checking_at_end
from skybutler.transfer._artifact_files import ZIP_ERRORS, ExportFiles, check_transfer, stage_file
from skybutler.transfer._formatter_origins import save_origins
from skybutler.transfer._import_links import current_certifications, derived_records, refs_for_associations
from skybutler.transfer._import_plan import (
    DatasetEntry,
    ImportPlan,
    ImportReport,
    dataset_parts,
    read_datasets,
    read_plan,
)
from skybutler.transfer._nogc import gc_paused
from skybutler.transfer._provenance import apply_provenance, read_provenance
from skybutler.transfer._reference_readers import reference_reader
from skybutler.transfer._yaml_fast import load_document
from skybutler.transfer._yaml_format import REFERENCE_FORMATTERS, format_error

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.datastore import Datastore
    from skybutler.registry import CollectionRecord, Registry
    from skybutler.types import Progress, UriLike

__all__ = ["ImportReport", "import_export"]

#: Name of the export document inside a zip archive written by `Butler.export`.
ZIP_DOCUMENT = "export.yaml"


def import_export(
    registry: Registry,
    datastore: Datastore,
    path: UriLike,
    *,
    directory: UriLike | None = None,
    transfer: str | None = None,
    skip_existing: bool = False,
    progress: Progress | None = None,
    check: Callable[[ImportPlan], None] | None = None,
) -> ImportReport:
    """Import an export file into the repository of ``registry`` and ``datastore`` (see `Butler.import_`).

    The caller checks that it may write; ``check`` may refuse the whole plan (a server's grants) before any change.
    """
    started = time.perf_counter()
    source = str(path)
    archive: zipfile.ZipFile | None = None
    if source.endswith(".zip"):
        try:
            archive = zipfile.ZipFile(source)
            text: bytes = archive.read(ZIP_DOCUMENT)
        except ZIP_ERRORS as exc:
            if archive is not None:
                archive.close()
            raise ExportFormatError(
                f"{source} is not a readable export archive ({ZIP_DOCUMENT}): {str(exc).rstrip('.')}. Check that "
                "it is a complete archive written by export (copy it again if it was cut short or damaged)."
            ) from None
    else:
        try:
            text = Path(source).read_bytes()
        except OSError as exc:
            raise ExportFormatError(f"Cannot read the export file {source}: {exc}.") from None
    try:
        provenance = read_provenance(source, archive)
        files = ExportFiles(archive) if archive is not None else None
        if directory is not None:
            files = ExportFiles(Path(str(directory)))
        mode = check_transfer(transfer)
        if mode == "move" and archive is not None:
            raise ConfigError("transfer='move' cannot take files out of a zip archive; use transfer='copy'.")
        if progress is not None:
            progress("read", 0, None)

        def registered(name: str) -> DatasetType | None:
            found = registry.dataset_types.find(name)
            return None if found is None else found.dataset_type

        # Registry-only imports on a database server parse dataset entries while inserting (see above).
        lazy = files is None and registry.db.runs_in_server and check is None  # a check needs every dataset read
        deferred: list[tuple[int, Any]] | None = [] if lazy else None
        with gc_paused():  # several objects per dataset live until the end: see _nogc
            document = load_document(text, source, defer_datasets=deferred is not None, columns=True)
            plan = read_plan(document, source, text, registry.universe, registered, deferred=deferred)
            if check is not None:
                check(plan)
            report = ImportReport(source, notes=list(plan.notes))
            _Importer(
                registry, datastore, plan, text, files, mode, skip_existing, progress, report, deferred, provenance
            ).run()
    finally:
        if archive is not None:
            archive.close()
    report.seconds = time.perf_counter() - started
    return report


class _Importer:
    def __init__(
        self,
        registry: Registry,
        datastore: Datastore,
        plan: ImportPlan,
        text: bytes,
        files: ExportFiles | None,
        mode: str,
        skip_existing: bool,
        progress: Progress | None,
        report: ImportReport,
        deferred: list[tuple[int, Any]] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.provenance = provenance
        self.deferred = deferred
        """Dataset entries `read_plan` left for `_stream_datasets` (None: all are in the plan)."""
        self.registry = registry
        self.datastore = datastore.files("import datasets")
        self.plan = plan
        self.text = text
        self.files = files
        self.mode = mode
        self.skip_existing = skip_existing
        self.progress = progress
        self.report = report
        self.origins: dict[tuple[str, str], str] = {}  # (type, our reader) → reference class (`_formatter_origins`)
        self.formatters: dict[tuple[str, str | None], str] = {}  # (type, exported formatter) → ours
        self.staged: dict[uuid.UUID, Staged] = {}
        self.in_place: dict[uuid.UUID, ArtifactInfo] = {}
        """Files already at their exported paths in this datastore (registry-only imports)."""

    def error(self, entry: DatasetEntry | tuple[str | int, ...], message: str) -> ExportFormatError:
        location = entry.location if isinstance(entry, DatasetEntry) else entry
        return format_error(self.plan.source, self.text, location, message)

    def run(self) -> None:
        for name, dataset_type in self.plan.dataset_types.items():
            if dataset_type.format is not None:  # a format this repository cannot write: refuse before any work
                try:
                    self.datastore.formatter_for(dataset_type)
                except SkyButlerError as exc:
                    raise type(exc)(f"{self.plan.source}: dataset type {name!r}: {exc}") from None
        self._drop_existing()
        try:
            if self.files is not None:
                self._stage_files()
            else:
                self._files_in_place(list(self.plan.datasets.values()))
            try:
                self._apply_once()
            except LostCommitError as exc:
                # From here on settle_lost_commit alone decides about the staged files: it returns if the
                # commit went through (they are promoted below), removes them if not, keeps them if it
                # cannot tell yet (for reconcile); the clean-up below must not remove them meanwhile.
                staged, self.staged = self.staged, {}
                ids = list(staged) or list(self.plan.datasets)
                settle_lost_commit(self.registry, exc, ids, "import", lambda: self._abort(staged.values()))
                self.staged = staged
        except BaseException:
            self._abort(self.staged.values())
            self.registry.collections.forget_cached()  # records registered in the rolled-back transaction
            self.registry.dataset_types.forget_cached()
            raise
        self.datastore.promote_many(list(self.staged.values()))  # a failure says: registered, run reconcile
        if self.mode == "move" and self.files is not None:
            self._remove_moved()
        total = len(self.plan.datasets)
        self.report.datasets = total
        self.report.artifacts = len(self.staged) + len(self.in_place)
        if self.progress is not None:
            self.progress("done", total, total)

    def _apply_once(self) -> None:
        """`_apply` in one transaction.  A bulk load on SQLite checks its foreign keys all at once at the end
        (`keys_checked_at_end`); if that attempt fails for any reason it is redone with the keys checked row by
        row, so that the first bad row fails with its own error, as it always has."""
        db, report = self.registry.db, self.report
        if worth_checking_at_end(db, len(self.plan.datasets)):
            counts = report.dataset_types, report.collections, report.dimension_records
            try:
                with keys_checked_at_end(db):
                    self._apply()
                return
            except LostCommitError:  # the commit may have gone through: the caller settles it
                raise
            except Exception:  # rolled back: start again as if it had not been tried
                self.registry.forget_cached()
                report.dataset_types, report.collections, report.dimension_records = counts
        with db.transaction():
            self._apply()

    def _abort(self, staged: Iterable[Staged]) -> None:
        for one in staged:
            self.datastore.abort(one)

    def _remove_moved(self) -> None:
        """After a ``move`` import: delete the export's files now in the datastore; report those that stay."""
        assert self.files is not None
        kept: list[tuple[str, OSError]] = []
        for entry in self.plan.datasets.values():
            if entry.id in self.staged and entry.path is not None:
                try:
                    self.files.remove(entry.path)
                except OSError as exc:  # a read-only export directory: the import itself is complete
                    kept.append((entry.path, exc))
        if kept:
            first, why = kept[0]
            raise StorageError(
                f"{self.plan.source}: everything is imported, but {len(kept)} moved file(s) could not be deleted "
                f"from the export (first: {first}: {why}); delete them yourself, or import with transfer='copy' "
                "from a read-only export."
            )

    # -- existing datasets ---------------------------------------------------------------------------------
    def _drop_existing(self) -> None:
        """Datasets whose IDs exist: identical ones are skipped (``skip_existing``), others refused."""
        plan = self.plan
        if not plan.datasets or self.registry.datasets.count() == 0:
            return
        for dataset_id in self._existing(list(plan.datasets.values())):
            del plan.datasets[dataset_id]
            self.report.skipped += 1

    def _existing(self, entries: list[DatasetEntry]) -> list[uuid.UUID]:
        """The IDs of ``entries`` already registered, identical (to skip); a `ConflictError` for any other."""
        by_id = {e.id: e for e in entries}
        ids = list(by_id)
        d = self.registry.tables.dataset
        found: dict[uuid.UUID, tuple[int, int]] = {}
        with self.registry.db.transaction(write=False) as conn:
            for start in range(0, len(ids), 500):
                stmt = sa.select(d.c.id, d.c.dataset_type_id, d.c.run_id).where(d.c.id.in_(ids[start : start + 500]))
                for row in conn.execute(stmt):
                    found[row[0] if isinstance(row[0], uuid.UUID) else uuid.UUID(hex=row[0])] = (row[1], row[2])
        by_type: dict[int, list[uuid.UUID]] = {}
        for dataset_id, (type_id, _) in found.items():
            by_type.setdefault(type_id, []).append(dataset_id)
        values: dict[uuid.UUID, tuple[Any, ...]] = {}
        for type_id, group in by_type.items():
            stored = self.registry.dataset_types.by_id(type_id)
            values.update((row.id, row.values) for row in self.registry.datasets.by_ids([stored], group))
        for dataset_id, (type_id, run_id) in found.items():
            entry = by_id[dataset_id]
            type_name = self.registry.dataset_types.by_id(type_id).dataset_type.name
            run = self.registry.collections.by_id(run_id).name
            if (type_name, run, values.get(dataset_id)) != (entry.dataset_type, entry.run, entry.values):
                raise ConflictError(
                    f"{self.plan.source} {'.'.join(map(str, entry.location))}: dataset {dataset_id} already exists "
                    f"here with other contents ({type_name} in {run!r}); nothing was imported."
                )
            if not self.skip_existing:
                raise ConflictError(
                    f"Dataset {dataset_id} ({entry.dataset_type} in {entry.run!r}) is already in the repository; "
                    "pass skip_existing=True to import the rest (nothing was imported)."
                )
        return list(found)

    # -- files ---------------------------------------------------------------------------------------------
    def _formatter(self, entry: DatasetEntry, dataset_type: DatasetType) -> str:
        """The formatter to record for ``entry``'s file: one choice per dataset type and exported formatter."""
        key = (dataset_type.name, entry.formatter)
        chosen = self.formatters.get(key)
        if chosen is None:
            chosen = self.formatters[key] = self._choose_formatter(entry, dataset_type)
        return chosen

    def _choose_formatter(self, entry: DatasetEntry, dataset_type: DatasetType) -> str:
        reference = reference_reader(dataset_type.storage_class, entry.formatter)
        if reference is not None:  # a reference storage class: its reader here, or "opaque"
            if entry.formatter is not None and "." in entry.formatter:  # its class path, for our exports
                self.origins.setdefault((dataset_type.name, reference), entry.formatter)
            return reference
        name = entry.formatter
        if name is not None and name in REFERENCE_FORMATTERS:
            name = REFERENCE_FORMATTERS[name]
        if name is None or name not in formatters.names():
            chosen, _ = self.datastore.formatter_for(dataset_type)
            if name is not None:
                note = f"formatter {name!r} is not known here: files of {dataset_type.name!r} recorded as {chosen!r}"
                if note not in self.report.notes:
                    self.report.notes.append(note)
            return chosen
        if self.datastore.formatter_instance(name).unsafe:
            configured = self.datastore.config.formatters
            if name not in (configured.get(dataset_type.name), configured.get(dataset_type.storage_class)):
                raise self.error(
                    entry,
                    f"formatter {name!r} runs code when reading; name it in datastore.formatters for "
                    f"{dataset_type.name!r} to import such files.",
                )
        return name

    def _dataset_type(self, name: str) -> DatasetType:
        found = self.plan.dataset_types.get(name)
        if found is None:
            found = self.registry.dataset_types.get(name).dataset_type
        return found

    def _stage_files(self) -> None:
        assert self.files is not None
        files = self.files
        entries = [e for e in self.plan.datasets.values() if e.path is not None]
        transport = self.datastore.transport
        extensions: dict[str, tuple[str, ...]] = {}  # per formatter, and a template per dataset type: looked up once
        templates: dict[str, Any] = {}
        for n, entry in enumerate(entries):
            assert entry.path is not None
            dataset_type = self._dataset_type(entry.dataset_type)
            formatter = self._formatter(entry, dataset_type)
            exts = extensions.get(formatter)
            if exts is None:
                exts = extensions[formatter] = tuple(self.datastore.formatter_instance(formatter).extensions)
            ext = next((x for x in exts if x and entry.path.endswith(x)), None)
            ext = Path(entry.path).suffix if ext is None else ext
            coord = DataCoordinate.from_required(dataset_type.dimensions, entry.values)
            id_hex = entry.id.hex
            try:
                template = templates.get(dataset_type.name)
                if template is None:
                    template = templates[dataset_type.name] = self.datastore.template_for(dataset_type)
                final = template.render(dataset_type, coord, entry.run, id_hex, ext=ext)
            except ConfigError:  # the template needs implied values: keep the export's own layout
                final = entry.path
            if transport.exists(final):
                final = with_suffix(final, ext, id_hex)
            key, size, checksum = stage_file(self.datastore, files, entry.path, final, id_hex, ext, self.mode)
            artifact = ArtifactInfo(
                final, formatter, dataset_type.storage_class, size, checksum, datastore=self.datastore.name
            )
            self.staged[entry.id] = Staged(id_hex, key, artifact)
            if self.progress is not None and (n % 100 == 0 or n + 1 == len(entries)):
                self.progress("files", n + 1, len(entries))

    def _files_in_place(self, entries: list[DatasetEntry]) -> None:
        """Registry-only import: a dataset whose exported path exists in this datastore gets that file recorded."""
        transport = self.datastore.transport
        algorithm = self.datastore.config.checksum
        links = RootLinks(str(transport.local_path(""))) if transport.is_local else None
        for entry in entries:
            if entry.path is None or not transport.exists(entry.path):
                continue
            if links is not None and links.leaves(entry.path):  # removing the dataset would delete the far end
                raise self.error(
                    (*entry.location, "path"),
                    f"the file {entry.path!r} is reached through a symbolic link to a directory outside the "
                    "datastore root; replace the link by the directory, or import with directory= (the files "
                    "are then copied in). Nothing was imported.",
                )
            dataset_type = self._dataset_type(entry.dataset_type)
            formatter = self._formatter(entry, dataset_type)
            checksum = None
            if algorithm == "none":
                size = transport.size(entry.path)
            else:
                with transport.open(entry.path) as stream:
                    checksum, size = checksum_stream(stream, algorithm)
            self.in_place[entry.id] = ArtifactInfo(
                entry.path, formatter, dataset_type.storage_class, size, checksum, datastore=self.datastore.name
            )

    # -- the transaction -----------------------------------------------------------------------------------
    def _apply(self) -> None:
        plan, registry = self.plan, self.registry
        self._records()
        for name, dataset_type in plan.dataset_types.items():
            try:
                self.report.dataset_types += registry.dataset_types.register(dataset_type)[1]
            except SkyButlerError as exc:
                raise type(exc)(f"{plan.source}: dataset type {name!r}: {exc}") from None
        for name, doc in plan.runs.items():
            self._collection(name, CollectionType.RUN, doc)
        for name, (kind, doc) in plan.collections.items():
            self._collection(name, kind, doc)
        for name, children in plan.chains.items():
            try:
                registry.collections.set_chain(name, children)
            except SkyButlerError as exc:
                raise type(exc)(f"{plan.source}: chain {name!r}: {exc}") from None
        if self.deferred is None:
            self._datasets(list(self.plan.datasets.values()))
        else:
            self._stream_datasets(self.deferred)
        refs = refs_for_associations(registry, plan, self._dataset_type, self.error)
        for collection, tags in plan.tagged.items():
            self._check_kind(collection, CollectionType.TAGGED)
            associate(registry, collection, [refs[i] for i, _ in tags])
        for collection, ranges in plan.certified.items():
            record = self._check_kind(collection, CollectionType.CALIBRATION)
            current = current_certifications(
                registry, record.id, {refs[i].dataset_type.name for _, ids, _ in ranges for i in ids}
            )
            for span, ids, _ in ranges:
                new = [refs[i] for i in ids if (i, span) not in current]  # re-imports skip what is there already
                if new:
                    certify(registry, collection, new, span)
        if self.provenance is not None:  # lineage and run records, in the same transaction
            apply_provenance(registry, self.provenance)
        save_origins(registry, self.origins)

    def _records(self) -> None:
        universe = self.registry.universe
        records = dict(self.plan.records)
        for name, derived in derived_records(universe, records).items():
            records.setdefault(name, []).extend(derived)
        done = 0
        total = sum(len(v) for v in records.values())
        for element in sorted(records, key=lambda n: universe[n].index):
            try:
                self.registry.records.insert(element, records[element], skip_existing=True)
            except DataIdError as exc:
                raise DataIdError(f"{self.plan.source}: {element!r} records: {exc}") from None
            done += len(records[element])
            if self.progress is not None:
                self.progress("records", done, total)
        self.report.dimension_records = total

    def _collection(self, name: str, kind: CollectionType, doc: str | None) -> None:
        collections = self.registry.collections
        try:
            created = collections.register(name, kind, doc)[1]
        except SkyButlerError as exc:
            raise type(exc)(f"{self.plan.source}: collection {name!r}: {exc}") from None
        self.report.collections += created

    def _check_kind(self, name: str, kind: CollectionType) -> CollectionRecord:
        record = self.registry.collections.find(name)
        if record is None:
            self._collection(name, kind, None)
            return self.registry.collections.get(name)
        if record.type is not kind:
            raise ConflictError(
                f"{self.plan.source}: {kind.name} associations for {name!r}, which is a {record.type.name} collection."
            )
        return record

    def _datasets(self, entries: list[DatasetEntry]) -> None:
        """Insert ``entries`` (each group of one type and run in one go), reporting progress."""
        registry = self.registry
        groups: dict[tuple[str, str], list[DatasetEntry]] = {}
        for entry in entries:
            groups.setdefault((entry.dataset_type, entry.run), []).append(entry)
        done, total = 0, len(entries)
        for (type_name, run), group in groups.items():
            stored = registry.dataset_types.get(type_name)
            run_record = registry.collections.get(run)
            new = []
            if self.staged or self.in_place:
                for e in group:
                    staged = self.staged.get(e.id)
                    artifact = self.in_place.get(e.id) if staged is None else staged.artifact
                    new.append(NewDataset(e.id, e.values, artifact))
            try:
                with registry.db.transaction(), registry.db.savepoint():  # the explanation below queries
                    if new:
                        registry.datasets.insert(stored, run_record.id, new)
                    else:  # registry only: by column, no artifact to look up for any dataset
                        ids, values = [e.id for e in group], [e.values for e in group]
                        registry.datasets.insert_values(stored, run_record.id, ids, values)
            except (sa.exc.IntegrityError, ConflictError) as exc:
                coords = [DataCoordinate.from_required(stored.dataset_type.dimensions, e.values) for e in group]
                if not isinstance(exc, sa.exc.IntegrityError):
                    raise ConflictError(f"{self.plan.source}: {type_name} datasets in {run!r}: {exc}") from None
                explained = registry.explain_insert_failure(stored, run_record, coords, exc)
                raise type(explained)(f"{self.plan.source}: {explained} Nothing was imported.") from None
            done += len(group)
            if self.progress is not None and self.deferred is None:
                self.progress("datasets", done, total)

    def _stream_datasets(self, deferred: list[tuple[int, Any]]) -> None:
        """Parse and check each deferred ``dataset`` entry while a second thread inserts the previous one.

        Only one thread uses the database at a time: the reader's look-ups of dataset types the file lacks go
        through the inserting thread too.  The inserting thread is drained before an error leaves, so the
        transaction is rolled back with no statement in flight.
        """
        registry = self.registry
        check_existing = registry.datasets.count() > 0
        universe = registry.universe

        def insert(entries: list[DatasetEntry]) -> list[uuid.UUID]:
            skipped = self._existing(entries) if check_existing else []
            if skipped:
                gone = set(skipped)
                entries = [e for e in entries if e.id not in gone]
            self._files_in_place(entries)
            for run in {e.run for e in entries}:
                if registry.collections.find(run) is None:  # named only by its datasets
                    self._collection(run, CollectionType.RUN, None)
            self._datasets(entries)
            return skipped

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="skybutler-import") as writer:

            def registered(name: str) -> DatasetType | None:
                found = writer.submit(registry.dataset_types.find, name).result()
                return None if found is None else found.dataset_type

            running: Future[list[uuid.UUID]] | None = None
            try:
                for index, item in deferred:
                    for part in range(dataset_parts(item)):
                        entries = read_datasets(self.plan, index, item, part, self.text, universe, registered)
                        if running is not None:
                            self._finished(running)
                        running = writer.submit(insert, entries)
                if running is not None:
                    self._finished(running)
                    running = None
            finally:
                if running is not None:  # an error in this thread: let the insert end before the rollback
                    wait([running])
            if self.progress is not None:
                self.progress("datasets", len(self.plan.datasets), len(self.plan.datasets))

    def _finished(self, running: Future[list[uuid.UUID]]) -> None:
        """Wait for an insert of `_stream_datasets`; drop the datasets it skipped from the plan."""
        skipped = running.result()
        for dataset_id in skipped:
            del self.plan.datasets[dataset_id]
        self.report.skipped += len(skipped)
        if self.progress is not None:
            self.progress("datasets", len(self.plan.datasets), None)
