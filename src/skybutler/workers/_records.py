"""What a task wrote (its record), where records live, and the worker-side guard that no database is reached.

A task's record is written last, after every output, beside the outputs in the plan's pending area::

    .pending/<area>/.out/<id><ext>          the outputs
    .pending/<area>/.records/<task>.json    {"plan", "task", "outputs": [[id hex, size, checksum], ...], ...}
    .pending/<area>/.attempts/<task>.<n>    one empty marker per attempt n = 1, 2, ... (killed ones too)

The folders are flat and dot-named: local transports then never try to remove them as they empty (a merge
deletes tens of thousands of these small files).

A task with no record did not finish: merge registers nothing of it, whatever outputs it left.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
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
    "guard_against_databases",
    "record_key",
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

    def to_dict(self) -> dict[str, Any]:
        """Plain data (what the record file holds)."""
        return {
            "plan": self.plan,
            "task": self.task,
            "outputs": [list(o) for o in self.outputs],
            "attempt": self.attempt,
            "seconds": self.seconds,
            "database_modules": self.database_modules,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskRecord:
        """The record `to_dict` gave (or a record file's JSON)."""
        outputs = [(str(i), int(s), None if c is None else str(c)) for i, s, c in data["outputs"]]
        return cls(str(data["plan"]), int(data["task"]), outputs, int(data.get("attempt", 1)),
                   float(data.get("seconds", 0.0)), list(data.get("database_modules", [])))  # fmt: skip

    def to_json(self) -> bytes:
        """The record file's bytes."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()
