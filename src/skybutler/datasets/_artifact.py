"""`ArtifactInfo`: what the registry records about a dataset's file (the datastore's bookkeeping)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArtifactInfo"]


@dataclass(frozen=True, slots=True)
class ArtifactInfo:
    """Where a dataset's bytes are and how to read them.

    The formatter *name* is recorded with each file, so a later configuration change cannot make old files
    unreadable.
    """

    path: str
    """Key relative to the datastore root (an in-memory datastore: the dataset ID)."""
    formatter: str
    """Short name of the formatter that wrote the file."""
    storage_class: str
    """Storage class the object was written as."""
    size: int
    """Bytes in the file."""
    checksum: str | None
    """``"<algorithm>:<hex digest>"`` computed while writing, or ``None`` when checksums are off."""
    component: str = ""
    """Component stored in this file; ``""`` for the whole dataset."""
    datastore: str = ""
    """Name of the datastore holding it: a child of a chained datastore, ``""`` for a repository's only one.
    Recorded so that reading never has to guess which child to ask."""
