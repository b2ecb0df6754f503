"""New SQLite registries copied from a kept template are the registries a normal create makes."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from skybutler import Butler
from skybutler.datasets import DatasetType
from skybutler.dimensions import DimensionUniverse
from skybutler.errors import ConflictError
from skybutler.registry import Registry, create_registry
from skybutler.registry._schema import DimensionTables
from skybutler.registry._template import KEEP, template_path

PRAGMAS = ("journal_mode", "page_size", "auto_vacuum", "user_version", "application_id", "encoding")


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-test user cache folder, with caching allowed."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.delenv("SKYBUTLER_NO_CACHE", raising=False)
    return home


def _dump(path: Path) -> dict[str, Any]:
    """Everything of a registry file but its creation time: schema, pragmas, every row."""
    conn = sqlite3.connect(path)
    try:
        schema = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        tables = [row[1] for row in schema if row[0] == "table"]
        rows = {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables}
        rows["butler_attributes"] = sorted(
            map(repr, conn.execute("SELECT * FROM butler_attributes WHERE name != 'created'"))
        )
        pragmas = {p: conn.execute(f"PRAGMA {p}").fetchone()[0] for p in PRAGMAS}
    finally:
        conn.close()
    return {"schema": schema, "rows": rows, "pragmas": pragmas}


def _created(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT value FROM butler_attributes WHERE name = 'created'").fetchone()[0])
    finally:
        conn.close()


@contextmanager
def _opened(path: Path) -> Iterator[Registry]:
    registry = Registry.open(f"sqlite:///{path}")
    try:
        yield registry
    finally:
        registry.close()


def _refuse_normal_create(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> Registry:
        raise AssertionError("the registry was made the normal way, not copied from the template")

    monkeypatch.setattr(Registry, "create", refuse)


def test_copy_is_what_a_normal_create_makes(tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    universe = DimensionUniverse.default()
    template = template_path(universe)
    assert template is not None
    assert cache_home in template.parents
    first, copied = tmp_path / "first.sqlite3", tmp_path / "copied.sqlite3"
    create_registry(f"sqlite:///{first}", universe=universe, schema=None, busy_timeout=5)
    assert template.exists()  # kept by the first create
    with monkeypatch.context() as patched:
        _refuse_normal_create(patched)
        create_registry(f"sqlite:///{copied}", universe=universe, schema=None, busy_timeout=5)
    monkeypatch.setenv("SKYBUTLER_NO_CACHE", "1")  # a registry made without any template, for reference
    normal = tmp_path / "normal.sqlite3"
    create_registry(f"sqlite:///{normal}", universe=universe, schema=None, busy_timeout=5)
    assert _dump(copied) == _dump(normal) == _dump(first)
    assert _dump(copied)["pragmas"]["journal_mode"] == "wal"
    assert _created(copied) > _created(first)  # its own creation time, not the template's
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "copied.sqlite3", "first.sqlite3", "normal.sqlite3"]
    with _opened(copied) as registry:
        assert registry.insert_dimension_records("instrument", [{"name": "Cam"}]) == 1


def test_each_universe_has_its_own_template(tmp_path: Path, cache_home: Path) -> None:
    default = DimensionUniverse.default()
    other = DimensionUniverse.from_yaml(default.text.replace("namespace: daf_butler", "namespace: other", 1))
    assert other.text != default.text
    assert template_path(other) != template_path(default)
    create_registry(f"sqlite:///{tmp_path / 'a.sqlite3'}", universe=default, schema=None, busy_timeout=5)
    create_registry(f"sqlite:///{tmp_path / 'b.sqlite3'}", universe=other, schema=None, busy_timeout=5)
    with _opened(tmp_path / "b.sqlite3") as registry:
        assert registry.attributes()["universe"] == other.text


def test_a_damaged_template_falls_back_and_is_replaced(tmp_path: Path, cache_home: Path) -> None:
    universe = DimensionUniverse.default()
    template = template_path(universe)
    assert template is not None
    template.write_bytes(b"not a database" * 100)
    path = tmp_path / "repo.sqlite3"
    create_registry(f"sqlite:///{path}", universe=universe, schema=None, busy_timeout=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "repo.sqlite3"]  # no partial copy left
    with _opened(path) as registry:
        assert registry.attributes()["universe"] == universe.text
    assert template.read_bytes().startswith(b"SQLite format 3\0")  # the normal create's file replaced it


def test_an_existing_registry_is_still_a_conflict(tmp_path: Path, cache_home: Path) -> None:
    universe = DimensionUniverse.default()
    path = tmp_path / "repo.sqlite3"
    create_registry(f"sqlite:///{path}", universe=universe, schema=None, busy_timeout=5)
    with _opened(path) as registry:
        registry.insert_dimension_records("instrument", [{"name": "Cam"}])
    with pytest.raises(ConflictError, match="already exists"):
        create_registry(f"sqlite:///{path}", universe=universe, schema=None, busy_timeout=5)
    with _opened(path) as registry:
        assert [r.name for r in registry.fetch_dimension_records("instrument")] == ["Cam"]


def test_no_cache_means_no_template(tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBUTLER_NO_CACHE", "1")
    assert template_path(DimensionUniverse.default()) is None
    Butler.create(tmp_path / "repo")
    assert not cache_home.exists()


def test_butler_create_copies_the_template(tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Butler.create(tmp_path / "first")
    _refuse_normal_create(monkeypatch)
    Butler.create(tmp_path / "second")
    first, second = (_dump(tmp_path / name / "registry.sqlite3") for name in ("first", "second"))
    assert first == second
    with Butler(tmp_path / "second", run="run") as butler:
        butler.register_dataset_type("meta", ["instrument"], "StructuredDataDict")
        assert butler.get_dataset_type("meta").name == "meta"


def _register_two(registry: Registry) -> None:
    universe = registry.universe
    registry.register_dataset_type(
        DatasetType("calexp", universe.group(["instrument", "visit", "detector"]), "StructuredDataDict")
    )
    registry.register_dataset_type(
        DatasetType("bias", universe.group(["instrument", "detector"]), "StructuredDataDict", is_calibration=True)
    )


def _new_registry(path: Path) -> Registry:
    return Registry.create(f"sqlite:///{path}", universe=DimensionUniverse.default())


def test_kept_table_ddl_makes_the_tables_sqlalchemy_makes(
    tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _new_registry(tmp_path / "first.sqlite3")
    try:
        _register_two(first)  # compiles the tags and calibration tables' DDL, and keeps it
    finally:
        first.close()
    kept = template_path(DimensionUniverse.default(), ".ddl.json")
    assert kept is not None
    assert kept.exists()
    second = _new_registry(tmp_path / "second.sqlite3")
    try:
        with monkeypatch.context() as patched:  # the kept statements need no element tables, no compiling

            def refuse(*_args: object) -> None:
                raise AssertionError("the DDL was compiled again instead of taken from the kept statements")

            patched.setattr(DimensionTables, "make_referenced", refuse)
            _register_two(second)
    finally:
        second.close()
    reference = _new_registry(tmp_path / "reference.sqlite3")  # SQLAlchemy's own Table.create, for reference
    try:
        with reference.db.transaction() as conn:
            for group, calibration in (
                (["instrument", "visit", "detector"], False),
                (["instrument", "detector"], True),
            ):
                dims = reference.universe.group(group)
                name = f"dataset_tags_{dims.key}"
                tables = [reference.dataset_types._tags(dims, name)]
                tables += [reference.dataset_types._calibs(dims, name)] if calibration else []
                for table in tables:
                    reference.dimension_tables.make_referenced(table)
                    table.create(conn)
    finally:
        reference.close()
    schemas = [_dump(tmp_path / f"{name}.sqlite3")["schema"] for name in ("first", "second", "reference")]
    assert schemas[0] == schemas[1] == schemas[2]
    assert any("dataset_calibs_" in row[1] for row in schemas[1])


def test_only_the_most_recent_templates_are_kept(tmp_path: Path, cache_home: Path) -> None:
    default = DimensionUniverse.default()
    template = template_path(default)
    assert template is not None
    for i in range(KEEP + 3):  # older versions' files, oldest first
        for suffix in (".sqlite3", ".ddl.json"):
            old = template.with_name(f"old{i:02d}{suffix}")
            old.write_bytes(b"")
            os.utime(old, (1_000_000 + i, 1_000_000 + i))
    create_registry(f"sqlite:///{tmp_path / 'a.sqlite3'}", universe=default, schema=None, busy_timeout=5)
    with _opened(tmp_path / "a.sqlite3") as registry:
        _register_two(registry)  # keeps DDL, which prunes those files too
    for suffix in (".sqlite3", ".ddl.json"):
        kept = sorted(p.name for p in template.parent.glob(f"*{suffix}"))
        assert len(kept) == KEEP
        assert f"{template.stem.split('.')[0]}{suffix}" in kept  # the current one, newest
        assert "old00" + suffix not in kept
