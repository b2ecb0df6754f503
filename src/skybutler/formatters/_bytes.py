"""Raw bytes formatter: the object is the file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

from skybutler.formatters._formatter import Formatter

__all__ = ["BytesFormatter"]


class BytesFormatter(Formatter):
    """Store `bytes` as they are."""

    name = "bytes"
    extensions = (".bin",)
    storage_classes = ("Bytes",)

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write the bytes."""
        stream.write(obj)

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Return the bytes."""
        self.refuse_parts(component, parameters)
        return stream.read()
