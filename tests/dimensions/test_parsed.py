"""A universe's YAML parsed once per user: the kept parse gives the very universe a fresh parse gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skybutler.config import parse_yaml
from skybutler.dimensions import DimensionUniverse, _parsed
from skybutler.dimensions._parsed import entry_path, parse_universe_text

MINI = (Path(__file__).parent.parent / "mini_universe.yaml").read_text()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-user cache folder (in a library process: the disk cache of the command line stays off)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SKYBUTLER_NO_CACHE", raising=False)
    return tmp_path / "skybutler" / "universes"


def _no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(text: str | bytes) -> object:
        raise AssertionError("parsed again")

    monkeypatch.setattr(_parsed, "parse_yaml", refuse)


@pytest.mark.parametrize("text", [MINI, DimensionUniverse.default().text], ids=["mini", "default"])
def test_a_kept_parse_gives_the_same_universe(cache: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = parse_universe_text(text)
    assert first == parse_yaml(text)
    path = entry_path(text)
    assert path is not None
    assert path.parent == cache
    assert path.exists()
    _no_yaml(monkeypatch)
    again = parse_universe_text(text)
    assert again == first
    fresh, kept = DimensionUniverse(first, text=text), DimensionUniverse(again, text=text)
    assert list(kept.elements) == list(fresh.elements)  # every field of every element
    assert (kept.namespace, kept.version, kept.digest) == (fresh.namespace, fresh.version, fresh.digest)


def test_a_damaged_or_foreign_entry_is_parsed_again_and_replaced(cache: Path) -> None:
    path = entry_path(MINI)
    assert path is not None
    path.write_text("{not json")
    assert parse_universe_text(MINI) == parse_yaml(MINI)
    assert json.loads(path.read_text())["text"] == MINI
    other = json.dumps({"text": MINI + "\n# another text", "parsed": {"elements": {}}})
    path.write_text(other)  # under this text's name, another text's parse: never taken
    assert parse_universe_text(MINI) == parse_yaml(MINI)


@pytest.mark.parametrize(
    "text", ["elements: {}\nwhen: 2025-01-01\n", "elements: {}\n1: integer key\n", "elements: {}\nv: 1.0\nw: [1, 2]\n"]
)
def test_only_what_json_holds_exactly_is_kept(cache: Path, text: str) -> None:
    assert parse_universe_text(text) == parse_yaml(text)
    path = entry_path(text)
    assert path is not None
    assert path.exists() == text.endswith("[1, 2]\n")  # a date and an integer key would come back otherwise
    if path.exists():
        assert parse_universe_text(text) == parse_yaml(text)
        assert type(parse_universe_text(text)["v"]) is float


def test_no_cache_keeps_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_NO_CACHE", "1")
    assert entry_path(MINI) is None
    assert parse_universe_text(MINI) == parse_yaml(MINI)
    assert not cache.exists()


def test_old_entries_are_pruned(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_parsed, "KEEP", 3)
    for n in range(5):
        parse_universe_text(f"elements: {{}}\nversion: {n}\n")
    assert len(list(cache.glob("*.json"))) == 3
