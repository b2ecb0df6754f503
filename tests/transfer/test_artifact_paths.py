"""No artifact path leaves the datastore root: imports, ingests (raw ones too) and transfers, on both back-ends.

Each entry point is given paths that climb out, are absolute, or name the repository's own files, and
symbolic links that lead out; each must refuse (nothing registered, nothing copied, the outside file intact)
or bring the file inside the root, never record a key that reads or deletes what is not the dataset's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from astropy.io import fits

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.datastore import RootLinks, is_plain_key, key_problem
from skybutler.errors import ExportFormatError, PermissionDeniedError
from skybutler.testing.fixtures import datastore_repo
from skybutler.testing.sample import populate_sample
from skybutler.transfer import FileDataset

DATA = Path(__file__).parent / "data"
REFERENCE = (DATA / "reference_v8.yaml").read_text()
FILES = DATA / "reference_v8_files"
TARGET = "run1/meta/20240229/r/Cam-r/11/meta_Cam_r_Cam-r_11_D1_run1.yaml"
Snapshot = Callable[[DirectButler], dict[str, Any]]
DIMS = ["instrument", "visit", "detector"]
PLACE = r"data\[\d+\]\.records\[\d+\]\.path \(line \d+\): the file path"

BAD_KEYS = [
    "",
    "../victim.json",
    "run1/../../victim.json",
    "run1/..",
    "/tmp/victim.json",
    "C:/victim.json",
    "file:///tmp/victim.json",
    "s3://bucket/victim.json",
    "./run1/x.json",
    "run1/./x.json",
    "run1//x.json",
    "run1/x.json/",
    "run1\\..\\..\\victim.json",
    "..\\victim.json",
    "run1/x\x00.json",
    "run1/x\n.json",
    ".staging/0123.json",
    ".STAGING/0123.json",
    "butler.yaml",
    "Butler.yaml",
    "registry.sqlite3",
    "registry.sqlite3-wal",
    "registry.sqlite3-journal",
    "butler.yaml/x.json",
]
GOOD_KEYS = [
    TARGET,
    "a.json",
    ".hidden/a.json",
    "run1/..x/x..json",
    "run1/%2E%2E/x.json",
    "run1/caf\u00e9/x.json",
    "butler.yaml.d/x.json",
    "registry.sqlite3x/x.json",
    "run1/butler.yaml",
]


@pytest.mark.parametrize("path", BAD_KEYS)
def test_bad_keys_are_refused(path: str) -> None:
    assert key_problem(path) is not None
    assert not is_plain_key(path)


@pytest.mark.parametrize("path", GOOD_KEYS)
def test_good_keys_pass(path: str) -> None:
    assert key_problem(path) is None


def test_external_uris_only_where_asked_for() -> None:
    assert key_problem("file:///data/raw.fits", external=True) is None
    assert key_problem("s3://bucket/raw.fits", external=True) is None
    assert key_problem("file:///data/raw.fits") is not None
    assert key_problem("://x", external=True) is not None
    assert key_problem("../x", external=True) is not None


# -- import ------------------------------------------------------------------------------------------------
@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file beside the destination repository that no import may read or delete."""
    path = tmp_path / "victim.json"
    path.write_text('{"secret": 1}')
    return path


def _hostile(path: str) -> str:
    quoted = json.dumps(path)  # a YAML double-quoted scalar (JSON escapes are YAML escapes)
    assert TARGET in REFERENCE
    return REFERENCE.replace(f"path: {TARGET}", f"path: {quoted}", 1)


def _zip(tmp_path: Path, text: str) -> Path:
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("export.yaml", text)
        for file in FILES.rglob("*"):
            if file.is_file() and file.name != "export.yaml":
                out.write(file, file.relative_to(FILES).as_posix())
    return archive


@pytest.mark.parametrize("how", ["registry-only", "directory", "zip"])
def test_import_refuses_every_bad_path(
    dest: DirectButler, snapshot: Snapshot, tmp_path: Path, victim: Path, how: str
) -> None:
    before = snapshot(dest)
    relative = os.path.relpath(victim, dest.datastore.files("t").transport.local_path(""))
    for bad in [*BAD_KEYS, relative, str(victim)]:
        text = _hostile(bad)
        export = tmp_path / "hostile.yaml"
        export.write_text(text)
        if how == "zip":
            export = _zip(tmp_path, text)
        directory = FILES if how == "directory" else None
        with pytest.raises(ExportFormatError, match=PLACE) as info:
            dest.import_(export, directory=directory)
        assert "Nothing was imported" in str(info.value)
        assert snapshot(dest) == before, bad
    assert victim.read_text() == '{"secret": 1}'


@pytest.mark.parametrize("mode", ["auto", "copy", "move", "link", "hardlink", "symlink", "relsymlink"])
def test_import_refuses_a_climbing_path_in_every_mode(
    dest: DirectButler, snapshot: Snapshot, tmp_path: Path, victim: Path, mode: str
) -> None:
    files = tmp_path / "files"
    shutil.copytree(FILES, files)
    (files / "x").mkdir()
    shutil.copy(victim, files / "victim.json")  # there is a file at files/x/../victim.json
    before = snapshot(dest)
    export = tmp_path / "hostile.yaml"
    export.write_text(_hostile("x/../victim.json"))
    with pytest.raises(ExportFormatError, match=re.escape("'..' segment")):
        dest.import_(export, directory=files, transfer=mode)
    assert snapshot(dest) == before
    assert (files / "victim.json").exists()


def test_registry_only_import_refuses_a_directory_link_out_of_the_root(
    dest: DirectButler, snapshot: Snapshot, tmp_path: Path
) -> None:
    root = dest.datastore.files("t").transport.local_path("")
    outside = tmp_path / "elsewhere"
    shutil.copytree(FILES / "run1", outside)
    (root / "run1").symlink_to(outside, target_is_directory=True)
    before = snapshot(dest)
    export = tmp_path / "e.yaml"
    export.write_text(REFERENCE)
    with pytest.raises(ExportFormatError, match="symbolic link to a directory outside"):
        dest.import_(export)
    assert snapshot(dest) == before
    assert (outside / TARGET.removeprefix("run1/")).exists()


def test_registry_only_import_of_files_in_place_still_works(dest: DirectButler, tmp_path: Path) -> None:
    root = dest.datastore.files("t").transport.local_path("")
    shutil.copytree(FILES / "run1", root / "run1")
    export = tmp_path / "e.yaml"
    export.write_text(REFERENCE)
    report = dest.import_(export)
    assert report.artifacts == 2
    ref = next(r for r in dest.query_datasets("meta", collections="run1") if r.data_id["detector"] == 1)
    assert dest.get_uri(ref) == (root / TARGET).as_uri()


# -- ingest ------------------------------------------------------------------------------------------------
@pytest.fixture
def meta(butler: DirectButler) -> DirectButler:
    butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    return butler


def _root(butler: DirectButler) -> Path:
    return butler.datastore.files("t").transport.local_path("")


def _key(butler: DirectButler, ref: Any) -> str:
    (row,) = butler.registry.datasets.by_ids([butler.registry.dataset_types.get("meta")], [ref.id])
    return str(row.artifacts[0].path)


def _inside(butler: DirectButler, key: str) -> bool:
    root = os.path.realpath(_root(butler))
    return os.path.realpath((_root(butler) / key).parent).startswith(root + os.sep)


@pytest.mark.parametrize("mode", ["auto", "copy", "move", "link", "hardlink", "symlink", "relsymlink", "direct"])
def test_ingest_records_keys_inside_the_root_or_external_uris(meta: DirectButler, tmp_path: Path, mode: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    source = outside / "m.json"
    source.write_text('{"a": 1}')
    data_id = {"instrument": "Cam", "visit": 1, "detector": 1}
    (ref,) = meta.ingest(FileDataset(source, dataset_type="meta", data_id=data_id), transfer=mode)
    key = _key(meta, ref)
    if mode == "direct":
        assert key == source.as_uri()
        assert key_problem(key, external=True) is None
    else:
        assert key_problem(key) is None
        assert _inside(meta, key)
    assert meta.get(ref) == {"a": 1}
    meta.remove([ref])
    assert source.exists() != (mode == "move")


@pytest.mark.parametrize("name", ["butler.yaml", ".staging/m.json"])
def test_auto_ingest_never_adopts_the_repository_s_own_files(meta: DirectButler, name: str) -> None:
    root = _root(meta)
    target = root / name
    if not target.exists():
        target.parent.mkdir(exist_ok=True)
        target.write_text('{"a": 1}')
    before = target.read_bytes()
    (ref,) = meta.ingest(
        FileDataset(target, dataset_type="meta", data_id={"instrument": "Cam", "visit": 1, "detector": 1})
    )
    key = _key(meta, ref)
    assert key_problem(key) is None
    assert key != name
    meta.remove([ref])
    assert target.read_bytes() == before


@pytest.mark.parametrize("link", ["directory", "file"])
def test_auto_ingest_through_a_link_out_of_the_root_brings_the_file_in(
    meta: DirectButler, tmp_path: Path, link: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "m.json").write_text('{"a": 2}')
    root = _root(meta)
    if link == "directory":
        (root / "linked").symlink_to(outside, target_is_directory=True)
        given = root / "linked" / "m.json"
    else:
        given = root / "m.json"
        given.symlink_to(outside / "m.json")
    assert not RootLinks(str(root)).may_adopt(str(given.relative_to(root)))
    (ref,) = meta.ingest(
        FileDataset(given, dataset_type="meta", data_id={"instrument": "Cam", "visit": 2, "detector": 1})
    )
    key = _key(meta, ref)
    assert not key.startswith(("linked/", "m.json"))
    assert _inside(meta, key)
    meta.remove([ref])
    assert (outside / "m.json").read_text() == '{"a": 2}'


def test_auto_ingest_adopts_a_plain_file_in_the_root(meta: DirectButler) -> None:
    root = _root(meta)
    (root / "mine").mkdir()
    (root / "mine" / "m.json").write_text('{"a": 3}')
    data_id = {"instrument": "Cam", "visit": 3, "detector": 1}
    (ref,) = meta.ingest(FileDataset(root / "mine" / "m.json", dataset_type="meta", data_id=data_id))
    assert _key(meta, ref) == "mine/m.json"


def _raw(path: Path) -> Path:
    hdu = fits.PrimaryHDU(np.zeros((2, 2), dtype=np.int16))
    cards = {"INSTRUME": "TestCam", "DATE-OBS": "2025-03-04T01:00:00.000", "EXPTIME": 30.0, "FILTER": "TestCam-r",
             "BAND": "r", "DETECTOR": 0, "DETNAME": "S00", "OBSID": "TC_1", "SEQNUM": 1,
             "IMAGETYP": "science"}  # fmt: skip
    for key, value in cards.items():
        hdu.header[key] = value
    hdu.writeto(path)
    return path


def test_raw_ingest_through_a_directory_link_brings_the_file_in(repo: str, tmp_path: Path) -> None:
    outside = tmp_path / "night"
    outside.mkdir()
    _raw(outside / "raw.fits")
    with DirectButler(repo, writeable=True) as butler:
        root = _root(butler)
        (root / "night").symlink_to(outside, target_is_directory=True)
        report = butler.ingest_raws([root / "night" / "raw.fits"])
        assert report.failures == {}
        (ref,) = report.ingested
        (row,) = butler.registry.datasets.by_ids([butler.registry.dataset_types.get("raw")], [ref.id])
        key = row.artifacts[0].path
        assert not key.startswith("night/")
        assert _inside(butler, key)
        butler.remove([ref])
    assert (outside / "raw.fits").exists()


# -- transfer_from -----------------------------------------------------------------------------------------
@pytest.fixture
def planted(tmp_path: Path, victim: Path) -> Iterator[DirectButler]:
    """A SQLite source whose one dataset is recorded (as old imports could) at ``../victim.json``."""
    Butler.create(tmp_path / "source")
    with DirectButler(tmp_path / "source", run="r1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=1)
        table = butler.registry.tables.datastore_record
        with butler.registry.db.transaction() as conn:
            conn.execute(sa.update(table).values(path=os.path.relpath(victim, tmp_path / "source")))
        yield butler


def test_transfer_refuses_a_source_path_out_of_its_root(
    planted: DirectButler, repo: str, victim: Path, snapshot: Snapshot
) -> None:
    refs = planted.query_datasets_in_run("meta", "r1")
    with DirectButler(repo, writeable=True) as dest:
        before = snapshot(dest)
        with pytest.raises(PermissionDeniedError, match=re.escape("'../victim.json', which has a '..' segment")):
            dest.transfer_from(planted, refs)
        assert snapshot(dest) == before
    assert victim.read_text() == '{"secret": 1}'


def test_export_with_files_refuses_a_path_out_of_the_root(planted: DirectButler, tmp_path: Path, victim: Path) -> None:
    refs = planted.query_datasets_in_run("meta", "r1")
    for target, directory in [(tmp_path / "out" / "e.yaml", tmp_path / "out" / "files"), (tmp_path / "e.zip", None)]:
        with pytest.raises(PermissionDeniedError, match=re.escape("'../victim.json', which has a '..' segment")):
            planted.export(target, refs=refs, directory=directory)
        assert not target.exists()
    assert not (tmp_path / "out" / "victim.json").exists()
    assert victim.read_text() == '{"secret": 1}'
    planted.export(tmp_path / "registry-only.yaml", refs=refs)  # without files: the path is only text


@pytest.mark.s3
def test_registry_only_import_into_s3_refuses_bad_paths(
    request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path
) -> None:
    root = datastore_repo(request, registry_url, tmp_path / "s3repo", "s3")
    with DirectButler(root, writeable=True) as dest:
        for bad in ["../victim.json", ".staging/x.json", "/victim.json"]:
            export = tmp_path / "e.yaml"
            export.write_text(_hostile(bad))
            with pytest.raises(ExportFormatError, match=PLACE):
                dest.import_(export)
        assert dest.registry.datasets.count() == 0
        assert dest.registry.query_collections() == []
