"""JSON formatter (standard library)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, BinaryIO

from skybutler.errors import FormatterError
from skybutler.formatters._formatter import Formatter

__all__ = ["JsonFormatter"]


class JsonFormatter(Formatter):
    """JSON for dicts and lists of JSON-compatible values."""

    name = "json"
    extensions = (".json",)
    storage_classes = ("StructuredDataDict", "StructuredDataList", "Metadata")

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write compact UTF-8 JSON."""
        try:
            text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise FormatterError(f"Cannot write this object as JSON: {exc}.") from exc
        stream.write(text.encode())

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Parse the JSON document."""
        self.refuse_parts(component, parameters)
        return json.loads(stream.read())
