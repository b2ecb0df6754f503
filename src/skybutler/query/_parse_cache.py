"""Parsed `where` expressions kept on disk for the command line, and the per-user cache folder.

Each command-line query is a new process, and importing lark and loading its parser costs 20-40 ms, about a
tenth of the whole command (issue 8).  Commands are repeated with other numbers (``visit = 1228``, then
``visit = 1230``: shell history, loops over visits), and `parse_where` already reuses, within a process, a
parse of a text that differs only in its integer literals.  The command line turns on `enable`, which keeps
those parses on disk too: a repeated expression shape then needs no lark at all.  A library process keeps
its parses in memory only (it lives long enough for that).

Each entry is a pickle of ``(template, tree, spans, values)`` in a folder only its owner can write (a pickle
from a folder others can write to could run their code), named after the template and the code that
produces trees (the grammar, the AST classes, the parser and the time conversions), so a changed parser
never reads an old tree (the folder of an older version is removed when a new one is made).  Files are
written under a temporary name and renamed; an unreadable file counts as absent.  The folder keeps at most
`MAX_FILES` entries (the oldest half is removed beyond that).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import sys
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["MAX_FILES", "cache_folder", "enable", "enabled", "load", "save"]

MAX_FILES = 2000
"""Parsed expressions kept on disk; beyond this the oldest half is removed."""

_state = {"enabled": False}


def enable(on: bool = True) -> None:
    """Keep parsed expressions on disk from now on (the command line calls this; off by default)."""
    _state["enabled"] = on


def enabled() -> bool:
    """Whether parsed expressions are kept on disk (`load` and `save` still do nothing without a usable folder)."""
    return _state["enabled"]


def cache_folder() -> Path | None:
    """``$XDG_CACHE_HOME/skybutler`` (default ``~/.cache``), made if needed, if it is this user's own.

    None when ``SKYBUTLER_NO_CACHE=1``, when it cannot be made, or when another user could write to it.
    """
    if os.environ.get("SKYBUTLER_NO_CACHE") == "1":
        return None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return _own_folder(Path(base) / "skybutler")


def _own_folder(folder: Path) -> Path | None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except (OSError, RuntimeError):
        return None
    if info.st_uid != os.getuid() or info.st_mode & 0o022:  # another user could plant a pickle there
        return None
    return folder


@functools.cache
def _code_key() -> str | None:
    """A digest of everything that decides the tree of a text; None if a source cannot be read (zipped)."""
    digest = hashlib.sha256(sys.version.encode())
    try:
        digest.update(resources.files("skybutler.query").joinpath("where.lark").read_bytes())
        for name in ("skybutler.query._ast", "skybutler.query._parser", "skybutler.dimensions._time"):
            spec = importlib.util.find_spec(name)
            if spec is None or spec.origin is None:
                return None
            digest.update(Path(spec.origin).read_bytes())
    except OSError:
        return None
    return digest.hexdigest()[:20]


def _entries() -> Path | None:
    folder = cache_folder()
    key = _code_key()
    if folder is None or key is None:
        return None
    entries = folder / f"where-{key}"
    if not entries.exists():  # a new parser version: the trees of older ones are of no use any more
        import shutil

        for old in folder.glob("where-*"):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return _own_folder(entries)


def _path(folder: Path, template: str) -> Path:
    return folder / (hashlib.sha256(template.encode()).hexdigest()[:32] + ".pickle")


def load(template: str) -> Any:
    """The ``(tree, spans, values)`` saved for ``template``, or None."""
    folder = _entries()
    if folder is None:
        return None
    try:
        with _path(folder, template).open("rb") as stream:
            saved, *entry = pickle.load(stream)
    except Exception:  # absent, damaged or from an incompatible version: parse again (and save anew)
        return None
    return tuple(entry) if saved == template and len(entry) == 3 else None


def save(template: str, entry: tuple[Any, ...]) -> None:
    """Keep ``entry`` (``(tree, spans, values)``) for ``template``; failures to write are ignored."""
    folder = _entries()
    if folder is None:
        return
    path = _path(folder, template)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with partial.open("wb") as stream:
            pickle.dump((template, *entry), stream, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(path)
        files = list(folder.glob("*.pickle"))
        if len(files) > MAX_FILES:
            by_age = sorted(files, key=lambda p: p.stat().st_mtime)
            for old in by_age[: len(files) // 2]:
                old.unlink(missing_ok=True)
    except OSError:
        partial.unlink(missing_ok=True)
