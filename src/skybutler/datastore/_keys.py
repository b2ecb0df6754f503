"""Which artifact paths are keys inside the datastore root: the one rule for templates, imports and reads.

A dataset's artifact path is either an absolute URI of a file the datastore does not own (a ``direct``
ingest: read where it is, never deleted) or a *key*: a path relative to the datastore root, which ``get``
reads and ``remove`` deletes.  A key that left the root (``../victim.json``), or named one of the
repository's own files (``butler.yaml``, the SQLite registry and its siblings, the ``.staging/`` area),
would let a dataset read, and its removal delete, what is not the dataset's.  So the rule is applied on
every road a path takes: templates never render such a key (`is_reserved_name`), imports, ingests and
transfers refuse to record one (`key_problem`), reconcile and verify leave the repository's own files out
of the unknown ones, and the file datastore refuses to read, delete or copy one a registry holds already
(an old import may have recorded it) -- this module sits in the datastore layer so that all of them,
transfer included, share it.

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
import warnings

from skybutler.errors import PermissionDeniedError

__all__ = [
    "RESERVED_ROOT_NAMES",
    "RootLinks",
    "checked_key",
    "copy_target",
    "deletable_key",
    "escape_problem",
    "is_plain_key",
    "is_repository_file",
    "is_reserved_name",
    "key_problem",
]

RESERVED_ROOT_NAMES = frozenset({".pending", ".staging", "butler.yaml", "registry.sqlite3"})
"""Names at the datastore root that belong to the repository, not to datasets, compared case-insensitively
(``Butler.yaml`` is ``butler.yaml`` on a case-insensitive file system); the SQLite registry's siblings
(``registry.sqlite3-wal``, ``-shm``, ``-journal``, ...) are ``registry.sqlite3-`` and anything."""
_SQLITE_SIBLING = "registry.sqlite3-"

_PLAIN = re.compile(
    r"(?!(?i:butler\.yaml|registry\.sqlite3(?:-[^/]*)?)(?:/|\Z))"
    r"[A-Za-z0-9_\-+=@,%][A-Za-z0-9_.\-+=@,%~]*(?:/[A-Za-z0-9_\-+=@,%][A-Za-z0-9_.\-+=@,%~]*)*"
).fullmatch
"""The common shape of a key (what our templates write), in one match: segments of safe ASCII characters,
none starting with a dot (so no ``.``/``..`` segment and no ``.staging``), and a first segment that is not
one of the repository's files.  A key of this shape is safe; anything else goes through every check."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]").search
_DRIVE = re.compile(r"[A-Za-z]:").match
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*").fullmatch


def is_reserved_name(segment: str) -> bool:
    """Whether a first path segment names a file or directory the repository keeps at the datastore root.

    Examples
    --------
    >>> is_reserved_name("Butler.yaml"), is_reserved_name("registry.sqlite3-wal"), is_reserved_name("run1")
    (True, True, False)
    """
    folded = segment.casefold()
    return folded in RESERVED_ROOT_NAMES or folded.startswith(_SQLITE_SIBLING)


def is_repository_file(key: str) -> bool:
    """Whether a key found under the datastore root is one of the repository's own files (or under ``.staging/``).

    What reconcile and verify leave out of the files no dataset refers to.
    """
    return is_reserved_name(key.partition("/")[0])


def is_plain_key(path: str) -> bool:
    """Whether ``path`` is a key of the common, safe shape: one regular-expression match (the hot-path test)."""
    return _PLAIN(path) is not None


def escape_problem(path: str) -> str | None:
    """What makes the relative path ``path`` leave the directory it is joined to, or ``None``.

    The part of `key_problem` that does not depend on the directory being a datastore root (no reserved
    names, no URIs): also the test of the paths files are copied to under a caller's directory.
    """
    if not path:
        return "is empty"
    if _CONTROL(path):
        return "holds a control character (NUL, line break, ...)"
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
    return None


def key_problem(path: object, *, external: bool = False) -> str | None:
    """What is wrong with ``path`` as an artifact path, or ``None`` when it may be recorded and followed.

    ``external``: an absolute URI (``file:///data/raw.fits``, ``s3://bucket/key``) is accepted, as a file
    outside the datastore (``direct`` ingest); otherwise a path must be a key inside the root.

    Examples
    --------
    >>> key_problem("run1/meta/meta_1.json") is None
    True
    >>> key_problem("../victim.json")
    "has a '..' segment, which climbs out of the datastore root"
    >>> key_problem("butler.yaml")
    "names the repository's own 'butler.yaml', not a dataset's file"
    """
    if not isinstance(path, str) or not path:
        return "is empty"
    if _PLAIN(path) is not None:
        return None
    if "://" in path and not _CONTROL(path):
        scheme, _, rest = path.partition("://")
        if external and _SCHEME(scheme) and rest:
            return None
        return "is an absolute URI; a file inside the datastore is named by its path relative to the root"
    problem = escape_problem(path)
    if problem is not None:
        return problem
    first = path.partition("/")[0]
    if is_reserved_name(first):
        return f"names the repository's own {first!r}, not a dataset's file"
    return None


def checked_key(path: str) -> str:
    """``path``, a recorded key the datastore may read, copy or move to; refused otherwise (one regex match).

    Raises
    ------
    PermissionDeniedError
        ``path`` leaves the datastore root or names the repository's own files (`key_problem`).
    """
    if _PLAIN(path) is None and (problem := key_problem(path)) is not None:
        raise PermissionDeniedError(
            f"A dataset's file is recorded at {path!r}, which {problem}: the datastore does not read, copy or "
            "delete it (an import made before paths were checked may have recorded it). Remove the dataset "
            "(that unregisters it and deletes no file there), then import or ingest it again from a copy."
        )
    return path


def deletable_key(path: str) -> bool:
    """Whether removing the dataset recorded at the key ``path`` may delete it; if not, say so in a warning.

    A key that `key_problem` refuses (recorded by an old import: ``../x``, ``butler.yaml``) is not the
    datastore's: removing its dataset only unregisters it, and the warning names what was left alone.
    """
    if _PLAIN(path) is not None or (problem := key_problem(path)) is None:
        return True
    from skybutler.plugins import SkyButlerWarning

    warnings.warn(
        f"Not deleted: {path!r}, recorded as a dataset's file, {problem}; the dataset was unregistered and "
        "whatever is at that path left alone.",
        SkyButlerWarning,
        stacklevel=3,
    )
    return False


def copy_target(path: str) -> str:
    """Where a copy of the artifact at ``path`` goes, relative to the directory files are retrieved into.

    A key goes at itself (`checked_key`); a direct-ingested file (an absolute URI) under its URI's path
    (``s3://b/raw/x.fits`` -> ``b/raw/x.fits``), which must not climb out of that directory either.

    Raises
    ------
    PermissionDeniedError
        The key is refused, or the copy would be written outside the directory.
    """
    if "://" not in path:
        return checked_key(path)
    relative = path.partition("://")[2].lstrip("/")
    if (problem := escape_problem(relative)) is not None:
        raise PermissionDeniedError(
            f"Cannot copy {path}: its path {relative!r} {problem}, so the copy would not stay under the "
            "destination; nothing was copied. Leave that dataset out, or copy its file yourself."
        )
    return relative


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

        Only a regular file at a safe key (`key_problem`) reached through no link out of the root is
        adopted: the datastore then owns it, and ``remove`` deletes it.  Anything else -- a symbolic link,
        a file in ``.staging/`` or the repository's own files -- is hard-linked or copied instead.
        """
        if key_problem(key.replace(os.sep, "/")) is not None or os.path.islink(self.root + key):
            return False
        return not self.leaves(key)
