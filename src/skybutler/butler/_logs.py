"""`Butler.capture_logs`: the log records of a block, stored as a ``LogRecords`` dataset when it ends.

The handler sits on the root logger for the block, and the root logger's level is lowered to the capture's
level meanwhile (Python's default, WARNING, would drop the INFO records a pipeline's log is made of); both
are restored afterwards.  A block that raises still stores its log, with the exception as a last ERROR
record, and the exception goes on.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from skybutler.datasets._log_records import LogEntry, LogRecords, level_number
from skybutler.errors import DatasetTypeError

if TYPE_CHECKING:
    from skybutler.butler._interface import Butler
    from skybutler.datasets import DatasetRef
    from skybutler.types import DataIdLike

__all__ = ["LogCapture"]


class _Collector(logging.Handler):
    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.records = LogRecords()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc_text = None
            if record.exc_info and record.exc_info[0] is not None:
                exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            elif record.exc_text:
                exc_text = record.exc_text
            self.records.append(
                LogEntry(record.levelname, record.levelno, record.name, record.created, record.getMessage(), exc_text)
            )
        except Exception:  # a handler must never break the code that logs
            self.handleError(record)


class LogCapture:
    """Context manager made by `Butler.capture_logs`; ``ref`` is the stored dataset once the block ends."""

    def __init__(
        self,
        butler: Butler,
        dataset_type: str,
        data_id: DataIdLike | None,
        run: str | None,
        kwargs: Mapping[str, Any],
        level: int | str = logging.INFO,
    ) -> None:
        self._butler = butler
        self._dataset_type = dataset_type
        self._data_id = data_id
        self._run = run
        self._kwargs = dict(kwargs)
        self._level = level_number(level)
        self._handler = _Collector(self._level)
        self._saved_level = logging.NOTSET
        self.ref: DatasetRef | None = None

    @property
    def records(self) -> LogRecords:
        """The records collected so far."""
        return self._handler.records

    def __enter__(self) -> LogCapture:
        root = logging.getLogger()
        self._saved_level = root.level
        if root.getEffectiveLevel() > self._level:
            root.setLevel(self._level)
        root.addHandler(self._handler)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._saved_level)
        if exc is not None:
            text = "".join(traceback.format_exception(exc_type, exc, tb)).rstrip()
            self._handler.records.append(
                LogEntry("ERROR", logging.ERROR, "skybutler.capture_logs", _now(), f"block failed: {exc!r}", text)
            )
        self.ref = self._store()

    def _store(self) -> DatasetRef:
        butler = self._butler
        merged = dict(self._data_id or {})
        merged.update(self._kwargs)
        try:
            butler.get_dataset_type(self._dataset_type)
        except DatasetTypeError:
            butler.register_dataset_type(self._dataset_type, list(merged), "LogRecords")
        return butler.put(self._handler.records, self._dataset_type, merged, run=self._run)


def _now() -> float:
    import time

    return time.time()
