"""Pickle formatter: any picklable object; only used where the configuration names it."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any, BinaryIO

from skybutler.errors import FormatterError
from skybutler.formatters._formatter import Formatter

__all__ = ["PickleFormatter"]


class PickleFormatter(Formatter):
    """Pickle, protocol 5.  Unpickling runs code, so this formatter is never chosen by default."""

    name = "pickle"
    extensions = (".pickle",)
    storage_classes = ("*",)
    unsafe = True

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Pickle ``obj``."""
        try:
            pickle.dump(obj, stream, protocol=5)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise FormatterError(f"Cannot pickle this object: {exc}.") from exc

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Unpickle (trusted repositories only)."""
        self.refuse_parts(component, parameters)
        return pickle.load(stream)
