"""Fast paths for the bulk of an export: its ``dataset`` entries, read and written without PyYAML's per-node work.

An export of 100 000 datasets is about two million YAML nodes; PyYAML builds each one in Python (tens of
microseconds apiece, even with libyaml parsing).  Both the reference and we write dataset entries in one
regular block layout::

    - type: dataset
      dataset_type: meta
      run: run1
      records:
      - dataset_id:
        - !uuid '01a2292d-efdb-7a02-abe2-867e57385ccf'
        data_id:
        - instrument: Cam
          detector: 1
        path: run1/meta/...
        formatter: lsst.daf.butler.formatters.yaml.YamlFormatter

`load_document` splits the ``data`` list at its top-level entries, reads dataset entries in that layout with
a line reader, and hands every other entry -- and any dataset entry that strays from the layout (flow style,
other quoting, other scalar types) -- to PyYAML; a document that cannot be split that way is read by PyYAML
whole.  Either way the result is the same Python structure.  `dataset_entry_text` writes the layout.

``dimension`` entries whose records are flat mappings of plain values (ints, decimals, ``null``,
``true``/``false``, text), as we write them, are read by a line reader too (`_dimension_entry`): a
100 000-dataset export has 1 100 such records, about a fifth of a second in PyYAML.  Records with tags,
timestamps or nested values (the reference's regions, times and hashes) go to PyYAML, entry by entry.
"""

from __future__ import annotations

import itertools
import operator
import re
import uuid
from typing import Any

import yaml

from skybutler.transfer._yaml_format import ExportLoader, decode_export, load_export

__all__ = [
    "DatasetBlock",
    "DeferredDataset",
    "RecordColumns",
    "RegularRecords",
    "dataset_entry_text",
    "load_document",
    "parse_deferred",
    "scalar_text",
    "write_document",
]

_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./+-]*(?: [A-Za-z0-9_./+-]+)*\Z")
#: Plain words YAML 1.1 reads as something other than text.
_SPECIAL = frozenset(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ".inf", ".nan", "-.inf", "+.inf", ""]
)
_UUID = re.compile(r"!uuid '([0-9a-fA-F-]{32,36})'\Z")
#: An anchor or an alias (``&name``, ``*name``): such documents are read by PyYAML whole.
_ANCHOR = re.compile(r"(?m)(?:^|[\s:-])[&*][A-Za-z0-9_-]+")
#: A line of ``data`` that is not empty and starts with none of " ", "- ", "#": not a plain list of entries.
_OUTSIDE = re.compile(r"\n(?:[^ #\n-]|-(?! ))")  # searched in "\n" + data: a literal first char is fast


class _IrregularError(Exception):
    """This entry strays from the regular layout: read it with PyYAML."""


#: Characters the line reader leaves to PyYAML inside quotes: controls (C0 with tab and CR, DEL, C1 with NEL),
#: YAML's other line breaks (LS, PS) which fold a quoted scalar, the byte-order mark, surrogates and the
#: non-characters U+FFFE/U+FFFF (which YAML refuses).  With one of them, an entry is read by PyYAML.
_NOT_PLAIN_TEXT = "\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff"
_SINGLE_QUOTED = re.compile(f"'((?:[^'{_NOT_PLAIN_TEXT}]|'')*)'").fullmatch
_DOUBLE_QUOTED = re.compile(
    '"((?:[^"\\\\' + _NOT_PLAIN_TEXT + r']|\\(?:[0abtnvfre "\\N_LP]|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}'
    r'|U[0-9A-Fa-f]{8}))*)"'
).fullmatch
_ESCAPE = re.compile(r"\\(x..|u....|U........|.)")
#: YAML's one-character escapes (the spec's, as PyYAML and libyaml read them).
_YAML_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
                 "e": "\x1b", " ": " ", '"': '"', "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028",
                 "P": "\u2029"}  # fmt: skip


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) == 1:
        return _YAML_ESCAPES[code]
    value = int(code[1:], 16)
    if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:  # not a character: PyYAML decides (and refuses)
        raise _IrregularError
    return chr(value)


def _scalar(text: str) -> Any:
    """A scalar of the layout: an int, plain text, or quoted text of characters that need no folding.

    Quoted scalars are read by the YAML rules (escapes included); one holding a character YAML reads as a
    line break (NEL, LS, PS, CR), a control character or a byte-order mark raises `_IrregularError`, and
    PyYAML reads the entry.
    """
    if not text:
        raise _IrregularError
    first = text[0]
    if first == "'":
        match = _SINGLE_QUOTED(text)
        if match is None:
            raise _IrregularError
        return match.group(1).replace("''", "'")
    if first == '"':
        match = _DOUBLE_QUOTED(text)
        if match is None:
            raise _IrregularError
        body = match.group(1)
        return _ESCAPE.sub(_unescape, body) if "\\" in body else body
    if _INT.match(text):
        return int(text)
    if _PLAIN.match(text) and text.lower() not in _SPECIAL and ": " not in text and " #" not in text:
        return text
    raise _IrregularError


#: A plain scalar of the bulk reader: an int (group 1) or a word YAML reads as text (group 2).
_BULK_VALUE = r"(?:(-?(?:0|[1-9][0-9]*))|((?!(?i:y|n|yes|no|on|off|true|false|null)\n)[A-Za-z_/][A-Za-z0-9_./+-]*))\n"
_BULK_WORD = r"((?!(?i:y|n|yes|no|on|off|true|false|null)\n)[A-Za-z_/][A-Za-z0-9_./+-]*)\n"
_BULK_UUID = r"!uuid '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})'\n"
_BULK_PATTERNS: dict[tuple[str, ...], re.Pattern[str]] = {}
_new_uuid = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown
_first = operator.itemgetter(0)


def _bulk_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    """One record of the regular layout whose data ID has ``keys``, values plain; path and formatter optional."""
    pattern = _BULK_PATTERNS.get(keys)
    if pattern is None:
        data_id = "".join(
            ("    - " if k == 0 else "      ") + re.escape(key) + ": " + _BULK_VALUE for k, key in enumerate(keys)
        )
        pattern = re.compile(
            "(  - dataset_id:\n    - " + _BULK_UUID + "    data_id:\n" + data_id
            + "(?:    path: " + _BULK_WORD + ")?(?:    formatter: " + _BULK_WORD + ")?)"
        )  # fmt: skip
        _BULK_PATTERNS[keys] = pattern
    return pattern


def _bulk_records(text: str) -> RegularRecords | None:
    """The records of ``text`` (a dataset entry's lines after ``records:``) in one regular-expression pass.

    Most exports hold many records of one shape: a canonical UUID, one data ID with the same keys throughout
    and plain values (ints or words), a plain path and formatter or none.  Reading those with one `findall`
    over the block costs a fraction of the line reader's per-line work; a block with anything else (quotes,
    spaces, other keys, comments, several IDs) returns None, for the line reader, which reads every form.
    """
    columns = _bulk_columns(text)
    return None if columns is None else columns.records()


def _bulk_columns(text: str) -> RecordColumns | None:
    """`_bulk_records`' reading, by column only (no mapping per record): see `RecordColumns`."""
    first = text.split("\n", 64)
    if len(first) < 4 or not first[3].startswith("    - "):
        return None
    keys = []
    for k in range(3, len(first)):
        line = first[k]
        if not line.startswith("    - " if k == 3 else "      "):
            break
        key, sep, _ = line[6:].partition(": ")
        if not sep or not key.isidentifier() or key.lower() in _SPECIAL:
            return None
        keys.append(key)
    found = _bulk_pattern(tuple(keys)).findall(text)
    # the matches are disjoint and each ends in a line break after a non-blank: their lengths add up to the
    # text without its trailing blank lines only if they cover all of it
    if sum(map(len, map(_first, found))) != len(text.rstrip()) + 1:
        return None  # something the pattern does not cover: the line reader reads (or refuses) it
    ids: list[uuid.UUID] = []
    append = ids.append
    for f in found:
        dataset_id = _new_uuid(uuid.UUID)
        _set(dataset_id, "int", int(f[1].replace("-", ""), 16))
        _set(dataset_id, "is_safe", _UNKNOWN)
        append(dataset_id)
    columns = [[int(f[i]) if f[i] else f[i + 1] for f in found] for i in range(2, 2 + 2 * len(keys), 2)]
    at = 2 + 2 * len(keys)
    paths = [f[at] or None for f in found]
    formatters = [f[at + 1] or None for f in found]
    return RecordColumns(tuple(keys), ids, columns, paths, formatters)


class RecordColumns:
    """The records of a dataset entry read by `_bulk_records`, by column: what an import checks and inserts.

    `load_document` with ``columns=True`` leaves these in place of the records' list: an import of 100 000
    datasets then builds no mapping per record (two per record, a fifth of a second) unless a check fails
    and the import plan reads the block record by record (`records` gives what PyYAML would have read).
    Every value is an int or a plain word, every ID a UUID, every path and formatter a plain word or None.
    """

    __slots__ = ("columns", "formatters", "ids", "keys", "paths")

    def __init__(
        self,
        keys: tuple[str, ...],
        ids: list[uuid.UUID],
        columns: list[list[int | str]],
        paths: list[str | None],
        formatters: list[str | None],
    ) -> None:
        self.keys = keys
        """The data ID keys, in the file's order."""
        self.ids = ids
        self.columns = columns
        """The data ID values, one list per key."""
        self.paths = paths
        self.formatters = formatters

    def records(self) -> RegularRecords:
        """The records as PyYAML reads them (a list of mappings), keeping these columns beside them."""
        names = self.keys
        records = RegularRecords(
            {"dataset_id": [i], "data_id": [dict(zip(names, v, strict=True))]}
            for i, v in zip(self.ids, zip(*self.columns, strict=True), strict=True)
        )
        for record, path, formatter in zip(records, self.paths, self.formatters, strict=True):
            if path is not None:
                record["path"] = path
            if formatter is not None:
                record["formatter"] = formatter
        records.keys, records.ids, records.columns = names, self.ids, self.columns
        records.paths, records.formatters = self.paths, self.formatters
        return records


class RegularRecords(list[dict[str, Any]]):
    """The records of a dataset entry read by `_bulk_records`, with their parts also kept by column.

    A plain list of the records (equal to what PyYAML reads); the columns let the import plan check a whole
    block at once (`skybutler.transfer._import_plan`) instead of record by record.  Every value is an int or
    a plain word, every ID a UUID, every path and formatter a plain word or None.
    """

    keys: tuple[str, ...]
    """The data ID keys, in the file's order."""
    ids: list[uuid.UUID]
    columns: list[list[int | str]]
    """The data ID values, one list per key."""
    paths: list[str | None]
    formatters: list[str | None]


def _dataset_entry(lines: list[str]) -> dict[str, Any]:
    """Read one ``- type: dataset`` entry in the regular layout, or raise `_IrregularError`."""
    if lines[0] != "- type: dataset":
        raise _IrregularError
    entry: dict[str, Any] = {"type": "dataset"}
    i, n = 1, len(lines)
    while i < n and not lines[i].startswith("  records:"):
        key, sep, value = lines[i][2:].partition(": ")
        if not lines[i].startswith("  ") or lines[i].startswith("   ") or not sep or key not in ("dataset_type", "run"):
            raise _IrregularError
        entry[key] = _scalar(value)
        i += 1
    if i >= n or lines[i] != "  records:":
        raise _IrregularError
    i += 1
    bulk = _bulk_records("\n".join(lines[i:]) + "\n") if i < n else None
    if bulk is not None:
        entry["records"] = bulk
        return entry
    records: list[dict[str, Any]] = []
    while i < n:
        if lines[i] != "  - dataset_id:":
            raise _IrregularError
        i += 1
        ids = []
        while i < n and lines[i].startswith("    - !uuid "):
            m = _UUID.match(lines[i], 6)
            if m is None:
                raise _IrregularError
            try:
                ids.append(uuid.UUID(m.group(1)))
            except ValueError:  # PyYAML's error says where
                raise _IrregularError from None
            i += 1
        if i >= n or lines[i] != "    data_id:":
            raise _IrregularError
        i += 1
        data_ids: list[dict[str, Any]] = []
        while i < n and lines[i].startswith("    - "):
            current: dict[str, Any] = {}
            first = True
            while i < n and (lines[i].startswith("    - ") if first else lines[i].startswith("      ")):
                key, sep, value = lines[i][6:].partition(": ")
                if not sep or not key.isidentifier() or key.lower() in _SPECIAL:
                    raise _IrregularError
                current[key] = _scalar(value)
                first = False
                i += 1
            data_ids.append(current)
        record: dict[str, Any] = {"dataset_id": ids, "data_id": data_ids}
        while i < n and lines[i].startswith("    ") and not lines[i].startswith("     "):
            key, sep, value = lines[i][4:].partition(": ")
            if not sep or key not in ("path", "formatter"):
                raise _IrregularError
            record[key] = _scalar(value)
            i += 1
        records.append(record)
    entry["records"] = records
    return entry


class DeferredDataset:
    """A ``- type: dataset`` entry of ``data`` left unparsed by `load_document` (``defer_datasets=True``).

    A big entry in the regular layout is cut into parts of `PART` records, each the entry's header and some
    of its records (itself a valid entry).  An import on PostgreSQL parses each part with `parse_deferred`
    while the server checks the datasets of the part before (see `skybutler.transfer._import`).
    """

    __slots__ = ("index", "parts")

    def __init__(self, index: int, parts: list[tuple[list[str], int, int | None]]) -> None:
        self.index = index
        """Position of the entry in ``data``."""
        self.parts = parts
        """``(lines, first record, records or None for all)`` of each part."""


#: Records per part of a `DeferredDataset`: enough that a part's statements cost little beside its rows,
#: few enough that the server starts early and the client's parsing hides behind the server's checks.
PART = 2000


def _deferred(index: int, chunk: list[str]) -> DeferredDataset:
    """A dataset entry cut into parts of `PART` records (one part if its layout is not regular)."""
    whole = DeferredDataset(index, [(chunk, 0, None)])
    head = 1
    while head < len(chunk) and chunk[head].startswith(("  dataset_type: ", "  run: ")):
        head += 1
    if head != 3 or head >= len(chunk) or chunk[head] != "  records:":
        return whole
    header = chunk[: head + 1]
    starts = []
    for k in range(head + 1, len(chunk)):
        line = chunk[k]
        if line == "  - dataset_id:":
            starts.append(k)
        elif not line.startswith("    "):
            return whole
    if len(starts) <= PART or starts[0] != head + 1:
        return whole
    bounds = [*starts[::PART], len(chunk)]
    parts: list[tuple[list[str], int, int | None]] = [
        (header + chunk[begin:end], n * PART, min(PART, len(starts) - n * PART))
        for n, (begin, end) in enumerate(itertools.pairwise(bounds))
    ]
    return DeferredDataset(index, parts)


_FAILED = object()


def _dataset_text(piece: str, columns: bool) -> dict[str, Any] | None:
    """A dataset entry (its text without the leading ``- ``) whose records `_bulk_records` reads, else None.

    With ``columns``, the entry's records are left as `RecordColumns`.
    """
    head = piece.split("\n", 4)
    if len(head) < 5 or head[3] != "  records:":
        return None
    records: RecordColumns | RegularRecords | None = (_bulk_columns if columns else _bulk_records)(head[4] + "\n")
    if records is None:
        return None
    try:
        entry = _dataset_entry(["- " + head[0], *head[1:4]])
    except _IrregularError:
        return None
    entry["records"] = records
    return entry


_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+\Z")
#: Record values the dimension reader reads besides `_scalar`'s (as YAML 1.1 and PyYAML read them).
_WORDS = {"null": None, "true": True, "false": False}


def _dimension_entry(lines: list[str]) -> dict[str, Any]:
    """Read one ``- type: dimension`` entry whose records are flat mappings of plain scalars, or raise
    `_IrregularError` (tags, timestamps, nested values, other indentation: PyYAML reads those).

    Values are ints, ``null``, ``true``/``false``, decimals with a point (``30.0``) and the text `_scalar`
    reads; a record's lines are ``  - key: value`` then ``    key: value``.
    """
    if len(lines) < 4 or lines[0] != "- type: dimension" or not lines[1].startswith("  element: "):
        raise _IrregularError
    if lines[2] != "  records:":
        raise _IrregularError
    records: list[dict[str, Any]] = []
    record: dict[str, Any] = {}
    words, is_float = _WORDS, _FLOAT.match
    for line in itertools.islice(lines, 3, None):
        if line.startswith("  - "):
            record = {}
            records.append(record)
        elif not line.startswith("    ") or line[4:5] == " " or not records:
            raise _IrregularError
        key, sep, value = line[4:].partition(": ")
        if not sep or not key.isidentifier() or key.lower() in _SPECIAL:
            raise _IrregularError
        if value in words:
            record[key] = words[value]
        elif is_float(value):
            record[key] = float(value)
        else:
            record[key] = _scalar(value)
    return {"type": "dimension", "element": _scalar(lines[1][11:]), "records": records}


def _parse_chunk(chunk: list[str]) -> Any:
    """One top-level entry of ``data``: by the line readers, else by PyYAML, else `_FAILED`."""
    try:
        return _dimension_entry(chunk) if chunk[0] == "- type: dimension" else _dataset_entry(chunk)
    except _IrregularError:
        try:
            (entry,) = yaml.load("\n".join(chunk), Loader=ExportLoader)
        except (yaml.YAMLError, ValueError, TypeError):
            return _FAILED
        return entry


def parse_deferred(entry: DeferredDataset, part: int, text: str | bytes, source: str) -> Any:
    """Part ``part`` of an entry `load_document` deferred, as an entry with those records.

    Raises
    ------
    ExportFormatError
        The part is not valid YAML: the error PyYAML gives for the whole document, with its position.
    """
    lines, first, count = entry.parts[part]
    parsed = _parse_chunk(lines)
    if parsed is _FAILED:
        parsed = dict(load_export(text, source)["data"][entry.index])  # raises the whole document's error
        if count is not None:
            parsed["records"] = parsed["records"][first : first + count]
    return parsed


def load_document(text: str | bytes, source: str, *, defer_datasets: bool = False, columns: bool = False) -> Any:
    """Parse an export document; the same result as `load_export`, faster for many datasets.

    With ``defer_datasets``, entries that start ``- type: dataset`` in the regular layout's first line are
    left as `DeferredDataset` in ``data``, for `parse_deferred`; a document read whole by PyYAML has none.
    With ``columns``, the records of dataset entries the bulk reader reads are left as `RecordColumns`
    (for the import plan, which reads them by column).
    """
    as_text = decode_export(text, source) if isinstance(text, bytes) else text
    head, sep, body = as_text.partition("\ndata:\n")
    anchors = ("&" in body or "*" in body) and _ANCHOR.search(body)  # the regex is slow; most files have neither
    if not sep or "\t" in body or anchors:
        return load_export(text, source)  # another layout, tabs, or anchors and aliases: PyYAML reads it whole
    pieces = ("\n" + body).split("\n- ")  # the text before each top-level entry, then each entry's own
    if len(pieces) < 2 or _OUTSIDE.search("\n" + body):
        return load_export(text, source)
    document = load_export(head + "\ndata: []\n", source)
    if not isinstance(document, dict):
        return load_export(text, source)
    entries: list[Any] = []
    for index, piece in enumerate(pieces[1:]):
        if not defer_datasets and piece.startswith("type: dataset\n"):
            entry = _dataset_text(piece, columns)
            if entry is not None:
                entries.append(entry)
                continue
        chunk = ("- " + piece).split("\n")
        while chunk and not chunk[-1].strip():
            chunk.pop()
        if defer_datasets and chunk[0] == "- type: dataset":
            entries.append(_deferred(index, chunk))
            continue
        entry = _parse_chunk(chunk)
        if entry is _FAILED:
            return load_export(text, source)  # the whole document gives the right error position
        entries.append(entry)
    document["data"] = entries
    return document


#: Characters YAML allows unescaped inside a double-quoted scalar (printable, and not a line break).
_QUOTABLE = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quoted(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _QUOTABLE.match(ch):
            out.append(ch)
        else:
            code = ord(ch)
            width = 2 if code < 0x100 else 4 if code < 0x10000 else 8
            out.append(f"\\{'x' if width == 2 else 'u' if width == 4 else 'U'}{code:0{width}x}")
    out.append('"')
    return "".join(out)


def scalar_text(value: Any) -> str:
    """A scalar in the layout: ints plainly, safe text plainly, other text double-quoted with YAML escapes."""
    if type(value) is int:
        return str(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in _SPECIAL and not _INT.match(value):
            return value
        return _quoted(value)
    raise TypeError(f"cannot write {value!r} as a data ID value")


def dataset_entry_text(dataset_type: str, run: str, records: list[tuple[uuid.UUID, dict[str, Any], Any, Any]]) -> str:
    """One ``dataset`` entry: ``records`` are (dataset ID, data ID, path or None, formatter or None)."""
    out = [f"- type: dataset\n  dataset_type: {scalar_text(dataset_type)}\n  run: {scalar_text(run)}\n  records:\n"]
    append = out.append
    for dataset_id, data_id, path, formatter in records:
        append(f"  - dataset_id:\n    - !uuid '{dataset_id}'\n    data_id:\n")
        prefix = "    - "
        for key, value in data_id.items():
            append(f"{prefix}{scalar_text(key)}: {scalar_text(value)}\n")
            prefix = "      "
        if path is not None:
            append(f"    path: {scalar_text(path)}\n")
        if formatter is not None:
            append(f"    formatter: {scalar_text(formatter)}\n")
    return "".join(out)


class DatasetBlock:
    """A ``dataset`` entry to write with `dataset_entry_text` (see `write_document`)."""

    __slots__ = ("dataset_type", "records", "run")

    def __init__(self, dataset_type: str, run: str, records: list[tuple[uuid.UUID, dict[str, Any], Any, Any]]) -> None:
        self.dataset_type = dataset_type
        self.run = run
        self.records = records


def write_document(header: dict[str, Any], data: list[Any], stream: Any) -> None:
    """Write an export: ``header`` keys, then ``data`` (mappings through PyYAML, `DatasetBlock` by hand)."""
    from skybutler.transfer._yaml_format import dump_export

    dump_export(header, stream)
    stream.write("data:\n" if data else "data: []\n")
    for entry in data:
        if isinstance(entry, DatasetBlock):
            stream.write(dataset_entry_text(entry.dataset_type, entry.run, entry.records))
        else:
            dump_export([entry], stream)
