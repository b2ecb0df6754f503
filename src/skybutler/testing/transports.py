"""The transport conformance suite: the `Transport` contract as tests, for built-in and third-party transports.

Subclass `TransportTests` and give it a ``transport`` fixture returning an empty transport root::

    class TestMyTransport(TransportTests):
        @pytest.fixture
        def transport(self, tmp_path):
            return open_transport("myproto://bucket/test/")

A read-only transport (``can_write = False``) also overrides ``writer``: a transport that writes the bytes the
read-only one serves (a local directory behind an HTTP server, say).  Write tests are skipped for it.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from skybutler.errors import ArtifactNotFoundError, StorageError
from skybutler.transports import Transport

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["TransportTests"]

#: Every byte value, so no transport gets away with text-mode or encoding bugs.
PAYLOAD = bytes(range(256)) * 8


def _writable(transport: Transport) -> None:
    if not transport.can_write:
        pytest.skip(f"{type(transport).__name__} is read-only")


class TransportTests:
    """The `Transport` contract.  Subclass it and provide a ``transport`` fixture (and ``writer`` if read-only)."""

    @pytest.fixture
    def writer(self, transport: Transport) -> Transport:
        """A transport that writes what ``transport`` reads (itself, unless read-only)."""
        return transport

    # -- whole reads and writes ------------------------------------------------------------------------------
    def test_put_then_get(self, transport: Transport, writer: Transport) -> None:
        writer.put("a/b.bin", PAYLOAD)
        assert transport.get("a/b.bin") == PAYLOAD

    def test_put_replaces(self, transport: Transport) -> None:
        _writable(transport)
        transport.put("k", b"old")
        transport.put("k", b"new bytes")
        assert transport.get("k") == b"new bytes"

    def test_empty_object_round_trips(self, transport: Transport, writer: Transport) -> None:
        writer.put("empty", b"")
        assert transport.get("empty") == b""
        assert transport.size("empty") == 0
        with transport.open("empty") as f:
            assert f.read() == b""

    def test_missing_key_raises_artifact_not_found(self, transport: Transport) -> None:
        with pytest.raises(ArtifactNotFoundError):
            transport.get("missing/key")
        with pytest.raises(ArtifactNotFoundError):
            transport.open("missing/key")
        with pytest.raises(ArtifactNotFoundError):
            transport.size("missing/key")

    def test_exists_and_size(self, transport: Transport, writer: Transport) -> None:
        writer.put("dir/x", PAYLOAD)
        assert transport.exists("dir/x")
        assert not transport.exists("dir/y")
        assert transport.size("dir/x") == len(PAYLOAD)

    def test_keys_with_spaces_and_symbols(self, transport: Transport, writer: Transport) -> None:
        key = "run a/type+x/v=1,d@2 (b).json"
        writer.put(key, b"{}")
        assert transport.get(key) == b"{}"

    # -- streams ----------------------------------------------------------------------------------------------
    def test_open_reads_ranges_after_seeks(self, transport: Transport, writer: Transport) -> None:
        data = os.urandom(300_000)
        writer.put("big", data)
        with transport.open("big") as f:
            assert f.seekable()
            assert f.read(10) == data[:10]
            f.seek(200_000)
            assert f.read(5) == data[200_000:200_005]
            assert f.tell() == 200_005
            f.seek(-7, io.SEEK_END)
            assert f.read() == data[-7:]
            f.seek(1000)
            buffer = bytearray(150_000)
            got = f.readinto(buffer)  # type: ignore[attr-defined]
            assert bytes(buffer[:got]) == data[1000 : 1000 + got]
            f.seek(0)
            assert f.read(10) == data[:10]
            assert f.read(250_000) == data[10:250_010]  # no short reads: libraries take them for the end
            f.seek(0)
            assert f.read() == data

    def test_open_write_lands_only_on_success(self, transport: Transport) -> None:
        _writable(transport)
        with transport.open_write("w/ok") as f:
            f.write(b"abc")
            f.write(b"def")
        assert transport.get("w/ok") == b"abcdef"

        def fail_midway() -> None:
            with transport.open_write("w/failed") as f:
                f.write(b"partial")
                raise RuntimeError("writer failed")

        with pytest.raises(RuntimeError):
            fail_midway()
        assert not transport.exists("w/failed")
        if transport.can_list:
            assert list(transport.keys("w/")) == ["w/ok"]

    def test_put_file_and_as_local(self, transport: Transport, writer: Transport, tmp_path: Path) -> None:
        source = tmp_path / "source.bin"
        source.write_bytes(PAYLOAD)
        writer.put_file(source, "files/f.bin")
        with transport.as_local("files/f.bin") as local:
            assert local.read_bytes() == PAYLOAD

    # -- delete, move, list ---------------------------------------------------------------------------------
    def test_delete_is_idempotent(self, transport: Transport) -> None:
        _writable(transport)
        transport.put("d/x", b"1")
        transport.delete("d/x")
        transport.delete("d/x")
        assert not transport.exists("d/x")

    def test_delete_many(self, transport: Transport) -> None:
        _writable(transport)
        for i in range(5):
            transport.put(f"many/{i}", b"x")
        transport.delete_many([f"many/{i}" for i in range(4)] + ["many/absent"])
        assert [transport.exists(f"many/{i}") for i in range(5)] == [False] * 4 + [True]

    def test_move_replaces_the_target(self, transport: Transport) -> None:
        _writable(transport)
        transport.put("src", b"new")
        transport.put("nested/dst", b"old")
        transport.move("src", "nested/dst")
        assert transport.get("nested/dst") == b"new"
        assert not transport.exists("src")
        with pytest.raises(ArtifactNotFoundError):
            transport.move("src", "elsewhere")

    # -- claims: the create a put makes of its final path, which never replaces anything -------------------------
    def test_claim_creates_the_name_for_the_source(self, transport: Transport) -> None:
        _writable(transport)
        transport.put(".staging/s.bin", PAYLOAD)
        shares = transport.claim(".staging/s.bin", "deep/new/dir/final.bin")
        assert transport.exists("deep/new/dir/final.bin")
        if shares:  # the bytes are there already: dropping the source completes the move
            transport.delete(".staging/s.bin")
        else:  # a placeholder: the move replaces it
            transport.move(".staging/s.bin", "deep/new/dir/final.bin")
        assert transport.get("deep/new/dir/final.bin") == PAYLOAD
        assert not transport.exists(".staging/s.bin")

    def test_claim_never_replaces_an_existing_key(self, transport: Transport) -> None:
        _writable(transport)
        transport.put("src", b"mine")
        transport.put("taken", b"someone else's")
        with pytest.raises(FileExistsError):
            transport.claim("src", "taken")
        assert transport.get("taken") == b"someone else's"
        assert transport.get("src") == b"mine"
        with pytest.raises(ArtifactNotFoundError):
            transport.claim("absent", "free")

    def test_identity_tells_a_claim_from_another_file(self, transport: Transport) -> None:
        _writable(transport)
        transport.put("src", b"mine")
        transport.put("other", b"mine")
        transport.claim("src", "claimed")
        assert transport.identity("src") is not None
        assert transport.identity("claimed") == transport.identity("src")
        assert transport.identity("other") != transport.identity("src")
        assert transport.identity("absent") is None

    def test_claims_racing_from_threads_have_one_winner(self, transport: Transport) -> None:
        _writable(transport)
        for i in range(8):
            transport.put(f"s/{i}", str(i).encode())

        def claim(i: int) -> int | None:
            try:
                transport.claim(f"s/{i}", "contested")
            except FileExistsError:
                return None
            return i

        with ThreadPoolExecutor(8) as pool:
            winners = [i for i in pool.map(claim, range(8)) if i is not None]
        if transport.can_create or type(transport).claim is not Transport.claim:  # atomic claims only
            assert len(winners) == 1
            assert transport.identity("contested") == transport.identity(f"s/{winners[0]}")

    def test_keys_lists_under_a_prefix(self, transport: Transport) -> None:
        _writable(transport)
        if not transport.can_list:
            with pytest.raises(StorageError):
                list(transport.keys())
            return
        for key in ("p/a", "p/q/b", "p/q/r/c", "other/d"):
            transport.put(key, b"1")
        assert sorted(transport.keys("p/")) == ["p/a", "p/q/b", "p/q/r/c"]
        assert sorted(transport.keys()) == ["other/d", "p/a", "p/q/b", "p/q/r/c"]
        assert list(transport.keys("nothing/")) == []

    def test_concurrent_puts_from_threads(self, transport: Transport) -> None:
        _writable(transport)

        def put(i: int) -> None:
            transport.put(f"c/{i}", str(i).encode())

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(40)))
        assert all(transport.get(f"c/{i}") == str(i).encode() for i in range(40))

    # -- naming --------------------------------------------------------------------------------------------
    def test_uri_is_under_the_root(self, transport: Transport) -> None:
        assert transport.root.endswith("/")
        assert transport.uri("a/b") == transport.root + "a/b"

    def test_keys_holding_escaped_template_values(self, transport: Transport, writer: Transport) -> None:
        # templates escape unsafe data ID and run characters as %XX: "run 1:x" is stored under "run%201%3Ax"
        key = "u/run%201%3Ax/a%2Fb.bin"
        writer.put(key, PAYLOAD)
        assert transport.exists(key)
        assert transport.get(key) == PAYLOAD
        with transport.open(key) as stream:
            assert stream.read() == PAYLOAD
        if writer.is_local:  # the URI names that very file, as a reader of file:// URIs decodes it
            from urllib.parse import unquote, urlparse

            assert unquote(urlparse(writer.uri(key)).path) == str(writer.local_path(key))

    def test_url_is_none_or_a_url(self, transport: Transport, writer: Transport) -> None:
        writer.put("u", b"1")
        url = transport.url("u")
        assert url is None or "://" in url
