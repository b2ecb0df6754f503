"""The put protocol: check and stage every file, register all datasets in one transaction, then promote."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler._lost_commit import settle_lost_commit
from skybutler.datasets import DatasetIdMode, DatasetRef, make_dataset_id, random_dataset_id, storage_classes
from skybutler.registry import LostCommitError, NewDataset

if TYPE_CHECKING:
    from skybutler.datastore import Datastore
    from skybutler.dimensions import DataCoordinate
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType

__all__ = ["put_objects"]

_RANDOM = (None, DatasetIdMode.RANDOM)
"""Modes of new random IDs (`random_dataset_id`, never made before): no recorded edge names them, so their
inputs cannot close a cycle."""


def put_objects(
    registry: Registry,
    datastore: Datastore,
    stored: StoredDatasetType,
    run: CollectionRecord,
    items: Iterable[tuple[Any, DataCoordinate]],
    id_mode: DatasetIdMode | None,
    record: Callable[[], None] | None = None,
    inputs: Sequence[Sequence[uuid.UUID]] = (),
) -> list[DatasetRef]:
    """Store objects as new datasets of ``stored`` in ``run``: all of them, or none.

    DESIGN invariant 2: every file is written under a staging name first (its type checked before any
    byte is written) and its final path claimed without replacing anything (`FileDatastore.claim`); the
    datasets are registered in one transaction; only then are the staging names dropped.  On any failure
    the claims and staged files are removed and the registry is untouched.
    ``inputs`` (one sequence of input IDs per object) are recorded as lineage edges by the registration
    itself (`Datasets.insert`), and ``record`` (the run's record, on a butler's first put into it) runs in its
    transaction, so a refused input leaves nothing behind either.
    A chained datastore stages in every child that takes the dataset, and the registry records one
    artifact per child.
    """
    dt = stored.dataset_type
    sc = storage_classes.get(dt.storage_class)
    refs: list[DatasetRef] = []
    objects: list[Any] = []
    for obj, coord in items:
        dataset_id = random_dataset_id() if id_mode is None else make_dataset_id(dt, coord, run.name, id_mode)
        refs.append(DatasetRef(dataset_id, dt, coord, run.name))
        objects.append(obj)
    used = any(inputs)
    if used:  # formats with room for provenance write the input IDs into the file too
        from skybutler.formatters._provenance import inputs_recorded

        with inputs_recorded({r.id: ins for r, ins in zip(refs, inputs, strict=True)}):
            staged = datastore.prepare_many(refs, objects, sc)
    else:
        staged = datastore.prepare_many(refs, objects, sc)  # all staged, or none left behind
    try:
        new = [
            NewDataset(r.id, r.data_id.required_values, s.artifacts[0], s.artifacts[1:])
            for r, s in zip(refs, staged, strict=True)
        ]
        lineage, fresh = (registry.lineage, id_mode in _RANDOM) if used else (None, True)
        try:
            # one transaction (one round trip on PostgreSQL), inputs and the run's record (its first put) and all
            registry.datasets.insert(stored, run.id, new, inputs=inputs, lineage=lineage, fresh=fresh, also=record)
        except sa.exc.IntegrityError as exc:
            if used:  # an input that is not registered: name it (DatasetNotFoundError)
                with registry.db.transaction(write=False) as conn:
                    registry.lineage.input_types(conn, [i for ins in inputs for i in ins])
            raise registry.explain_insert_failure(stored, run, [r.data_id for r in refs], exc) from None
    except LostCommitError as exc:
        settle_lost_commit(registry, exc, [r.id for r in refs], "put", lambda: datastore.abort_many(staged))
    except BaseException:
        datastore.abort_many(staged)
        raise
    datastore.promote_many(staged)
    return refs
