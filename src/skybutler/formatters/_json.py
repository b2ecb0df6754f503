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
        """Write compact UTF-8 JSON.

        Dict keys must be strings: JSON would write ``1``, ``2.5``, ``True`` or ``None`` as the strings
        ``"1"``, ``"2.5"``, ``"true"``, ``"null"``, so the dict read back would differ (and ``{1: a, "1": b}``
        would lose a value).  Such keys are refused rather than changed silently.
        """
        _check_keys(obj)
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


def _check_keys(obj: Any) -> None:
    """Raise `FormatterError` naming the first dict key, at any depth, that is not a string.

    Recursive, like the encoder itself (a stack of generators was twice as slow on nested documents).
    """
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, str):
                raise FormatterError(
                    f"Cannot write this object as JSON: its keys must be strings, and {key!r} "
                    f"({type(key).__name__}) would read back as a string. Use string keys, or YAML, "
                    "which keeps them."
                )
            if isinstance(value, _CONTAINERS):
                _check_keys(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            if isinstance(value, _CONTAINERS):
                _check_keys(value)


_CONTAINERS = (dict, list, tuple)
