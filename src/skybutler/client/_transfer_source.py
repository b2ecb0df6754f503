"""A remote repository as the source of a local butler's `transfer_from` (direct ← remote).

One call to the server (``POST /transfer/source``, read on the datasets' runs and on the collections named)
says what the transfer needs: dataset types, files (each with a short-lived signed URL, or inline when
small), the dimension records the datasets stand on, their tags and certifications, and their provenance.
`RemoteSource.open` then streams each file from its URL into a local temporary copy, a chunk at a time
(memory stays bounded whatever the file's size), hashed on the way and checked against the server's recorded
size and checksum (`CorruptArtifactError` otherwise): the local transfer fetches every file
before it writes anything, so a file that does not arrive whole leaves the destination as it was.  The copies
go when the transfer is done.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from skybutler.client._io import CHUNK, download_checked
from skybutler.datasets import ArtifactInfo
from skybutler.transfer import SourceDatasets, SourceFile, TransferSource
from skybutler.wire import ArtifactModel, dataset_type_from_wire, ref_to_wire
from skybutler.wire_transfer import SourceRequest, SourceResponse, associations_from_wire

if TYPE_CHECKING:
    from skybutler.client._http import Session
    from skybutler.datasets import DatasetRef
    from skybutler.dimensions import DimensionUniverse
    from skybutler.types import CollectionsLike

__all__ = ["RemoteSource"]


class RemoteSource(TransferSource):
    """The repository behind a remote butler, read through its server (see the module docstring)."""

    fetches = True
    chunk = CHUNK
    """Bytes of a file held in memory at a time while it is fetched."""

    def __init__(self, session: Session, universe: DimensionUniverse) -> None:
        self._session = session
        self._universe = universe
        self._models: dict[str, ArtifactModel] = {}

    def describe(
        self, refs: Sequence[DatasetRef], *, records: bool, collections: CollectionsLike | None
    ) -> SourceDatasets:
        """See `TransferSource.describe` (one request; the server checks the caller may read it all)."""
        from skybutler.dimensions import DimensionRecord

        names = None if collections is None else [collections] if isinstance(collections, str) else list(collections)
        request = SourceRequest(refs=[ref_to_wire(r) for r in refs], records=records, collections=names)
        answer = SourceResponse.model_validate(
            self._session.call("POST", "/transfer/source", request, idempotent=True, what="transfer out")
        )
        types = {m.name: dataset_type_from_wire(m, self._universe) for m in answer.dataset_types}
        artifacts: dict[uuid.UUID, ArtifactInfo] = {}
        for id_hex, model in answer.artifacts.items():
            self._models[model.path] = model
            artifacts[uuid.UUID(id_hex)] = ArtifactInfo(
                model.path, model.formatter, model.storage_class, model.size, model.checksum, model.component
            )
        found = {}
        for name, fields in answer.records:
            record = DimensionRecord.from_dict(self._universe[name], fields)
            found[name, tuple(record.key)] = record
        by_id = {r.id: r for r in refs}
        return SourceDatasets(
            dataset_types=types,
            artifacts=artifacts,
            records=found,
            associations=associations_from_wire(answer.associations, by_id),
            provenance=answer.provenance,
        )

    def open(self, artifact: ArtifactInfo) -> AbstractContextManager[SourceFile]:
        """See `TransferSource.open`: a checked local copy of the file, deleted at the end of the block."""
        return self._fetched(artifact)

    @contextmanager
    def _fetched(self, artifact: ArtifactInfo) -> Iterator[SourceFile]:
        model = self._models[artifact.path]
        folder = Path(tempfile.mkdtemp(prefix="skybutler-transfer-"))
        try:
            # The source's file name (its extension is what the destination keeps), never a path.
            local = folder / (PurePosixPath(artifact.path.replace("\\", "/")).name or "file")
            with local.open("wb") as out:  # streamed and checked on the way: memory bounded by the chunk
                download_checked(model, self._session.client, out, self.chunk)
            st = local.stat()
            yield SourceFile(str(local), st.st_size, st.st_dev)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
