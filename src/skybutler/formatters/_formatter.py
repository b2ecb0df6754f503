"""The formatter interface: one storage class ↔ one file format; never knows where bytes live."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

if TYPE_CHECKING:
    from pathlib import Path

    from skybutler.datasets import DatasetRef

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
    told_storage_classes: ClassVar[tuple[str, ...]] = ()
    """Storage classes whose objects this formatter cannot tell apart from another's by the object alone (a
    dict is ``Metadata`` or a nested ``StructuredDataDict``): it writes them only once told (`for_storage_class`)."""
    writes_as: str | None = None
    """The storage class every object is written as, once told (`for_storage_class`); None: from the object."""
    records_provenance: ClassVar[bool] = False
    """True for formats with room for provenance (FITS headers, HDF5 attributes, Parquet metadata)."""
    provenance: Mapping[str, str] | None = None
    """What the dataset being written is and was made from (`for_dataset`); None: not bound to one."""
    writes_streams: ClassVar[bool] = True
    """False when the format needs random access while writing (HDF5): the datastore then calls `write_file`
    with a local path, instead of `write` with its hashing stream, and hashes the file afterwards."""

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

    def check_readable(self, storage_class: str, uri: str, *, raw: bool = False) -> None:
        """Raise a `FormatterError` saying what to do when this formatter will not read the file at ``uri``.

        ``raw`` is a read of the file's bytes (``storage_class="Bytes"``), which every file allows.  Readers
        of every file they are given (all but ``opaque``) accept.
        """
        del storage_class, uri, raw  # a hook with a default (read everything), not an abstract method

    def for_dataset(self, ref: DatasetRef) -> Formatter:
        """This formatter bound to the dataset it is about to write, so the file can say what it is.

        Formats that record provenance (`records_provenance`) get a copy holding `provenance`
        (`skybutler.formatters._provenance`); the others are returned as they are.
        """
        if not self.records_provenance:
            return self
        from skybutler.formatters._provenance import provenance_of

        bound = copy.copy(self)
        bound.provenance = provenance_of(ref)
        return bound

    def for_storage_class(self, storage_class: str) -> Formatter:
        """This formatter, told that the objects it writes are of ``storage_class`` (the dataset type's).

        The datastore asks for the writer of each dataset type this way, since formats tell most storage
        classes apart by the object, but not all (`told_storage_classes`): for those a told copy is returned,
        which writes every object as ``storage_class``; for the others, this formatter itself.  Reading needs
        no telling: files record what they hold.
        """
        if storage_class not in self.told_storage_classes:
            return self
        told = copy.copy(self)
        told.writes_as = storage_class
        return told

    def write_file(self, obj: Any, path: Path) -> None:
        """Serialize ``obj`` to a new local file at ``path``.

        Formatters whose library must seek while writing override this (and set ``writes_streams = False``);
        the default streams through `write`.
        """
        with open(path, "wb") as stream:
            self.write(obj, stream)

    def refuse_parts(
        self, component: str | None, parameters: Mapping[str, Any] | None, allowed: tuple[str, ...] = ()
    ) -> None:
        """Refuse a component, or parameters other than ``allowed``, for formats that read whole objects only.

        Raises
        ------
        FormatterError
            Names what was asked and what this formatter reads.
        """
        from skybutler.errors import FormatterError

        if component is not None:
            raise FormatterError(f"Formatter {self.name!r} reads whole objects; it has no component {component!r}.")
        unknown = sorted(set(parameters or ()) - set(allowed))
        if unknown:
            raise FormatterError(
                f"Formatter {self.name!r} takes no read parameters {unknown}"
                + (f"; it takes {list(allowed)}." if allowed else ".")
            )

    @classmethod
    def supports(cls, storage_class: str) -> bool:
        """Return whether this formatter can write ``storage_class``."""
        return "*" in cls.storage_classes or storage_class in cls.storage_classes
