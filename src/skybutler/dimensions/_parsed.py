"""A dimension universe's YAML parsed once per user, not once per process: `parse_universe_text`.

Every process that creates or opens a repository parses its universe's YAML (the default one is 9 kB):
8 ms of CPU with libyaml, the largest single piece of a process's first ``Butler.create`` and open after
the imports (W1's ``create_repo``, issue 26), and paid again by every short process of a pipeline.  The
parse is a pure function of the text, so its result is kept as JSON in the per-user cache folder
(`skybutler._disk_cache.cache_folder`, ``universes/``), named after the SHA-256 of the text, in any process
(like the registry templates, `skybutler.registry._template`); reading it back costs about 0.1 ms.

Correctness:

* **the same value**: an entry is written only if JSON gives back exactly the parsed value (string keys;
  lists, numbers, booleans, ``None``); a universe with anything else (a date, an integer key) is parsed each
  time.  JSON cannot carry code, so a planted entry could at worst describe another universe, and only in a
  folder of the user's own that nobody else can write to (`own_folder`); the name is the digest of the very
  text, so an entry never goes stale.
* **concurrent processes**: entries are written under a name of their own process and renamed into place;
  an unreadable or damaged entry counts as absent (and is replaced).
* ``SKYBUTLER_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from skybutler._disk_cache import cache_folder, keep_file, own_folder
from skybutler.config import parse_yaml

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["KEEP", "entry_path", "parse_universe_text"]

KEEP = 16
"""Entries kept in the folder (the least recently written or used go beyond this)."""


def entry_path(text: str) -> Path | None:
    """Where the parse of ``text`` is (or would be) kept; None if nothing may be cached."""
    base = cache_folder()
    folder = None if base is None else own_folder(base / "universes")
    if folder is None:
        return None
    return folder / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.json"


def parse_universe_text(text: str) -> Any:
    """The YAML ``text`` of a universe parsed (`skybutler.config.parse_yaml`), from the cache when it has it.

    Raises
    ------
    yaml.YAMLError
        The text is not valid YAML.
    """
    path = entry_path(text)
    if path is not None:
        with contextlib.suppress(OSError, ValueError):
            kept = json.loads(path.read_bytes())
            if isinstance(kept, dict) and kept.get("text") == text:  # the digest's text, compared in full
                with contextlib.suppress(OSError):
                    os.utime(path)  # recently used: kept by `keep_file`'s pruning
                return kept["parsed"]
    parsed = parse_yaml(text)
    if path is not None:
        _keep(path, text, parsed)
    return parsed


def _keep(path: Path, text: str, parsed: Any) -> None:
    """Write the entry of ``text`` if JSON holds ``parsed`` exactly (failures to write are ignored)."""
    try:
        data = json.dumps({"text": text, "parsed": parsed})
    except (TypeError, ValueError):  # a date, a set: not JSON
        return
    back = json.loads(data)["parsed"]
    if back != parsed or not _same_types(back, parsed):
        return  # integer keys, tuples: JSON would give back another value
    keep_file(path, lambda partial: partial.write_text(data), keep=KEEP, patterns=("*.json",))


def _same_types(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` (equal) have the same types throughout (``1 == 1.0 == True`` in Python)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return all(_same_types(k, k2) and _same_types(a[k], b[k2]) for k, k2 in zip(a, b, strict=True))
    if isinstance(a, list):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return True
