"""The reference butler's export YAML dialect: its tags, its time text, and places in a document for errors.

The reference (``lsst.daf.butler``) writes an export as one YAML mapping with tagged scalars:

* ``!uuid '01a2...'`` -- a dataset ID;
* ``!butler_time/tai/iso '2024-03-01 03:00:00.000000000'`` -- an instant, TAI, nanosecond digits;
* ``!lsst.daf.butler.Timespan {begin: <time>, end: <time or null>}`` (or the scalar ``EMPTY``);
* ``!<lsst.sphgeom.ConvexPolygon> {encoded: <hex>}`` -- a sky region in sphgeom's binary encoding, whose first
  byte names the region class.

We read those into plain values (`uuid.UUID`, TAI nanoseconds as `int`, our `Timespan`, region bytes) with a
loader of our own -- never the global ``yaml.SafeLoader``, which the reference package alters when imported --
and write the same tags back, so the reference can read our exports.  The C loader and emitter (libyaml) are
used when PyYAML has them: an export of 100 000 datasets is millions of nodes.
"""

from __future__ import annotations

import codecs
import datetime
import uuid
from collections.abc import Sequence
from typing import Any

import yaml

from skybutler.dimensions import Timespan
from skybutler.errors import ExportFormatError

__all__ = [
    "FORMAT_KEY",
    "REFERENCE_FORMATTERS",
    "REGION_CLASSES",
    "ExportDumper",
    "ExportLoader",
    "Location",
    "Region",
    "TaiTime",
    "decode_export",
    "dump_export",
    "format_tai",
    "line_of",
    "load_export",
    "parse_tai",
]

_NS = 1_000_000_000
_EPOCH = datetime.datetime(1970, 1, 1)

#: sphgeom's encoding starts with one byte naming the region class.
REGION_CLASSES: dict[int, str] = {
    ord("p"): "ConvexPolygon",
    ord("c"): "Circle",
    ord("b"): "Box",
    ord("e"): "Ellipse",
    ord("u"): "UnionRegion",
    ord("i"): "IntersectionRegion",
}

#: Key of a ``dataset_type`` entry holding the format registered with the type (skybutler's extension: the
#: reference builds its dataset types from the keys it knows and ignores this one, so its imports still work).
FORMAT_KEY = "skybutler_format"

#: The reference's formatter classes that write the same files as one of ours (its class path → our name).
REFERENCE_FORMATTERS: dict[str, str] = {
    "lsst.daf.butler.formatters.json.JsonFormatter": "json",
    "lsst.daf.butler.formatters.yaml.YamlFormatter": "yaml",
    "lsst.daf.butler.formatters.pickle.PickleFormatter": "pickle",
    "lsst.daf.butler.formatters.parquet.ParquetFormatter": "parquet",
}

Location = Sequence[str | int]
"""A place in the document: keys and list indices from the top, e.g. ``("data", 3, "records", 0, "id")``."""


def parse_tai(text: str) -> int:
    """``'YYYY-MM-DD HH:MM:SS[.fffffffff]'`` on the TAI scale → TAI nanoseconds since 1970-01-01 TAI.

    TAI has no leap seconds, so the calendar arithmetic is exact; all nine fraction digits are kept.
    """
    whole, _, fraction = text.strip().replace("T", " ").partition(".")
    moment = datetime.datetime.fromisoformat(whole)
    delta = moment - _EPOCH
    ns = (delta.days * 86400 + delta.seconds) * _NS
    if fraction:
        if not fraction.isdigit() or len(fraction) > 9:
            raise ValueError(f"bad fraction of a second {fraction!r}")
        ns += int(fraction.ljust(9, "0"))
    return ns


def format_tai(ns: int) -> str:
    """Inverse of `parse_tai`: the text the reference writes (space separator, nine fraction digits)."""
    seconds, rest = divmod(ns, _NS)
    moment = _EPOCH + datetime.timedelta(seconds=seconds)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{rest:09d}"


class TaiTime(int):
    """An instant (TAI nanoseconds) that is written with the ``!butler_time/tai/iso`` tag."""

    __slots__ = ()


class Region(bytes):
    """A region's sphgeom encoding, written as ``!<lsst.sphgeom.ConvexPolygon> {encoded: ...}``."""

    __slots__ = ()


_CLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class ExportLoader(_CLoader):  # type: ignore[misc]
    """Reads export files: the reference's tags become our values (see the module docstring)."""


class ExportDumper(_CDumper):  # type: ignore[misc]
    """Writes export files with the reference's tags (and never anchors: each value is written where it is)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _uuid(loader: Any, node: yaml.Node) -> uuid.UUID:
    text = str(loader.construct_scalar(node))
    try:
        return uuid.UUID(hex=text)
    except ValueError:
        raise yaml.constructor.ConstructorError(None, None, f"{text!r} is not a UUID", node.start_mark) from None


def _tai(loader: Any, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))
    try:
        return parse_tai(text)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"{text!r} is not a TAI time 'YYYY-MM-DD HH:MM:SS.fffffffff'", node.start_mark
        ) from None


def _timespan(loader: Any, node: yaml.Node) -> Timespan:
    if isinstance(node, yaml.ScalarNode):
        if loader.construct_scalar(node) == "EMPTY":
            return Timespan(0, 0)
        raise yaml.constructor.ConstructorError(None, None, "a timespan scalar must be EMPTY", node.start_mark)
    mapping = loader.construct_mapping(node, deep=True)
    return Timespan(_as_ns(mapping.get("begin")), _as_ns(mapping.get("end")))


def _as_ns(value: Any) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, datetime.datetime):
        from skybutler.dimensions import to_tai_ns

        return to_tai_ns(value)
    raise ValueError(f"not a time: {value!r}")


def _region(loader: Any, suffix: str, node: yaml.Node) -> Region:
    mapping = loader.construct_mapping(node)
    try:
        return Region(bytes.fromhex(str(mapping["encoded"])))
    except (KeyError, ValueError):
        raise yaml.constructor.ConstructorError(
            None, None, f"a lsst.sphgeom.{suffix} region needs hex text under 'encoded'", node.start_mark
        ) from None


ExportLoader.add_constructor("!uuid", _uuid)
ExportLoader.add_constructor("!butler_time/tai/iso", _tai)
ExportLoader.add_constructor("!lsst.daf.butler.Timespan", _timespan)
ExportLoader.add_multi_constructor("lsst.sphgeom.", _region)
ExportLoader.add_multi_constructor("!lsst.sphgeom.", _region)


def _represent_uuid(dumper: Any, data: uuid.UUID) -> Any:
    return dumper.represent_scalar("!uuid", str(data))


def _represent_tai(dumper: Any, data: TaiTime) -> Any:
    return dumper.represent_scalar("!butler_time/tai/iso", format_tai(int(data)))


def _represent_timespan(dumper: Any, data: Timespan) -> Any:
    if data.is_empty:
        return dumper.represent_scalar("!lsst.daf.butler.Timespan", "EMPTY")
    bounds = {
        "begin": None if data.begin is None else TaiTime(data.begin),
        "end": None if data.end is None else TaiTime(data.end),
    }
    return dumper.represent_mapping("!lsst.daf.butler.Timespan", bounds)


def _represent_region(dumper: Any, data: Region) -> Any:
    kind = REGION_CLASSES.get(data[0] if data else -1, "Region")
    return dumper.represent_mapping(f"lsst.sphgeom.{kind}", {"encoded": data.hex()})


ExportDumper.add_representer(uuid.UUID, _represent_uuid)
ExportDumper.add_representer(TaiTime, _represent_tai)
ExportDumper.add_representer(Timespan, _represent_timespan)
ExportDumper.add_representer(Region, _represent_region)


def decode_export(text: bytes, source: str) -> str:
    """The text of an export document: UTF-8 (UTF-16 with its byte-order mark, as PyYAML reads it too).

    Raises
    ------
    ExportFormatError
        A byte sequence that is not text: says at which byte (and line) and what to do.
    """
    encoding = "utf-16" if text.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8"
    try:
        return text.decode(encoding)
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        raise ExportFormatError(
            f"{source} (byte {exc.start}, line {line}) is not an export file: byte 0x{text[exc.start]:02x} is not "
            f"{encoding.upper()} text ({exc.reason}). An export is YAML in UTF-8: check that this is the file "
            "written by export, not a binary or damaged copy."
        ) from None


def load_export(text: str | bytes, source: str) -> Any:
    """Parse an export document; a YAML error becomes `ExportFormatError` with its line and column."""
    try:
        return yaml.load(text, Loader=ExportLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = " ".join(str(exc.problem or exc).split())
        raise ExportFormatError(
            f"{source}{where} is not a readable export file: {problem}. Fix the YAML there."
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character, bad bytes)
        prefix = text[: exc.position]
        line = (prefix.count(b"\n") if isinstance(prefix, bytes) else prefix.count("\n")) + 1
        what = f"character #x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise ExportFormatError(
            f"{source} (position {exc.position}, line {line}) is not a readable export file: {what} is not "
            f"allowed in YAML ({exc.reason}). Check that this is the file written by export, not a binary or "
            "damaged copy."
        ) from None
    except (yaml.YAMLError, ValueError) as exc:
        problem = " ".join(str(exc).split())
        raise ExportFormatError(f"{source} is not a readable export file: {problem}.") from None


def dump_export(document: Any, stream: Any) -> None:
    """Write an export document (block style, keys in the given order, as the reference writes)."""
    yaml.dump(document, stream, Dumper=ExportDumper, sort_keys=False, allow_unicode=True, width=120)


def describe(location: Location) -> str:
    """``("data", 3, "records", 0, "id")`` → ``data[3].records[0].id``."""
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the top level"


def line_of(text: str | bytes, location: Location) -> int | None:
    """The 1-based line of ``location`` in the document (composed again, only when reporting an error)."""

    class _Plain(yaml.SafeLoader):
        pass

    try:
        node: Any = yaml.compose(text, Loader=_Plain)
    except yaml.YAMLError:
        return None
    line = None if node is None else node.start_mark.line + 1
    for part in location:
        if isinstance(part, int) and isinstance(node, yaml.SequenceNode) and 0 <= part < len(node.value):
            node = node.value[part]
        elif isinstance(part, str) and isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if getattr(k, "value", None) == part]
            if not found:
                return line
            node = found[0]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def format_error(source: str, text: str | bytes | None, location: Location, message: str) -> ExportFormatError:
    """An `ExportFormatError` that names the file, the place in it (and its line) and what was wrong."""
    line = None if text is None else line_of(text, location)
    where = describe(location) + ("" if line is None else f" (line {line})")
    return ExportFormatError(f"{source} {where}: {message}")
