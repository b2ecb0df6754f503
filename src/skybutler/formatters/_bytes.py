"""Raw bytes formatter: the object is the file."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, BinaryIO

from skybutler.formatters._formatter import Formatter

__all__ = ["BytesFormatter", "OpaqueFormatter"]


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


class OpaqueFormatter(Formatter):
    """Files of a format we have no reader for (the reference butler's ``SkyMap``, ``Psf``, ...), kept as bytes.

    Such datasets are registered, queried and transferred byte for byte; the datastore answers a ``get``
    with an error naming the storage class that would be needed, the file's URI and the raw-bytes read
    (``storage_class="Bytes"``), so this reader is reached only for that raw read.
    """

    name = "opaque"
    extensions = ("",)
    storage_classes = ()  # chosen by imports only, never to write a new dataset

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write the bytes as they are (a transfer of the file between repositories)."""
        stream.write(obj)

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Return the bytes (reached only through `check_readable`'s raw read)."""
        self.refuse_parts(component, parameters)
        return stream.read()

    def check_readable(self, storage_class: str, uri: str, *, raw: bool = False) -> None:
        """Refuse anything but a raw read, naming the type that would be needed, the URI and the raw read."""
        if raw:
            return
        from skybutler.datasets import storage_classes
        from skybutler.errors import FormatterError

        needed = storage_classes.get(storage_class).reference_type or storage_class
        raise FormatterError(
            f"This dataset's storage class {storage_class!r} is the reference butler's {needed}, which skybutler "
            f"cannot read: its file was kept byte for byte at {uri}. Read its raw bytes with "
            f"get(..., storage_class='Bytes'), or open that file with the reference stack ({needed})."
        )
