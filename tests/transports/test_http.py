"""The read-only HTTP transport against a loopback server with Range support; a repository read over HTTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skybutler import Butler
from skybutler.astro import Image
from skybutler.errors import StorageError
from skybutler.testing.http import RangeServer
from skybutler.testing.sample import populate_sample
from skybutler.testing.transports import TransportTests
from skybutler.transports import Transport, open_transport
from skybutler.transports._http import HttpTransport


class TestHttpTransport(TransportTests):
    @pytest.fixture
    def transport(self, http_root: tuple[str, Path]) -> Transport:
        return open_transport(http_root[0])

    @pytest.fixture
    def writer(self, http_root: tuple[str, Path]) -> Transport:
        return open_transport(http_root[1].as_uri())


def test_writes_are_refused_with_what_to_do(tmp_path: Path) -> None:
    with RangeServer(tmp_path) as server:
        transport = open_transport(server.url)
        with pytest.raises(StorageError, match="read-only"):
            transport.put("a", b"1")
        with pytest.raises(StorageError, match="read-only"):
            list(transport.keys())


def test_a_repository_written_locally_is_read_over_http_with_ranged_cutouts(tmp_path: Path) -> None:
    files = tmp_path / "files"
    root = Butler.create(tmp_path / "repo", datastore=files.as_uri())
    image = Image(np.arange(1024 * 1024, dtype="f4").reshape(1024, 1024), {"EXPTIME": 1.0})
    with Butler(root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("image", ["instrument", "visit", "detector"], "Image")
        butler.put(image, "image", instrument="Cam", visit=1, detector=2)
    with RangeServer(files) as server:
        reader = Butler(root, collections="run1", config={"datastore": {"root": server.url}})
        transport = reader.datastore.files().transport
        assert isinstance(transport, HttpTransport)
        cutout = reader.get(
            "image", instrument="Cam", visit=1, detector=2, parameters={"bbox": (slice(10, 20), slice(5, 9))}
        )
        np.testing.assert_array_equal(cutout.array, image.array[10:20, 5:9])
        assert transport.bytes_read < 0.1 * image.array.nbytes
        reader.close()
