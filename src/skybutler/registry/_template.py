"""New SQLite registries copied from a ready empty one: `create_registry`.

Creating a registry's schema costs a new process about 40 ms of CPU before its first row: the ~50 SQLAlchemy
``Table`` objects, their ``CREATE`` statements compiled, and SQLite executing them.  Every new SQLite registry
of one universe made by one version of this code is the same file but for its ``created`` attribute.  So the
first create makes it the normal way and keeps a copy of the file (as it was closed) in the per-user cache folder
(`skybutler._disk_cache.cache_folder`, beside the bytecode and configuration caches, in a library process too:
the copy is what the create itself made, so reusing it changes no result); later creates copy that file
under a temporary name in the registry's folder, set ``created``, and link it into place.

Correctness:

* **stale templates**: a template's name is a digest of everything its content follows from: the source
  files of the registry and dimensions packages (tables, indexes, migrations, how a universe becomes tables:
  each file's path, size and modification time in nanoseconds, as Python checks its bytecode), the
  universe's text, the schema version, and the versions of Python, SQLAlchemy (which compiles the DDL) and
  SQLite.  Any change and the create takes the normal path (and keeps a new template).
* **the same file as a normal create**: tests/registry/test_template.py compares the schema, the Alembic stamp,
  the pragmas and the rows of a copied registry with those of one made the normal way.
* **concurrent processes**: templates and registries are written under names of their own process and
  renamed (templates) or hard-linked (registries: never over an existing file) into place; an unreadable or
  missing template means the normal path.
* **a failed create leaves nothing**: the partial copy is removed on any error, before the registry's name
  exists; the copy is synced to disk before it gets that name.
* **untrusted folders**: only a folder of this user's that nobody else can write to is used (a planted file
  could carry triggers into every new registry); ``SKYBUTLER_NO_CACHE=1`` turns templates off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from skybutler._disk_cache import cache_folder, keep_file, own_folder
from skybutler.registry._schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionUniverse

__all__ = ["TableDdl", "create_registry", "template_path"]

KEEP = 16
"""Templates kept in the folder (one per universe and code version); the least recently used go beyond this."""

_CODE_DIGEST: list[str] = []


def _code_digest() -> str:
    """A digest of the source files a registry's schema follows from, and of the libraries that write it."""
    if not _CODE_DIGEST:
        import skybutler.dimensions

        digest = hashlib.sha256(f"{sys.version}\0{sa.__version__}\0{sqlite3.sqlite_version}".encode())
        registry = Path(__file__).parent
        dimensions = Path(skybutler.dimensions.__file__).parent
        for folder in (registry, registry / "migrations" / "versions", dimensions):
            for source in sorted(folder.glob("*.py")):  # as Python's own bytecode check: size and time
                info = source.stat()
                digest.update(f"{source}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
        _CODE_DIGEST.append(digest.hexdigest())
    return _CODE_DIGEST[0]


def template_path(universe: DimensionUniverse, suffix: str = ".sqlite3") -> Path | None:
    """Where the template of ``universe`` for this code is (or would be) kept; None if nothing may be cached."""
    base = cache_folder()
    if base is None:
        return None
    folder = own_folder(base / "registry-templates")
    if folder is None:
        return None
    try:
        code = _code_digest()
    except OSError:  # sources not readable as files (a zip): no template
        return None
    key = hashlib.sha256(f"{code}\0{SCHEMA_VERSION}\0{universe.text}".encode()).hexdigest()[:32]
    return folder / f"{key}{suffix}"


class TableDdl:
    """The compiled ``CREATE`` statements of the tables `DatasetTypes.register` makes in SQLite registries.

    A dataset type with new dimensions gets a tags table (and a calibration one): making its SQLAlchemy
    ``Table`` with the element tables its foreign keys name, and compiling its DDL, cost a new process 5-8 ms
    of CPU, four times SQLite's own work.  The statements follow from the same inputs as the template
    (`template_path`), so they are kept in a JSON file beside it, by table name: a process that finds them
    sends them as they are.
    """

    def __init__(self, universe: DimensionUniverse) -> None:
        self._universe = universe
        self._path: Path | None = None
        self._known: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        if self._known is None:
            self._path = template_path(self._universe, ".ddl.json")
            self._known = {}
            if self._path is not None:
                with contextlib.suppress(OSError, ValueError):
                    loaded = json.loads(self._path.read_bytes())
                    if isinstance(loaded, dict):
                        self._known = loaded
        return self._known

    def get(self, name: str) -> list[str] | None:
        """The statements kept for table ``name`` (None: compile them, then `keep` them)."""
        found = self._load().get(name)
        return found if isinstance(found, list) and all(isinstance(s, str) for s in found) else None

    def keep(self, name: str, statements: list[str]) -> None:
        """Keep the statements of table ``name`` for later processes (failures to write are ignored)."""
        known = self._load()
        known[name] = statements
        if self._path is None:
            return
        text = json.dumps(known)
        keep_file(self._path, lambda partial: partial.write_text(text), keep=KEEP, patterns=_KEPT)


def create_registry(url: str, *, universe: DimensionUniverse, schema: str | None, busy_timeout: float) -> None:
    """Create a new, empty registry at ``url`` (see `Registry.create`) and close it.

    A SQLite file registry is copied from this code's template for ``universe`` when there is one; otherwise it
    is made the normal way and a template is kept of it.
    """
    from skybutler.registry._registry import Registry

    path = _sqlite_path(url) if schema is None else None
    template = None if path is None or path.exists() else template_path(universe)
    if template is not None and path is not None and _copy(template, path):
        return
    Registry.create(url, universe=universe, schema=schema, busy_timeout=busy_timeout).close()
    if template is not None and path is not None:
        _keep(path, template)


def _sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///path`` URL (no query options, not in memory), else None."""
    if not url.startswith("sqlite:///") or "?" in url:
        return None
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


def _copy(template: Path, path: Path) -> bool:
    """Make ``path`` a copy of ``template`` with its own creation time; False (nothing made) if that fails."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(template, partial)
        os.utime(template)  # recently used: kept by `keep_file`'s pruning
        conn = sqlite3.connect(partial, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = FULL")  # synced before the registry gets its name
            conn.execute("UPDATE butler_attributes SET value = ? WHERE name = 'created'", (str(time.time_ns()),))
        finally:
            conn.close()  # the last connection: SQLite checkpoints, syncs and removes the write-ahead log
        if _leftovers(partial):
            raise OSError("the copy's write-ahead log was not removed")
        os.link(partial, path)  # never over a file made meanwhile
    except (OSError, sqlite3.Error):
        return False
    finally:
        for name in (partial, *_sidecars(partial)):
            with contextlib.suppress(OSError):
                name.unlink()
    return True


def _keep(path: Path, template: Path) -> None:
    """Keep the just-made, closed registry at ``path`` as ``template`` (failures are ignored)."""
    if _leftovers(path):  # not all of it is in the main file: keep nothing
        return
    keep_file(template, lambda partial: shutil.copyfile(path, partial), keep=KEEP, patterns=_KEPT)


def _sidecars(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _leftovers(path: Path) -> bool:
    """Whether ``path`` has a non-empty write-ahead log beside it (committed pages not in the main file)."""
    wal = _sidecars(path)[0]
    try:
        return wal.stat().st_size > 0
    except FileNotFoundError:
        return False


_KEPT = ("*.sqlite3", "*.ddl.json")
"""The files of the templates' folder: the `KEEP` most recently written or used of each stay."""
