"""The read-only HTTP transport against a loopback server with Range support; a repository read over HTTP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skybutler import Butler
from skybutler.astro import Image
from skybutler.butler import DirectButler
from skybutler.errors import StorageError
from skybutler.testing.http import RangeServer
from skybutler.testing.sample import populate_sample
from skybutler.testing.transports import TransportTests
from skybutler.transfer import FileDataset
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


def test_a_put_through_http_names_the_refused_write(tmp_path: Path) -> None:
    # the clean-up of the failed write (a delete, refused too) replaced the cause: "Cannot delete under ..."
    root = Butler.create(tmp_path / "repo")
    with DirectButler(root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
    with RangeServer(tmp_path / "repo") as server:
        writer = DirectButler(root, run="run1", config={"datastore": {"root": server.url}})
        with pytest.raises(StorageError, match=r"Cannot write under .*read-only"):
            writer.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=2)
        writer.close()


def test_a_repository_written_locally_is_read_over_http_with_ranged_cutouts(tmp_path: Path) -> None:
    files = tmp_path / "files"
    root = Butler.create(tmp_path / "repo", datastore=files.as_uri())
    image = Image(np.arange(1024 * 1024, dtype="f4").reshape(1024, 1024), {"EXPTIME": 1.0})
    with DirectButler(root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("image", ["instrument", "visit", "detector"], "Image")
        butler.put(image, "image", instrument="Cam", visit=1, detector=2)
    with RangeServer(files) as server:
        reader = DirectButler(root, collections="run1", config={"datastore": {"root": server.url}})
        transport = reader.datastore.files().transport
        assert isinstance(transport, HttpTransport)
        cutout = reader.get(
            "image", instrument="Cam", visit=1, detector=2, parameters={"bbox": (slice(10, 20), slice(5, 9))}
        )
        np.testing.assert_array_equal(cutout.array, image.array[10:20, 5:9])
        assert transport.bytes_read < 0.1 * image.array.nbytes
        reader.close()


def test_files_under_escaped_run_names_are_read_over_http(tmp_path: Path) -> None:
    # the run "u/me/run 1:x" is stored under "u/me/run%201%3Ax/": the URL must say %25, or the server looks
    # for "run 1:x" and answers 404
    root = Butler.create(tmp_path / "repo")
    with DirectButler(root, run="u/me/run 1:x") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        butler.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=2)
    with RangeServer(tmp_path / "repo") as server:
        reader = DirectButler(root, collections="u/me/run 1:x", config={"datastore": {"root": server.url}})
        assert reader.get("meta", instrument="Cam", visit=1, detector=2) == {"a": 1}
        reader.close()


def test_direct_ingest_of_a_percent_encoded_url(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "a b.json").write_text('{"k": 2}')
    root = Butler.create(tmp_path / "repo")
    with RangeServer(served) as server, DirectButler(root, run="raw") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        url = server.url + "a%20b.json"
        data_id = {"instrument": "Cam", "visit": 1, "detector": 2}
        butler.ingest(FileDataset(url, dataset_type="meta", data_id=data_id), transfer="direct")
        assert butler.get("meta", instrument="Cam", visit=1, detector=2) == {"k": 2}
        assert butler.get_uri("meta", instrument="Cam", visit=1, detector=2) == url
