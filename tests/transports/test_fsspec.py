"""The fsspec adapter transport, on fsspec's in-memory file system, and a repository stored through it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.errors import ConfigError
from skybutler.testing.sample import populate_sample
from skybutler.testing.transports import TransportTests
from skybutler.transports import Transport, open_transport
from skybutler.transports._fsspec import FsspecTransport


class TestFsspecMemoryTransport(TransportTests):
    @pytest.fixture
    def transport(self) -> Transport:
        return open_transport(f"fsspec+memory://{uuid.uuid4().hex}/prefix")


def test_a_repository_on_an_fsspec_file_system(tmp_path: Path) -> None:
    root = Butler.create(tmp_path / "repo", datastore=f"fsspec+memory://{uuid.uuid4().hex}/repo")
    with DirectButler(root, run="run1") as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", ["instrument", "visit", "detector"], "StructuredDataDict")
        ref = butler.put({"a": 1}, "meta", instrument="Cam", visit=1, detector=2)
        assert isinstance(butler.datastore.files().transport, FsspecTransport)
        assert butler.get(ref) == {"a": 1}
        assert butler.verify().ok == 1
        butler.remove([ref])
        assert butler.verify().unknown == []


def test_an_unknown_protocol_says_so() -> None:
    with pytest.raises(ConfigError, match="nosuchproto"):
        open_transport("fsspec+nosuchproto://x/y")
