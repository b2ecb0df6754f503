"""Reads are checked by default (``datastore.verify_on_read``): a corrupt file raises, never yields wrong data.

Every built-in format (JSON, YAML, npy, FITS, HDF5, Parquet) is written, then its file has a byte flipped,
is cut short or is extended; a default ``get`` must raise `CorruptArtifactError`, on local files, the
in-memory transport and S3 (moto on loopback), with SQLite and PostgreSQL registries.  Partial reads check
the size only; the cache checks its own copies.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skybutler import Butler
from skybutler.astro import Image
from skybutler.butler import DirectButler
from skybutler.errors import CorruptArtifactError
from skybutler.testing.sample import populate_sample
from skybutler.transports import Transport

DIMS = ["instrument", "visit", "detector"]
DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 1}


def _table() -> Any:
    import pyarrow as pa

    return pa.table({"a": np.arange(200, dtype=np.int64), "b": np.linspace(0.0, 1.0, 200)})


#: dataset type → (storage class, formatter, object); one of each built-in format.
CASES: dict[str, tuple[str, str, Callable[[], Any]]] = {
    "as_json": ("StructuredDataDict", "json", lambda: {"a": 1, "b": [1.5, 2.5], "c": "text"}),
    "as_yaml": ("StructuredDataDict", "yaml", lambda: {"a": 1, "b": [1.5, 2.5], "c": "text"}),
    "as_npy": ("NumpyArray", "npy", lambda: np.arange(500, dtype=np.float64)),
    "as_fits": ("Image", "fits", lambda: Image(np.arange(400, dtype=np.float32).reshape(20, 20), {"K": 1})),
    "as_hdf5": ("Image", "hdf5", lambda: Image(np.arange(400, dtype=np.float32).reshape(20, 20), {"K": 1})),
    "as_parquet": ("ArrowTable", "parquet", _table),
}


def _flip(data: bytes) -> bytes:
    """One bit changed in the middle of the file: same size, other bytes."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "flipped": _flip,
    "truncated": lambda data: data[: len(data) - 7],
    "extended": lambda data: data + b"\0" * 16,
}


@pytest.fixture(params=["local", "memory", pytest.param("s3", marks=pytest.mark.s3)])
def butler(
    request: pytest.FixtureRequest, registry_url: tuple[str, str | None], tmp_path: Path
) -> Iterator[DirectButler]:
    """A repository with default settings whose files are local, in memory or on S3; one dataset per format."""
    url, schema = registry_url
    registry = None if url.startswith("sqlite") else url
    config: dict[str, Any] = {"datastore": {"formatters": {name: case[1] for name, case in CASES.items()}}}
    datastore: str | None = None
    if request.param == "memory":
        datastore = f"mem://{uuid.uuid4().hex}/"
    elif request.param == "s3":
        datastore = request.getfixturevalue("s3_root")
        config["datastore"]["transport"] = {"endpoint_url": request.getfixturevalue("s3_endpoint")}
    root = Butler.create(tmp_path / "repo", registry=registry, schema=schema, datastore=datastore, config=config)
    with DirectButler(root, run="run1", collections="run1") as b:
        populate_sample(b)
        for name, (storage_class, _, make) in CASES.items():
            b.register_dataset_type(name, DIMS, storage_class)
            b.put(make(), name, DATA_ID)
        yield b


def _key(butler: DirectButler, dataset_type: str, data_id: dict[str, Any]) -> tuple[Transport, str]:
    transport = butler.datastore.files().transport
    return transport, butler.get_uri(dataset_type, data_id)[len(transport.uri("")) :]


def _damage(
    butler: DirectButler, dataset_type: str, how: Callable[[bytes], bytes], data_id: dict[str, Any] = DATA_ID
) -> None:
    transport, key = _key(butler, dataset_type, data_id)
    data = transport.get(key)
    damaged = how(data)
    assert damaged != data
    transport.delete(key)  # S3 writes in place may refuse to replace; a delete then a put always works
    transport.put(key, damaged)


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_default_get_of_a_corrupt_file_raises_for_every_format(butler: DirectButler, corruption: str) -> None:
    for name in CASES:
        butler.get(name, DATA_ID)  # healthy files read back
        _damage(butler, name, CORRUPTIONS[corruption])
    for name in CASES:
        with pytest.raises(CorruptArtifactError, match=r"is corrupt: .* has (checksum|\d+ bytes but)"):
            butler.get(name, DATA_ID)


def test_verify_on_read_off_reads_without_checking(butler: DirectButler) -> None:
    _damage(butler, "as_json", lambda data: data.replace(b'"text"', b'"TEXT"'))
    with pytest.raises(CorruptArtifactError):
        butler.get("as_json", DATA_ID)
    with DirectButler(butler.root, collections="run1", config={"datastore": {"verify_on_read": False}}) as lax:
        assert lax.get("as_json", DATA_ID)["c"] == "TEXT"


def test_partial_reads_check_the_size(butler: DirectButler) -> None:
    """A cut-out, a slice or a component cannot check a whole-file checksum; a wrong size still raises."""
    assert butler.get("as_npy", DATA_ID, parameters={"slices": (slice(2, 5),)}).tolist() == [2.0, 3.0, 4.0]
    assert butler.get("as_fits", DATA_ID, parameters={"bbox": (slice(0, 2), slice(0, 3))}).array.shape == (2, 3)
    for name in ("as_npy", "as_fits", "as_parquet"):
        _damage(butler, name, CORRUPTIONS["extended"])
    with pytest.raises(CorruptArtifactError, match="bytes but"):
        butler.get("as_npy", DATA_ID, parameters={"slices": (slice(2, 5),)})
    with pytest.raises(CorruptArtifactError, match="bytes but"):
        butler.get("as_fits", DATA_ID, parameters={"bbox": (slice(0, 2), slice(0, 3))})
    with pytest.raises(CorruptArtifactError, match="bytes but"):
        butler.get("as_parquet.rowcount", DATA_ID)


@pytest.mark.s3
def test_the_cache_checks_downloads_and_replaces_a_damaged_copy(s3_endpoint: str, s3_root: str, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    config = {"datastore": {"transport": {"endpoint_url": s3_endpoint}, "cache": {"directory": str(cache)}}}
    root = Butler.create(tmp_path / "repo", datastore=s3_root, config=config)
    with DirectButler(root, run="run1", collections="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
        butler.put({"a": 1}, "meta", DATA_ID)
        butler.put({"a": 2}, "meta", {**DATA_ID, "visit": 2})
        assert butler.get("meta", DATA_ID) == {"a": 1}  # downloaded and cached
        files = butler.datastore.files()
        assert files.cache is not None
        assert butler.get("meta", DATA_ID) == {"a": 1}  # a hit, checked
        assert files.cache.hits == 1
        cached = [p for p in cache.glob("*/*") if p.is_file()]
        assert len(cached) == 1
        cached[0].write_bytes(b'{"a":7}')  # the cache's copy damaged: the dataset itself is fine
        misses = files.cache.misses
        assert butler.get("meta", DATA_ID) == {"a": 1}  # dropped and downloaded again
        assert files.cache.misses == misses + 1
        assert cached[0].read_bytes() != b'{"a":7}'
        _damage(
            butler, "meta", CORRUPTIONS["flipped"], {**DATA_ID, "visit": 2}
        )  # the stored object damaged: never cached, raises
        with pytest.raises(CorruptArtifactError):
            butler.get("meta", {**DATA_ID, "visit": 2})
