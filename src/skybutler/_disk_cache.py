"""Results a short-lived process would otherwise recompute, kept in the per-user cache folder.

A command-line call is a new process: it validates the repository's configuration (which imports pydantic,
60-80 ms) and parses its ``--where`` expression (which imports lark, 20-40 ms) every time, although both
inputs are usually the ones of the previous call.  The command line turns on `enable`; then `DiskCache`
keeps such results on disk, keyed by their exact input.  A library process keeps none of these on disk (it lives
long enough to keep its results in memory), so `enabled` is off by default.  (New SQLite registries are copied
from a template kept in the same folder in any process: `skybutler.registry._template`.)

Entries are pickles of ``(key, value)`` in a folder only its owner can write (a pickle from a folder others can
write to could run their code), named after a digest of the code that produces the values, so a changed
producer never reads an old value (the folders of older versions are removed when a new one is made).
Files are written under a temporary name and renamed; an unreadable file counts as absent; a key is compared
in full on load, not only by its hash.  A folder keeps at most ``max_files`` entries (the oldest half is
removed beyond that).  ``SKYBUTLER_NO_CACHE=1`` turns all of it off.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

# hashlib, pickle, pathlib and importlib.util are imported where used: the command line imports this module
# to call `enable` in every process, ``skybutler --help`` included (a budget of its own).

__all__ = ["DiskCache", "cache_folder", "enable", "enabled", "keep_file", "source_digest"]

_state = {"enabled": False}


def enable(on: bool = True) -> None:
    """Keep results on disk from now on (the command line calls this; off by default)."""
    _state["enabled"] = on


def enabled() -> bool:
    """Whether results are kept on disk (`DiskCache` still does nothing without a usable folder)."""
    return _state["enabled"]


def cache_folder() -> Path | None:
    """``$XDG_CACHE_HOME/skybutler`` (default ``~/.cache``), made if needed, if it is this user's own.

    None when ``SKYBUTLER_NO_CACHE=1``, when it cannot be made, or when another user could write to it.
    """
    if os.environ.get("SKYBUTLER_NO_CACHE") == "1":
        return None
    from pathlib import Path

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return own_folder(Path(base) / "skybutler")


def own_folder(folder: Path) -> Path | None:
    """``folder``, made if needed with mode 0700, if this user owns it and nobody else can write to it."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except (OSError, RuntimeError):
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:  # another user could plant a pickle there
        return None
    return folder


def keep_file(path: Path, write: Callable[[Path], object], *, keep: int, patterns: Sequence[str]) -> bool:
    """Put a cache entry at ``path``: ``write(partial)`` fills a temporary name beside it, which is then renamed
    into place (a reader in another process sees the old entry or the new one, never half of one); then only
    the ``keep`` most recently written or used files of each of ``patterns`` stay in the folder.

    Whether it was written: a failure (a full disk, a read-only folder) is ignored, as a cache's are, and the
    temporary file removed.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        write(partial)
        partial.replace(path)
    except OSError:
        try:
            partial.unlink(missing_ok=True)
        except OSError:  # the folder itself refuses: nothing was left there either
            pass
        return False
    for pattern in patterns:
        try:
            kept = sorted(path.parent.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in kept[keep:]:
                old.unlink(missing_ok=True)
        except OSError:  # removed meanwhile by another process: pruned next time
            pass
    return True


def source_digest(modules: Iterable[str], extra: Iterable[bytes] = ()) -> str | None:
    """A digest of the Python version, the source files of ``modules`` and ``extra`` bytes.

    None if a module's source cannot be read (e.g. from a zip): then nothing is cached.
    """
    import hashlib
    import importlib.util
    import sys
    from pathlib import Path

    digest = hashlib.sha256(sys.version.encode())
    try:
        for name in modules:
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                return None
            digest.update(Path(spec.origin).read_bytes())
    except (OSError, ImportError, ValueError):
        return None
    for chunk in extra:
        digest.update(chunk)
    return digest.hexdigest()[:20]


class DiskCache:
    """Values by text key in ``<cache folder>/<prefix>-<code digest>/``, while `enabled`.

    Parameters
    ----------
    prefix
        Names this kind of entry (``where``, ``config``).
    code_key
        Returns the digest of the code that produces the values (see `source_digest`), None to cache nothing.
        Called once.
    max_files
        Entries kept; beyond this the oldest half is removed.
    """

    def __init__(self, prefix: str, code_key: Callable[[], str | None], max_files: int = 2000) -> None:
        self.prefix = prefix
        self.max_files = max_files
        self._code_key = functools.cache(code_key)

    def folder(self) -> Path | None:
        """This kind's folder for the current code, made if needed; None if nothing can be cached."""
        if not enabled():
            return None
        base = cache_folder()
        key = self._code_key()
        if base is None or key is None:
            return None
        entries = base / f"{self.prefix}-{key}"
        if not entries.exists():  # a new code version: the values of older ones are of no use any more
            import shutil

            for old in base.glob(f"{self.prefix}-*"):
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
        return own_folder(entries)

    def _path(self, folder: Path, key: str) -> Path:
        import hashlib

        return folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".pickle")

    def load(self, key: str) -> Any:
        """The value saved for ``key``, or None (also when not `enabled`)."""
        folder = self.folder()
        if folder is None:
            return None
        import pickle

        try:
            with self._path(folder, key).open("rb") as stream:
                saved, value = pickle.load(stream)
        except Exception:  # absent, damaged or from an incompatible version: compute again (and save anew)
            return None
        return value if saved == key else None

    def save(self, key: str, value: Any) -> None:
        """Keep ``value`` for ``key`` (when `enabled`); failures to write are ignored."""
        folder = self.folder()
        if folder is None:
            return
        import pickle

        path = self._path(folder, key)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        try:
            with partial.open("wb") as stream:
                pickle.dump((key, value), stream, protocol=pickle.HIGHEST_PROTOCOL)
            partial.replace(path)
            files = list(folder.glob("*.pickle"))
            if len(files) > self.max_files:
                by_age = sorted(files, key=lambda p: p.stat().st_mtime)
                for old in by_age[: len(files) // 2]:
                    old.unlink(missing_ok=True)
        except Exception:  # cannot write, or the value cannot be pickled: it is computed again next time
            partial.unlink(missing_ok=True)
