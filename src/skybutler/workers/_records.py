"""What a task wrote (its record), where records live, and the worker-side check that no database is in reach.

A task's record is written last, after every output, beside the outputs in the plan's pending area::

    .pending/<area>/records/<task>.json     {"plan", "task", "outputs": [[id hex, size, checksum], ...], ...}
    .pending/<area>/attempts/<task>/<uuid>  one empty marker per attempt (counts retries, killed ones too)

A task with no record did not finish: merge registers nothing of it, whatever outputs it left.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DATABASE_MODULES", "TaskRecord", "attempts_key", "database_modules", "record_key"]

DATABASE_MODULES = ("sqlalchemy", "sqlite3", "_sqlite3", "psycopg", "psycopg2", "asyncpg", "alembic", "pg8000")
"""Top-level modules of SQL engines and drivers: none may be imported in an isolated worker process."""


def database_modules() -> list[str]:
    """The SQL engine and driver modules imported in this process (empty in a proper worker)."""
    return [name for name in DATABASE_MODULES if name in sys.modules]


def record_key(prefix: str, task: int) -> str:
    """The key of task ``task``'s record in the area with key ``prefix``."""
    return f"{prefix}records/{task}.json"


def attempts_key(prefix: str, task: int) -> str:
    """The key prefix of task ``task``'s attempt markers."""
    return f"{prefix}attempts/{task}/"


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
    """SQL engine or driver modules found imported in the worker at commit (see `database_modules`)."""

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
