"""``butler.export``: write datasets, their dimension records and collections in the reference butler's YAML.

The document is the reference's export format (version 1.0.2, the one ``lsst-daf-butler`` writes today), so
either butler can import it: dimension entries in dependency order, then collections, then for each dataset
type its definition and its datasets per run, then TAGGED and CALIBRATION associations.  Formatter names are
written as the reference's class paths where one of its formatters writes the same files (``json``,
``yaml``, ``pickle``, ``parquet``), else as our short names.  With ``directory`` (or a ``.zip`` path) the
files are copied or linked too, at the paths the document gives.
"""

from __future__ import annotations

import json
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler.datasets import DatasetRef
from skybutler.datastore import key_problem
from skybutler.dimensions import DimensionRecord, Timespan
from skybutler.dimensions._regions import encode_region
from skybutler.errors import ConfigError, PermissionDeniedError, StorageError
from skybutler.query import query_datasets
from skybutler.registry import CollectionType
from skybutler.transfer._artifact_files import check_transfer, export_file
from skybutler.transfer._formatter_origins import load_origins
from skybutler.transfer._nogc import gc_paused
from skybutler.transfer._provenance import ZIP_MEMBER, collect_provenance, dumps, sidecar_path
from skybutler.transfer._universe_compat import REFERENCE_NAMESPACE
from skybutler.transfer._yaml_fast import DatasetBlock, write_document
from skybutler.transfer._yaml_format import FORMAT_KEY, REFERENCE_FORMATTERS, Region, TaiTime

if TYPE_CHECKING:
    from skybutler.datasets import ArtifactInfo
    from skybutler.datastore import Datastore
    from skybutler.dimensions import DimensionElement
    from skybutler.registry import CollectionRecord, Registry, StoredDatasetType
    from skybutler.types import CollectionsLike, Progress, UriLike

__all__ = ["EXPORT_FORMAT_VERSION", "ExportReport", "export_datasets", "with_children", "write_zip"]

EXPORT_FORMAT_VERSION = "1.0.2"
"""The export format version we write: the reference's current one."""
_OUR_FORMATTERS = {ours: theirs for theirs, ours in REFERENCE_FORMATTERS.items()}
#: Elements the reference derives from others and keeps no table for (importing their records fails there).
_REFERENCE_VIEWS = frozenset({"band"})


@dataclass
class ExportReport:
    """What `Butler.export` wrote."""

    path: str
    datasets: int = 0
    dimension_records: int = 0
    dataset_types: int = 0
    collections: int = 0
    artifacts: int = 0
    """Files copied or linked (with ``directory`` or into a zip archive)."""
    bytes: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"exported {self.datasets} dataset(s), {self.dimension_records} record(s), {self.dataset_types} "
            f"dataset type(s), {self.collections} collection(s), {self.artifacts} file(s) to {self.path} "
            f"in {self.seconds:.2f} s"
        )


@gc_paused()  # many objects per dataset live until the file is written: see _nogc
def export_datasets(
    registry: Registry,
    datastore: Datastore,
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
    listing: list[tuple[DatasetRef, ArtifactInfo]] | None = None,
) -> ExportReport:
    """Write an export file of ``registry``'s datasets, with files read from ``datastore`` (see `Butler.export`).

    With ``listing`` (and a document ``path``, no ``directory``), the files a ``.zip`` or ``directory=``
    export would copy are checked as for one and appended to ``listing`` instead, for the caller to copy
    (the remote butler's client, through signed URLs: `write_zip` makes the same archive).
    """
    started = time.perf_counter()
    target = Path(str(path))
    zipped = target.suffix == ".zip"
    if listing is not None and (zipped or directory is not None):
        raise ConfigError("An export that lists its files writes the document only: a .yaml path, no directory=.")
    with_files = zipped or directory is not None or listing is not None
    if transfer is not None and directory is None and not zipped and listing is None:
        raise ConfigError("transfer= needs directory= (where to put the files) or a .zip path.")
    mode = check_transfer(transfer, allowed=("auto", "copy", "link", "hardlink", "symlink", "relsymlink"))
    chosen = _Selection(registry, refs, collections, dataset_types, where)
    report = ExportReport(str(target), datasets=len(chosen.refs))
    if progress is not None:
        progress("select", len(chosen.refs), len(chosen.refs))
    files_datastore = datastore.file_datastore()  # datasets held only in memory are exported without files
    ids = [r.id for r in chosen.refs]
    artifacts: dict[uuid.UUID, ArtifactInfo] = {}
    if with_files:  # every artifact, in one query: those of other datastores are checked
        held = registry.datasets.all_artifacts(ids)
        if files_datastore is not None:
            name = files_datastore.name
            for dataset_id, found in held.items():
                mine = next((a for a in found if a.datastore == name), None)
                if mine is not None:
                    artifacts[dataset_id] = mine
        in_memory = [r for r in chosen.refs if r.id not in artifacts and r.id in held]
        if in_memory:
            raise StorageError(
                f"{len(in_memory)} dataset(s) to export are held only in memory, with no file to copy, e.g. "
                f"{in_memory[0].dataset_type.name} {in_memory[0].data_id}; export without files (a .yaml path "
                "and no directory=) or leave those datasets out. Nothing was written."
            )
    elif files_datastore is not None:
        artifacts = registry.datasets.artifacts(ids, datastore=files_datastore.name)
    data: list[dict[str, Any] | DatasetBlock] = []
    if include_dimensions:
        for element, records in _dimension_records(registry, chosen.refs):
            data.append({"type": "dimension", "element": element.name, "records": [_record(r) for r in records]})
            report.dimension_records += len(records)
    for record in chosen.collection_records():
        data.append(_collection(registry, record))
        report.collections += 1
    by_type: dict[str, dict[str, list[DatasetRef]]] = {}
    for ref in chosen.refs:
        by_type.setdefault(ref.dataset_type.name, {}).setdefault(ref.run, []).append(ref)
    origins = load_origins(registry) if artifacts else {}
    for name in sorted(by_type):
        dt = registry.dataset_types.get(name).dataset_type
        entry = {"type": "dataset_type", "name": name, "dimensions": list(dt.dimensions.names),
                 "storage_class": dt.storage_class, "is_calibration": dt.is_calibration}  # fmt: skip
        if dt.format is not None:  # our extension key; the reference reads the keys it knows and ignores it
            entry[FORMAT_KEY] = dt.format
        data.append(entry)
        report.dataset_types += 1
        for run, group in by_type[name].items():
            data.append(DatasetBlock(name, run, [_dataset(ref, artifacts.get(ref.id), origins) for ref in group]))
    data += chosen.associations()
    header = {
        "description": "Butler Data Repository Export",
        "version": EXPORT_FORMAT_VERSION,
        "universe_version": registry.universe.version,
        "universe_namespace": registry.universe.namespace,
    }
    files = [(ref.id, artifacts[ref.id]) for ref in chosen.refs if ref.id in artifacts]
    if with_files:
        _check_paths(files)
    if listing is not None:
        listing.extend((ref, artifacts[ref.id]) for ref in chosen.refs if ref.id in artifacts)
    provenance = dumps(collect_provenance(registry, ids, {r.run for r in chosen.refs}))
    if zipped:
        import io

        text = io.StringIO()
        write_document(header, data, text)
        store = datastore.files("export files")

        def copy(artifact: ArtifactInfo, archive: zipfile.ZipFile) -> int:
            return export_file(store, artifact.path, archive, artifact.path, "copy")

        write_zip(target, text.getvalue(), provenance, files, report, progress, copy=copy)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "w", encoding="utf-8") as stream:
            write_document(header, data, stream)
        sidecar_path(target).write_text(provenance, encoding="utf-8")
        if directory is not None:
            root, made = Path(str(directory)), set[Path]()
            files_store = datastore.files("export files")
            for n, (_, artifact) in enumerate(files):
                report.bytes += export_file(files_store, artifact.path, root, artifact.path, mode, made)
                report.artifacts += 1
                if progress is not None and (n % 100 == 0 or n + 1 == len(files)):
                    progress("files", n + 1, len(files))
    report.seconds = time.perf_counter() - started
    return report


def _check_paths(files: Sequence[tuple[uuid.UUID, ArtifactInfo]]) -> None:
    """Refuse to copy a file whose recorded path leaves the datastore (an import made before paths were
    checked): it would be read from, and written to, a place outside the datastore and the export."""
    for dataset_id, artifact in files:
        if (problem := key_problem(artifact.path)) is not None:
            raise PermissionDeniedError(
                f"Dataset {dataset_id} is recorded with the file path {artifact.path!r}, which {problem}; nothing "
                "was exported. Export without files (a .yaml path and no directory=), or leave that dataset out."
            )


def write_zip(
    target: Path,
    document: str,
    provenance: str,
    files: Sequence[tuple[uuid.UUID, ArtifactInfo]],
    report: ExportReport,
    progress: Progress | None,
    *,
    copy: Callable[[ArtifactInfo, zipfile.ZipFile], int],
) -> None:
    """A zip archive: ``export.yaml``, every file at its path (``copy`` writes it in and returns its size),
    ``index.json`` listing them, ``provenance.json``; made under a temporary name, then moved into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    index: dict[str, Any] = {"format": "skybutler-export", "version": 1, "document": "export.yaml", "files": {}}
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr("export.yaml", document, compress_type=zipfile.ZIP_DEFLATED)
            for n, (dataset_id, artifact) in enumerate(files):
                report.bytes += copy(artifact, archive)
                report.artifacts += 1
                index["files"][artifact.path] = {"dataset_id": str(dataset_id), "size": artifact.size,
                                                 "checksum": artifact.checksum}  # fmt: skip
                if progress is not None and (n % 100 == 0 or n + 1 == len(files)):
                    progress("files", n + 1, len(files))
            archive.writestr("index.json", json.dumps(index, indent=1), compress_type=zipfile.ZIP_DEFLATED)
            archive.writestr(ZIP_MEMBER, provenance, compress_type=zipfile.ZIP_DEFLATED)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(target)


# -- what to export -------------------------------------------------------------------------------------------
class _Selection:
    """The datasets and collections an export holds."""

    def __init__(
        self,
        registry: Registry,
        refs: Iterable[DatasetRef] | None,
        collections: CollectionsLike | None,
        dataset_types: str | Iterable[str] | None,
        where: str,
    ) -> None:
        self.registry = registry
        cols = self.registry.collections
        self.named: list[CollectionRecord] = []
        found: dict[uuid.UUID, DatasetRef] = {}
        if refs is not None:
            found.update((r.id, r) for r in refs)
        if collections is not None or refs is None:
            names = [collections] if isinstance(collections, str) else list(collections or ["*"])
            self.named = with_children(self.registry, cols.query(names))
            leaves = [c for c in self.named if c.type in (CollectionType.RUN, CollectionType.TAGGED)]
            types = dataset_types if dataset_types is not None else "*"
            if leaves:
                found.update((r.id, r) for r in query_datasets(registry, types, leaves, where=where, find_first=False))
            for record in self.named:
                if record.type is CollectionType.CALIBRATION:
                    for ref in self._certified(record, types):
                        found.setdefault(ref.id, ref)
        self.refs = list(found.values())
        self.ids = set(found)

    def _certified(self, record: CollectionRecord, types: str | Iterable[str]) -> list[DatasetRef]:
        import fnmatch

        patterns = [types] if isinstance(types, str) else list(types)
        out = []
        for stored in self.registry.dataset_types.all():
            if stored.calibs is None or not any(fnmatch.fnmatchcase(stored.dataset_type.name, p) for p in patterns):
                continue
            current = [r for r in self.registry.calibrations.history(stored, record.id) if r.recorded.end is None]
            for row in self.registry.datasets.by_ids([stored], list({r.dataset_id for r in current})):
                run = self.registry.collections.by_id(row.run_id).name
                out.append(DatasetRef(row.id, stored.dataset_type, _coord(stored, row.values), run))
        return out

    def collection_records(self) -> list[CollectionRecord]:
        """Runs of the datasets, then the named collections (chains after their children)."""
        cols = self.registry.collections
        run_names = sorted({r.run for r in self.refs})
        out: dict[str, CollectionRecord] = {name: cols.get(name) for name in run_names}
        for record in self.named:
            out.setdefault(record.name, record)
        ordered = [r for r in out.values() if r.type is not CollectionType.CHAINED]
        return ordered + [r for r in out.values() if r.type is CollectionType.CHAINED]

    def associations(self) -> list[dict[str, Any]]:
        """TAGGED and CALIBRATION memberships of the exported datasets in the exported collections."""
        out: list[dict[str, Any]] = []
        stored_types = {r.dataset_type.name for r in self.refs}
        types = [self.registry.dataset_types.get(n) for n in sorted(stored_types)]
        for record in self.named:
            if record.type is CollectionType.TAGGED:
                ids = [
                    i for stored in types for i in self.registry.datasets.tagged_ids(stored, record.id) if i in self.ids
                ]
                if ids:
                    out.append({"type": "associations", "collection": record.name, "collection_type": "TAGGED",
                                "dataset_ids": ids})  # fmt: skip
            elif record.type is CollectionType.CALIBRATION:
                spans: dict[Timespan, list[uuid.UUID]] = {}
                for stored in types:
                    if stored.calibs is None:
                        continue
                    for row in self.registry.calibrations.history(stored, record.id):
                        if row.recorded.end is None and row.dataset_id in self.ids:
                            spans.setdefault(row.valid, []).append(row.dataset_id)
                if spans:
                    ranges = [{"timespan": span, "dataset_ids": ids} for span, ids in spans.items()]
                    out.append({"type": "associations", "collection": record.name,
                                "collection_type": "CALIBRATION", "validity_ranges": ranges})  # fmt: skip
        return out


def with_children(registry: Registry, records: list[CollectionRecord]) -> list[CollectionRecord]:
    """The collections and, for chains, everything below them (an import needs a chain's children)."""
    out: dict[str, CollectionRecord] = {}
    todo = list(records)
    while todo:
        record = todo.pop(0)
        if record.name in out:
            continue
        out[record.name] = record
        if record.type is CollectionType.CHAINED:
            todo += [registry.collections.get(c) for c in registry.collections.children(record.name)]
    return list(out.values())


def _coord(stored: StoredDatasetType, values: tuple[Any, ...]) -> Any:
    from skybutler.dimensions import DataCoordinate

    return DataCoordinate.from_required(stored.dataset_type.dimensions, values)


# -- entries --------------------------------------------------------------------------------------------------
def _collection(registry: Registry, record: CollectionRecord) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "collection", "collection_type": record.type.name, "name": record.name}
    if record.doc is not None:
        entry["doc"] = record.doc
    if record.type is CollectionType.RUN:
        entry.update(host=None, timespan_begin=None, timespan_end=None)
    elif record.type is CollectionType.CHAINED:
        entry["children"] = registry.collections.children(record.name)
    return entry


def _dataset(
    ref: DatasetRef, artifact: ArtifactInfo | None, origins: Mapping[tuple[str, str], str]
) -> tuple[uuid.UUID, dict[str, Any], Any, Any]:
    """A dataset entry; its formatter as the reference's class path where there is one: the one a reference
    export gave for its files (`_formatter_origins`), else the reference's formatter writing the same files."""
    if artifact is None:
        return ref.id, ref.data_id.required, None, None
    formatter = origins.get((ref.dataset_type.name, artifact.formatter))
    if formatter is None:
        formatter = _OUR_FORMATTERS.get(artifact.formatter, artifact.formatter)
    return ref.id, ref.data_id.required, artifact.path, formatter


def _record(record: DimensionRecord) -> dict[str, Any]:
    """A record as the reference writes it: timespan split into ``datetime_begin``/``datetime_end``."""
    out: dict[str, Any] = {}
    for name, value in zip(record.element.record_fields(), record.values, strict=True):
        if name == "timespan":
            ts: Timespan | None = value
            out["datetime_begin"] = None if ts is None or ts.begin is None else TaiTime(ts.begin)
            out["datetime_end"] = None if ts is None or ts.end is None else TaiTime(ts.end)
        elif name == "region" and record.element.has_region:
            out[name] = None if value is None else Region(encode_region(value))
        else:
            out[name] = value
    return out


def _dimension_records(
    registry: Registry, refs: Sequence[DatasetRef]
) -> list[tuple[DimensionElement, list[DimensionRecord]]]:
    """Every record the data IDs of ``refs`` stand on: their dimensions, implied ones, and join elements.

    Per dataset type the distinct required-value rows are projected onto each element's key; implied values
    (a visit's day_obs, a physical_filter's band) are read from the implying dimension's record, once per
    distinct key of that record.
    """
    universe = registry.universe
    skip = _REFERENCE_VIEWS if universe.namespace == REFERENCE_NAMESPACE else frozenset()
    rows_by_group: dict[Any, set[tuple[Any, ...]]] = {}
    for ref in refs:
        rows_by_group.setdefault(ref.data_id.group, set()).add(ref.data_id.required_values)
    tables: dict[str, dict[tuple[Any, ...], DimensionRecord]] = {}

    def table(name: str) -> dict[tuple[Any, ...], DimensionRecord]:
        found = tables.get(name)
        if found is None:
            found = tables[name] = {r.key: r for r in registry.records.fetch(name)}
        return found

    wanted: dict[str, dict[tuple[Any, ...], DimensionRecord]] = {}
    for group, row_set in rows_by_group.items():
        rows = list(row_set)
        columns: dict[str, list[Any]] = {d: [row[k] for row in rows] for k, d in enumerate(group.required)}

        def column(dim: str, group: Any = group, columns: dict[str, list[Any]] = columns) -> list[Any]:
            found = columns.get(dim)
            if found is None:  # implied: from the record of the dimension of the group that implies it
                source = next(universe[p] for p in group.names if dim in universe[p].implies)
                keys = list(zip(*(column(d) for d in source.required), strict=True))
                records = table(source.name)
                values = {k: getattr(records.get(k), dim, None) for k in set(keys)}
                found = columns[dim] = [values[k] for k in keys]
            return found

        for name in group.elements:
            element = universe[name]
            if element.is_skypix or name in skip:
                continue
            records = table(name)
            out = wanted.setdefault(name, {})
            for key in set(zip(*(column(d) for d in element.required), strict=True)):
                record = records.get(key)
                if record is not None:
                    out[key] = record
    return [
        (universe[name], [found[k] for k in sorted(found, key=_sort_key)])
        for name, found in sorted(wanted.items(), key=lambda item: universe[item[0]].index)
        if found
    ]


def _sort_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(f"{v:020d}" if isinstance(v, int) else str(v) for v in key)
