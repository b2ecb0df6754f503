"""The file datastore: one artifact per dataset, written to a staging name and promoted after registration.

Put: `prepare` checks the object's type, picks the formatter, renders the template and streams the bytes
to ``.staging/<dataset id><ext>`` while hashing them, then *claims* the final path (`claim`:
`Transport.claim` creates the name for the staged file and fails if it exists -- a hard link on local
disks -- so a taken path gives the ID-suffixed one); the caller registers the dataset (with the returned
`ArtifactInfo`) in one transaction and then calls `promote`, which drops the staging name.  Claiming
before registering is what keeps DESIGN invariant 2 true with processes racing: no two puts ever record
one path, and no put adopts or overwrites a file it did not write.  A crash before registration leaves a
staging file and maybe its claim; a crash after it, a staging file whose dataset is registered and reads
already: `reconcile_files` removes the first two (the claim is recognised by `Transport.identity`) and
drops the last, so no registered dataset loses its file.

On transports whose writes are atomic and can refuse to replace a key (`Transport.can_create`: S3 with
conditional PUTs) the artifact is written at its final path directly, exclusively, in one request: a
concurrent writer of the same path, or a removed dataset's file still awaiting deletion, makes the write
fail and retry at a path suffixed with the dataset ID, so no write ever replaces another dataset's bytes.
The dataset ID is stored with the object, so a crash before registration leaves a file that reconcile
recognises as a put's and deletes once older than its grace period.
An artifact path is a key relative to the datastore root, except for files ingested with ``transfer="direct"``:
their path is an absolute URI (``file:///...``, ``s3://...``).  Such *external* files are read where they are
and never deleted: the datastore does not own them (`is_external`).  A recorded key that leaves the root or
names the repository's own files (`key_problem`: imports refuse them now, older ones may have recorded them)
is never followed: reading or copying its dataset raises `PermissionDeniedError`, removing it deletes no file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from skybutler.datasets import ArtifactInfo, storage_classes
from skybutler.datastore._base import LeafDatastore, ReconcileReport
from skybutler.datastore._cache import ArtifactCache
from skybutler.datastore._checked_reads import open_checked, verify_artifact
from skybutler.datastore._checksums import HashingWriter, checksum_stream
from skybutler.datastore._formatter_choice import FormatterChoice
from skybutler.datastore._keys import checked_key, deletable_key
from skybutler.datastore._parallel import run_all
from skybutler.datastore._retrieve import copy_artifacts
from skybutler.datastore._templates import FileTemplate
from skybutler.errors import ArtifactNotFoundError, ConfigError, FormatterError, PermissionDeniedError, StorageError
from skybutler.formatters import Formatter
from skybutler.transports import open_transport

if TYPE_CHECKING:
    from skybutler.config import DatastoreConfig
    from skybutler.datasets import DatasetRef, DatasetType, StorageClass
    from skybutler.transports import Transport

__all__ = ["STAGING", "FileDatastore", "Staged", "check_data_model", "is_external", "with_suffix"]

STAGING = ".staging/"


def with_suffix(path: str, ext: str, id_hex: str) -> str:
    """The path a put takes when ``path`` is taken: the ID's last 12 digits before the extension (random in every
    ID scheme, where a time-ordered ID's first 12 are its millisecond, which writers racing for a path may share)."""
    return f"{path[: len(path) - len(ext)]}_{id_hex[-12:]}{ext}"


def is_external(path: str) -> bool:
    """Whether an artifact path is an absolute URI outside the datastore (a ``direct`` ingest), not a key."""
    return "://" in path  # keys never hold ':' (templates escape it)


@dataclass(frozen=True, slots=True)
class Staged:
    """An artifact written, waiting for its dataset to be registered."""

    dataset_id: str
    staging_key: str
    """Where the bytes are: a ``.staging/`` key, or the final path itself on transports with ``can_create``."""
    artifact: ArtifactInfo
    claimed: bool | None = None
    """How the final path was claimed (`FileDatastore.claim`): True, it shares the staged bytes; False, it
    holds a placeholder; None, not yet (ingest and import stage first, and `promote` claims)."""

    @property
    def artifacts(self) -> tuple[ArtifactInfo, ...]:
        """The one artifact, as `Prepared` has it."""
        return (self.artifact,)


def check_data_model(config: DatastoreConfig, dataset_type: DatasetType, obj: Any) -> None:
    """Refuse an object that breaks its dataset type's data model (``datastore.data_models``).

    Raises
    ------
    FormatterError
        Names every problem found.
    """
    model = config.data_models.get(dataset_type.parent_name)
    if model is None:
        return
    from skybutler.astro import data_model_problems

    problems = data_model_problems(
        obj, required_keys=model.required_keys, required_columns=model.required_columns, units=model.units
    )
    if problems:
        raise FormatterError(
            f"Not written: this {dataset_type.name} breaks its data model (datastore.data_models."
            f"{dataset_type.parent_name} in butler.yaml): {'; '.join(problems)}."
        )


class FileDatastore(LeafDatastore):
    """Datasets ↔ files under one transport root; never touches the registry."""

    kind = "file"

    def __init__(self, transport: Transport, config: DatastoreConfig) -> None:
        super().__init__(config)
        self.transport = transport
        self._templates = {name: FileTemplate(t) for name, t in config.templates.items()}
        if "default" not in self._templates:
            raise ConfigError("The datastore configuration needs a 'default' file template.")
        self.formatters = FormatterChoice(config)
        """Which formatter writes each dataset type, and the shared formatter instances."""
        self.cache: ArtifactCache | None = None
        """The local cache of remote reads (``datastore.cache.directory``), or None."""
        if config.cache.directory is not None and not transport.is_local:
            directory = Path(config.cache.directory).expanduser()
            self.cache = ArtifactCache(directory, config.cache.max_bytes)
        self._external: dict[str, Transport] = {}

    def file_datastore(self) -> FileDatastore:
        """This datastore: it takes and gives files."""
        return self

    @property
    def concurrency(self) -> int:
        """The transport's: parallel requests pay off on object stores."""
        return self.transport.concurrency

    def staged_ids(self) -> list[str]:
        """Dataset IDs (hex) of the files under ``.staging/``."""
        return [key[len(STAGING) :].split(".", 1)[0] for key in self.transport.keys(STAGING)]

    def locate(self, path: str) -> tuple[Transport, str]:
        """The transport and key holding an artifact path: ours for keys, one per directory for external URIs.

        Raises
        ------
        PermissionDeniedError
            ``path`` is a key that leaves the datastore root or names the repository's own files (`key_problem`).
        """
        if not is_external(path):
            return self.transport, checked_key(path)  # one regular-expression match for our own keys
        parent, _, name = path.rpartition("/")
        transport = self._external.get(parent)
        if transport is None:
            transport = open_transport(parent + "/")
            self._external[parent] = transport
        if transport.uri_quotes_keys:  # file:// and http:// URIs are percent-encoded; keys are not
            from urllib.parse import unquote

            name = unquote(name)
        return transport, name

    # -- configuration --------------------------------------------------------------------------------------
    def template_for(self, dataset_type: DatasetType) -> FileTemplate:
        """The file template of ``dataset_type`` (its own override, else the default)."""
        return self._templates.get(dataset_type.parent_name, self._templates["default"])

    def formatter_instance(self, name: str) -> Formatter:
        """The (shared) instance of the formatter named ``name``."""
        return self.formatters.instance(name)

    def formatter_for(self, dataset_type: DatasetType) -> tuple[str, Formatter]:
        """The formatter new datasets of ``dataset_type`` are written with (see `FormatterChoice.for_type`)."""
        return self.formatters.for_type(dataset_type)

    def validate(self, dataset_type: DatasetType) -> None:
        """Check that ``dataset_type`` can be stored: a safe, unique template and a formatter."""
        self.template_for(dataset_type).validate_for(dataset_type)
        self.formatter_for(dataset_type)

    # -- put ----------------------------------------------------------------------------------------------
    def prepare(self, ref: DatasetRef, obj: Any, storage_class: StorageClass | None = None) -> Staged:
        """Check ``obj``, write it under a staging name and return what to register.

        Raises
        ------
        FormatterError
            ``obj`` is not of the dataset type's storage class, or the formatter cannot write it.
        StorageError
            The bytes could not be written.
        """
        dataset_type = ref.dataset_type
        sc = storage_class or storage_classes.get(dataset_type.storage_class)
        obj = sc.coerce(obj)
        check_data_model(self.config, dataset_type, obj)
        name, formatter = self.formatter_for(dataset_type)
        formatter, ext, id_hex = formatter.for_dataset(ref), formatter.extensions[0], ref.id.hex
        path = self.artifact_path(dataset_type, ref, ext)
        in_place = self.transport.can_create  # an atomic, exclusive write needs no staging copy
        key = path if in_place else f"{STAGING}{id_hex}{ext}"
        claimed: bool | None = None
        try:
            try:
                size, checksum = self._write(formatter, obj, key, exclusive=in_place, owner=id_hex)
            except FileExistsError:  # taken (a concurrent writer, a removed dataset's file): never written over
                path = key = with_suffix(path, ext, id_hex)
                size, checksum = self._write(formatter, obj, key, exclusive=True, owner=id_hex)
            if not in_place:
                path, claimed = self.claim(key, path, ext, id_hex)
        except BaseException as exc:
            if not in_place:  # an exclusive write that failed stored nothing, and the key may be another's
                # a clean-up that fails too (a read-only or unreachable store) must not hide the cause;
                # reconcile deletes what is left
                with suppress(OSError):
                    self.transport.delete(key)
            if isinstance(exc, FormatterError | StorageError):
                raise
            if isinstance(exc, TypeError | ValueError | AttributeError):
                raise FormatterError(
                    f"Formatter {name!r} could not write {dataset_type.name} {ref.data_id}: {exc}"
                ) from exc
            if isinstance(exc, OSError):
                raise StorageError(f"Could not write {key} under {self.transport.root}: {exc}") from exc
            raise
        artifact = ArtifactInfo(path, name, sc.name, size, checksum, datastore=self.name)
        return Staged(id_hex, key, artifact, claimed)

    def artifact_path(self, dataset_type: DatasetType, ref: DatasetRef, ext: str) -> str:
        """The path a new artifact of ``ref`` (ending ``ext``) is claimed at: the one rendering of put, ingest
        and import (`FileTemplate.render`); a put that finds it taken takes `with_suffix` instead."""
        return self.template_for(dataset_type).render(dataset_type, ref.data_id, ref.run, ref.id.hex, ext=ext)

    def claim(self, staging_key: str, path: str, ext: str, id_hex: str) -> tuple[str, bool]:
        """Create the final name ``path`` for a staged file without replacing anything (`Transport.claim`).

        This happens before the dataset is registered: a path that is taken -- by a concurrent writer, or a
        removed dataset's file awaiting deletion -- gives the ID-suffixed one instead, so no put ever adopts
        or overwrites bytes it did not write.  Returns the path claimed and whether it shares the staged
        bytes already (else it holds a placeholder that `promote` replaces).

        Raises
        ------
        StorageError
            The suffixed path is taken too, or the name could not be made.
        """
        try:
            try:
                return path, self.transport.claim(staging_key, path)
            except FileExistsError:
                path = with_suffix(path, ext, id_hex)
                return path, self.transport.claim(staging_key, path)
        except FileExistsError:
            raise StorageError(
                f"Cannot store dataset {id_hex}: {self.transport.uri(path)} exists already, and only this dataset "
                "would have that name. Run `skybutler reconcile` (butler.reconcile()) and try again."
            ) from None
        except OSError as exc:
            if isinstance(exc, StorageError):
                raise
            raise StorageError(f"Could not create {self.transport.uri(path)}: {exc}") from exc

    def _write(
        self, formatter: Formatter, obj: Any, key: str, *, exclusive: bool, owner: str
    ) -> tuple[int, str | None]:
        """Write ``obj`` at ``key``, hashing as it streams; return size and checksum."""
        if not formatter.writes_streams:
            return self._write_file(formatter, obj, key, exclusive=exclusive, owner=owner)
        sink = self._sink(key, exclusive, owner)
        with sink as raw:
            writer = HashingWriter(raw, self.config.checksum)
            formatter.write(obj, writer)  # type: ignore[arg-type]
        return writer.size, writer.checksum

    def _sink(self, key: str, exclusive: bool, owner: str) -> AbstractContextManager[BinaryIO]:
        if exclusive:
            return self.transport.open_create(key, owner=owner)
        return self.transport.open_write(key, atomic=False)

    def _write_file(
        self, formatter: Formatter, obj: Any, key: str, *, exclusive: bool, owner: str
    ) -> tuple[int, str | None]:
        """Write through a local file, for formatters that seek while writing; return size and checksum.

        Local transports get the file at its staging path and hash it afterwards (one read, from the page
        cache); others get a temporary file copied through the hashing stream.
        """
        if self.transport.is_local:
            local = self.transport.local_path(key)
            local.parent.mkdir(parents=True, exist_ok=True)
            formatter.write_file(obj, local)
            if self.config.checksum == "none":
                return local.stat().st_size, None
            with open(local, "rb") as stream:
                checksum, size = checksum_stream(stream, self.config.checksum)
            return size, checksum
        with tempfile.TemporaryDirectory(prefix="skybutler-") as tmp:
            local = Path(tmp) / key.rsplit("/", 1)[-1]
            formatter.write_file(obj, local)
            with open(local, "rb") as src, self._sink(key, exclusive, owner) as raw:
                writer = HashingWriter(raw, self.config.checksum)
                shutil.copyfileobj(src, writer, 1 << 20)
            return writer.size, writer.checksum

    def prepare_many(
        self, refs: Sequence[DatasetRef], objects: Sequence[Any], storage_class: StorageClass | None = None
    ) -> list[Staged]:
        """`prepare` each object, in parallel on transports that profit (object stores); all or none.

        On the first failure the files already staged are deleted and the error re-raised.
        """
        for dataset_type in {ref.dataset_type.name: ref.dataset_type for ref in refs}.values():
            self.check_accepts(dataset_type)
        return run_all(
            [partial(self.prepare, ref, obj, storage_class) for ref, obj in zip(refs, objects, strict=True)],
            self.transport.concurrency,
            undo=self.abort_many,
        )

    def promote(self, staged: Staged) -> None:
        """Give up the staging name of a registered dataset's file; in-place writes stay.

        The final path was claimed before registration (`claim`): promoting drops the staging name (or
        moves the file over its own placeholder).  Files staged without a claim (ingest, import) are
        claimed here, still never over an existing file.

        Raises
        ------
        StorageError
            The final path is taken by a file that is not this dataset's: the staged file stays for
            ``reconcile`` to report.
        """
        key, path = staged.staging_key, staged.artifact.path
        if key == path:
            return
        if staged.claimed is None:
            self.finish(key, path)
        elif staged.claimed:
            self.transport.delete(key)
        else:
            self.transport.move(key, path)

    def finish(self, key: str, path: str) -> None:
        """Move the staged file ``key`` of a registered dataset to ``path``, claiming it if need be.

        ``path`` may hold this very file already (its claim: a link or a placeholder), which is completed;
        any other file there is left alone, and so is the staged one.

        Raises
        ------
        StorageError
            ``path`` holds another file (or could not be made).
        PermissionDeniedError
            ``path`` leaves the datastore root or names the repository's own files (`key_problem`).
        """
        checked_key(path)
        transport = self.transport
        try:
            shares = transport.claim(key, path)
        except FileExistsError:
            mine = transport.identity(key)
            if mine is None or transport.identity(path) != mine:
                if self._same_bytes(key, path):  # a copying move (object stores) that died before its delete
                    transport.delete(key)
                    return
                raise StorageError(
                    f"Cannot move {transport.uri(key)} to {transport.uri(path)}: another file is there; both "
                    "were kept. Move that file away if it belongs to no dataset, then reconcile again."
                ) from None
            shares = False  # a link or a placeholder of this file: moving replaces either
        if not shares:
            transport.move(key, path)
        transport.delete(key)  # a rename between two links of one file leaves both names

    def _same_bytes(self, a: str, b: str) -> bool:
        """Whether keys ``a`` and ``b`` hold the same bytes (read in 1 MiB chunks; reconcile only)."""
        transport = self.transport
        try:
            if transport.size(a) != transport.size(b):
                return False
            with transport.open(a) as left, transport.open(b) as right:
                while True:
                    chunk = left.read(1 << 20)
                    if chunk != right.read(1 << 20):
                        return False
                    if not chunk:
                        return True
        except (ArtifactNotFoundError, OSError):
            return False

    def promote_many(self, staged: Sequence[Staged]) -> None:
        """`promote` each staged file (in parallel on object stores).

        Raises
        ------
        StorageError
            A move failed; the datasets are registered, and ``reconcile`` finishes the move later.
        """
        staged = [s for s in staged if s.staging_key != s.artifact.path]
        try:  # a claim that shares the bytes (a hard link) leaves only the staging name to drop: in one call
            self.transport.delete_many([s.staging_key for s in staged if s.claimed])
            run_all([partial(self.promote, s) for s in staged if not s.claimed], self.transport.concurrency)
        except StorageError as exc:
            raise StorageError(
                f"{exc} The datasets are registered and their files staged; run `skybutler reconcile` "
                "(butler.reconcile(grace_seconds=0)) to finish moving them."
            ) from exc

    def abort(self, staged: Staged) -> None:
        """Delete a staged file whose registration failed: its claim of the final path first."""
        self.abort_many([staged])

    def abort_many(self, staged: Sequence[Staged]) -> None:
        """Delete staged files whose registration failed, claims first (batched on object stores)."""
        claims = [s.artifact.path for s in staged if s.claimed is not None]
        if claims:
            self.transport.delete_many(claims)
        if staged:
            self.transport.delete_many([s.staging_key for s in staged])

    # -- get ----------------------------------------------------------------------------------------------
    def read(
        self,
        artifact: ArtifactInfo,
        *,
        storage_class: StorageClass | None = None,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        dataset_type: str | None = None,
    ) -> Any:
        """Read an artifact with the formatter recorded for it (any file's bytes as stored with ``Bytes``).

        ``dataset_type`` (the parent name) selects the cache policy (``datastore.cache.dataset_types``).

        Raises
        ------
        ArtifactNotFoundError
            The file is missing (run ``reconcile``).
        CorruptArtifactError
            The file's size (any read) or checksum (a whole-object read) differs from the record, with
            ``datastore.verify_on_read`` on (the default); see `_reader`.
        FormatterError
            The file could not be parsed.
        """
        whole = component is None and not parameters
        formatter = self.formatters.reader(artifact, storage_class, whole, self.uri(artifact))
        raw = formatter.name == "bytes"  # the file's bytes as stored: nothing to convert
        try:
            with self._reader(artifact, dataset_type, whole=whole) as stream:
                obj = formatter.read(stream, component=component, parameters=parameters)
        except ArtifactNotFoundError:
            raise ArtifactNotFoundError(
                f"The file of a registered dataset is missing: {self.uri(artifact)}. "
                "Run `skybutler reconcile` (butler.reconcile()) to see what else is affected."
            ) from None
        except (FormatterError, StorageError, PermissionDeniedError):
            raise
        except Exception as exc:
            raise FormatterError(
                f"Formatter {artifact.formatter!r} could not read {self.uri(artifact)}: {exc}"
            ) from exc
        if not raw and storage_class is not None and component is None and storage_class.name != artifact.storage_class:
            obj = storage_class.coerce(obj)
        return obj

    def uri(self, artifact: ArtifactInfo) -> str:
        """The URI of an artifact."""
        return artifact.path if is_external(artifact.path) else self.transport.uri(artifact.path)

    def retrieve(self, artifacts: Iterable[ArtifactInfo], destination: Path, *, overwrite: bool = False) -> list[Path]:
        """Copy artifacts' files under a local ``destination``, at their paths relative to the datastore root.

        Every target is checked before any byte is copied, and each file is written under a temporary name and
        renamed, so a refusal or a failure leaves no partial file.

        Raises
        ------
        ConflictError
            A target file exists and ``overwrite`` is false (nothing was copied).
        ArtifactNotFoundError
            A registered artifact has no file.
        PermissionDeniedError
            An artifact's key leaves the datastore root, or its file would be written outside ``destination``
            (nothing was copied).
        """
        return copy_artifacts(self.locate, artifacts, destination, overwrite=overwrite)

    # -- remove, verify, reconcile -----------------------------------------------------------------------------
    def delete(self, paths: Iterable[str]) -> None:
        """Delete files (a missing file is not an error); external files are not ours and are left alone.

        A key that `key_problem` refuses (recorded by an old import: ``../x``, ``butler.yaml``) is not ours
        either: it is left alone too, with a `SkyButlerWarning` naming it, so that removing its dataset only
        unregisters it.
        """
        for path in paths:
            if is_external(path):
                continue
            if deletable_key(path):
                self.transport.delete(path)

    def _reader(self, artifact: ArtifactInfo, dataset_type: str | None = None, *, whole: bool = True) -> BinaryIO:
        """A stream of the artifact's bytes, checked against the record before any formatter sees them.

        With ``datastore.verify_on_read`` (the default) a read of the whole object (``whole``: no component,
        no parameters) checks size and checksum first and raises `CorruptArtifactError` on a mismatch, so a
        corrupt file never yields an object.  A small local file (up to 1 MiB) is read once, hashed, and
        parsed from those bytes; a larger one is hashed (one extra pass, from the page cache) and handed to
        the formatter still open.  Either way the stream keeps the file's ``name``, so formatters that reopen
        it by name (HDF5, Parquet) keep their fast paths.  A remote object is fetched whole in one request,
        hashed, and read from memory.  A partial read (a component, a cut-out, ``slices``, ``mmap``, column or row
        selections) checks the size only: hashing the whole file would cost what the partial read saves.
        Remote partial reads stay ranged.  A cached remote read (``datastore.cache``) is checked when it is
        downloaded, and a cache hit is checked like a local file.
        """
        transport, key = self.locate(artifact.path)
        check = self.config.verify_on_read
        if self.cache is not None and artifact.checksum is not None and not transport.is_local:
            policy = self.config.cache
            if policy.dataset_types.get(dataset_type or "", policy.default):
                return self.cache.open(
                    artifact, lambda: transport.open(key), transport.uri(key), check=check, whole=whole
                )
        if not check:
            return transport.open(key)
        return open_checked(transport, key, artifact, whole=whole)

    def verify(self, artifact: ArtifactInfo) -> str | None:
        """Re-read an artifact; return ``"missing"``, a description of the mismatch, or ``None`` when it matches.

        An artifact that cannot be read (a directory, no permission) is described too: one bad path never
        stops the check of the others.
        """
        try:
            transport, key = self.locate(artifact.path)
        except (StorageError, ConfigError, OSError) as exc:
            return f"unreadable: {exc}"
        return verify_artifact(transport, key, artifact)

    def unknown_keys(self, live_paths: set[str]) -> list[str]:
        """Keys under the root that are neither a dataset's (``live_paths``) nor the repository's own files, nor
        another repository's (`_reconcile.other_repositories`)."""
        from skybutler.datastore._reconcile import unknown_keys

        return unknown_keys(self.transport, live_paths)

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
        """Repair what a crash left behind.

        Parameters
        ----------
        registered
            Dataset id (hex) → final path, for every registered dataset that has a staging file.
        live_paths
            Every path a registered dataset refers to.
        trash_paths
            Paths of removed datasets whose deletion may not have happened.
        grace_seconds
            Staging files younger than this are left alone: another process may still be writing them.
        remove_unknown
            Also delete files no dataset refers to (otherwise they are only reported).
        registered_pending
            Pending-area key → record of the dataset registered under that file's name (`pending_ids`) at
            another path: a merge died before moving it; it is moved once its bytes match the record.
        """
        from skybutler.datastore._reconcile import reconcile_files

        return reconcile_files(
            self, registered, live_paths, trash_paths, grace_seconds=grace_seconds, remove_unknown=remove_unknown,
            staging=STAGING, registered_pending=registered_pending or {},
        )  # fmt: skip

    def age(self, key: str, now: float) -> float:
        """Seconds since ``key`` was written (infinite where the transport cannot tell; 0 once gone)."""
        if self.transport.is_local:
            try:  # the link itself (an ingested symlink may dangle in staging); ctime: a new hard link
                st = os.lstat(self.transport.local_path(key))
            except FileNotFoundError:
                return 0.0
            return now - max(st.st_mtime, st.st_ctime)
        try:
            mtime = self.transport.mtime(key)
        except ArtifactNotFoundError:
            return 0.0
        return float("inf") if mtime is None else now - mtime
