"""A remote import of an export file whose files lie in a directory: packed into one archive by the client.

The server imports an archive it receives through the pending-writes area (`RemoteTransfers.import_`), with
one set of checks (grants, formats, paths, sizes) for every import.  An export written with ``directory=``
is a document beside a folder of files instead.  Rather than a second server path, the client reads the
document for the files it names and packs the document, those files and the provenance sidecar into a
temporary ``.zip`` laid out as `Butler.export` writes one; the server then imports it as any archive.  Only
the files the document names are sent, whatever else the folder holds.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from skybutler.errors import ArtifactNotFoundError, ConfigError

__all__ = ["COPY_MODES", "named_files", "pack_directory_export"]

COPY_MODES = (None, "auto", "copy")
"""``transfer=`` values a remote import takes: its files are always copied to the server's storage."""


def pack_directory_export(document: Path, directory: Path, target: Path, transfer: str | None) -> Path:
    """Write ``target``, a ``.zip`` archive of ``document`` and the files it names under ``directory``.

    Raises
    ------
    ConfigError
        ``transfer`` asks for links or a move, which a remote import cannot make; ``directory`` is no folder.
    ArtifactNotFoundError
        A file the document names is not under ``directory`` (nothing is uploaded).
    ExportFormatError
        The document is not a readable export file.
    """
    from skybutler.transfer._import import ZIP_DOCUMENT
    from skybutler.transfer._provenance import ZIP_MEMBER, sidecar_path
    from skybutler.transfer._yaml_format import load_export

    if transfer not in COPY_MODES:
        raise ConfigError(
            f"A remote import copies its files into the server's storage; transfer={transfer!r} is not possible. "
            "Leave transfer out or give transfer='copy'."
        )
    if not directory.is_dir():
        raise ConfigError(f"directory={str(directory)!r} is not a folder: give the folder the export's files are in.")
    text = document.read_bytes()
    names = sorted(set(named_files(load_export(text, str(document)))))
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise ArtifactNotFoundError(
            f"The export {document} names {len(missing)} file(s) that are not under {directory}, e.g. "
            f"{missing[0]!r}: nothing was uploaded or imported. Give the directory= the export wrote its files to."
        )
    sidecar = sidecar_path(document)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(ZIP_DOCUMENT, text, compress_type=zipfile.ZIP_DEFLATED)
        for name in names:
            archive.write(directory / name, name)
        if sidecar.is_file():
            archive.write(sidecar, ZIP_MEMBER, compress_type=zipfile.ZIP_DEFLATED)
    return target


def named_files(document: Any) -> Iterator[str]:
    """The file paths an export document's dataset records name (safe relative paths only).

    A path the import would refuse (absolute, ``..``) is left out here: the server reads the document again
    and refuses it with the place in the file, which is the clearer message.
    """
    from skybutler.datastore import key_problem

    data = document.get("data") if isinstance(document, Mapping) else None
    for item in data if isinstance(data, list) else ():
        if not isinstance(item, Mapping) or item.get("type") != "dataset":
            continue
        records = item.get("records")
        for record in records if isinstance(records, list) else ():
            path = record.get("path") if isinstance(record, Mapping) else None
            if isinstance(path, str) and key_problem(path) is None:
                yield path
