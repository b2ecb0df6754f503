"""What a task wrote (its record), where records live, and the worker-side guard that no database is reached.

A task's record is written last, after every output, beside the outputs in the plan's pending area::

    .pending/<area>/.out/<id><ext>                 the outputs
    .pending/<area>/.records/<worker>.jsonl        local disks: one JSON line per task a worker process ran
    .pending/<area>/.records/<task>.json           object stores (no append): one record per task
    .pending/<area>/.environments/<digest>.json    each distinct worker software environment, once
    .pending/<area>/.attempts/<task>.<n>           one empty marker per attempt n = 1, 2, ... (killed ones too)

A record is ``{"plan", "task", "outputs": [[id hex, size, checksum], ...], "attempt", "env", "host", ...}``.
On local disks a worker process appends its records to its own log (under an exclusive ``flock``), so a
merge of 10 000 tasks deletes a few logs instead of 10 000 small files: deleting a file that holds data
frees a disk block, and that costs milliseconds per file on disks that discard freed blocks (ours: 2 ms).
A merge rewrites a log without the lines of the tasks it merged (or deletes it when none is left), holding
the same lock; a worker that finds its log removed under it starts a new one.  Object stores have no
append, but they delete up to a thousand keys per request.  Empty markers free no block: cheap everywhere.

The folders are flat and dot-named: local transports then never try to remove them as they empty.

A task with no record did not finish: merge registers nothing of it, whatever outputs it left.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.transports import Transport

__all__ = [
    "DATABASE_MODULES",
    "TaskRecord",
    "attempt_key",
    "count_attempts",
    "database_modules",
    "environment_key",
    "guard_against_databases",
    "parse_records",
    "record_key",
    "remove_merged",
    "write_record",
]

DATABASE_MODULES = ("psycopg", "psycopg2", "asyncpg", "pg8000")
"""PostgreSQL drivers: none may be imported in an isolated worker process.  (SQLAlchemy itself opens nothing
and some engines import it -- Parsl's worker pool does -- so it is not listed; SQLite is stdlib and guarded by
an audit hook instead, see `guard_against_databases`.)"""

_guarded = False


def database_modules() -> list[str]:
    """The PostgreSQL driver modules imported in this process (empty in a proper worker)."""
    return [name for name in DATABASE_MODULES if name in sys.modules]


def _refuse_sqlite(event: str, args: tuple[object, ...]) -> None:
    if event == "sqlite3.connect":
        from skybutler.errors import PermissionDeniedError

        raise PermissionDeniedError(
            f"A scale-out worker may not open a database (sqlite3.connect({args[0]!r})): workers read and write "
            "storage only, and the registry is reached by merge alone."
        )


def guard_against_databases() -> None:
    """Make this process a worker that cannot reach a database: refuse it if a PostgreSQL driver is imported,
    and install (once; audit hooks stay for the life of the process) a hook that refuses every SQLite
    connection.  Only for worker processes: the butler's own process needs its registry.

    Raises
    ------
    PermissionDeniedError
        A PostgreSQL driver is imported here.
    """
    global _guarded
    found = database_modules()
    if found:
        from skybutler.errors import PermissionDeniedError

        raise PermissionDeniedError(
            f"This worker process has database drivers imported ({', '.join(found)}); a worker reads and writes "
            "storage only. Run tasks in processes that import no database driver (or pass isolated=False)."
        )
    if not _guarded:
        sys.addaudithook(_refuse_sqlite)
        _guarded = True


def record_key(prefix: str, task: int) -> str:
    """The key of task ``task``'s record in the area with key ``prefix``."""
    return f"{prefix}.records/{task}.json"


def environment_key(prefix: str, digest: str) -> str:
    """The key of the software environment with content digest ``digest`` in the area with key ``prefix``."""
    return f"{prefix}.environments/{digest}.json"


def attempt_key(prefix: str, task: int, attempt: int) -> str:
    """The key of the marker of attempt ``attempt`` (1, 2, ...) of task ``task``."""
    return f"{prefix}.attempts/{task}.{attempt}"


def count_attempts(transport: Transport, prefix: str, task: int) -> int:
    """How many attempts of ``task`` left their marker (one existence check per attempt, no listing)."""
    n = 0
    while transport.exists(attempt_key(prefix, task, n + 1)):
        n += 1
    return n


@dataclass(slots=True)
class TaskRecord:
    """What one task wrote, as the worker saw it: each output's ID, size and checksum.

    Small and plain (`to_dict` is JSON), so engines return it from workers and merge trusts nothing in it
    that it does not check against the manifest and the bytes.
    """

    plan: str
    task: int
    outputs: list[tuple[str, int, str | None]] = field(default_factory=list)
    """``(dataset id hex, size, checksum)`` of each output written."""
    attempt: int = 1
    """Which attempt of the task this was (1: the first)."""
    seconds: float = 0.0
    """Wall time of the task, from opening the worker butler to the commit."""
    database_modules: list[str] = field(default_factory=list)
    """Database driver modules found imported in the worker at commit (see `database_modules`)."""
    origin: dict[str, Any] = field(default_factory=dict)
    """Where and when the task ran, for the run's record: ``env`` (the digest of the worker's software
    environment, stored once in the area), ``fingerprint``, ``host``, ``user_name``, ``command``, ``cwd``,
    ``started`` and ``ended`` (UTC ns).  Empty in records of older workers."""
    stored_at: str = ""
    """The key of the record file or log the record was written to (merge tidies it after registering)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what the record file holds)."""
        return {
            "plan": self.plan,
            "task": self.task,
            "outputs": [list(o) for o in self.outputs],
            "attempt": self.attempt,
            "seconds": self.seconds,
            "database_modules": self.database_modules,
            "origin": self.origin,
            "stored_at": self.stored_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskRecord:
        """The record `to_dict` gave (or a record file's JSON)."""
        outputs = [(str(i), int(s), None if c is None else str(c)) for i, s, c in data["outputs"]]
        return cls(str(data["plan"]), int(data["task"]), outputs, int(data.get("attempt", 1)),
                   float(data.get("seconds", 0.0)), list(data.get("database_modules", [])),
                   dict(data.get("origin") or {}), str(data.get("stored_at", "")))  # fmt: skip

    def to_json(self) -> bytes:
        """The record file's bytes."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


# -- where records are written and read ----------------------------------------------------------------------
_log: tuple[int, str] | None = None
"""This process's log name, with the pid it was made in (a forked child makes its own)."""


def _log_key(prefix: str, *, fresh: bool = False) -> str:
    global _log
    if fresh or _log is None or _log[0] != os.getpid():
        _log = (os.getpid(), uuid.uuid4().hex)
    return f"{prefix}.records/{_log[1]}.jsonl"


def write_record(transport: Transport, prefix: str, record: TaskRecord) -> str:
    """Store ``record`` in the area with key ``prefix``; return (and set in the record) the key it went to.

    On a local disk: one line appended to this process's log, under an exclusive lock (a merge tidying the
    log holds the same lock; if it removed the log, a new one is started).  Elsewhere: the task's own key,
    written in one request.
    """
    if not transport.is_local or sys.platform == "win32":
        record.stored_at = record_key(prefix, record.task)
        transport.put(record.stored_at, record.to_json())
        return record.stored_at
    import fcntl

    key = _log_key(prefix)
    while True:
        record.stored_at = key
        line = record.to_json() + b"\n"
        path = transport.local_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink == 0:  # a merge removed or replaced the log since we opened it
                key = _log_key(prefix, fresh=True)
                continue
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            return key
        finally:
            os.close(fd)


def parse_records(data: bytes, key: str) -> list[TaskRecord]:
    """The records in a record file or log (a line cut short by a killed worker, or foreign data, is skipped)."""
    found = []
    for item in json_lines(data.splitlines()):
        try:
            record = TaskRecord.from_dict(item)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        record.stored_at = key
        found.append(record)
    return found


_BAD_LINE = object()
"""`json_lines`' value for a line that is not one JSON value."""


def json_lines(lines: list[bytes]) -> list[Any]:
    """The JSON value of each line (`_BAD_LINE` for one that is not a JSON value; blank lines are left out).

    A log of 10 000 records is parsed in one call, as one JSON array: a call per line cost more than the
    parsing.  When that array does not have one value per line (a line cut short by a killed worker, or
    foreign data), the lines are parsed one by one.
    """
    lines = [line for line in lines if line.strip()]
    try:
        values = json.loads(b"[" + b",".join(lines) + b"]")
        if len(values) == len(lines):
            return values  # type: ignore[no-any-return]
    except ValueError:
        pass
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append(_BAD_LINE)
    return out


def remove_merged(transport: Transport, keys: Iterable[str], merged: set[int]) -> None:
    """Tidy the record files and logs ``keys`` after a merge: drop the records of the ``merged`` tasks.

    A task's own record file goes when its task is merged.  A log is rewritten without those tasks' lines,
    or deleted when no line is left, under the lock its worker appends with (`write_record`).
    """
    singles = [k for k in keys if not k.endswith(".jsonl")]
    logs = [k for k in keys if k.endswith(".jsonl")]
    gone = []
    for key in singles:
        task = key.rpartition("/")[2].partition(".")[0]
        if task.isdigit() and int(task) in merged:
            gone.append(key)
    if gone:
        transport.delete_many(gone)
    for key in logs:
        _tidy_log(transport, key, merged)


def _tidy_log(transport: Transport, key: str, merged: set[int]) -> None:
    import fcntl

    path = transport.local_path(key)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink == 0:
            return
        with os.fdopen(os.dup(fd), "rb") as f:
            lines = [line for line in f.read().splitlines(keepends=True) if line.strip()]
        keep = []
        for line, item in zip(lines, json_lines(lines), strict=True):
            try:
                task = int(item["task"])
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a killed worker: nothing to merge from it
            if task not in merged:
                keep.append(line if line.endswith(b"\n") else line + b"\n")
        if not keep:
            path.unlink()
        elif len(keep) < len(lines):
            tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex[:8]}")
            tmp.write_bytes(b"".join(keep))
            tmp.replace(path)  # the worker holding an fd on the old file sees it unlinked and starts anew
    finally:
        os.close(fd)
