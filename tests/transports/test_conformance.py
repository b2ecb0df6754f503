"""The transport conformance suite on the built-in transports: local files, memory and S3 (moto on loopback)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from skybutler.errors import ArtifactNotFoundError, StorageError
from skybutler.testing.transports import TransportTests
from skybutler.transports import Transport, open_transport


class TestLocalTransport(TransportTests):
    @pytest.fixture
    def transport(self, tmp_path: Path) -> Transport:
        return open_transport((tmp_path / "root").as_uri())


class TestMemoryTransport(TransportTests):
    @pytest.fixture
    def transport(self) -> Transport:
        return open_transport(f"mem://{uuid.uuid4().hex}/")


@pytest.mark.s3
class TestS3Transport(TransportTests):
    @pytest.fixture
    def transport(self, s3_root: str, s3_endpoint: str) -> Transport:
        return open_transport(s3_root, endpoint_url=s3_endpoint)


def test_local_os_errors_other_than_a_missing_file_are_storage_errors(tmp_path: Path) -> None:
    """Permissions, a full disk, a directory where a file should be: a `StorageError` naming the path, not a raw
    OSError (a directory stands in for the rest: the tests run as root, which permissions do not stop)."""
    transport = open_transport((tmp_path / "root").as_uri())
    transport.put("dir/inner.txt", b"x")
    transport.put("file.txt", b"y")
    for call in (
        lambda: transport.get("dir"),
        lambda: transport.open("dir"),
        lambda: transport.delete("dir"),
        lambda: transport.size("file.txt/child"),
        lambda: transport.move("file.txt", "dir"),
    ):
        with pytest.raises(StorageError, match=r"Cannot .* permissions") as info:
            call()
        assert not isinstance(info.value, ArtifactNotFoundError)
    assert transport.get("file.txt") == b"y"
    assert transport.get("dir/inner.txt") == b"x"
