"""The manifest: what every task of a plan reads and writes, in one file a million tasks can share.

One file, read by random access so a worker touches only its own task::

    line 1         header: JSON object {"format": "skybutler-manifest", "version": 1, ...}
    lines 2..n+1   one JSON array per task: [index, inputs, outputs]
    index          n + 1 little-endian uint64: the byte offset of each task line, then the end of the last
    trailer        b"SKYBMIDX", uint64 offset of the index, uint64 number of tasks  (24 bytes)

A worker reads the header line, the trailer, two offsets and its own line: five reads whatever the number of
tasks.  Strings shared by many tasks (dataset type names, dimensions, formatters, storage classes) are in
the header once, and tasks refer to them by position:

    input   [type, dataset id (hex), data ID values, path, format, size, checksum]
    output  [type, dataset id (hex), data ID values, final path, format]

``types[i]`` is ``{"name", "dimensions" (the required ones, in data ID value order), "storage_class",
"is_calibration"}`` and ``formats[i]`` is ``[formatter, storage class, extension]``.  Version 1 readers
refuse any other major version; new optional header keys do not change the version.  A manifest holds no
credentials and no registry address: only the datastore's root and its configuration, which `plan_work`
checks for secrets.
"""

from __future__ import annotations

import json
import os
import struct
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skybutler.datastore import PENDING
from skybutler.errors import ConfigError, DatasetNotFoundError

__all__ = ["FORMAT", "VERSION", "Manifest", "ManifestInput", "ManifestOutput", "Task", "write_manifest"]

FORMAT = "skybutler-manifest"
VERSION = 1
_MAGIC = b"SKYBMIDX"
_TRAILER = struct.Struct("<8sQQ")


@dataclass(frozen=True, slots=True)
class ManifestInput:
    """A dataset a task reads: resolved at plan time, with its file's path, size and checksum."""

    dataset_type: str
    id: uuid.UUID
    data_id: dict[str, Any]
    path: str
    formatter: str
    storage_class: str
    size: int
    checksum: str | None


@dataclass(frozen=True, slots=True)
class ManifestOutput:
    """A dataset a task may write: its deterministic ID, final path, and the pending key it is written to."""

    dataset_type: str
    id: uuid.UUID
    data_id: dict[str, Any]
    path: str
    """The artifact path (key under the datastore root) after the merge."""
    formatter: str
    storage_class: str
    pending: str
    """Where the worker writes it: ``.pending/<area>/.out/<id><ext>``."""


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a plan: its index, what it reads and what it may write."""

    index: int
    inputs: tuple[ManifestInput, ...]
    outputs: tuple[ManifestOutput, ...]


def _check_header(header: Any, source: str) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError(f"{source} is not a skybutler manifest (its first line names no format {FORMAT!r}).")
    if header.get("version") != VERSION:
        raise ConfigError(
            f"{source} is a manifest of version {header.get('version')!r}; this skybutler reads version {VERSION}. "
            "Make the plan again with this version, or run the workers with the skybutler that planned it."
        )
    return header


class Manifest:
    """A plan's header and tasks: in memory after `plan_work`, or read lazily from a saved file.

    ``Manifest.load(path)`` reads only the header and the index's location; `task` then reads one task's line.
    """

    def __init__(
        self, header: dict[str, Any], tasks: Sequence[Sequence[Any]] | None = None, *, path: str | None = None
    ):
        self.header = _check_header(header, path or "the manifest")
        self.path = path
        self._rows = tasks
        self._index_at = 0
        self._count = len(tasks) if tasks is not None else 0
        t = header["types"]
        self._types = [(x["name"], tuple(x["dimensions"])) for x in t]
        self._formats = [tuple(f) for f in header["formats"]]
        self._area_prefix = f"{PENDING}{header['area']}/"

    # -- header -------------------------------------------------------------------------------------------
    @property
    def run(self) -> str:
        """The RUN collection the outputs are registered in."""
        return str(self.header["run"])

    @property
    def plan_id(self) -> str:
        """The plan's ID: records of other plans are refused at merge."""
        return str(self.header["plan_id"])

    @property
    def area(self) -> str:
        """The pending-writes area (its id) where the workers write."""
        return str(self.header["area"])

    @property
    def output_types(self) -> list[str]:
        """Names of the dataset types the tasks write."""
        return list(self.header["outputs"])

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"Manifest({self._count} tasks, run={self.run!r}, plan={self.plan_id})"

    # -- I/O ------------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Open a saved manifest: the header and the index's location only (tasks are read on demand).

        Raises
        ------
        ConfigError
            The file is not a manifest, is truncated, or is of another version.
        """
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                header = json.loads(f.readline())
                f.seek(-_TRAILER.size, os.SEEK_END)
                magic, index_at, count = _TRAILER.unpack(f.read(_TRAILER.size))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read the manifest {path}: {exc}") from None
        if magic != _MAGIC:
            raise ConfigError(f"The manifest {path} is truncated or damaged (no index at its end); save it again.")
        manifest = cls(header, path=path)
        manifest._index_at = index_at
        manifest._count = count
        return manifest

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the manifest to ``path`` (atomically: a temporary name, then a rename); return the path."""
        if self._rows is None:
            raise ConfigError("This manifest was loaded from a file; copy that file instead of saving it again.")
        self.path = write_manifest(path, self.header, self._rows)
        return self.path

    def _row(self, index: int) -> Sequence[Any]:
        if not 0 <= index < self._count:
            raise DatasetNotFoundError(f"The plan has tasks 0 to {self._count - 1}; there is no task {index}.")
        if self._rows is not None:
            return self._rows[index]
        assert self.path is not None
        with open(self.path, "rb") as f:
            f.seek(self._index_at + 8 * index)
            start, end = struct.unpack("<QQ", f.read(16))
            f.seek(start)
            return list(json.loads(f.read(end - start)))

    def rows(self) -> Iterator[Sequence[Any]]:
        """Every task's raw row, in order (a file is streamed line by line)."""
        if self._rows is not None:
            yield from self._rows
            return
        assert self.path is not None
        with open(self.path, "rb") as f:
            f.readline()
            left = self._count
            while left:  # 4 096 lines parsed as one JSON array: a call per line cost more than the parsing
                lines = [f.readline() for _ in range(min(left, 4096))]
                left -= len(lines)
                yield from json.loads(b"[" + b",".join(lines) + b"]")

    # -- tasks ----------------------------------------------------------------------------------------------
    def task(self, index: int) -> Task:
        """Task ``index``: what it reads and may write.

        Raises
        ------
        DatasetNotFoundError
            There is no such task.
        """
        return self._task(self._row(index))

    def tasks(self, indices: Iterable[int]) -> dict[int, Task]:
        """The tasks ``indices`` that exist (one open file for all of them; merge reads its batch this way)."""
        wanted = sorted({i for i in indices if 0 <= i < self._count})
        if self._rows is not None:
            return {i: self._task(self._rows[i]) for i in wanted}
        assert self.path is not None
        found = {}
        if len(wanted) * 4 >= self._count:  # most of the plan: one sequential read beats a seek per task
            wanted_set = set(wanted)
            for i, row in enumerate(self.rows()):
                if i in wanted_set:
                    found[i] = self._task(row)
            return found
        with open(self.path, "rb") as f:
            for i in wanted:
                f.seek(self._index_at + 8 * i)
                start, end = struct.unpack("<QQ", f.read(16))
                f.seek(start)
                found[i] = self._task(json.loads(f.read(end - start)))
        return found

    def __iter__(self) -> Iterator[Task]:
        return (self._task(row) for row in self.rows())

    def _task(self, row: Sequence[Any]) -> Task:
        index, inputs, outputs = row
        types, formats = self._types, self._formats
        ins = []
        for t, id_hex, values, path, f, size, checksum in inputs:
            name, dims = types[t]
            ins.append(ManifestInput(name, uuid.UUID(id_hex), dict(zip(dims, values, strict=True)), path,
                                     formats[f][0], formats[f][1], size, checksum))  # fmt: skip
        outs = []
        for t, id_hex, values, path, f in outputs:
            name, dims = types[t]
            formatter, storage_class, ext = formats[f]
            outs.append(ManifestOutput(name, uuid.UUID(id_hex), dict(zip(dims, values, strict=True)), path,
                                       formatter, storage_class, f"{self._area_prefix}.out/{id_hex}{ext}"))  # fmt: skip
        return Task(index, tuple(ins), tuple(outs))


def write_manifest(path: str | os.PathLike[str], header: dict[str, Any], rows: Iterable[Sequence[Any]]) -> str:
    """Write a manifest file from its header and task rows (see the module docstring); return its path.

    Written under a temporary name and renamed, so a worker never sees half a manifest.
    """
    path = os.fspath(path)
    _check_header(header, path)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    offsets = []
    try:
        with open(tmp, "wb") as f:
            f.write(dumps(header).encode() + b"\n")
            pos = f.tell()
            chunk: list[bytes] = []
            for row in rows:
                line = dumps(row).encode() + b"\n"
                offsets.append(pos)
                pos += len(line)
                chunk.append(line)
                if len(chunk) >= 4096:
                    f.write(b"".join(chunk))
                    chunk.clear()
            f.write(b"".join(chunk))
            offsets.append(pos)
            f.write(struct.pack(f"<{len(offsets)}Q", *offsets))
            f.write(_TRAILER.pack(_MAGIC, pos, len(offsets) - 1))
        Path(tmp).replace(path)
    except BaseException:
        with suppress(OSError):
            Path(tmp).unlink()
        raise
    return path
