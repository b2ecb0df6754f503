"""Read an export document into a checked `ImportPlan`, before anything is written.

Every problem is found here, with its place in the file (``data[3].records[12].visit``, and the line): a
missing or ill-typed key, an unknown element, dimension, storage class or collection type, a record that does
not fit the universe, a dataset listed twice with different contents.  Only a plan that passes is applied
(`skybutler.transfer._import`), so a malformed file imports nothing.
"""

from __future__ import annotations

import datetime
import itertools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.datasets import DatasetType, storage_classes
from skybutler.datastore import is_plain_key, key_problem
from skybutler.dimensions import DimensionRecord, Timespan, to_tai_ns
from skybutler.dimensions._elements import coerce_value
from skybutler.errors import ConfigError, DataIdError, DatasetTypeError, ExportFormatError
from skybutler.registry import CollectionType
from skybutler.transfer._universe_compat import Upgrader
from skybutler.transfer._yaml_fast import DeferredDataset, RecordColumns, RegularRecords, parse_deferred
from skybutler.transfer._yaml_format import FORMAT_KEY, Location, format_error

if TYPE_CHECKING:
    from skybutler.dimensions import DataIdValue, DimensionElement, DimensionUniverse

__all__ = ["DatasetEntry", "ImportPlan", "ImportReport", "dataset_parts", "read_datasets", "read_plan"]

#: Integer dataset IDs of very old exports become UUIDs the way the reference does it (uuid3 in this namespace).
_INT_ID_NAMESPACE = uuid.UUID("4d4851f4-2890-4d41-8779-5f38a3f5062b")


@dataclass(slots=True)
class DatasetEntry:
    """One dataset of the file: ID, dataset type, run, required data ID values and its file (if any)."""

    id: uuid.UUID
    dataset_type: str
    run: str
    values: tuple[DataIdValue, ...]
    path: str | None
    formatter: str | None
    location: tuple[str | int, ...]


@dataclass
class ImportReport:
    """What `Butler.import_` did."""

    source: str
    datasets: int = 0
    """Datasets registered."""
    skipped: int = 0
    """Datasets already in the repository, identical, left as they were (``skip_existing``)."""
    dimension_records: int = 0
    """Dimension records in the file (existing identical keys are kept as they are)."""
    dataset_types: int = 0
    collections: int = 0
    artifacts: int = 0
    """Files recorded: brought in (from a directory or archive), or found in place (registry-only import)."""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    """What the import had to adapt (older universe versions, unknown formatters)."""

    def __str__(self) -> str:
        return (
            f"imported {self.datasets} dataset(s) ({self.skipped} skipped), {self.dimension_records} record(s), "
            f"{self.dataset_types} dataset type(s), {self.collections} collection(s), {self.artifacts} file(s) "
            f"from {self.source} in {self.seconds:.2f} s"
        )


@dataclass
class ImportPlan:
    """What an export file asks to create, checked against the repository's universe."""

    source: str
    version: str
    universe_namespace: str
    universe_version: int
    records: dict[str, list[DimensionRecord]] = field(default_factory=dict)
    runs: dict[str, str | None] = field(default_factory=dict)
    collections: dict[str, tuple[CollectionType, str | None]] = field(default_factory=dict)
    chains: dict[str, list[str]] = field(default_factory=dict)
    dataset_types: dict[str, DatasetType] = field(default_factory=dict)
    datasets: dict[uuid.UUID, DatasetEntry] = field(default_factory=dict)
    tagged: dict[str, list[tuple[uuid.UUID, Location]]] = field(default_factory=dict)
    certified: dict[str, list[tuple[Timespan, list[uuid.UUID], Location]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Reader:
    def __init__(
        self,
        source: str,
        text: str | bytes,
        universe: DimensionUniverse,
        registered: Callable[[str], DatasetType | None],
    ) -> None:
        self.source = source
        self.text = text
        self.universe = universe
        self.registered = registered

    def error(self, location: Location, message: str) -> ExportFormatError:
        return format_error(self.source, self.text, location, message)

    def get(self, mapping: Mapping[str, Any], key: str, kind: type | tuple[type, ...], location: Location) -> Any:
        if key not in mapping:
            raise self.error(location, f"the key {key!r} is missing; this entry has {sorted(mapping)}.")
        value = mapping[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.error((*location, key), f"must be a {names}, got {value!r} ({type(value).__name__}).")
        return value


def read_plan(
    document: Any,
    source: str,
    text: str | bytes,
    universe: DimensionUniverse,
    registered: Callable[[str], DatasetType | None],
    *,
    deferred: list[tuple[int, Any]] | None = None,
) -> ImportPlan:
    """Check an export document against ``universe`` and return what it asks to import.

    Parameters
    ----------
    document
        The parsed YAML (`skybutler.transfer._yaml_format.load_export`).
    source, text
        The file's name and text, for error messages (places and lines).
    universe
        The repository's universe: records are upgraded to it from the file's universe version.
    registered
        Looks up a dataset type already in the repository (datasets may refer to one the file lacks).
    deferred
        If given, the ``dataset`` entries (``(position in data, entry)``, which may be a `DeferredDataset`)
        are appended to it unread, for `read_datasets`; the plan has everything else.

    Raises
    ------
    ExportFormatError
        Anything in the file is missing, ill-typed, unknown or contradictory; the message says where.
    """
    r = _Reader(source, text, universe, registered)
    if not isinstance(document, Mapping):
        got = "an empty file" if document is None else type(document).__name__
        raise r.error((), f"an export file is a YAML mapping with 'version' and 'data'; got {got}.")
    version = _version(r, document)
    namespace = document.get("universe_namespace", "daf_butler")
    universe_version = document.get("universe_version", 0)
    if not isinstance(namespace, str) or not isinstance(universe_version, int):
        raise r.error(("universe_version",), "universe_namespace must be text and universe_version an integer.")
    plan = ImportPlan(source, version, namespace, universe_version)
    upgrader = Upgrader(universe, namespace, universe_version)
    if namespace != universe.namespace:
        plan.notes.append(
            f"the file's universe is {namespace!r} version {universe_version}, the repository's "
            f"{universe.namespace!r} version {universe.version}: records were read as they are"
        )
    data = r.get(document, "data", list, ())
    pending: list[tuple[int, Any]] = []  # a mapping, or a DeferredDataset
    for i, item in enumerate(data):
        loc = ("data", i)
        if isinstance(item, DeferredDataset):
            pending.append((i, item))
            continue
        if not isinstance(item, Mapping):
            raise r.error(loc, f"each entry of data is a mapping with a 'type'; got {item!r}.")
        kind = r.get(item, "type", str, loc)
        if kind == "dimension":
            _dimension(r, plan, upgrader, item, loc)
        elif kind == "collection":
            _collection(r, plan, item, loc)
        elif kind == "run":
            plan.runs.setdefault(r.get(item, "name", str, loc), None)
        elif kind == "dataset_type":
            _dataset_type(r, plan, upgrader, item, loc)
        elif kind == "dataset":
            pending.append((i, item))
        elif kind == "associations":
            _associations(r, plan, item, loc)
        else:
            raise r.error(
                (*loc, "type"),
                f"unknown entry type {kind!r}; expected dimension, collection, run, dataset_type, dataset or "
                "associations.",
            )
    for element, extra in upgrader.extra.items():
        plan.records.setdefault(element, [])[:0] = [DimensionRecord.from_dict(universe[element], e) for e in extra]
    plan.notes += upgrader.notes
    if deferred is not None:
        deferred += pending
        return plan
    for i, item in pending:
        for part in range(dataset_parts(item)):
            read_datasets(plan, i, item, part, text, universe, registered)
    return plan


def read_datasets(
    plan: ImportPlan,
    index: int,
    item: Any,
    part: int,
    text: str | bytes,
    universe: DimensionUniverse,
    registered: Callable[[str], DatasetType | None],
) -> list[DatasetEntry]:
    """Check part ``part`` of a ``dataset`` entry `read_plan` deferred; add its datasets to ``plan``, return them.

    Raises
    ------
    ExportFormatError
        As `read_plan`, for this part of the entry.
    """
    r = _Reader(plan.source, text, universe, registered)
    before = len(plan.datasets)
    if isinstance(item, DeferredDataset):
        _datasets(r, plan, parse_deferred(item, part, text, plan.source), ("data", index), item.parts[part][1])
    else:
        _datasets(r, plan, item, ("data", index))
    return list(itertools.islice(plan.datasets.values(), before, None))


def dataset_parts(item: Any) -> int:
    """How many parts `read_datasets` reads a deferred ``dataset`` entry in."""
    return len(item.parts) if isinstance(item, DeferredDataset) else 1


def _version(r: _Reader, document: Mapping[str, Any]) -> str:
    if "version" not in document:
        raise r.error((), "the key 'version' is missing (an export file says which format version it is).")
    version = document["version"]
    if version == 0 and not isinstance(version, bool):
        return "0"
    parts = str(version).split(".")
    if not all(p.isdigit() for p in parts) or parts[0] != "1":
        raise r.error(("version",), f"export format version {version!r} is not readable here; versions 0 and 1.x are.")
    return str(version)


# -- dimension records ----------------------------------------------------------------------------------------
def _dimension(r: _Reader, plan: ImportPlan, upgrader: Upgrader, item: Mapping[str, Any], loc: Location) -> None:
    name = r.get(item, "element", str, loc)
    if name not in r.universe or r.universe[name].is_skypix:
        hint = r.universe.suggest(name) if name not in r.universe else " (a skypix dimension has no records)."
        raise r.error(
            (*loc, "element"),
            f"unknown element {name!r} in the repository's universe ({r.universe.namespace} version "
            f"{r.universe.version}){hint}",
        )
    element = r.universe[name]
    raw = r.get(item, "records", list, loc)
    for j, rec in enumerate(raw):
        if not isinstance(rec, dict):
            raise r.error((*loc, "records", j), f"a record is a mapping of field names to values; got {rec!r}.")
    records = upgrader.records(name, list(raw))
    out = plan.records.setdefault(name, [])
    for j, rec in enumerate(records):
        out.append(_record(r, plan, element, rec, (*loc, "records", j)))


def _record(
    r: _Reader, plan: ImportPlan, element: DimensionElement, rec: dict[str, Any], loc: Location
) -> DimensionRecord:
    if element.has_timespan:
        begin = rec.pop("datetime_begin", rec.pop("timespan_begin", None))
        end = rec.pop("datetime_end", rec.pop("timespan_end", None))
        if "timespan" not in rec and (begin is not None or end is not None):
            try:
                rec["timespan"] = Timespan(_ns(begin), _ns(end))
            except (DataIdError, ValueError, TypeError) as exc:
                raise r.error(loc, f"bad timespan: {exc}") from None
    for key in [k for k in rec if k not in element.field_index]:
        if rec[key] is not None:
            raise r.error(
                (*loc, key),
                f"{element.name!r} records have no field {key!r} in the repository's universe; "
                f"fields: {list(element.field_index)}.",
            )
        del rec[key]
        note = f"empty field {element.name}.{key}, unknown to this universe, was dropped"
        if note not in plan.notes:
            plan.notes.append(note)
    try:
        return DimensionRecord.from_dict(element, rec)
    except DataIdError as exc:
        for name, spec in zip(element.record_fields(), element.field_specs, strict=True):
            value = rec.get(name)
            if spec is not None and value is not None:
                try:
                    coerce_value(spec, value, what=name)
                except DataIdError as inner:
                    raise r.error((*loc, name), str(inner).removeprefix(f"{name} ")) from None
        raise r.error(loc, str(exc)) from None


def _ns(value: Any) -> int | None:
    if value is None or type(value) is int:
        return value
    if isinstance(value, datetime.datetime | str):  # old files: YAML's own timestamps or ISO text, UTC
        return to_tai_ns(value)
    raise ValueError(f"expected a time, got {value!r}")


# -- collections and dataset types ------------------------------------------------------------------------
def _collection(r: _Reader, plan: ImportPlan, item: Mapping[str, Any], loc: Location) -> None:
    name = r.get(item, "name", str, loc)
    kind_name = r.get(item, "collection_type", str, loc)
    try:
        kind = CollectionType[kind_name.upper()]
    except KeyError:
        raise r.error(
            (*loc, "collection_type"),
            f"unknown collection type {kind_name!r}; use RUN, TAGGED, CHAINED or CALIBRATION.",
        ) from None
    doc = item.get("doc")
    if doc is not None and not isinstance(doc, str):
        raise r.error((*loc, "doc"), f"must be text, got {doc!r}.")
    if kind is CollectionType.RUN:
        plan.runs[name] = doc
        return
    plan.collections[name] = (kind, doc)
    if kind is CollectionType.CHAINED:
        children = []
        for k, child in enumerate(r.get(item, "children", list, loc)):
            if isinstance(child, list) and child and isinstance(child[0], str):
                child = child[0]  # the old form [name, dataset type restriction]; restrictions are gone
            if not isinstance(child, str):
                raise r.error((*loc, "children", k), f"a chain child is a collection name; got {child!r}.")
            children.append(child)
        plan.chains[name] = children


def _dataset_type(r: _Reader, plan: ImportPlan, upgrader: Upgrader, item: Mapping[str, Any], loc: Location) -> None:
    name = r.get(item, "name", str, loc)
    dims = r.get(item, "dimensions", list, loc)
    storage_class = r.get(item, "storage_class", str, loc)
    is_calibration = item.get("is_calibration", False)
    if not isinstance(is_calibration, bool):
        raise r.error((*loc, "is_calibration"), f"must be true or false, got {is_calibration!r}.")
    file_format = item.get(FORMAT_KEY)
    if file_format is not None and not isinstance(file_format, str):
        raise r.error((*loc, FORMAT_KEY), f"must be a formatter name, got {file_format!r}.")
    for k, dim in enumerate(dims):
        if not isinstance(dim, str) or dim not in r.universe or not r.universe[dim].is_dimension:
            raise r.error((*loc, "dimensions", k), f"unknown dimension {dim!r}{r.universe.suggest(str(dim))}")
    try:
        storage_classes.get(storage_class)
    except ConfigError:
        raise r.error(
            (*loc, "storage_class"),
            f"unknown storage class {storage_class!r}; known: {storage_classes.names()}. Install the plug-in "
            "that provides it (entry point group skybutler.storage_classes), or edit the file.",
        ) from None
    try:
        dataset_type = DatasetType(
            name,
            upgrader.dimensions(dims),
            storage_class,
            universe=r.universe,
            is_calibration=is_calibration,
            format=file_format,
        )
    except (DatasetTypeError, DataIdError) as exc:
        raise r.error(loc, str(exc)) from None
    previous = plan.dataset_types.get(name)
    if previous is not None and (previous != dataset_type or previous.format != dataset_type.format):
        raise r.error(loc, f"dataset type {name!r} is defined twice, differently: {previous.describe()} first.")
    plan.dataset_types[name] = dataset_type


# -- associations ---------------------------------------------------------------------------------------------
def _dataset_id(r: _Reader, value: Any, loc: Location) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if type(value) is int:
        return uuid.uuid3(_INT_ID_NAMESPACE, str(value))
    if isinstance(value, str):
        try:
            return uuid.UUID(hex=value)
        except ValueError:
            pass
    raise r.error(loc, f"a dataset ID is a UUID (tagged !uuid); got {value!r}.")


def _associations(r: _Reader, plan: ImportPlan, item: Mapping[str, Any], loc: Location) -> None:
    collection = r.get(item, "collection", str, loc)
    kind = r.get(item, "collection_type", str, loc).upper()
    if kind == "TAGGED":
        ids = r.get(item, "dataset_ids", list, loc)
        tags = plan.tagged.setdefault(collection, [])
        tags += [(_dataset_id(r, v, (*loc, "dataset_ids", k)), (*loc, "dataset_ids", k)) for k, v in enumerate(ids)]
    elif kind == "CALIBRATION":
        certified = plan.certified.setdefault(collection, [])
        for k, entry in enumerate(r.get(item, "validity_ranges", list, loc)):
            here = (*loc, "validity_ranges", k)
            if not isinstance(entry, Mapping):
                raise r.error(here, f"a validity range is a mapping with timespan and dataset_ids; got {entry!r}.")
            if "timespan" in entry:
                span = r.get(entry, "timespan", Timespan, here)
            else:  # the older form: begin and end beside the IDs
                try:
                    span = Timespan(_ns(entry.get("begin")), _ns(entry.get("end")))
                except (DataIdError, ValueError) as exc:
                    raise r.error(here, f"bad validity range: {exc}") from None
            raw_ids = r.get(entry, "dataset_ids", list, here)
            ids = [_dataset_id(r, v, (*here, "dataset_ids", n)) for n, v in enumerate(raw_ids)]
            certified.append((span, ids, here))
    else:
        raise r.error((*loc, "collection_type"), f"associations are TAGGED or CALIBRATION, not {kind!r}.")


# -- datasets -------------------------------------------------------------------------------------------------
def _datasets(r: _Reader, plan: ImportPlan, item: Mapping[str, Any], loc: Location, first: int = 0) -> None:
    """Add the datasets of a ``dataset`` entry (or of its records from ``first`` on: a deferred part)."""
    name = r.get(item, "dataset_type", str, loc)
    run = r.get(item, "run", str, loc)
    dataset_type = plan.dataset_types.get(name) or r.registered(name)
    if dataset_type is None:
        raise r.error(
            (*loc, "dataset_type"), f"dataset type {name!r} is neither defined in the file nor registered here."
        )
    plan.runs.setdefault(run, None)
    required = dataset_type.dimensions.required
    specs = [r.universe[d].primary_key for d in required]
    known = set(dataset_type.dimensions.names)
    datasets = plan.datasets
    # The common case -- one UUID, one data ID of exactly the required keys with values of the right Python
    # type -- is checked inline; anything else goes through `_dataset_record`, which explains problems.
    simple = [
        (int, None) if s.type == "int" else (str, s.length) if s.type == "string" else (None, None) for s in specs
    ]
    fast = all(t is not None for t, _ in simple)
    width = len(required)
    bulk = item.get("records")
    records: list[Any]
    if type(bulk) is RecordColumns or type(bulk) is RegularRecords:
        if fast and _regular_block(plan, name, run, required, simple, bulk, loc, first):
            return
        # a check failed: read record by record (what PyYAML reads), which explains the problem
        records = bulk.records() if isinstance(bulk, RecordColumns) else bulk
    else:
        records = r.get(item, "records", list, loc)
    for j, rec in enumerate(records):
        if fast and type(rec) is dict and len(rec) <= 4:
            ids, data_ids = rec.get("dataset_id"), rec.get("data_id")
            path, formatter = rec.get("path"), rec.get("formatter")
            if (
                type(ids) is list and len(ids) == 1 and type(ids[0]) is uuid.UUID
                and type(data_ids) is list and len(data_ids) == 1 and type(data_ids[0]) is dict
                and len(data_ids[0]) == width and (path is None or (type(path) is str and is_plain_key(path)))
                and (formatter is None or type(formatter) is str)
            ):  # fmt: skip
                data_id = data_ids[0]
                try:
                    values = tuple([data_id[d] for d in required])
                except KeyError:
                    values = ()
                if values and all(
                    type(v) is t and (m is None or len(str(v)) <= m) for v, (t, m) in zip(values, simple, strict=True)
                ):
                    dataset_id = ids[0]
                    if dataset_id not in datasets:
                        datasets[dataset_id] = DatasetEntry(dataset_id, name, run, values, path, formatter,
                                                            (*loc, "records", first + j))  # fmt: skip
                        continue
        _dataset_record(r, plan, dataset_type, run, required, specs, known, rec, (*loc, "records", first + j))


def _regular_block(
    plan: ImportPlan,
    name: str,
    run: str,
    required: tuple[str, ...],
    simple: list[tuple[Any, int | None]],
    records: RecordColumns | RegularRecords,
    loc: Location,
    first: int,
) -> bool:
    """Add a block the bulk reader read, checked column by column; False (nothing added) if a check fails.

    The bulk reader guarantees the layout (one UUID and one data ID per record, int or plain-word values,
    plain-word paths); this checks what depends on the dataset type -- the keys, each column's type and
    length, the paths as datastore keys -- and that no ID repeats.  On False the caller checks record by
    record, which explains the first problem.
    """
    if len(records.keys) != len(required) or set(records.keys) != set(required):
        return False
    columns = [records.columns[records.keys.index(d)] for d in required]
    for column, (kind, most) in zip(columns, simple, strict=True):
        if set(map(type, column)) - {kind}:
            return False
        if most is not None and column and max(map(len, column)) > most:  # type: ignore[arg-type]
            return False
    ids = records.ids
    datasets = plan.datasets
    # (by the IDs' integers: a UUID's own hash is a Python call)
    if len({i.int for i in ids}) != len(ids) or (datasets and not datasets.keys().isdisjoint(ids)):
        return False
    paths, formatters = records.paths, records.formatters
    if not all(map(is_plain_key, filter(None, paths))):
        return False
    here = (*loc, "records")
    for j, (dataset_id, values, path, formatter) in enumerate(
        zip(ids, zip(*columns, strict=True), paths, formatters, strict=True)
    ):
        datasets[dataset_id] = DatasetEntry(dataset_id, name, run, values, path, formatter, (*here, first + j))
    return True


def _dataset_record(
    r: _Reader,
    plan: ImportPlan,
    dataset_type: DatasetType,
    run: str,
    required: tuple[str, ...],
    specs: list[Any],
    known: set[str],
    rec: Any,
    here: tuple[str | int, ...],
) -> None:
    name = dataset_type.name
    datasets = plan.datasets
    if not isinstance(rec, Mapping):
        raise r.error(here, f"a dataset record is a mapping (dataset_id, data_id, path, formatter); got {rec!r}.")
    ids = r.get(rec, "dataset_id", (list, uuid.UUID, str, int), here)
    data_ids = r.get(rec, "data_id", (list, Mapping), here)
    ids = ids if isinstance(ids, list) else [ids]
    data_ids = data_ids if isinstance(data_ids, list) else [data_ids]
    if len(ids) != len(data_ids):
        raise r.error(here, f"{len(ids)} dataset_id(s) but {len(data_ids)} data_id(s); they go in pairs.")
    path = rec.get("path")
    formatter = rec.get("formatter")
    if not isinstance(path, str | None) or not isinstance(formatter, str | None):
        raise r.error(here, "path and formatter must be text.")
    if path is not None and (problem := key_problem(path)) is not None:
        raise r.error(
            (*here, "path"),
            f"the file path {path!r} {problem}. An export names each file by its path relative to the datastore "
            "root; fix the path, or remove it to import the dataset without its file. Nothing was imported.",
        )
    for n, (raw_id, data_id) in enumerate(zip(ids, data_ids, strict=True)):
        dataset_id = _dataset_id(r, raw_id, (*here, "dataset_id", n))
        if not isinstance(data_id, Mapping):
            raise r.error((*here, "data_id", n), f"a data ID is a mapping; got {data_id!r}.")
        try:
            values = tuple(coerce_value(s, data_id[d], what=d) for d, s in zip(required, specs, strict=True))
        except (KeyError, DataIdError) as exc:
            missing = [d for d in required if d not in data_id]
            text = f"the data ID lacks {missing} (needs {list(required)})" if missing else str(exc)
            raise r.error((*here, "data_id", n), f"{text} for dataset type {name!r}.") from None
        if len(data_id) != len(required) and any(k not in known for k in data_id):
            extra = [k for k in data_id if k not in known]
            raise r.error((*here, "data_id", n), f"{extra} are not dimensions of {dataset_type.describe()}.")
        entry = DatasetEntry(dataset_id, name, run, values, path, formatter, here)
        previous = datasets.get(dataset_id)
        if previous is not None:
            if (previous.dataset_type, previous.run, previous.values) != (name, run, values):
                raise r.error(
                    here,
                    f"dataset {dataset_id} is listed twice with different contents (first at "
                    f"{'.'.join(map(str, previous.location))}).",
                )
            continue
        datasets[dataset_id] = entry
