"""One rule for keys inside the datastore root, and a file datastore that follows no recorded key leaving it.

Imports refuse such paths now, but a repository may hold one from an older import (``../victim.json``,
``butler.yaml``).  Each test plants such a row directly in the registry, on SQLite and PostgreSQL (S3 for the
read), and checks that ``get`` and ``retrieve_artifacts`` refuse it, ``remove`` unregisters it and deletes
nothing there, and ``verify``/``reconcile`` report and go on, the file at the far end intact.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from skybutler.butler import DirectButler
from skybutler.datasets import DatasetRef, DatasetType
from skybutler.datastore import FileTemplate, is_plain_key, key_problem
from skybutler.datastore._keys import escape_problem, is_repository_file, is_reserved_name
from skybutler.dimensions import DataCoordinate, DimensionUniverse
from skybutler.errors import PermissionDeniedError
from skybutler.plugins import SkyButlerWarning
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.sample import populate_sample

DIMS = ["instrument", "visit", "detector"]
SECRET = '{"secret": 1}'


# -- the rule ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "reserved"),
    [(".staging", True), ("Butler.YAML", True), ("registry.sqlite3", True), ("registry.sqlite3-wal", True),
     ("registry.sqlite3-mj0a1b2c", True), ("registry.sqlite3x", False), ("butler.yaml.d", False), ("run1", False)],
)  # fmt: skip
def test_reserved_names(name: str, reserved: bool) -> None:
    assert is_reserved_name(name) == reserved
    assert is_repository_file(f"{name}/x.json") == reserved
    assert (key_problem(f"{name}/x.json") is not None) == reserved


_PIECES = [*"aZ09_-.%/~:\\ \x00\u017f\u212a\u00e9", "butler.yaml", "registry.sqlite3", "-wal", ".staging", ".."]


@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_the_fast_shape_is_never_wrong(text: str) -> None:
    """The one-match test of the hot path accepts only keys the full check accepts."""
    if is_plain_key(text):
        assert key_problem(text) is None


@pytest.mark.parametrize("run", ["butler.yaml", "Butler.yaml", "registry.sqlite3-wal", ".staging", "registry.sqlite3"])
@pytest.mark.parametrize("template", ["{run}/{dataset_type}/{visit}_{detector}", "{run}", "{run}-{visit}-{detector}"])
def test_templates_never_render_a_refused_key(run: str, template: str) -> None:
    group = DimensionUniverse.default().group(DIMS)
    dataset_type = DatasetType("meta", group, "StructuredDataDict")
    values: dict[str, str | int] = {"instrument": "Cam", "visit": 1, "detector": 2}
    data_id = DataCoordinate(group, tuple(values[d] for d in group.required))
    path = FileTemplate(template).render(dataset_type, data_id, run, uuid.uuid4().hex, ext=".json")
    assert key_problem(path) is None, path


def test_escape_problem_is_about_climbing_out_only() -> None:
    assert escape_problem("butler.yaml") is None
    assert escape_problem("a/../../x") is not None
    assert escape_problem("/x") is not None


# -- a recorded key that leaves the root ---------------------------------------------------------------------
@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.json"
    path.write_text(SECRET)
    return path


@pytest.fixture
def local(repo: str) -> Iterator[DirectButler]:
    with DirectButler(repo, run="r1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        yield butler


def _root(butler: DirectButler) -> Path:
    return butler.datastore.files().transport.local_path("")


def _put(butler: DirectButler, visit: int) -> DatasetRef:
    return butler.put({"a": visit}, "meta", instrument="Cam", visit=visit, detector=1)


def _plant(butler: DirectButler, ref: DatasetRef, path: str) -> None:
    """Record ``path`` as the file of ``ref``, as an import made before paths were checked could."""
    table = butler.registry.tables.datastore_record
    with butler.registry.db.transaction() as conn:
        conn.execute(sa.update(table).where(table.c.dataset_id == ref.id).values(path=path))


def _hostile(butler: DirectButler, victim: Path) -> list[str]:
    return [os.path.relpath(victim, _root(butler)), "butler.yaml"]


def test_get_refuses_a_key_out_of_the_root(local: DirectButler, victim: Path) -> None:
    for n, path in enumerate(_hostile(local, victim)):
        ref = _put(local, n)
        _plant(local, ref, path)
        with pytest.raises(PermissionDeniedError, match="the datastore does not read, copy or delete it"):
            local.get(ref)
    assert victim.read_text() == SECRET


def test_retrieve_writes_nothing_outside_its_destination(local: DirectButler, victim: Path, tmp_path: Path) -> None:
    good = _put(local, 1)
    bad = _put(local, 2)
    _plant(local, bad, "x/../../victim.json")
    out = tmp_path / "out" / "sub"
    with pytest.raises(PermissionDeniedError, match=r"which has a '\.\.' segment"):
        local.retrieve_artifacts([good, bad], out)
    assert not out.exists()  # every target is checked before any byte is copied
    # a direct-ingested file whose URI's path climbs out of the destination
    _plant(local, bad, (victim.parent / "a" / ".." / ".." / "victim.json").as_uri().replace("%2E", "."))
    with pytest.raises(PermissionDeniedError, match="the copy would not stay under the destination"):
        local.retrieve_artifacts([good, bad], out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo", "victim.json"] + (
        ["registry.sqlite3"] if (tmp_path / "registry.sqlite3").exists() else []
    )
    assert victim.read_text() == SECRET


def test_remove_unregisters_and_deletes_nothing_outside(local: DirectButler, victim: Path) -> None:
    config = (_root(local) / "butler.yaml").read_text()
    refs = [_put(local, n) for n in range(2)]
    for ref, path in zip(refs, _hostile(local, victim), strict=True):
        _plant(local, ref, path)
    with pytest.warns(SkyButlerWarning, match="Not deleted") as warned:
        assert local.remove(refs) == 2
    assert len(warned) == 2
    assert local.registry.datasets.count() == 0
    assert victim.read_text() == SECRET
    assert (_root(local) / "butler.yaml").read_text() == config
    report = local.reconcile(grace_seconds=0)
    assert report.problems == []
    with DirectButler(local.root) as again:  # the repository still opens
        assert again.registry.datasets.count() == 0


def test_reconcile_empties_trash_out_of_the_root_without_deleting(local: DirectButler, victim: Path) -> None:
    ref = _put(local, 1)
    table = local.registry.tables.trash
    with local.registry.db.transaction() as conn:
        for path in _hostile(local, victim):
            conn.execute(sa.insert(table).values(dataset_id=ref.id, datastore="", path=path, created=time.time_ns()))
    report = local.reconcile(grace_seconds=0)
    assert report.removed_trash == []
    assert victim.read_text() == SECRET
    assert (_root(local) / "butler.yaml").exists()
    assert local.get(ref) == {"a": 1}


def test_verify_reports_a_key_out_of_the_root_and_goes_on(local: DirectButler, victim: Path) -> None:
    good = _put(local, 1)
    bad = _put(local, 2)
    _plant(local, bad, os.path.relpath(victim, _root(local)))
    report = local.verify()
    assert report.ok == 1
    ((dataset_id, _, why),) = report.corrupt
    assert dataset_id == bad.id
    assert "the datastore does not read" in why
    assert local.get(good) == {"a": 1}


def test_a_dataset_under_a_name_like_the_repository_s_is_no_stranger(local: DirectButler) -> None:
    """One rule everywhere: ``registry.sqlite3x/`` is a dataset's directory to reconcile and verify too."""
    ref = _put(local, 1)
    (row,) = local.registry.datasets.by_ids([local.registry.dataset_types.get("meta")], [ref.id])
    old = _root(local) / row.artifacts[0].path
    new = _root(local) / "registry.sqlite3x" / "m.json"
    new.parent.mkdir()
    old.rename(new)
    _plant(local, ref, "registry.sqlite3x/m.json")
    (_root(local) / "registry.sqlite3-journal").write_text("")
    (_root(local) / "butler.yaml.d").mkdir()
    (_root(local) / "butler.yaml.d" / "stray.json").write_text("{}")
    assert local.get(ref) == {"a": 1}
    report = local.reconcile(grace_seconds=0)
    assert report.missing == []
    assert report.unknown == ["butler.yaml.d/stray.json"]
    verified = local.verify()
    assert verified.ok == 1
    assert verified.unknown == ["butler.yaml.d/stray.json"]


@pytest.mark.s3
def test_get_on_s3_refuses_a_key_out_of_the_root(
    request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    root = datastore_repo(request, registry_url, tmp_path / "s3repo", "s3")
    with DirectButler(root, run="r1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        other = _put(butler, 1)
        ref = _put(butler, 2)
        (row,) = butler.registry.datasets.by_ids([butler.registry.dataset_types.get("meta")], [other.id])
        _plant(butler, ref, f"r1/../{row.artifacts[0].path}")  # the same object, reached by climbing
        with pytest.raises(PermissionDeniedError, match=r"which has a '\.\.' segment"):
            butler.get(ref)
        with pytest.warns(SkyButlerWarning, match="Not deleted"):
            butler.remove([ref])
        assert butler.get(other) == {"a": 1}
