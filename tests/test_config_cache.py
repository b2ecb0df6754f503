"""Validated configurations kept on disk for the command line: reused without pydantic, never when stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skybutler import _disk_cache, config
from skybutler.config import ButlerConfig, DatastoreConfig, dump_config, load_config
from skybutler.errors import ConfigError

CHAIN: dict[str, Any] = {
    "datastore": {
        "type": "chained",
        "checksum": "none",
        "children": [
            {"name": "fast", "type": "memory"},
            {"name": "disk", "type": "file", "root": "{root}/disk", "checksum": "xxh3_128"},
        ],
    }
}


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("config-*/*.pickle"))


def test_a_validated_configuration_is_kept_and_reused(user_cache: Path) -> None:
    first = load_config(CHAIN, environ={})
    assert len(_entries(user_cache)) == 1
    again = load_config(CHAIN, environ={})
    assert again == first
    assert again is not first  # a fresh object each time: nobody shares a cached instance
    assert len(_entries(user_cache)) == 1


def test_what_children_inherit_survives_the_cache(user_cache: Path) -> None:
    fresh = load_config(CHAIN, environ={})
    cached = load_config(CHAIN, environ={})
    for config_ in (fresh, cached):
        fast, disk = config_.datastore.effective_children()
        assert fast.checksum == "none"  # inherited from the chain
        assert disk.checksum == "xxh3_128"  # set by the child itself, although it is the default
    assert dump_config(cached) == dump_config(fresh)


def test_another_input_is_validated_anew(user_cache: Path) -> None:
    load_config({"registry": {"busy_timeout": 5}}, environ={})
    changed = load_config({"registry": {"busy_timeout": 5}}, environ={"SKYBUTLER_REGISTRY__BUSY_TIMEOUT": "7"})
    assert changed.registry.busy_timeout == 7.0
    assert len(_entries(user_cache)) == 2


def test_an_invalid_configuration_is_never_kept(user_cache: Path) -> None:
    for _ in range(2):
        with pytest.raises(ConfigError, match=r"registry\.busy_timeout: Input should be greater than 0"):
            load_config({"registry": {"busy_timeout": 0}}, environ={})
    assert _entries(user_cache) == []


def test_entries_are_per_code_version(user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_config(CHAIN, environ={})
    (old,) = _entries(user_cache)
    monkeypatch.setattr(config._VALIDATED, "_code_key", lambda: "a-changed-model")
    assert config._VALIDATED.load("anything") is None
    assert not old.parent.exists()  # no version reads it any more
    load_config(CHAIN, environ={})
    assert [p.parent.name for p in _entries(user_cache)] == ["config-a-changed-model"]


def test_nothing_is_kept_unless_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert not _disk_cache.enabled()  # a library process: validated in memory only
    load_config(CHAIN, environ={})
    assert not (tmp_path / "skybutler").exists()
    _disk_cache.enable()
    monkeypatch.setenv("SKYBUTLER_NO_CACHE", "1")
    try:
        load_config(CHAIN, environ={})
    finally:
        _disk_cache.enable(False)
    assert not (tmp_path / "skybutler").exists()


def test_a_configuration_seen_before_is_opened_without_pydantic(tmp_path: Path) -> None:
    """The point of the cache: a new process (a command-line call) skips importing pydantic."""
    script = (
        "import sys\n"
        "from skybutler import _disk_cache\n"
        "from skybutler.config import load_config\n"
        "_disk_cache.enable()\n"
        f"config = load_config({CHAIN!r}, environ={{}})\n"
        "print(config.datastore.effective_children()[0].checksum, 'pydantic' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("SKYBUTLER_NO_CACHE", None)
    runs = [
        subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert runs == ["none True\n", "none False\n"]


def test_built_in_code_a_datastore_reports_its_non_default_settings_as_given() -> None:
    child = DatastoreConfig(name="disk", root="{root}/disk")
    chain = DatastoreConfig(type="chained", checksum="none", children=[child])
    assert child.given == {"name", "root"}
    assert chain.given == {"type", "checksum", "children"}
    (effective,) = chain.effective_children()
    assert effective.checksum == "none"
    assert effective.given == {"name", "root", "checksum"}
    raw = {"type": "chained", "checksum": "none", "children": [{"name": "disk", "root": "{root}/disk"}]}
    assert load_config({"datastore": raw}, environ={}) == ButlerConfig(datastore=chain)


def test_parsed_yaml_is_read_back_without_pyyaml(user_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "registry:\n  db: sqlite:///x.sqlite3\nnames: [a, b]\n"
    first = config.parse_yaml(text)
    assert first == {"registry": {"db": "sqlite:///x.sqlite3"}, "names": ["a", "b"]}
    assert config.parse_yaml(text.encode()) == first  # bytes (butler.yaml as read) are their own entry
    first["names"].append("c")  # each call gets its own copy
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now fails: only the cache can answer
    assert config.parse_yaml(text) == {"registry": {"db": "sqlite:///x.sqlite3"}, "names": ["a", "b"]}
    assert config.parse_yaml(text.encode())["names"] == ["a", "b"]
    with pytest.raises(ImportError):
        config.parse_yaml("other: 1\n")
    assert sorted(p.parent.name.split("-")[0] for p in user_cache.glob("yaml-*/*.pickle")) == ["yaml", "yaml"]


def test_invalid_yaml_is_not_kept(user_cache: Path) -> None:
    import yaml

    with pytest.raises(yaml.YAMLError):
        config.parse_yaml("a: [1, 2\n")
    assert not list(user_cache.glob("yaml-*/*.pickle"))
    _disk_cache.enable(False)  # a library process parses every time and keeps nothing
    assert config.parse_yaml("b: 2\n") == {"b": 2}
    assert not list(user_cache.glob("yaml-*/*.pickle"))
