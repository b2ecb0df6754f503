"""Parsed `where` expressions kept on disk for the command line.

Each command-line query is a new process, and importing lark and loading its parser costs 20-40 ms, about a
tenth of the whole command (issue 8).  Commands are repeated with other numbers (``visit = 1228``, then
``visit = 1230``: shell history, loops over visits), and `parse_where` already reuses, within a process, a
parse of a text that differs only in its integer literals.  While the per-user disk cache is on (the command
line turns it on, see `skybutler._disk_cache`), those parses are kept on disk too: a repeated expression shape
then needs no lark at all.  A library process keeps its parses in memory only (it lives long enough for that).

Each entry is ``template → (tree, spans, values)``, in a folder named after the code that produces trees (the
grammar, the AST classes, the parser and the time conversions), so a changed parser never reads an old tree.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from skybutler._disk_cache import DiskCache, cache_folder, enable, enabled, source_digest

__all__ = ["ENTRIES", "cache_folder", "enable", "enabled", "load", "save"]


def _code_key() -> str | None:
    """A digest of everything that decides the tree of a text; None if a source cannot be read (zipped)."""
    try:
        grammar = resources.files("skybutler.query").joinpath("where.lark").read_bytes()
    except OSError:
        return None
    return source_digest(("skybutler.query._ast", "skybutler.query._parser", "skybutler.dimensions._time"), [grammar])


ENTRIES = DiskCache("where", _code_key)
"""The parses on disk (at most ``ENTRIES.max_files``; beyond that the oldest half is removed)."""


def load(template: str) -> Any:
    """The ``(tree, spans, values)`` saved for ``template``, or None."""
    entry = ENTRIES.load(template)
    return tuple(entry) if isinstance(entry, tuple) and len(entry) == 3 else None


def save(template: str, entry: tuple[Any, ...]) -> None:
    """Keep ``entry`` (``(tree, spans, values)``) for ``template``; failures to write are ignored."""
    ENTRIES.save(template, entry)
