"""LocalTransport's own methods beyond the conformance suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybutler.errors import ArtifactNotFoundError, StorageError
from skybutler.transports._local import LocalTransport


def test_read_prefix_reads_up_to_the_limit_and_names_the_file(tmp_path: Path) -> None:
    """The checked read of a small file asks for one byte more than recorded: a longer file shows it."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.json").write_bytes(b"0123456789")
    transport = LocalTransport(str(tmp_path))
    assert transport.read_prefix("a/f.json", 11) == (b"0123456789", str(tmp_path / "a" / "f.json"))
    assert transport.read_prefix("a/f.json", 4)[0] == b"0123"


def test_read_prefix_of_a_missing_file_or_a_directory_is_our_error(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    transport = LocalTransport(str(tmp_path))
    with pytest.raises(ArtifactNotFoundError, match="No file"):
        transport.read_prefix("missing.json", 10)
    with pytest.raises(StorageError, match="d"):
        transport.read_prefix("d", 10)
