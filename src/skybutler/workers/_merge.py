"""Merge: register what the workers wrote, in one transaction per batch, checked and idempotent.

For each task record (what a task says it wrote), in batches:

1. the record must be this plan's and name only outputs of its task (else the task is refused);
2. outputs registered already (an earlier merge of the same record) are counted and skipped: merging twice
   adds nothing;
3. every other output's pending file is re-read: its size and checksum must be the record's, else the whole
   task is refused (reported with the reason, nothing of it registered, its files kept for inspection);
4. the final paths are claimed (`FileDatastore.claim`: never over another file), then every accepted
   output of the batch is registered in one transaction (with the provenance hook, if given, in the same
   one), then the pending names are dropped -- DESIGN invariant 2, with the pending area as staging.

A failure at 4 undoes the claims and leaves the pending files and records as they were, so merge can run
again.  Records of merged tasks are dropped (their files deleted, or their lines taken out of the workers'
logs); the area goes once it holds nothing but its marker.  The run's record is made in the same
transaction as the registration, from the records: each distinct worker environment (stored once), and the
host, command and start of the earliest task.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler._lost_commit import settle_lost_commit
from skybutler.datasets import ArtifactInfo
from skybutler.datastore import PendingArea, Staged, verify_pending
from skybutler.dimensions import DataCoordinate
from skybutler.errors import ArtifactNotFoundError, SkyButlerError, StorageError
from skybutler.registry import LostCommitError, NewDataset
from skybutler.workers._records import (
    TaskRecord,
    attempt_key,
    environment_key,
    parse_records,
    record_key,
    remove_merged,
)

if TYPE_CHECKING:
    import uuid

    from skybutler.datastore import FileDatastore
    from skybutler.registry import CollectionRecord, Environment, Registry, StoredDatasetType
    from skybutler.types import Progress
    from skybutler.workers._manifest import Manifest, ManifestOutput, Task

__all__ = ["MergeHook", "MergeReport", "merge_outputs", "read_records", "record_lineage"]

MergeHook = Callable[["Registry", "CollectionRecord", "list[tuple[Task, list[ManifestOutput]]]"], None]
"""Called inside a merge batch's transaction with the tasks merged and their outputs registered: where
provenance records lineage (each output's inputs are its task's) and the run record, in the same commit."""


def record_lineage(
    registry: Registry,
    run: CollectionRecord,
    merged: list[tuple[Task, list[ManifestOutput]]],
    origins: Sequence[Mapping[str, Any]] = (),
    environments: Sequence[Environment] = (),
) -> None:
    """The merge's own provenance step, in the batch's transaction: each registered output records its task's
    inputs as lineage edges, and the run gets its record (`Registry.record_provenance`): every distinct
    worker environment, linked once each, and -- unless the run has a record already -- the host, user,
    command and folder of the earliest task, started when it started.  The run's end moves to the latest
    task's end.

    Inputs were resolved and registered when the plan was made; one removed since makes the batch fail with
    `DatasetNotFoundError`, and nothing of the batch is registered.
    """
    edges = {out.id: (out.dataset_type, [i.id for i in task.inputs]) for task, outs in merged for out in outs}
    timed = [o for o in origins if o.get("started")]
    info: dict[str, Any] | None = None
    if timed:
        first = min(timed, key=lambda o: int(o["started"]))
        info = {k: str(first.get(k, "")) for k in ("host", "user_name", "command", "cwd")}
        info |= {"started": int(first["started"]), "config": None}
    registry.record_provenance(run, edges={k: v for k, v in edges.items() if v[1]}, environments=environments,
                               info=info)  # fmt: skip
    ended = max((int(o["ended"]) for o in timed if o.get("ended")), default=None)
    if ended is not None:
        registry.runs.extend_end(run.id, ended)


def read_environments(store: FileDatastore, manifest: Manifest, records: Iterable[TaskRecord]) -> list[Environment]:
    """The distinct software environments the records name, read from the plan's area (one file each).

    An environment file that is missing or unreadable is left out: the run's record then lacks it, and the
    outputs are registered all the same.
    """
    from skybutler.registry import Environment

    prefix = PendingArea(store.transport, manifest.area).prefix
    found = []
    for digest in sorted({str(r.origin["env"]) for r in records if r.origin.get("env")}):
        try:
            found.append(Environment.from_json(json.loads(store.transport.get(environment_key(prefix, digest)))))
        except (ArtifactNotFoundError, ValueError, KeyError, TypeError):
            continue
    return found


@dataclass(slots=True)
class MergeReport:
    """What `Butler.merge` registered, skipped and refused."""

    registered: int = 0
    """Datasets registered by this merge."""
    already: int = 0
    """Datasets of the records registered by an earlier merge (a re-run adds nothing)."""
    tasks: list[int] = field(default_factory=list)
    """Tasks whose outputs are all registered now."""
    refused: dict[int, str] = field(default_factory=dict)
    """Tasks not registered, with the reason: missing or corrupt outputs, a record of another plan."""
    problems: list[str] = field(default_factory=list)
    """Clean-up that failed after registration (pending names left behind: `reconcile` reports them)."""

    def __str__(self) -> str:
        text = (
            f"registered {self.registered} dataset(s) of {len(self.tasks)} task(s); {self.already} already registered"
        )
        if self.refused:
            text += f"; {len(self.refused)} task(s) refused"
        return text

    def extend(self, other: MergeReport) -> None:
        """Add another batch's counts."""
        self.registered += other.registered
        self.already += other.already
        self.tasks += other.tasks
        self.refused.update(other.refused)
        self.problems += other.problems


def read_records(store: FileDatastore, manifest: Manifest) -> list[TaskRecord]:
    """Every task record in the plan's pending area (the tasks that finished and are not merged yet), in
    attempt order (a task run again has its latest record last)."""
    area = PendingArea(store.transport, manifest.area)
    records = []
    for key in area.keys(".records/"):
        try:
            records += parse_records(store.transport.get(key), key)
        except ArtifactNotFoundError:
            continue  # a record removed meanwhile: merge goes by the ones it can read
    records.sort(key=lambda r: r.attempt)
    return records


def merge_outputs(
    registry: Registry,
    store: FileDatastore,
    manifest: Manifest,
    records: Iterable[TaskRecord | Mapping[str, Any]] | None,
    stored: Mapping[str, StoredDatasetType],
    run: CollectionRecord,
    *,
    batch_size: int = 10_000,
    on_register: MergeHook | None = None,
    progress: Progress | None = None,
) -> MergeReport:
    """See `Butler.merge`."""
    # A batch makes some 100 000 short-lived objects (records, tasks, refs, rows) and no reference cycles
    # worth collecting: over a 10 000-output merge and its re-run the cyclic collector made ~1 300 passes
    # (1.1 s of CPU here).
    # It is paused for the merge and put back as it was.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _merge_all(registry, store, manifest, records, stored, run, batch_size, on_register, progress)
    finally:
        if collecting:
            gc.enable()


def _merge_all(
    registry: Registry,
    store: FileDatastore,
    manifest: Manifest,
    records: Iterable[TaskRecord | Mapping[str, Any]] | None,
    stored: Mapping[str, StoredDatasetType],
    run: CollectionRecord,
    batch_size: int,
    on_register: MergeHook | None,
    progress: Progress | None,
) -> MergeReport:
    if records is None:
        given = read_records(store, manifest)
    else:
        given = [r if isinstance(r, TaskRecord) else TaskRecord.from_dict(r) for r in records]
    # one record per task: the last given wins (a re-run's record describes the files now pending)
    found = list({r.task: r for r in given}.values())
    report = MergeReport()
    for start in range(0, len(found), batch_size):
        batch = found[start : start + batch_size]
        report.extend(_merge_batch(registry, store, manifest, batch, stored, run, on_register))
        if progress is not None:
            progress("merge", min(start + batch_size, len(found)), len(found))
    _drop_records(store, manifest, given, report.tasks, report)
    area = PendingArea(store.transport, manifest.area)
    environments = f"{area.prefix}.environments/"
    if all(k.startswith(environments) for k in area.keys()):  # noqa: SIM118 (a method, not a dict)
        try:
            area.remove()
        except (StorageError, OSError) as exc:
            report.problems.append(f"{area.prefix}: {exc}")
    return report


def _check_record(
    manifest: Manifest, record: TaskRecord, tasks: Mapping[int, Task]
) -> tuple[Task, list[tuple[ManifestOutput, int, str | None]]]:
    if record.plan != manifest.plan_id:
        raise _RefusedError(f"the record is of plan {record.plan}, not {manifest.plan_id}")
    task = tasks.get(record.task)
    if task is None:
        raise _RefusedError(f"the plan has tasks 0 to {len(manifest) - 1}, not {record.task}")
    by_id = {o.id.hex: o for o in task.outputs}
    written = []
    for id_hex, size, checksum in record.outputs:
        out = by_id.get(id_hex)
        if out is None:
            raise _RefusedError(f"the record names output {id_hex}, which is not one of the task's")
        written.append((out, size, checksum))
    return task, written


class _RefusedError(Exception):
    """A task whose outputs are not registered (the message says why)."""


def _merge_batch(
    registry: Registry,
    store: FileDatastore,
    manifest: Manifest,
    records: Sequence[TaskRecord],
    stored: Mapping[str, StoredDatasetType],
    run: CollectionRecord,
    on_register: MergeHook | None,
) -> MergeReport:
    report = MergeReport()
    checked: list[tuple[Task, list[tuple[ManifestOutput, int, str | None]]]] = []
    tasks = manifest.tasks(r.task for r in records)
    for record in records:
        try:
            checked.append(_check_record(manifest, record, tasks))
        except _RefusedError as exc:
            report.refused[record.task] = str(exc)
    ids = [out.id for _, written in checked for out, _, _ in written]
    # keyed by the IDs' integers: a UUID hashes in Python, an int in C (10 000 outputs meet these maps often)
    known = registry.datasets.registered_paths(ids) if ids else {}  # ID int → its artifact's path
    accepted: list[tuple[Task, list[tuple[ManifestOutput, ArtifactInfo]]]] = []
    to_check = [
        (out, size, checksum) for _, written in checked for out, size, checksum in written if out.id.int not in known
    ]
    problems = dict(
        zip(
            [out.id.int for out, _, _ in to_check],
            _parallel(store, [partial(verify_pending, store, o.pending, s, c) for o, s, c in to_check]),
            strict=True,
        )
    )
    for task, written in checked:
        todo = []
        try:
            for out, size, checksum in written:
                if out.id.int in known:
                    continue
                problem = problems[out.id.int]
                if problem is not None:
                    raise _RefusedError(f"output {out.dataset_type} {out.data_id} ({out.pending}): {problem}")
                todo.append((out, ArtifactInfo(out.path, out.formatter, out.storage_class, size, checksum,
                                               datastore=store.name)))  # fmt: skip
        except _RefusedError as exc:
            report.refused[task.index] = str(exc)
            continue
        accepted.append((task, todo))
    report.already = sum(1 for _, written in checked for out, _, _ in written if out.id.int in known)
    staged, claimed_tasks = _claim(store, accepted, report)
    by_task = {r.task: r for r in records}
    merging = [by_task[task.index] for task, _ in claimed_tasks]
    environments = read_environments(store, manifest, merging) if claimed_tasks else []
    _register(registry, store, stored, run, claimed_tasks, staged, on_register, [r.origin for r in merging],
              environments)  # fmt: skip
    report.registered = len(staged)
    try:
        store.promote_many(staged)
    except StorageError as exc:
        report.problems.append(str(exc))
    _finish_leftovers(registry, store, checked, known, report)
    # merged: every output registered now, by this batch or an earlier merge
    report.tasks = sorted({task.index for task, _ in claimed_tasks} | {
        task.index for task, written in checked
        if task.index not in report.refused and all(o.id.int in known for o, _, _ in written)
    })  # fmt: skip
    return report


def _parallel(store: FileDatastore, calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Results of ``calls``, on the transport's number of threads (object stores); an exception is a result."""

    def attempt(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except (SkyButlerError, OSError) as exc:
            return exc

    if store.concurrency <= 1 or len(calls) <= 1:
        return [attempt(c) for c in calls]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(store.concurrency) as pool:
        return list(pool.map(attempt, calls))


def _claim(
    store: FileDatastore,
    accepted: list[tuple[Task, list[tuple[ManifestOutput, ArtifactInfo]]]],
    report: MergeReport,
) -> tuple[list[Staged], list[tuple[Task, list[tuple[ManifestOutput, ArtifactInfo]]]]]:
    """Claim the final path of every accepted output (a task whose claim fails is refused, its claims undone)."""
    staged: list[Staged] = []
    tasks = []
    calls = [partial(_claim_one, store, out, artifact) for _, todo in accepted for out, artifact in todo]
    results = iter(_parallel(store, calls))
    for task, todo in accepted:
        mine = [next(results) for _ in todo]
        errors = [r for r in mine if not isinstance(r, Staged)]
        claims = [r for r in mine if isinstance(r, Staged)]
        if errors:
            _unclaim(store, claims)
            report.refused[task.index] = f"cannot claim a final path: {errors[0]}"
            continue
        staged += claims
        tasks.append((task, [(out, s.artifact) for (out, _), s in zip(todo, claims, strict=True)]))
    return staged, tasks


def _claim_one(store: FileDatastore, out: ManifestOutput, artifact: ArtifactInfo) -> Staged:
    ext = out.pending.rpartition(out.id.hex)[2]
    path, shares = store.claim(out.pending, artifact.path, ext, out.id.hex)
    if path != artifact.path:
        artifact = ArtifactInfo(path, artifact.formatter, artifact.storage_class, artifact.size, artifact.checksum,
                                datastore=artifact.datastore)  # fmt: skip
    return Staged(out.id.hex, out.pending, artifact, shares)


def _unclaim(store: FileDatastore, staged: Sequence[Staged]) -> None:
    """Delete the claims of final paths (never the pending files: merge can run again)."""
    if staged:
        store.transport.delete_many([s.artifact.path for s in staged])


def _register(
    registry: Registry,
    store: FileDatastore,
    stored: Mapping[str, StoredDatasetType],
    run: CollectionRecord,
    tasks: list[tuple[Task, list[tuple[ManifestOutput, ArtifactInfo]]]],
    staged: list[Staged],
    on_register: MergeHook | None,
    origins: Sequence[Mapping[str, Any]],
    environments: Sequence[Environment],
) -> None:
    by_type: dict[str, list[NewDataset]] = {}
    for _, outs in tasks:
        for out, artifact in outs:
            by_type.setdefault(out.dataset_type, []).append(NewDataset(out.id, tuple(out.data_id.values()), artifact))
    if not by_type:
        return
    ids: list[uuid.UUID] = [n.id for new in by_type.values() for n in new]
    try:
        try:
            with registry.db.transaction():
                for name, new in by_type.items():
                    registry.datasets.insert(stored[name], run.id, new)
                merged = [(task, [o for o, _ in outs]) for task, outs in tasks]
                record_lineage(registry, run, merged, origins, environments)
                if on_register is not None:
                    on_register(registry, run, merged)
        except sa.exc.IntegrityError as exc:
            name, new = next(iter(by_type.items()))
            group = stored[name].dataset_type.dimensions
            coords = [DataCoordinate.from_required(group, n.values) for n in new]
            raise registry.explain_insert_failure(stored[name], run, coords, exc) from None
    except LostCommitError as exc:
        settle_lost_commit(registry, exc, ids, "merge", lambda: _unclaim(store, staged))
    except BaseException:
        _unclaim(store, staged)
        raise


def _finish_leftovers(
    registry: Registry,
    store: FileDatastore,
    checked: list[tuple[Task, list[tuple[ManifestOutput, int, str | None]]]],
    known: Mapping[int, str | None],
    report: MergeReport,
) -> None:
    """Pending files of outputs registered earlier (a merge that died before promoting them): finish the move,
    once their bytes are the registered ones (a task run again since may have written others)."""
    transport = store.transport
    left = [(out, path) for _, written in checked for out, _, _ in written
            if (path := known.get(out.id.int)) is not None and transport.exists(out.pending)]  # fmt: skip
    if not left:
        return
    records = registry.datasets.artifacts([out.id for out, _ in left], datastore=store.name)
    for out, path in left:
        record = records.get(out.id)
        problem = "no record" if record is None else verify_pending(store, out.pending, record.size, record.checksum)
        if problem is not None:
            report.problems.append(f"{out.pending}: not moved to {path}, its bytes are not the registered ones "
                                   f"({problem}); `skybutler verify` checks the dataset")  # fmt: skip
            continue
        try:
            store.finish(out.pending, path)
        except (SkyButlerError, OSError) as exc:
            report.problems.append(f"{out.pending}: {exc}")


def _drop_records(store: FileDatastore, manifest: Manifest, records: Sequence[TaskRecord], tasks: Iterable[int],
                  report: MergeReport) -> None:  # fmt: skip
    """Drop the records and attempt markers of merged tasks (their keys are known: no listing).

    A record says where it was stored; records without that (older workers) are at their task's key.  On a
    local disk every log of the area is tidied: a refused attempt's line may be in a log no record given names.
    """
    prefix = PendingArea(store.transport, manifest.area).prefix
    done = set(tasks)
    attempts: dict[int, int] = {}
    for r in records:
        if r.task in done:
            attempts[r.task] = max(attempts.get(r.task, 0), r.attempt)
    stored = {r.stored_at or record_key(prefix, r.task) for r in records if r.stored_at or r.task in done}
    if store.transport.is_local:  # a few logs: an earlier attempt's line may sit in a log these records do not name
        stored.update(k for k in PendingArea(store.transport, manifest.area).keys(".records/") if k.endswith(".jsonl"))
    markers = [attempt_key(prefix, task, n) for task, last in attempts.items() for n in range(1, last + 1)]
    try:
        remove_merged(store.transport, sorted(stored), done)
        store.transport.delete_many(markers)
    except (StorageError, OSError) as exc:
        report.problems.append(f"records of merged tasks: {exc}")
