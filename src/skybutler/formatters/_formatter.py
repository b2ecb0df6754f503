"""The formatter interface: one storage class ↔ one file format; never knows where bytes live."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, BinaryIO, ClassVar

__all__ = ["Formatter"]


class Formatter(ABC):
    """Write one in-memory object to a binary stream, and read it back.

    The datastore hands `write` a stream that hashes what passes through it, so checksums cost no second
    read, and hands `read` a seekable stream (a local file, or a ranged reader on object stores).
    """

    name: ClassVar[str]
    extensions: ClassVar[tuple[str, ...]]
    """File extensions, the first being the default for new files."""
    storage_classes: ClassVar[tuple[str, ...]]
    """Storage classes this formatter can write; ``"*"`` means any."""
    unsafe: ClassVar[bool] = False
    """True when reading can run code (pickle): only used where the configuration names it."""

    @abstractmethod
    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Serialize ``obj`` to ``stream`` (sequential writes only)."""

    @abstractmethod
    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Deserialize from ``stream``; ``component`` and ``parameters`` select part of the object."""

    @classmethod
    def supports(cls, storage_class: str) -> bool:
        """Return whether this formatter can write ``storage_class``."""
        return "*" in cls.storage_classes or storage_class in cls.storage_classes
