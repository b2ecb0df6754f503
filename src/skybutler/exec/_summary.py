"""What a run of a plan did (`RunSummary`), and the driver-side loop the engines share (`Collector`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybutler.datastore import PendingArea
from skybutler.workers import Manifest, TaskRecord
from skybutler.workers._records import count_attempts
from skybutler.workers._worker import open_worker_datastore

if TYPE_CHECKING:
    from collections.abc import Iterable

    from skybutler.butler import Butler
    from skybutler.types import Progress
    from skybutler.workers import MergeReport

__all__ = ["DEFAULT_RETRIES", "Collector", "RunSummary"]

DEFAULT_RETRIES = 2
"""The retry policy's default: an engine may run a failed task up to 2 more times (3 attempts in all); a task
that still fails is reported failed with its last error, and nothing of it is registered."""


@dataclass(slots=True)
class RunSummary:
    """What a run did: tasks done, failed (with the last error), retried; and what the merge registered."""

    done: list[int] = field(default_factory=list)
    """Tasks that finished (their records were returned)."""
    failed: dict[int, str] = field(default_factory=dict)
    """Tasks that failed on every attempt, each with its last error; nothing of theirs is registered."""
    retried: dict[int, int] = field(default_factory=dict)
    """Tasks run more than once: task → number of attempts beyond the first (killed attempts included)."""
    merge: MergeReport | None = None
    """What merging the finished tasks registered and refused (None when the run did not merge)."""
    database_modules: dict[int, list[str]] = field(default_factory=dict)
    """Tasks whose worker had a database driver imported (always empty for isolated workers)."""
    seconds: float = 0.0
    records: list[TaskRecord] = field(default_factory=list)
    """The records of the finished tasks (what `Butler.merge` takes)."""

    @property
    def ok(self) -> bool:
        """Whether every task finished and every output was registered."""
        return not self.failed and (self.merge is None or not self.merge.refused)

    def __str__(self) -> str:
        text = (
            f"{len(self.done)} task(s) done, {len(self.failed)} failed, {len(self.retried)} retried "
            f"in {self.seconds:.2f} s"
        )
        if self.merge is not None:
            text += f"; merge: {self.merge}"
        return text


class Collector:
    """The driver side of a run: takes records and failures as tasks end, merges in batches, counts retries.

    ``merge_every`` merges each time that many records are waiting (None: once, at the end); without a
    ``butler`` nothing is merged and the summary carries the records.
    """

    def __init__(
        self,
        manifest: Manifest,
        butler: Butler | None,
        *,
        merge_every: int | None = None,
        progress: Progress | None = None,
        tasks: Iterable[int] | None = None,
    ) -> None:
        self.manifest = manifest
        self.butler = butler
        self.merge_every = merge_every
        self.progress = progress
        self.summary = RunSummary()
        self._waiting: list[TaskRecord] = []
        self._started = time.perf_counter()
        self.tasks = list(range(len(manifest))) if tasks is None else sorted(set(tasks))
        """The tasks to run: all, or those asked for (a re-run of the failed ones)."""
        self._total = len(self.tasks)

    def done(self, record: dict[str, Any]) -> None:
        """A task finished: keep its record, and merge when a batch is full."""
        rec = TaskRecord.from_dict(record)
        self.summary.done.append(rec.task)
        self.summary.records.append(rec)
        if rec.attempt > 1:
            self.summary.retried[rec.task] = rec.attempt - 1
        if rec.database_modules:
            self.summary.database_modules[rec.task] = rec.database_modules
        self._waiting.append(rec)
        if self.merge_every is not None and len(self._waiting) >= self.merge_every:
            self._merge()
        self._tick()

    def failed(self, task: int, error: BaseException | str) -> None:
        """A task failed for good (the engine's retries are spent)."""
        self.summary.failed[task] = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._tick()

    def _tick(self) -> None:
        if self.progress is not None:
            self.progress("tasks", len(self.summary.done) + len(self.summary.failed), self._total)

    def _merge(self) -> None:
        if self.butler is None or not self._waiting:
            return
        report = self.butler.merge(self.manifest, self._waiting)
        self._waiting = []
        if self.summary.merge is None:
            self.summary.merge = report
        else:
            self.summary.merge.extend(report)

    def finish(self) -> RunSummary:
        """Merge what is waiting, count the attempts of failed tasks, and return the summary."""
        self._merge()
        if self.summary.failed:
            transport = open_worker_datastore(self.manifest.header).transport
            prefix = PendingArea(transport, self.manifest.area).prefix
            for task in self.summary.failed:
                attempts = count_attempts(transport, prefix, task)
                if attempts > 1:
                    self.summary.retried[task] = attempts - 1
        self.summary.done.sort()
        self.summary.seconds = time.perf_counter() - self._started
        return self.summary
