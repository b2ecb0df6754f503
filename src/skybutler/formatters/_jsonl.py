"""JSON lines for log records: one object per line, so a log is readable with ``grep`` and ``jq`` as well."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

from skybutler.datasets._log_records import LogRecords
from skybutler.errors import FormatterError
from skybutler.formatters._formatter import Formatter

__all__ = ["JsonLinesFormatter"]


class JsonLinesFormatter(Formatter):
    """`LogRecords` as UTF-8 JSON lines; the read parameter ``level`` keeps the records at or above it."""

    name = "jsonl"
    extensions = (".jsonl",)
    storage_classes = ("LogRecords",)

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write one JSON object per record."""
        if not isinstance(obj, LogRecords):
            raise FormatterError(f"The jsonl formatter writes LogRecords; got {type(obj).__name__}.")
        stream.write(obj.to_jsonl().encode())

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read the records (those at ``parameters["level"]`` or above, when given)."""
        level = (parameters or {}).get("level")
        self.refuse_parts(component, parameters, allowed=("level",))
        records = LogRecords.from_jsonl(stream.read().decode("utf-8").splitlines())
        return records if level is None else records.filter(level)
