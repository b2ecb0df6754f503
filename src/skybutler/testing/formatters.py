"""`FormatterTests`: the conformance suite every formatter (built-in or plug-in) should pass.

A plug-in author subclasses it in their own test module and implements `samples` (and, for types without a
meaningful ``==``, `assert_same`)::

    from skybutler.testing.formatters import FormatterTests

    class TestMyFormatter(FormatterTests):
        formatter_class = MyFormatter

        def samples(self):
            return [("MyStorageClass", make_one()), ("MyStorageClass", make_an_empty_one())]

The suite checks what the datastore relies on: the class is registered under its name, it writes to a
stream that cannot seek (unless it says ``writes_streams = False``) and to a file, reads back what it wrote
from a seekable stream positioned anywhere the datastore leaves it, refuses garbage with an exception
instead of returning something, refuses an unknown component, and round-trips through a real repository
(put then get) when its storage classes are registered.
"""

from __future__ import annotations

import io
import os
import tempfile
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import pytest

from skybutler.formatters import Formatter, formatters

__all__ = ["FormatterTests", "OneWayStream"]


class OneWayStream(io.RawIOBase):
    """A write-only stream that cannot seek or tell: what the datastore's hashing stream allows."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.buffer += view
        return len(view)


class FormatterTests:
    """Conformance tests for one formatter class (subclass it; pytest collects ``Test*`` subclasses)."""

    formatter_class: ClassVar[type[Formatter]]
    """The formatter under test."""
    garbage: ClassVar[Sequence[bytes]] = (b"", b"\x00" * 7, b"not a file of this format at all\n" * 3)
    """Byte strings that are not files of the format: reading them must raise."""

    @abstractmethod
    def samples(self) -> list[tuple[str, Any]]:
        """``(storage class name, object)`` pairs the formatter must round-trip (include edge cases)."""

    def assert_same(self, got: Any, expected: Any) -> None:
        """Assert a read-back object equals the written one (override for types without ``==``)."""
        if isinstance(expected, list | tuple | bytes | str | int | float) or expected is None:
            assert got == expected, f"{got!r} != {expected!r}"
            return
        from skybutler.testing.astro import assert_same

        assert_same(got, expected)

    # -- helpers ------------------------------------------------------------------------------------------------
    @pytest.fixture
    def formatter(self) -> Formatter:
        return self.formatter_class()

    def _write(self, formatter: Formatter, obj: Any) -> bytes:
        if formatter.writes_streams:
            stream = OneWayStream()
            formatter.write(obj, stream)  # type: ignore[arg-type]
            return bytes(stream.buffer)
        fd, name = tempfile.mkstemp(suffix=formatter.extensions[0] if formatter.extensions else "")
        os.close(fd)
        path = Path(name)
        try:
            path.unlink()  # write_file makes a new file
            formatter.write_file(obj, path)
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)

    @staticmethod
    def _reader(data: bytes, *, offset: int = 0) -> BinaryIO:
        stream = io.BytesIO(data)
        stream.seek(offset)
        return stream

    # -- the suite ----------------------------------------------------------------------------------------------
    def test_declares_itself(self, formatter: Formatter) -> None:
        cls = self.formatter_class
        assert isinstance(cls.name, str)
        assert cls.name
        assert cls.extensions, "a formatter names at least one file extension (the first is the default)"
        assert all(ext.startswith(".") for ext in cls.extensions), cls.extensions
        assert cls.storage_classes, "a formatter names the storage classes it writes (or '*')"
        assert formatters.get(cls.name) is cls, f"register {cls.__name__} as formatter {cls.name!r}"

    def test_writes_the_storage_classes_it_declares(self, formatter: Formatter) -> None:
        for storage_class, _ in self.samples():
            assert formatter.supports(storage_class), f"{storage_class} is not in {formatter.storage_classes}"

    def test_round_trip_through_a_stream(self, formatter: Formatter) -> None:
        for storage_class, obj in self.samples():
            data = self._write(formatter.for_storage_class(storage_class), obj)
            self.assert_same(formatter.read(self._reader(data)), obj)

    def test_round_trip_through_a_file(self, formatter: Formatter, tmp_path: Path) -> None:
        for i, (storage_class, obj) in enumerate(self.samples()):
            path = tmp_path / f"sample{i}{formatter.extensions[0]}"
            formatter.for_storage_class(storage_class).write_file(obj, path)
            with open(path, "rb") as stream:
                self.assert_same(formatter.read(stream), obj)

    def test_reading_twice_gives_the_same(self, formatter: Formatter) -> None:
        for storage_class, obj in self.samples():
            data = self._write(formatter.for_storage_class(storage_class), obj)
            first = formatter.read(self._reader(data))
            self.assert_same(formatter.read(self._reader(data)), first)

    def test_garbage_raises(self, formatter: Formatter) -> None:
        if not self.garbage:
            pytest.skip("every byte string is a valid file of this format")
        for data in self.garbage:
            with pytest.raises(Exception):  # noqa: B017, PT011 (the datastore wraps any error in FormatterError)
                formatter.read(self._reader(data))

    def test_unknown_component_raises(self, formatter: Formatter) -> None:
        storage_class, obj = self.samples()[0]
        data = self._write(formatter.for_storage_class(storage_class), obj)
        with pytest.raises(Exception):  # noqa: B017, PT011
            formatter.read(self._reader(data), component="no_such_component_here")

    def test_put_and_get_through_a_repository(self, formatter: Formatter, tmp_path: Path) -> None:
        from skybutler import Butler
        from skybutler.datasets import storage_classes

        samples = [(sc, obj) for sc, obj in self.samples() if sc in storage_classes.names()]
        if not samples:
            pytest.skip("no sample of a registered storage class")
        root = Butler.create(tmp_path / "repo", config={"datastore": {"formatters": {
            sc: self.formatter_class.name for sc, _ in samples}}})  # fmt: skip
        with Butler(root, run="conformance") as butler:
            butler.insert_dimension_records("instrument", [{"name": "Cam"}])
            for i, (sc, obj) in enumerate(samples):
                name = f"sample{i}"
                butler.register_dataset_type(name, ["instrument"], sc)
                butler.put(obj, name, instrument="Cam")
                self.assert_same(butler.get(name, instrument="Cam"), obj)
                artifact = butler.get_uri(name, instrument="Cam")
                assert str(artifact).endswith(self.formatter_class.extensions[0]), artifact
