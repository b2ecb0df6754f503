"""A repository whose datastore is on S3 (moto's server on loopback); the registry on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skybutler import Butler
from skybutler.astro import Exposure, Image
from skybutler.butler import DirectButler
from skybutler.errors import ConfigError
from skybutler.testing.sample import populate_sample
from skybutler.transports._s3 import S3Transport

pytestmark = pytest.mark.s3

DIMS = ["instrument", "visit", "detector"]
DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}


@pytest.fixture(params=[True, False], ids=["in-place", "staged"])
def s3_repo(
    request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path, s3_root: str, s3_endpoint: str
) -> str:
    """A repository at a local root whose files go to a fresh S3 bucket, written in place (conditional PUTs)
    or through staging keys (for stores without them)."""
    url, schema = registry_url
    options = {"endpoint_url": s3_endpoint, "conditional_writes": request.param}
    return Butler.create(
        tmp_path / "repo",
        registry=None if url.startswith("sqlite") else url,
        schema=schema,
        datastore=s3_root,
        config={"datastore": {"transport": options}},
    )


@pytest.fixture
def s3_butler(s3_repo: str) -> Iterator[DirectButler]:
    with DirectButler(s3_repo, run="test/run") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.register_dataset_type("array", DIMS, "NumpyArray")
        yield butler


def _transport(butler: DirectButler) -> S3Transport:
    transport = butler.datastore.files().transport
    assert isinstance(transport, S3Transport)
    return transport


def test_put_get_exists_remove(s3_butler: DirectButler) -> None:
    ref = s3_butler.put({"a": 1, "b": [1, 2]}, "meta", DATA_ID)
    array = np.arange(25_000, dtype="f4")
    s3_butler.put(array, "array", DATA_ID)
    assert s3_butler.get("meta", DATA_ID) == {"a": 1, "b": [1, 2]}
    np.testing.assert_array_equal(s3_butler.get("array", DATA_ID), array)
    uri = s3_butler.get_uri(ref)
    assert uri.startswith(_transport(s3_butler).root)
    key = uri[len(_transport(s3_butler).root) :]
    assert _transport(s3_butler).exists(key)
    assert s3_butler.exists("meta", DATA_ID)
    assert s3_butler.remove([ref]) == 1
    assert not s3_butler.exists("meta", DATA_ID)
    assert not _transport(s3_butler).exists(key)
    assert not list(_transport(s3_butler).keys(".staging/"))


def test_npy_slices_and_mmap_read_from_s3(s3_butler: DirectButler) -> None:
    # the ranged reader's name is an s3:// URI: np.load(name) failed with "No such file or directory"
    array = np.arange(60, dtype="f4").reshape(6, 10)
    s3_butler.put(array, "array", DATA_ID)
    got = s3_butler.get("array", DATA_ID, parameters={"slices": (slice(2, 4),)})
    np.testing.assert_array_equal(got, array[2:4])
    np.testing.assert_array_equal(s3_butler.get("array", DATA_ID, parameters={"mmap": True}), array)


def test_a_file_already_at_the_final_key_is_never_replaced(s3_butler: DirectButler) -> None:
    ref = s3_butler.put({"a": 1}, "meta", DATA_ID)
    transport = _transport(s3_butler)
    path = s3_butler.get_uri(ref)[len(transport.root) :]
    s3_butler.remove([ref])
    transport.put(path, b"a removed dataset's file, still awaiting deletion")
    again = s3_butler.put({"a": 2}, "meta", DATA_ID)
    assert s3_butler.get_uri(again) != transport.uri(path)
    assert again.id.hex[-12:] in s3_butler.get_uri(again)
    assert transport.get(path).startswith(b"a removed")
    assert s3_butler.get("meta", DATA_ID) == {"a": 2}


def test_put_many_query_and_get_many(s3_butler: DirectButler) -> None:
    items = [
        ({"visit": v, "detector": d}, {"instrument": "Cam", "visit": v, "detector": d})
        for v in range(4)
        for d in range(5)
    ]
    refs = s3_butler.put_many(items, "meta")
    found = s3_butler.query_datasets("meta", where="visit > 1 AND detector < 2")
    assert sorted((r.data_id["visit"], r.data_id["detector"]) for r in found) == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert s3_butler.get_many(refs[:3]) == [obj for obj, _ in items[:3]]
    assert len(list(_transport(s3_butler).keys("test/run/"))) == 20
    assert not list(_transport(s3_butler).keys(".staging/"))


def test_a_failed_put_many_leaves_no_files_and_no_rows(s3_butler: DirectButler) -> None:
    s3_butler.put({"x": 1}, "meta", DATA_ID)
    items: list[tuple[Any, Any]] = [({"v": v}, {**DATA_ID, "visit": v}) for v in (2, 3, 1)]  # visit 1 exists
    with pytest.raises(Exception, match="already"):
        s3_butler.put_many(items, "meta")
    assert not s3_butler.exists("meta", {**DATA_ID, "visit": 2})
    assert not list(_transport(s3_butler).keys(".staging/"))
    assert len(list(_transport(s3_butler).keys())) == 1


def test_components_and_a_cutout_transfer_a_small_part_of_the_file(s3_butler: DirectButler) -> None:
    s3_butler.register_dataset_type("calexp", DIMS, "Exposure")
    s3_butler.register_dataset_type("image", DIMS, "Image")
    rng = np.random.default_rng(1)
    exposure = Exposure(rng.normal(size=(64, 48)).astype("f4"), metadata={"EXPTIME": 30.0})
    s3_butler.put(exposure, "calexp", DATA_ID)
    assert s3_butler.get("calexp.metadata", DATA_ID)["EXPTIME"] == 30.0
    np.testing.assert_array_equal(s3_butler.get("calexp.image", DATA_ID), exposure.image)

    big = Image(rng.normal(size=(4096, 4096)).astype("f4"), {"EXPTIME": 15.0})
    ref = s3_butler.put(big, "image", DATA_ID)
    transport = _transport(s3_butler)
    size = transport.size(s3_butler.get_uri(ref)[len(transport.root) :])
    before = transport.bytes_read
    cutout = s3_butler.get("image", DATA_ID, parameters={"bbox": (slice(2000, 2100), slice(1000, 1100))})
    transferred = transport.bytes_read - before
    assert cutout.array.shape == (100, 100)
    np.testing.assert_array_equal(cutout.array, big.array[2000:2100, 1000:1100])
    assert transferred < 0.05 * size, f"{transferred} of {size} bytes"


def test_an_hdf5_slice_transfers_a_small_part_of_the_file(s3_repo: str) -> None:
    with DirectButler(s3_repo, run="test/run", config={"datastore": {"prefer": ["hdf5"]}}) as butler:
        populate_sample(butler)
        butler.register_dataset_type("image", DIMS, "Image")
        big = Image(np.random.default_rng(2).normal(size=(4096, 4096)).astype("f4"), {"EXPTIME": 15.0})
        ref = butler.put(big, "image", DATA_ID)
        transport = _transport(butler)
        assert butler.get_uri(ref).endswith(".h5")
        size = transport.size(butler.get_uri(ref)[len(transport.root) :])
        before = transport.bytes_read
        cutout = butler.get("image", DATA_ID, parameters={"bbox": (slice(500, 600), slice(700, 800))})
        np.testing.assert_array_equal(cutout.array, big.array[500:600, 700:800])
        assert butler.get("image.metadata", DATA_ID)["EXPTIME"] == 15.0
        transferred = transport.bytes_read - before
        assert transferred < 0.05 * size, f"{transferred} of {size} bytes"


def test_reconcile_finishes_an_interrupted_put(s3_butler: DirectButler) -> None:
    ref = s3_butler.put({"a": 1}, "meta", DATA_ID)
    transport = _transport(s3_butler)
    final = s3_butler.get_uri(ref)[len(transport.root) :]
    transport.move(final, f".staging/{ref.id.hex}.json")  # as if the process died before the promote
    transport.put("stray/file.json", b"{}")
    report = s3_butler.reconcile(grace_seconds=0)
    assert report.promoted == [final]
    assert report.unknown == ["stray/file.json"]
    assert s3_butler.get(ref) == {"a": 1}


def test_reconcile_deletes_the_artifact_of_a_put_that_never_registered(s3_butler: DirectButler) -> None:
    transport = _transport(s3_butler)
    if not transport.can_create:
        pytest.skip("only in-place writes leave artifacts outside .staging/")
    with transport.open_create("test/run/meta/orphan.json", owner=uuid.uuid4().hex) as f:  # as a killed put does
        f.write(b"{}")
    transport.put("stray/file.json", b"{}")
    young = s3_butler.reconcile()  # within the grace period: maybe a put in flight, kept
    assert (young.removed_staging, young.unknown) == ([], ["stray/file.json"])
    assert transport.exists("test/run/meta/orphan.json")
    report = s3_butler.reconcile(grace_seconds=0)
    assert (report.removed_staging, report.unknown) == (["test/run/meta/orphan.json"], ["stray/file.json"])
    assert not transport.exists("test/run/meta/orphan.json")


def test_the_endpoint_can_come_from_the_environment(
    tmp_path: Path, s3_root: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    root = Butler.create(tmp_path / "repo", datastore=s3_root)
    with DirectButler(root, run="r") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put({"a": 2}, "meta", DATA_ID)
        assert butler.get("meta", DATA_ID) == {"a": 2}
    assert "testing" not in (tmp_path / "repo" / "butler.yaml").read_text()


def test_credentials_in_the_configuration_are_refused(tmp_path: Path, s3_root: str) -> None:
    config = {"datastore": {"transport": {"aws_secret_access_key": "x"}}}
    with pytest.raises(ConfigError, match="Credentials are not taken from configuration"):
        Butler.create(tmp_path / "repo", datastore=s3_root, config=config)
    assert not (tmp_path / "repo" / "butler.yaml").exists()
