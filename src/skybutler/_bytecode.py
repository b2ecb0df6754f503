"""Compiled bytecode of skybutler's own modules, kept per user when Python is told not to write any.

Python reads a module's bytecode from ``__pycache__`` beside its source and writes it there after compiling,
unless ``PYTHONDONTWRITEBYTECODE`` is set (or ``-B``), as it is on machines that keep source trees clean or
read-only.  Then, in an editable install (``pip install -e .``, which compiles nothing), every ``skybutler``
command compiles the ~200 modules it needs from source: about 0.2 s of CPU, more than the whole target
above ``import sqlalchemy`` for a query command (issue 26 part 6).  Packages installed from wheels are
compiled by pip and are not affected.

`install` (``import skybutler`` calls it first thing, so in a library process as in a command) adds an import
hook for ``skybutler.*`` modules only, and only while bytecode writing is off and Python has no bytecode of the
module beside its source: it keeps the compiled code in the per-user cache folder (`skybutler._disk_cache`,
``bytecode-<python tag>/``), never beside the sources, so the user's setting keeps holding for every source
tree.  ``SKYBUTLER_NO_CACHE=1`` turns it off with the rest of that folder.  A library process used to be left
alone, compiling every module it imports in every process: 15-25 ms of CPU for a process's first create and
open, 4-6 ms for its first dataset-type registrations, a third of each (W1, issue 26); pipelines run many short
processes, each of which paid it.  Only ``skybutler`` and the hook's own two modules are compiled before it is
in place.

Correctness:

* **stale code**: an entry records the interpreter's bytecode magic number, the optimization level, and the
  source's path, size and modification time in nanoseconds; any difference and the source is compiled again
  (and the entry replaced).  Python's own check is the same, with the time in whole seconds.
* **concurrent processes**: an entry is written under a name of its own process and renamed into place, so a
  reader finds the old entry, the new one or none, never half of one; an unreadable entry counts as absent.
* **read-only or foreign folders**: the folder must be this user's and writable by nobody else (loading code
  from a folder others can write to would run their code); if it cannot be made, or a write fails, modules
  are compiled as before.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import marshal
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType

from skybutler._disk_cache import cache_folder, own_folder

__all__ = ["CachingLoader", "Finder", "install", "installed"]

PACKAGE = "skybutler"


def _header(source_path: str, stat: os.stat_result) -> bytes:
    """What an entry must start with to hold the code of this source file as it is now, for this interpreter."""
    fields = (sys.flags.optimize, stat.st_mtime_ns, stat.st_size)
    return importlib.util.MAGIC_NUMBER + b"".join(f.to_bytes(8, "little") for f in fields) + os.fsencode(source_path)


class CachingLoader(importlib.machinery.SourceFileLoader):
    """Loads a module's source file, its code compiled once and kept in ``entry`` (see the module docstring)."""

    def __init__(self, fullname: str, path: str, entry: Path) -> None:
        super().__init__(fullname, path)
        self.entry = entry

    def get_code(self, fullname: str) -> CodeType:
        source_path = self.get_filename(fullname)
        header = _header(source_path, Path(source_path).stat())
        try:
            data = self.entry.read_bytes()
            if data.startswith(header):
                code = marshal.loads(memoryview(data)[len(header) :])
                if isinstance(code, CodeType):
                    return code
        except (OSError, ValueError, EOFError, TypeError):  # absent or damaged: compile again
            pass
        code = self.source_to_code(self.get_data(source_path), source_path)
        partial = self.entry.with_name(f".{self.entry.name}.{os.getpid()}")
        try:
            with partial.open("wb") as stream:
                stream.write(header + marshal.dumps(code))
            partial.replace(self.entry)
        except OSError:  # a full or read-only disk, the folder gone: this process compiled it, the next will too
            try:
                partial.unlink(missing_ok=True)
            except OSError:
                pass
        return code


class Finder:
    """A `sys.meta_path` finder for the submodules of ``package`` that Python has no bytecode of."""

    def __init__(self, folder: Path, package: str = PACKAGE) -> None:
        self.folder = folder
        self.prefix = package + "."

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.prefix) or not sys.dont_write_bytecode:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader or spec.origin is None:
            return spec
        if spec.cached is not None and Path(spec.cached).exists():  # compiled by pip or compileall: Python's own
            return spec
        spec.loader = CachingLoader(fullname, spec.origin, self.folder / f"{fullname}.pyc")
        spec.cached = None
        return spec


def installed() -> Finder | None:
    """The finder `install` added, if any."""
    return next((f for f in sys.meta_path if isinstance(f, Finder)), None)


def install() -> Finder | None:
    """Keep compiled skybutler modules in the per-user cache while bytecode writing is off; the finder, or None.

    Nothing is done when Python writes bytecode itself, when the cache folder is off or unusable, or when
    skybutler is not imported from plain source files.
    """
    if not sys.dont_write_bytecode or sys.implementation.cache_tag is None:
        return None
    if (found := installed()) is not None:
        return found
    base = cache_folder()
    package = sys.modules[PACKAGE].__file__
    if base is None or package is None:
        return None
    # one folder per source tree (checkouts hold different code under the same module names; an entry records
    # its source's path too, so a shared folder would cost compilations, never give the wrong code)
    tree = f"{zlib.crc32(os.fsencode(Path(package).resolve().parent)):08x}"
    # each level made and checked in turn: `mkdir(parents=True)` would make the middle one with the umask's mode
    middle = own_folder(base / f"bytecode-{sys.implementation.cache_tag}")
    folder = None if middle is None else own_folder(middle / tree)
    if folder is None:
        return None
    found = Finder(folder)
    sys.meta_path.insert(0, found)
    return found
