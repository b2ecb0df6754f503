"""What must hold in a repository after any crash, once ``reconcile(grace_seconds=0)`` has run (DESIGN §3.2).

Shared by ``tests/reliability`` and ``benchmarks/soak.py``: both kill writer processes at random points
(`skybutler.testing.crash`) and then call `check_repository`, which repairs with `Butler.reconcile` and
then checks, collecting every violation rather than stopping at the first:

* every registered dataset reads back with its recorded size and checksum (`Butler.verify`) and holds the
  object written for *its* run and data ID (no dataset reads another's bytes);
* no registered artifact is missing, none lies outside the datastore root;
* no unknown artifact, no staging file and no temporary file is left;
* the registry is consistent: every dataset has its datastore record, the trash is empty, a second
  reconcile finds nothing to do, every certification names a registered dataset and no two current
  certifications of one data ID overlap;
* (ingest by ``move``) a source file is gone only if its dataset is registered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from skybutler.butler import DirectButler
from skybutler.datastore import STAGING, is_external
from skybutler.errors import CollectionError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from skybutler.datasets import DatasetRef

__all__ = [
    "CALIB_COLLECTION",
    "CALIB_TYPE",
    "DATASET_TYPE",
    "SOURCE_DETECTORS",
    "CheckReport",
    "InvariantError",
    "check_repository",
    "check_sources",
    "content_for",
    "source_data_id",
]

DATASET_TYPE = "crash_meta"
"""The dataset type the crashed writers put, ingest, import and remove (``instrument, visit, detector``)."""
CALIB_TYPE = "crash_bias"
"""The calibration dataset type the crashed certifiers certify (``instrument, detector``)."""
CALIB_COLLECTION = "crash/calib"
"""The CALIBRATION collection they certify into."""


def content_for(run: str, **values: int) -> dict[str, Any]:
    """The object a writer stores for ``run`` and a data ID: reading it back proves it is this dataset's.

    Writers may add keys of their own (a racing writer adds its name); the check compares these.
    """
    return {"run": run, **values}


def _expected(ref: DatasetRef) -> dict[str, Any]:
    names = ("visit", "detector") if ref.dataset_type.name == DATASET_TYPE else ("detector",)
    return content_for(ref.run, **{n: int(ref.data_id[n]) for n in names})


class InvariantError(AssertionError):
    """A repository invariant does not hold after reconcile; the message lists every violation."""


@dataclass(slots=True)
class CheckReport:
    """What one `check_repository` saw and repaired."""

    datasets: int = 0
    """Registered datasets read back (content) and verified (size and checksum)."""
    repairs: int = 0
    """Staging files promoted or removed and trashed files deleted by reconcile."""
    certifications: int = 0
    """Current certification rows checked."""
    losses: int = 0
    """Registered datasets missing, corrupt or reading another's object, and lost ingest sources: must be 0."""
    problems: list[str] = field(default_factory=list)
    """Every violation, one line each."""


def check_repository(root: str, *, runs: Iterable[str] | None = None, raise_on_error: bool = True) -> CheckReport:
    """Reconcile the repository at ``root``, then check every invariant (see the module docstring).

    ``runs`` limits the read-back of datasets to those runs (a long soak checks the runs it has just
    crashed; the registry-wide checks -- trash, staging, unknown artifacts, records -- always cover the
    whole repository).  Raises `InvariantError` listing the violations unless ``raise_on_error`` is false.
    """
    out = CheckReport()
    problems = out.problems
    with DirectButler(root, writeable=True) as butler:
        repaired = butler.reconcile(grace_seconds=0)
        out.repairs = len(repaired.promoted) + len(repaired.removed_staging) + len(repaired.removed_trash)
        problems += [f"reconcile: registered artifact missing: {path}" for path in repaired.missing]
        out.losses += len(repaired.missing)
        again = butler.reconcile(grace_seconds=0)
        if again.promoted or again.removed_staging or again.removed_trash or again.missing:
            problems.append(f"a second reconcile still found work: {again}")
        problems += [f"unknown artifact after reconcile: {path}" for path in again.unknown]
        _check_records(butler, problems)
        _check_storage(butler, problems)
        out.datasets, lost = _check_datasets(butler, None if runs is None else list(runs), problems)
        out.losses += lost
        out.certifications = _check_certifications(butler, problems)
    if problems and raise_on_error:
        raise InvariantError(f"{len(problems)} invariant violation(s) in {root}:\n" + "\n".join(problems))
    return out


def _check_records(butler: DirectButler, problems: list[str]) -> None:
    """Registry consistency: a datastore record for every dataset, no trash, every path inside the root."""
    datasets = butler.registry.datasets
    trash = datasets.trash()
    problems += [f"trash entry left after reconcile: {path} (dataset {i})" for _, i, _, path in trash]
    artifacts = datasets.all_artifacts()
    count = datasets.count()
    if count != len(artifacts):
        problems.append(f"{count - len(artifacts)} registered dataset(s) have no datastore record")
    for dataset_id, copies in artifacts.items():
        for artifact in copies:
            path = PurePosixPath(artifact.path)
            if is_external(artifact.path) or path.is_absolute() or ".." in path.parts:
                problems.append(f"artifact of {dataset_id} outside the datastore root: {artifact.path}")


def _check_storage(butler: DirectButler, problems: list[str]) -> None:
    """No staging or temporary files; on local storage, no file that resolves outside the root."""
    for leaf in butler.datastore.leaves():
        files = leaf.file_datastore()
        if files is None:
            continue
        transport = files.transport
        problems += [f"staging file left after reconcile: {key}" for key in transport.keys(STAGING)]
        if not transport.is_local:
            continue
        base = transport.local_path("").resolve()
        for path in base.rglob("*"):
            if ".tmp-" in path.name or path.name.startswith(".tmp"):
                problems.append(f"temporary file left after reconcile: {path}")
            if not path.resolve().is_relative_to(base):
                problems.append(f"{path} resolves outside the datastore root {base}")


def _check_datasets(butler: DirectButler, runs: list[str] | None, problems: list[str]) -> tuple[int, int]:
    """Verify and read back every dataset (of ``runs``): return how many were checked and how many lost."""
    refs: list[DatasetRef] = []
    for name in (DATASET_TYPE, CALIB_TYPE):
        for run in ["*"] if runs is None else runs:
            try:
                refs += list(butler.query_datasets(name, collections=run, find_first=False))
            except CollectionError:  # the run was removed (an import round) or never made: nothing to read
                continue
    refs = list({ref.id: ref for ref in refs}.values())
    report = butler.verify(refs)
    lost = report.problems
    problems += [f"verify: missing {uri} (dataset {i})" for i, uri in report.missing]
    problems += [f"verify: corrupt {uri} (dataset {i}): {why}" for i, uri, why in report.corrupt]
    bad = {i for i, _ in report.missing} | {i for i, _, _ in report.corrupt}
    for ref in refs:
        if ref.id in bad:
            continue
        try:
            got = butler.get(ref)
        except Exception as exc:  # any failure to read a registered dataset is a violation to report
            problems.append(f"get {ref.dataset_type.name} {ref.data_id} in {ref.run}: {type(exc).__name__}: {exc}")
            lost += 1
            continue
        expected = _expected(ref)
        if not isinstance(got, dict) or {k: got.get(k) for k in expected} != expected:
            problems.append(f"{ref.dataset_type.name} {ref.data_id} in {ref.run} read back {got!r}")
            lost += 1
    return len(refs), lost


def _check_certifications(butler: DirectButler, problems: list[str]) -> int:
    """Every current certification names a registered dataset; no two of one data ID overlap."""
    try:
        rows = butler.collections.history(CALIB_COLLECTION, CALIB_TYPE)
    except Exception:  # a repository without the crash calibration collection has nothing to check
        return 0
    current = [row for row in rows if row.recorded.end is None]
    existing = butler.registry.datasets.existing([row.dataset_id for row in current])
    by_data_id: dict[Any, list[Any]] = {}
    for row in current:
        if row.dataset_id not in existing:
            problems.append(f"certification of unregistered dataset {row.dataset_id} over {row.valid}")
        by_data_id.setdefault(row.data_id, []).append(row)
    for data_id, group in by_data_id.items():
        for n, a in enumerate(group):
            problems += [
                f"current certifications of {data_id} overlap: {a.valid} and {b.valid}"
                for b in group[n + 1 :]
                if a.valid.overlaps(b.valid)
            ]
    return len(current)


def check_sources(root: str, sources: Path, run: str) -> int:
    """Ingest by ``move``: a source file is gone only if its dataset is registered; return how many were lost.

    The writer writes sources ``00000.json``, ``00001.json``, ... in order, each fully before the next is
    created, so every index below the highest one present or registered was written completely.
    """
    with DirectButler(root, writeable=True) as butler:
        try:
            refs = list(butler.query_datasets(DATASET_TYPE, collections=run, find_first=False))
        except Exception:  # the run was never created: nothing registered
            refs = []
    registered = {json.dumps(_expected(ref), sort_keys=True) for ref in refs}
    present = {int(p.stem) for p in sources.glob("*.json")} if sources.exists() else set()
    indices = present | {_index(ref) for ref in refs}
    lost = 0
    for k in range(max(indices, default=-1) + 1):
        if k in present:
            continue
        visit, detector = source_data_id(k)
        if json.dumps(content_for(run, visit=visit, detector=detector), sort_keys=True) not in registered:
            lost += 1
    return lost


SOURCE_DETECTORS = 10
"""Detectors per visit in the sample instrument of a crash repository."""


def source_data_id(index: int) -> tuple[int, int]:
    """``(visit, detector)`` of the ``index``-th dataset a writer creates."""
    return divmod(index, SOURCE_DETECTORS)


def _index(ref: DatasetRef) -> int:
    return int(ref.data_id["visit"]) * SOURCE_DETECTORS + int(ref.data_id["detector"])
