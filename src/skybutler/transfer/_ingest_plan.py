"""Planning an ingest: `FileDataset` inputs checked and turned into `IngestItem` plans, before any write.

Bulk ingest is registry-bound only if the per-file work is small, so the planner does once per dataset
type, formatter and run what does not depend on the file: the dataset-type look-up, the formatter check,
the run, the key types of the data ID and the deterministic-ID hasher (`dataset_id_maker`).  Per file
remain a ``stat`` (the file must exist), the data ID's values, the ID, and the ref.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from skybutler.datasets import ArtifactInfo, DatasetIdMode, DatasetRef, DatasetType, dataset_id_maker, trusted_ref
from skybutler.dimensions import DataCoordinate, normalize_data_id
from skybutler.errors import CollectionError, ConfigError, DataIdError, DatasetTypeError, PermissionDeniedError
from skybutler.registry import CollectionType
from skybutler.transfer._modes import SourceFile, source_file

if TYPE_CHECKING:
    import uuid

    from skybutler.datastore import FileDatastore, Staged
    from skybutler.dimensions import DimensionRecord
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType
    from skybutler.transfer._ingest import FileDataset
    from skybutler.transfer._modes import FileMover
    from skybutler.types import DataIdLike

__all__ = ["IngestItem", "IngestPlanner", "check_records_exist", "data_coordinate", "parse_id_mode"]


@dataclass(slots=True)
class IngestItem:
    """One file on its way in."""

    source: SourceFile
    refs: list[tuple[StoredDatasetType, CollectionRecord, DatasetRef]]
    formatter: str
    storage_class: str
    mode: str
    records: tuple[DimensionRecord, ...]
    given_ids: bool
    """IDs came with the input (refs): a dataset of the same data ID but another ID is a conflict, not a skip."""
    path: str = ""
    artifact: ArtifactInfo | None = None
    staged: Staged | None = None


def parse_id_mode(id_mode: DatasetIdMode | str | None) -> DatasetIdMode:
    """``"random"``, ``"deterministic"``, ``"deterministic-no-run"`` (or the enum, or None: random)."""
    if id_mode is None or isinstance(id_mode, DatasetIdMode):
        return id_mode or DatasetIdMode.RANDOM
    try:
        return DatasetIdMode(id_mode)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in DatasetIdMode)
        raise ConfigError(f"Unknown id_mode {id_mode!r}; use one of {choices}.") from None


_PY_TYPES = {"int": int, "string": str}


def _key_types(registry: Registry, dataset_type: DatasetType) -> tuple[type, ...] | None:
    """The Python type of each required dimension's key (None when one has no plain type)."""
    types = [_PY_TYPES.get(registry.universe[d].primary_key.type) for d in dataset_type.dimensions.required]
    return None if None in types else tuple(t for t in types if t is not None)


def _exact_values(
    data_id: Any, values_of: Callable[[Any], tuple[Any, ...]], types: tuple[type, ...] | None
) -> tuple[Any, ...] | None:
    """The values (by ``values_of``, see `_values_getter`) of a plain dict holding exactly the required keys,
    with values of the key types; else None.

    That is the bulk-ingest case: such a data ID needs no normalization.
    """
    if type(data_id) is not dict or types is None or len(data_id) != len(types):
        return None
    try:
        values = values_of(data_id)
    except KeyError:
        return None
    return values if tuple(map(type, values)) == types else None


def data_coordinate(registry: Registry, dataset_type: DatasetType, data_id: DataIdLike | None) -> DataCoordinate:
    """The data ID of a dataset of ``dataset_type``: minimal when only required keys are given (no query).

    A plain dict holding exactly the required dimensions, with values of the key types already, is taken as
    it is; anything else is normalized and, when it names more than the required keys, completed from the
    records.
    """
    group = dataset_type.dimensions
    values = _exact_values(data_id, _values_getter(group.required), _key_types(registry, dataset_type))
    if values is not None:
        return DataCoordinate(group, values)
    if isinstance(data_id, DataCoordinate):
        if data_id.group is group:
            return data_id
        if all(d in data_id for d in group.required):
            return data_id.subset(group)
    given = normalize_data_id(registry.universe, data_id, None, group=group, what=f"dataset type {dataset_type.name!r}")
    if len(given.values) == len(group.required) and not given.alternates:
        minimal = given.minimal(group)
        if minimal is not None:
            return minimal
    return registry.resolver.complete(group, given)


@dataclass(slots=True)
class _Shape:
    """What the files of one dataset type, formatter and run share (made once per bulk call)."""

    stored: StoredDatasetType
    run: CollectionRecord
    formatter: str
    types: tuple[type, ...] | None
    make_id: Callable[[tuple[Any, ...]], uuid.UUID]
    values_of: Callable[[Any], tuple[Any, ...]]
    """The required dimensions' values of a mapping, as a tuple (`KeyError` for a missing one)."""


def _values_getter(required: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """A function taking a mapping to its values of ``required``, as a tuple (as `operator.itemgetter` does
    for two or more keys)."""
    if len(required) == 1:
        (only,) = required
        return lambda mapping: (mapping[only],)
    return operator.itemgetter(*required)


class IngestPlanner:
    """Turns `FileDataset` inputs into checked `IngestItem` plans (no registry writes)."""

    def __init__(self, registry: Registry, datastore: FileDatastore, mover: FileMover, id_mode: DatasetIdMode) -> None:
        self.registry = registry
        self.datastore = datastore
        self.mover = mover
        self.id_mode = id_mode
        self.runs: dict[str, CollectionRecord] = {}
        self._stored: dict[str, StoredDatasetType] = {}
        self._formatters: set[tuple[str, str]] = set()

    def run(self, name: str) -> CollectionRecord:
        record = self.runs.get(name)
        if record is None:
            found = self.registry.collections.find(name)
            if found is not None and found.type is not CollectionType.RUN:
                raise CollectionError(
                    f"Collection {name!r} is {found.type.name}, not a RUN; datasets are born in runs."
                )
            # A placeholder until the run is registered (after every check passed): id -1.
            record = found or _new_run(name)
            self.runs[name] = record
        return record

    def stored(self, dataset_type: DatasetType | str) -> StoredDatasetType:
        name = dataset_type if isinstance(dataset_type, str) else dataset_type.name
        found = self._stored.get(name)
        if found is None:
            if "." in name:
                raise DatasetTypeError(f"Cannot ingest a component ({name}); ingest the whole dataset.")
            found = self.registry.dataset_types.get(name)
            self._stored[name] = found
        if not isinstance(dataset_type, str) and found.dataset_type != dataset_type:
            raise DatasetTypeError(
                f"The dataset type given, {dataset_type.describe()}, differs from the registered "
                f"{found.dataset_type.describe()}."
            )
        return found

    def formatter(self, given: str | None, dt: DatasetType) -> str:
        """The formatter recorded for files of ``dt``: ``given`` (checked once per pair) or the repository's."""
        if given is None:
            return self.datastore.formatter_for(dt)[0]
        if (given, dt.storage_class) not in self._formatters:
            instance = self.datastore.formatter_instance(given)
            if not instance.supports(dt.storage_class):
                raise ConfigError(
                    f"Formatter {given!r} does not handle storage class {dt.storage_class!r} "
                    f"({dt.name}); it handles {instance.storage_classes}."
                )
            self._formatters.add((given, dt.storage_class))
        return given

    def item(self, fd: FileDataset, mode: str, default_run: str | None, source: SourceFile | None = None) -> IngestItem:
        """Check one input and plan its ingest (``source``: the file already described, e.g. by a transfer)."""
        source = source or source_file(fd.path)
        refs: list[tuple[StoredDatasetType, CollectionRecord, DatasetRef]] = []
        if fd.refs:
            for ref in fd.refs:
                stored = self.stored(ref.dataset_type)
                refs.append((stored, self.run(ref.run), ref))
        else:
            assert fd.dataset_type is not None
            run_name = _run_name(default_run)
            stored = self.stored(fd.dataset_type)
            dt = stored.dataset_type
            coord = data_coordinate(self.registry, dt, fd.data_id)
            run = self.run(run_name)
            make_id = dataset_id_maker(dt.name, dt.dimensions.required, run.name, self.id_mode)
            refs.append((stored, run, DatasetRef(make_id(coord.required_values), dt, coord, run.name)))
        dt = refs[0][0].dataset_type
        if len({s.dataset_type.storage_class for s, _, _ in refs}) > 1:
            raise DatasetTypeError(f"The datasets of one file ({source.uri}) must share one storage class.")
        formatter = self.formatter(fd.formatter, dt)
        mode = self.mover.resolve(mode, source)
        return IngestItem(source, refs, formatter, dt.storage_class, mode, fd.records, bool(fd.refs))

    def items(self, datasets: Iterable[FileDataset], mode: str, default_run: str | None) -> list[IngestItem]:
        """Check and plan many inputs; what files of one dataset type, formatter and run share is done once.

        Gives the same plans as `item` for each input (which it falls back to for inputs with refs and
        for data IDs that need normalizing).
        """
        shapes: dict[tuple[DatasetType | str, str | None], _Shape] = {}
        out: list[IngestItem] = []
        append = out.append
        resolve = self.mover.resolve
        fixed = self.mover.fixed(mode)
        last: tuple[Any, Any, _Shape | None] = (None, None, None)
        for fd in datasets:
            if fd.refs:
                append(self.item(fd, mode, default_run))
                continue
            assert fd.dataset_type is not None
            source = source_file(fd.path)
            # Inputs of one shape usually come together: compare with the previous input's first.
            shape = last[2] if fd.dataset_type is last[0] and fd.formatter is last[1] else None
            if shape is None:
                shape = shapes.get((fd.dataset_type, fd.formatter))
                if shape is None:
                    shape = shapes[fd.dataset_type, fd.formatter] = self._shape(fd, default_run)
                last = (fd.dataset_type, fd.formatter, shape)
            stored = shape.stored
            dt = stored.dataset_type
            values = _exact_values(fd.data_id, shape.values_of, shape.types)
            if values is None:
                coord = data_coordinate(self.registry, dt, fd.data_id)
                values = coord.required_values
            else:
                coord = DataCoordinate(dt.dimensions, values)
            ref = trusted_ref(shape.make_id(values), dt, coord, shape.run.name)
            mode_of = fixed or resolve(mode, source)
            append(IngestItem(source, [(stored, shape.run, ref)], shape.formatter, dt.storage_class, mode_of,
                              fd.records, False))  # fmt: skip
        return out

    def _shape(self, fd: FileDataset, default_run: str | None) -> _Shape:
        """What the bulk inputs of ``fd``'s dataset type and formatter share (looked up once per call)."""
        assert fd.dataset_type is not None
        run_name = _run_name(default_run)
        stored = self.stored(fd.dataset_type)
        dt = stored.dataset_type
        run = self.run(run_name)
        required = dt.dimensions.required
        return _Shape(
            stored,
            run,
            self.formatter(fd.formatter, dt),
            _key_types(self.registry, dt),
            dataset_id_maker(dt.name, required, run.name, self.id_mode),
            _values_getter(required),
        )


def _run_name(default_run: str | None) -> str:
    if default_run is None:
        raise PermissionDeniedError("No run to ingest into: pass run= to ingest() or to Butler().")
    return default_run


def _new_run(name: str) -> CollectionRecord:
    from skybutler.registry import CollectionRecord

    return CollectionRecord(-1, name, CollectionType.RUN)


def check_records_exist(
    registry: Registry, refs: Iterable[tuple[Any, DatasetRef]], coming: Collection[tuple[str, tuple[Any, ...]]] = ()
) -> None:
    """Raise `DataIdError` for the first ref whose data ID names a record that does not exist (and is not coming).

    The distinct records the data IDs name are looked up in bulk (a few queries per element), before
    anything is written: a wrong data ID changes nothing.  ``refs`` pairs each ref with what to call it in
    the message (a `SourceFile` is named by its URI).
    """
    universe = registry.universe
    given = list(refs)
    by_group: dict[Any, list[tuple[Any, DatasetRef]]] = {}
    for entry in given:
        by_group.setdefault(entry[1].data_id.group, []).append(entry)
    wanted: dict[str, set[tuple[Any, ...]]] = {}
    plans = {}
    for group, entries in by_group.items():
        # Per element of the group: where its key's values are among the data ID's required values.
        plans[group] = plan = [
            (name, [group.required.index(d) for d in universe[name].required])
            for name in group.required
            if not universe[name].is_skypix
        ]
        values = [ref.data_id.required_values for _, ref in entries]
        for name, positions in plan:
            wanted.setdefault(name, set()).update(_keys_at(values, positions))
    missing: dict[str, set[tuple[Any, ...]]] = {}
    for name, keys in wanted.items():
        keys.difference_update(key for element, key in coming if element == name)
        if keys:
            found = registry.records.existing_keys(name, list(keys))
            if absent := keys - found:
                missing[name] = absent
    if not missing:
        return
    for what, ref in given:  # the first in the input's order, as a one-by-one check would have found
        for name, positions in plans[ref.data_id.group]:
            if _keys_at([ref.data_id.required_values], positions) & missing.get(name, set()):
                label = what.uri if isinstance(what, SourceFile) else what
                raise DataIdError(
                    f"Cannot ingest {label} as {ref.dataset_type.name} {ref.data_id}: "
                    f"{registry.resolver.unknown_record(ref.data_id)}"
                )


def _keys_at(values: Collection[tuple[Any, ...]], positions: list[int]) -> set[tuple[Any, ...]]:
    """The distinct keys (tuples of the values at ``positions``) of many data IDs' required values."""
    if len(positions) == 1:
        (only,) = positions
        return {(v[only],) for v in values}
    if len(positions) == 2:
        first, second = positions
        return {(v[first], v[second]) for v in values}
    return set(map(operator.itemgetter(*positions), values))
