"""The put protocol: check and stage every file, register all datasets in one transaction, then promote."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.datasets import DatasetRef, make_dataset_id, storage_classes
from skybutler.errors import StorageError
from skybutler.registry import LostCommitError, NewDataset

if TYPE_CHECKING:
    from skybutler.datasets import DatasetIdMode
    from skybutler.datastore import Datastore
    from skybutler.dimensions import DataCoordinate
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType

__all__ = ["put_objects"]


def put_objects(
    registry: Registry,
    datastore: Datastore,
    stored: StoredDatasetType,
    run: CollectionRecord,
    items: Iterable[tuple[Any, DataCoordinate]],
    id_mode: DatasetIdMode | None,
) -> list[DatasetRef]:
    """Store objects as new datasets of ``stored`` in ``run``: all of them, or none.

    DESIGN invariant 2: every file is written under a staging name first (its type checked before any
    byte is written) and its final path claimed without replacing anything (`FileDatastore.claim`); the
    datasets are registered in one transaction; only then are the staging names dropped.  On any failure
    the claims and staged files are removed and the registry is untouched.
    A chained datastore stages in every child that takes the dataset, and the registry records one
    artifact per child.
    """
    dt = stored.dataset_type
    sc = storage_classes.get(dt.storage_class)
    refs: list[DatasetRef] = []
    objects: list[Any] = []
    for obj, coord in items:
        dataset_id = uuid.uuid4() if id_mode is None else make_dataset_id(dt, coord, run.name, id_mode)
        refs.append(DatasetRef(dataset_id, dt, coord, run.name))
        objects.append(obj)
    staged = datastore.prepare_many(refs, objects, sc)  # all staged, or none left behind
    try:
        new = [
            NewDataset(r.id, r.data_id.required_values, s.artifacts[0], s.artifacts[1:])
            for r, s in zip(refs, staged, strict=True)
        ]
        try:
            registry.datasets.insert(stored, run.id, new)
        except sa.exc.IntegrityError as exc:
            raise registry.explain_insert_failure(stored, run, [r.data_id for r in refs], exc) from None
    except BaseException as exc:
        if isinstance(exc, LostCommitError):
            saved = _saved(registry, refs)
            if saved:  # the commit went through before the connection broke: the put succeeded
                datastore.promote_many(staged)
                return refs
            if saved is None:  # cannot tell yet: reconcile promotes or deletes the staged files later
                raise StorageError(
                    f"{exc} The put's files are kept: once the registry answers, run `skybutler reconcile` "
                    "(butler.reconcile()), which moves them into place if the datasets were registered and "
                    "deletes them otherwise."
                ) from exc
            datastore.abort_many(staged)
            raise StorageError(
                "The connection to the registry database was lost while committing the put; after "
                f"reconnecting, none of its {len(refs)} dataset(s) is registered, and their files were removed: "
                "retry the put."
            ) from exc
        datastore.abort_many(staged)
        raise
    datastore.promote_many(staged)
    return refs


def _saved(registry: Registry, refs: list[DatasetRef]) -> bool | None:
    """Whether the datasets of a commit that lost its connection were registered (``None``: still cannot tell).

    A commit is atomic, so one dataset tells for all.  Deleting the staged files of datasets that were
    registered would lose them; keeping those of datasets that were not leaves files reconcile deletes.
    """
    try:
        return bool(registry.datasets.existing([refs[0].id]))
    except StorageError:
        return None
