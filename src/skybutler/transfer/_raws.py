"""Raw ingest: read each file's primary FITS header, translate it, sync the records, register the raw datasets.

A file is either ingested whole -- its records (new ones inserted, existing ones verified) and its dataset
registered in the same transaction -- or reported in `IngestReport.failures` with the reason: an unreadable
header, a keyword the translator needs but does not find, a record that contradicts what the registry (or
another file of the same call) says, or a storage failure of its batch.  Dataset IDs are deterministic
(dataset type + data ID + run) and files already ingested are skipped, so re-running over a night is safe.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from skybutler.datasets import DatasetIdMode, DatasetType
from skybutler.errors import DatasetTypeError, SkyButlerError
from skybutler.plugins import require
from skybutler.transfer._ingest import DEFAULT_BATCH, FileDataset, IngestPlanner, IngestReport, run_ingest
from skybutler.transfer._modes import FileMover, SourceFile, source_file
from skybutler.transfer._translators import MetadataTranslator, metadata_translators, observation_records

if TYPE_CHECKING:
    from skybutler.datastore import FileDatastore
    from skybutler.dimensions import DimensionRecord
    from skybutler.registry import Registry
    from skybutler.transfer._ingest_plan import IngestItem
    from skybutler.types import Progress

__all__ = ["ingest_raws", "read_primary_header"]

_RecordKey = tuple[str, tuple[Any, ...]]


def read_primary_header(source: SourceFile) -> Mapping[str, Any]:
    """The primary header of a FITS file (only the header blocks are read).

    Raises
    ------
    ValueError
        The file is not FITS: empty, cut short in its header, or something else.
    """
    from astropy.io import fits

    header: Mapping[str, Any]
    try:
        if source.local is not None:
            with open(source.local, "rb") as stream:
                header = fits.Header.fromfile(stream)
        else:
            assert source.transport is not None
            with source.transport.open(source.key) as stream:
                header = fits.Header.fromfile(stream)
    except EOFError:  # astropy's word for a file that ends before its header does (an empty one, too)
        raise ValueError("The file ends before its FITS header does (it is empty or cut short).") from None
    return header


def _reported_errors() -> tuple[type[Exception], ...]:
    """What reading and translating one file raises when that file is at fault: it is reported, the rest go on.

    Besides ours, astropy's: OSError and ValueError for a file that is not FITS (see `read_primary_header`),
    VerifyError for a card it cannot parse, which it parses only when the translator asks for that keyword.
    """
    require("astropy", "raw ingest (reading FITS headers)")  # a broken install: say what to install
    from astropy.io.fits.verify import VerifyError

    return SkyButlerError, OSError, ValueError, VerifyError


def _translator(translator: MetadataTranslator | type[MetadataTranslator] | str | None) -> MetadataTranslator:
    if isinstance(translator, MetadataTranslator):
        return translator
    found = metadata_translators.get(translator or "generic")
    return found()


def ingest_raws(
    registry: Registry,
    datastore: FileDatastore,
    paths: Iterable[str | os.PathLike[str]],
    *,
    instrument: str | None = None,
    translator: MetadataTranslator | type[MetadataTranslator] | str | None = None,
    run: str | None = None,
    transfer: str = "auto",
    skip_existing: bool = True,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest raw files by their headers (see `Butler.ingest_raws`).

    Raises
    ------
    DatasetTypeError
        The raw dataset type is registered with other dimensions or storage class.
    ConfigError
        The translator is unknown, or the transfer mode is.
    """
    worker = _translator(translator)
    report = IngestReport()
    names = [os.fspath(p) for p in paths]
    translated: list[tuple[str, SourceFile, Any, list[DimensionRecord]]] = []
    for i, path in enumerate(names):
        try:
            source = source_file(path)
            header = read_primary_header(source)
            if not worker.can_translate(header):
                raise DatasetTypeError(f"The {worker.name!r} translator does not recognize this header.")
            info = worker.translate(header, instrument=instrument)
            translated.append((path, source, info, observation_records(info, registry.universe)))
        except _reported_errors() as exc:
            report.failures[path] = f"{type(exc).__name__}: {exc}"
        if progress is not None and (i + 1) % 1000 == 0:
            progress("translate", i + 1, len(names))
    if progress is not None:
        progress("translate", len(names), len(names))
    if not translated:
        return report
    _ensure_dataset_type(registry, datastore, worker)
    translated = _verify_records(registry, translated, report)
    planner = IngestPlanner(registry, datastore, FileMover(datastore), DatasetIdMode.DETERMINISTIC)
    items = []
    for path, source, info, records in translated:
        data_id = {"instrument": info.instrument, "exposure": info.exposure, "detector": info.detector}
        fd = FileDataset(path, dataset_type=worker.dataset_type, data_id=data_id, formatter=worker.formatter,
                         records=tuple(records))  # fmt: skip
        try:
            items.append((path, planner.item(fd, transfer, run or f"{info.instrument}/raw/all", source)))
        except SkyButlerError as exc:
            report.failures[path] = f"{type(exc).__name__}: {exc}"
    done = 0
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        try:
            part = run_ingest(planner, [item for _, item in chunk], skip_existing=skip_existing, batch_size=batch_size)
        except SkyButlerError as exc:
            _after_failure(registry, chunk, exc, report)
        else:
            report.ingested.extend(part.ingested)
            report.skipped.extend(part.skipped)
        done += len(chunk)
        if progress is not None:
            progress("ingest", done, len(items))
    return report


def _ensure_dataset_type(registry: Registry, datastore: FileDatastore, worker: MetadataTranslator) -> None:
    wanted = DatasetType(
        worker.dataset_type, ["instrument", "exposure", "detector"], worker.storage_class, universe=registry.universe
    )
    found = registry.dataset_types.find(worker.dataset_type)
    if found is None:
        datastore.validate(wanted)
        registry.dataset_types.register(wanted)
    elif found.dataset_type != wanted:
        raise DatasetTypeError(
            f"Dataset type {worker.dataset_type!r} is registered as {found.dataset_type.describe()}; raw ingest "
            f"with the {worker.name!r} translator needs {wanted.describe()}."
        )


def _disagreement(given: DimensionRecord, other: DimensionRecord) -> str | None:
    """Fields the header sets to another value than ``other`` has (fields it leaves empty are not compared)."""
    diffs = [
        f"{name}={other.get(name)!r} vs {value!r}"
        for name, value in given.to_dict().items()
        if value is not None and other.get(name) != value
    ]
    return ", ".join(diffs) or None


def _verify_records(
    registry: Registry,
    translated: list[tuple[str, SourceFile, Any, list[DimensionRecord]]],
    report: IngestReport,
) -> list[tuple[str, SourceFile, Any, list[DimensionRecord]]]:
    """Drop (and report) files whose records contradict the registry or an earlier file of this call."""
    planned: dict[_RecordKey, tuple[DimensionRecord, str]] = {}
    stored: dict[_RecordKey, DimensionRecord | None] = {}
    kept = []
    for path, source, info, records in translated:
        problem = None
        for record in records:
            key = (record.element.name, record.key)
            if key not in stored:
                stored[key] = registry.records.fetch_one(*key)
            existing = stored[key]
            if existing is not None and (diff := _disagreement(record, existing)):
                problem = f"its {key[0]} record {key[1]} differs from the registry's (stored vs header: {diff})"
                break
            earlier = planned.get(key)
            if earlier is not None and (diff := _disagreement(record, earlier[0])):
                problem = f"its {key[0]} record {key[1]} differs from that of {earlier[1]} ({diff})"
                break
        if problem is not None:
            report.failures[path] = f"ConflictError: {problem}; fix the header or the translator."
            continue
        for record in records:
            planned.setdefault((record.element.name, record.key), (record, path))
        kept.append((path, source, info, [r for r in records if stored[(r.element.name, r.key)] is None]))
    return kept


def _after_failure(
    registry: Registry, chunk: list[tuple[str, IngestItem]], exc: SkyButlerError, report: IngestReport
) -> None:
    """Report a failed batch: its files as failures, unless they were registered before the error came.

    A batch that fails before its commit is rolled back whole.  One that fails after it (a ``move`` whose
    sources cannot be deleted, a file that could not be moved into place) has its datasets registered: those
    are ingested, and the error is kept in ``report.notes`` rather than blamed on every file.
    """
    why = f"{type(exc).__name__}: {exc}"
    registered = registry.datasets.existing([ref.id for _, item in chunk for _, _, ref in item.refs])
    for path, item in chunk:
        refs = [ref for _, _, ref in item.refs]
        if refs and all(ref.id in registered for ref in refs):
            report.ingested.extend(refs)
        else:
            report.failures[path] = why
    if registered:
        report.notes.append(why)
