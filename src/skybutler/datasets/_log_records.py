"""Log records as a dataset: what a block of processing logged, stored with what it made (storage class
``LogRecords``, written as JSON lines by the ``jsonl`` formatter).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from skybutler.datasets._storage_class import StorageClass

__all__ = ["LOG_RECORDS", "LogEntry", "LogRecords", "level_number"]

_LEVELS = {"CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARNING": 30, "WARN": 30, "INFO": 20, "DEBUG": 10, "NOTSET": 0}


def level_number(level: int | str) -> int:
    """A logging level as its number: ``"WARNING"`` → 30 (names are case-insensitive; numbers pass through)."""
    if isinstance(level, int):
        return level
    found = _LEVELS.get(level.upper())
    if found is None:
        from skybutler.errors import DataIdError

        raise DataIdError(f"Unknown log level {level!r}; use one of {', '.join(_LEVELS)} or a number.")
    return found


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log record: level, logger name, time (UTC seconds since 1970), message and exception text."""

    level: str
    levelno: int
    logger: str
    time: float
    message: str
    exc_text: str | None = None

    def to_json(self) -> str:
        """One JSON line (UTF-8 text kept as it is)."""
        return json.dumps(asdict(self), ensure_ascii=False)


class LogRecords(list[LogEntry]):
    """The log records of a block, in the order they were emitted."""

    def filter(self, level: int | str) -> LogRecords:
        """The records at ``level`` or above (``"WARNING"``, ``logging.WARNING``, ...)."""
        threshold = level_number(level)
        return LogRecords(r for r in self if r.levelno >= threshold)

    def to_jsonl(self) -> str:
        """JSON lines: one object per record."""
        return "".join(r.to_json() + "\n" for r in self)

    @classmethod
    def from_jsonl(cls, lines: Iterable[str]) -> LogRecords:
        """Parse JSON lines (blank lines are skipped)."""
        return cls(LogEntry(**json.loads(line)) for line in lines if line.strip())

    def __str__(self) -> str:
        from datetime import UTC, datetime

        out = []
        for r in self:
            stamp = datetime.fromtimestamp(r.time, UTC).isoformat(timespec="milliseconds")
            out.append(f"{stamp} {r.level:<8} {r.logger}: {r.message}")
            if r.exc_text:
                out.append(r.exc_text)
        return "\n".join(out)


LOG_RECORDS = StorageClass(
    "LogRecords",
    "skybutler.datasets._log_records:LogRecords",
    doc="Log records of a block of processing (level, logger, time, message, exception text).",
    parameters=("level",),  # only the records at this level or above
)
