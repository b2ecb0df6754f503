"""The transport conformance suite on the built-in transports: local files, memory and S3 (moto on loopback)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

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
