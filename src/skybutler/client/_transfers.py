"""The transfer half of the `Butler` interface on the remote butler: what runs next to the data only.

Ingest (of files already in the datastore's storage), raw ingest, repository transfer, export and import are not
offered through the server yet (issue 20 lists the endpoints; they are the part not done): each raises a
`PermissionDeniedError` that says to run it with a butler opened on the repository itself.
`retrieve_artifacts` works: it downloads each file through its signed URL.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler.errors import ConflictError, DatasetNotFoundError, PermissionDeniedError, StorageError
from skybutler.wire import FindResponse, RefsRequest, ref_to_wire

if TYPE_CHECKING:
    from skybutler.butler import Butler
    from skybutler.client._http import Session
    from skybutler.datasets import DatasetIdMode, DatasetRef, DatasetType
    from skybutler.transfer import ExportReport, FileDataset, ImportReport, IngestReport, MetadataTranslator
    from skybutler.types import CollectionsLike, Progress, UriLike
    from skybutler.workers import Manifest, MergeHook, MergeReport, TaskRecord

__all__ = ["RemoteTransfers"]


def _not_remote(what: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"{what} is not offered by the remote butler yet; run it with a butler opened on the repository itself "
        "(next to the data), e.g. on the server's machine."
    )


class RemoteTransfers:
    """Ingest, transfer, export and import of a remote butler (see the module docstring)."""

    _session: Session

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
        """Not offered remotely yet (`PermissionDeniedError`)."""
        raise _not_remote("ingest")

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
        raise _not_remote("plan_work")

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
        raise _not_remote("merge")

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
        """Not offered remotely yet (`PermissionDeniedError`)."""
        raise _not_remote("ingest_raws")

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
        """Not offered remotely yet (`PermissionDeniedError`)."""
        raise _not_remote("transfer_from")

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
        """Not offered remotely yet (`PermissionDeniedError`)."""
        raise _not_remote("export")

    def import_(
        self,
        path: UriLike,
        *,
        directory: UriLike | None = None,
        transfer: str | None = None,
        skip_existing: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Not offered remotely yet (`PermissionDeniedError`)."""
        raise _not_remote("import_")

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
        for artifact, target in chosen:
            if artifact.inline is not None:
                data = base64.b64decode(artifact.inline)
            else:
                response = self._session.client.get(artifact.url or "")
                if response.status_code != 200:
                    raise StorageError(f"Downloading {artifact.path} failed: HTTP {response.status_code}.")
                data = response.content
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.partial")
            partial.write_bytes(data)
            partial.replace(target)
        return [str(t) for _, t in chosen]
