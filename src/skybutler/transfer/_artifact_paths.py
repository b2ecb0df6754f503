"""Which artifact paths may enter the registry: one rule for every import, ingest and transfer.

A dataset's artifact path is either an absolute URI of a file the datastore does not own (a ``direct``
ingest: read where it is, never deleted) or a *key*: a path relative to the datastore root, which ``get``
reads and ``remove`` deletes.  A key that left the root (``../victim.json``), or named one of the
repository's own files (``butler.yaml``, the SQLite registry, the ``.staging/`` area), would let a dataset
read, and its removal delete, what is not the dataset's.  Paths come from outside on three roads -- an
export file's ``path:`` entries, a file ingested in place, a source repository's records in
``transfer_from`` -- and each checks them here, before anything is written.

A key is refused when it is empty, absolute (``/x``, ``C:x``), a URI where a key is expected, holds a
``.``, ``..`` or empty segment (``a//b``, a trailing ``/``), a backslash (another system's separator), a NUL
or another control character, or starts with a name the repository keeps at its root.  Symbolic links are
a matter of the file system, checked where files are found in place (`RootLinks`): a key must not reach
its file through a linked *directory* that leads out of the root (removing the dataset would delete the
file at the far end).
"""

from __future__ import annotations

import os
import re

__all__ = ["RESERVED_ROOT_NAMES", "RootLinks", "artifact_path_problem", "is_plain_key"]

#: Names at the datastore root that belong to the repository, not to datasets (compared case-insensitively:
#: ``Butler.yaml`` is ``butler.yaml`` on a case-insensitive file system).
RESERVED_ROOT_NAMES = frozenset(
    {
        ".staging",
        "butler.yaml",
        "registry.sqlite3",
        "registry.sqlite3-wal",
        "registry.sqlite3-shm",
        "registry.sqlite3-journal",
    }
)

#: The common shape of a key (what our templates write): segments of safe characters, none starting with a
#: dot.  A key of this shape needs only the reserved-name test; anything else goes through every check.
_PLAIN = re.compile(
    r"[A-Za-z0-9_\-+=@,%][A-Za-z0-9_.\-+=@,%~]*(?:/[A-Za-z0-9_\-+=@,%][A-Za-z0-9_.\-+=@,%~]*)*"
).fullmatch
_CONTROL = re.compile(r"[\x00-\x1f\x7f]").search
_DRIVE = re.compile(r"[A-Za-z]:").match


def is_plain_key(path: str) -> bool:
    """Whether ``path`` is a key of the common, safe shape (the fast test of bulk imports)."""
    return _PLAIN(path) is not None and path.partition("/")[0].casefold() not in RESERVED_ROOT_NAMES


def artifact_path_problem(path: object, *, external: bool = False) -> str | None:
    """What is wrong with ``path`` as an artifact path, or ``None`` when it may be recorded.

    ``external``: an absolute URI (``file:///data/raw.fits``, ``s3://bucket/key``) is accepted, as a file
    outside the datastore (``direct`` ingest); otherwise a path must be a key inside the root.

    Examples
    --------
    >>> artifact_path_problem("run1/meta/meta_1.json") is None
    True
    >>> artifact_path_problem("../victim.json")
    "has a '..' segment, which climbs out of the datastore root"
    >>> artifact_path_problem("butler.yaml")
    "names the repository's own 'butler.yaml', not a dataset's file"
    """
    if not isinstance(path, str) or not path:
        return "is empty"
    if _PLAIN(path) is not None:
        first = path.partition("/")[0]
        if first.casefold() in RESERVED_ROOT_NAMES:
            return f"names the repository's own {first!r}, not a dataset's file"
        return None
    if _CONTROL(path):
        return "holds a control character (NUL, line break, ...)"
    if "://" in path:
        scheme = path.partition("://")[0]
        if external and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) and path.partition("://")[2]:
            return None
        return "is an absolute URI; a file inside the datastore is named by its path relative to the root"
    if "\\" in path:
        return "holds a backslash, a path separator on some systems"
    if path.startswith("/") or _DRIVE(path):
        return "is absolute; a file inside the datastore is named by its path relative to the root"
    segments = path.split("/")
    if "" in segments:
        return "has an empty segment (a leading, trailing or doubled '/')"
    if "." in segments:
        return "has a '.' segment"
    if ".." in segments:
        return "has a '..' segment, which climbs out of the datastore root"
    first = segments[0]
    if first.casefold() in RESERVED_ROOT_NAMES:
        return f"names the repository's own {first!r}, not a dataset's file"
    return None


class RootLinks:
    """Where the directories under one local datastore root lead, remembered for one bulk call.

    Only the directories on a key's way count: the file itself may be a symbolic link (a ``symlink`` ingest
    makes such links on purpose; removing a dataset deletes the link, never its target).  Each directory is
    resolved once per instance (a few microseconds per file after the first of its directory).
    """

    __slots__ = ("_dirs", "_real", "root")

    def __init__(self, root: str) -> None:
        self.root = root.rstrip(os.sep) + os.sep
        self._real = os.path.realpath(root).rstrip(os.sep) + os.sep
        self._dirs: dict[str, bool] = {}

    def leaves(self, key: str) -> bool:
        """Whether the file at ``key`` lies, once directory links are followed, outside the root."""
        parent = os.path.dirname(key)
        if not parent:
            return False
        outside = self._dirs.get(parent)
        if outside is None:
            real = os.path.realpath(self.root + parent) + os.sep
            outside = self._dirs[parent] = not real.startswith(self._real)
        return outside

    def may_adopt(self, key: str) -> bool:
        """Whether the file at ``key`` may be registered in place (``auto`` ingest of a file in the root).

        Only a regular file at a safe key (`artifact_path_problem`) reached through no link out of the root
        is adopted: the datastore then owns it, and ``remove`` deletes it.  Anything else -- a symbolic link,
        a file in ``.staging/`` or the repository's own files -- is hard-linked or copied instead.
        """
        if artifact_path_problem(key.replace(os.sep, "/")) is not None or os.path.islink(self.root + key):
            return False
        return not self.leaves(key)
