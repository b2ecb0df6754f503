"""Parsed where-expressions kept on disk for the command line: reused without lark, never from a stale parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler.errors import QuerySyntaxError
from skybutler.query import _parse_cache, _parser
from skybutler.query._ast import Compare, Identifier, Literal


@pytest.fixture
def disk_cache(user_cache: Path) -> Iterator[Path]:
    """The disk cache on, in a fresh folder; the in-process cache emptied before and after."""
    _parser._TEMPLATES.clear()
    try:
        yield user_cache
    finally:
        _parser._TEMPLATES.clear()


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("where-*/*.pickle"))


def _no_lark(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str) -> None:
        raise AssertionError(f"lark was asked to parse {text!r}")

    monkeypatch.setattr(_parser, "_parse_where", refuse)


def test_a_shape_parsed_once_is_reused_from_disk_with_new_integers(
    disk_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _parser.parse_where("visit > 5 AND detector = 3")
    assert len(_entries(disk_cache)) == 1
    _parser._TEMPLATES.clear()  # as in a new process
    _no_lark(monkeypatch)
    again = _parser.parse_where("visit > 1228 AND detector = 10")
    assert str(again) == "(visit > 1228) AND (detector = 10)"
    assert again == _parser._substitute(first, iter([1228, 10]), lambda pos: pos + (3 if pos > 8 else 0))
    # positions (for error carets) follow the new text: 'detector' moved three characters to the right
    assert again.items[1] == Compare("=", Identifier("detector", pos=17), Literal(10))  # type: ignore[union-attr]


def test_off_by_default_and_with_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _parser._TEMPLATES.clear()
    assert not _parse_cache.enabled()
    _parser.parse_where("visit = 1")
    assert _entries(tmp_path / "skybutler") == []
    monkeypatch.setenv("SKYBUTLER_NO_CACHE", "1")
    _parse_cache.enable()
    try:
        _parser._TEMPLATES.clear()
        _parser.parse_where("visit = 2 OR visit = 3")
        assert not (tmp_path / "skybutler").exists() or _entries(tmp_path / "skybutler") == []
    finally:
        _parse_cache.enable(False)
        _parser._TEMPLATES.clear()


def test_damaged_or_foreign_entries_are_parsed_again_and_replaced(disk_cache: Path) -> None:
    expected = _parser.parse_where("visit = 4")
    (entry,) = _entries(disk_cache)
    entry.write_bytes(b"damaged")
    _parser._TEMPLATES.clear()
    assert _parser.parse_where("visit = 4") == expected
    assert entry.read_bytes() != b"damaged"
    # an entry saved for another template under this name (a collision) is not used
    template, spans, values = _parser._integers("visit = 4")
    _parse_cache.save(template, (Literal("not this"), spans, values))
    assert _parse_cache.load(template) is not None
    assert _parse_cache.load(template + " ") is None
    _parser._TEMPLATES.clear()
    entry.rename(_parse_cache.ENTRIES._path(entry.parent, "another template"))
    assert _parse_cache.load("another template") is None


def test_entries_are_per_parser_version(disk_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _parser.parse_where("detector IN (1, 3)")
    (old,) = _entries(disk_cache)
    monkeypatch.setattr(_parse_cache.ENTRIES, "_code_key", lambda: "a-changed-parser")
    _parser._TEMPLATES.clear()
    assert _parse_cache.load(_parser._integers("detector IN (1, 3)")[0]) is None  # not read by another version
    assert not old.parent.exists()  # and removed: no version reads it any more
    _parser.parse_where("detector IN (1, 3)")
    assert [p.parent.name for p in _entries(disk_cache)] == ["where-a-changed-parser"]


def test_syntax_errors_are_not_kept(disk_cache: Path) -> None:
    with pytest.raises(QuerySyntaxError):
        _parser.parse_where("visit > ")
    assert _entries(disk_cache) == []


def test_the_folder_is_bounded(disk_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parse_cache.ENTRIES, "max_files", 4)
    for name in ("visit", "detector", "exposure", "day_obs", "band"):
        _parser.parse_where(f"{name} = 1")
    assert len(_entries(disk_cache)) == 3  # the fifth entry made it drop the oldest half


def test_a_folder_others_can_write_is_not_used(disk_cache: Path) -> None:
    _parser.parse_where("visit = 1")
    (entry,) = _entries(disk_cache)
    entry.parent.chmod(0o777)
    template = _parser._integers("visit = 1")[0]
    assert _parse_cache.load(template) is None
