"""File templates: render a dataset's path; refuse templates that are not unique or not safe.

A template is a ``/``-separated pattern with ``{field}`` placeholders.  Fields: ``run``, ``dataset_type``,
``component``, ``id``, any dimension of the dataset type, and two shorthands: ``dimensions_path`` (every
required dimension value but the last, as directories) and ``dimensions_name`` (every required value joined
by ``_``).  ``{field:?}`` is optional: it renders empty when the data ID lacks the field.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from typing import TYPE_CHECKING

from skybutler.datastore._keys import is_reserved_name
from skybutler.errors import ConfigError

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.dimensions import DataCoordinate

__all__ = ["FileTemplate", "escape_segment"]

_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9/_.\-+=@,]*\Z")
_UNSAFE_VALUE = re.compile(r"[^A-Za-z0-9_.\-+=@,]")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.\-+=@,]+").fullmatch
_SPECIAL = ("run", "dataset_type", "component", "id", "dimensions_path", "dimensions_name")
_EMPTY = "\x00"
"""What an empty optional field (or an empty ``dimensions_path``/``dimensions_name``/component) renders as
until `_tidy` removes it with one separator next to it: values never hold it (it is escaped to ``%00``)."""
MAX_SEGMENT = 255
"""Bytes in one file or directory name on the file systems we write to (ext4, XFS, APFS, NTFS)."""
SUFFIX_ROOM = 13
"""Room kept in a file name for the ``_<12 hex digits>`` a put adds when its path is taken."""
_HASH = 16
"""Hex digits of the hash ending a shortened segment (``<prefix>~<hash>``; values and literals never hold ``~``)."""


def escape_segment(value: str, extra: str = "") -> str:
    """Make one path segment S3-safe and reversible: unsafe characters, a leading ``.`` and ``extra`` become ``%XX``.

    ``extra`` names the separators the template puts next to the value within its segment (``_`` in
    ``{dataset_type}_{visit}``), so a value can never be mistaken for a separator and two values never
    render alike.  An empty value becomes ``%00``.

    Examples
    --------
    >>> escape_segment("HSC r"), escape_segment(".staging"), escape_segment("a_b", "_")
    ('HSC%20r', '%2Estaging', 'a%5Fb')
    """
    if _SAFE_VALUE(value) and value[0] != "." and not (extra and any(c in value for c in extra)):
        return value  # the common case, without a substitution per segment
    unsafe = _UNSAFE_VALUE if not extra else _unsafe(extra)
    out = unsafe.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value)
    if out.startswith("."):  # a hidden name (".staging") or "." / "..": never a special segment
        out = "%2E" + out[1:]
    return out or "%00"


def _more(escaped: str, value: object, extra: str) -> str:
    """``value`` escaped with ``extra`` too, given it escaped without (`escaped`): most often the same."""
    if len(extra) == 1:
        return escaped if extra not in escaped else escape_segment(str(value), extra)
    return escaped if not any(c in escaped for c in extra) else escape_segment(str(value), extra)


_UNSAFE_WITH: dict[str, re.Pattern[str]] = {}


def _unsafe(extra: str) -> re.Pattern[str]:
    """The unsafe-character pattern with ``extra`` added (one per template separator set, cached)."""
    pattern = _UNSAFE_WITH.get(extra)
    if pattern is None:
        pattern = _UNSAFE_WITH[extra] = re.compile(f"[^A-Za-z0-9_.\\-+=@,]|[{re.escape(extra)}]")
    return pattern


class FileTemplate:
    """A parsed, validated file template.

    Examples
    --------
    >>> FileTemplate("{run}/{dataset_type}/{visit}/{dataset_type}_{visit}_{detector}").fields
    ('run', 'dataset_type', 'visit', 'dataset_type', 'visit', 'detector')
    """

    def __init__(self, template: str) -> None:
        self.template = template
        literals: list[str] = []
        parts: list[tuple[str, str | None, bool]] = []
        try:
            parsed = list(string.Formatter().parse(template))
        except ValueError as exc:
            raise ConfigError(f"File template {template!r} is malformed: {exc}.") from None
        for literal, name, spec, _conv in parsed:
            literals.append(literal)
            if name is not None:
                if not name:
                    raise ConfigError(f"File template {template!r} has an empty '{{}}'; name a field.")
                if not literal and parts and parts[-1][1] is not None:
                    raise ConfigError(
                        f"File template {template!r} puts {{{parts[-1][1]}}} and {{{name}}} side by side: two "
                        "values with nothing between them cannot be told apart. Put a separator between them "
                        "(e.g. '_')."
                    )
                parts.append((literal, name, spec == "?"))
            else:
                parts.append((literal, None, False))
        text = "".join(literals)
        if not _SAFE_LITERAL.match(text):
            bad = sorted(set(re.sub(r"[A-Za-z0-9/_.\-+=@,]", "", text)))
            raise ConfigError(f"File template {template!r} has characters unsafe in paths and S3 keys: {bad}.")
        if template.startswith("/") or re.match(r"^[A-Za-z]:", template):
            raise ConfigError(f"File template {template!r} is absolute; templates are relative to the root.")
        if any(seg in ("..", ".") for seg in text.split("/")) or ".." in text.replace("{", "/").split("/"):
            raise ConfigError(f"File template {template!r} contains '..' or '.' segments.")
        if any(seg.startswith(".") for seg in template.split("/")):
            raise ConfigError(
                f"File template {template!r} has a segment starting with '.': hidden names are the repository's "
                "own (.staging/); start it with a letter or a field."
            )
        self._parts = parts
        self._extras = _separators(parts)
        self.fields: tuple[str, ...] = tuple(name for _, name, _ in parts if name is not None)
        self._plans: dict[tuple[int, str, str, str], tuple[object, _Plan]] = {}
        """(data ID group, dataset type, run, component) → the group and its `_Plan`."""

    def validate_for(self, dataset_type: DatasetType) -> None:
        """Check the template makes a unique path for every dataset of ``dataset_type`` within its run.

        Raises
        ------
        ConfigError
            A field is unknown, or the run or a required dimension is missing.
        """
        group = dataset_type.dimensions
        known = set(_SPECIAL) | set(group.names)
        unknown = [f for f in self.fields if f not in known]
        if unknown:
            raise ConfigError(
                f"File template {self.template!r} for {dataset_type.name!r} uses unknown field(s) {unknown}; "
                f"fields: {sorted(known)}."
            )
        required = {name for _, name, optional in self._parts if name is not None and not optional}
        if "id" in required:
            return
        missing = []
        if "run" not in required:
            missing.append("run")
        covered = "dimensions_name" in required or ("dimensions_path" in required and len(group.required) <= 1)
        if not covered:
            for dim in group.required:
                if dim not in required and not (dim != group.required[-1] and "dimensions_path" in required):
                    missing.append(dim)
        if missing:
            raise ConfigError(
                f"File template {self.template!r} would not give each {dataset_type.name!r} dataset its own "
                f"path: add {['{' + m + '}' for m in missing]} (or '{{id}}')."
            )

    def render(
        self,
        dataset_type: DatasetType,
        data_id: DataCoordinate,
        run: str,
        dataset_id: str,
        component: str = "",
        ext: str = "",
    ) -> str:
        """Return the path of one dataset, ending with ``ext``.

        Distinct (run, dataset type, component, data ID) render distinct paths when the template names
        each of them: values are escaped (`escape_segment`) with the separators next to them, an empty
        optional field is removed with one separator beside it, and nothing else is tidied.  The first
        segment never names a file of the repository's own (``butler.yaml``, ``registry.sqlite3*``) and
        no segment exceeds `MAX_SEGMENT` bytes (`_safe`).

        The parts that do not depend on the data ID (literals, run, dataset type, component) are rendered
        once per dataset type, run and component into a `_Plan`: ingest and put render one path per file,
        and the whole template took about 9 µs per path, a plan 2 µs.
        """
        group = data_id.group
        key = (id(group), dataset_type.parent_name, run, component)
        entry = self._plans.get(key)
        if entry is None or entry[0] is not group:  # the group is kept: its id cannot be reused meanwhile
            if len(self._plans) >= _PLANS:
                self._plans.clear()
            entry = self._plans[key] = (group, self._plan(dataset_type, group.required, run, component))
        plan = entry[1]
        required = data_id.required_values
        escaped = [escape_segment(str(v)) for v in required]
        args = []
        values: dict[str, object] | None = None
        for code, extra in zip(plan.codes, plan.extras, strict=True):
            if code >= 0:
                args.append(_more(escaped[code], required[code], extra) if extra else escaped[code])
            elif code == _ID:
                args.append(dataset_id)
            elif code == _PATH:
                dirs = (
                    [_more(e, v, extra) for e, v in zip(escaped[:-1], required[:-1], strict=True)]
                    if extra
                    else escaped[:-1]
                )
                args.append("/".join(dirs) or _EMPTY)
            elif code == _NAME:  # joined by "_": each value escapes it
                named = [_more(e, v, extra) for e, v in zip(escaped, required, strict=True)]
                args.append("_".join(named) or _EMPTY)
            else:  # a dimension that is not required: only the data ID can tell whether it has a value
                name, optional = plan.others[_OTHER - code]
                values = dict(data_id) if values is None else values
                if name in values:
                    args.append(escape_segment(str(values[name]), extra))
                elif optional:
                    args.append(_EMPTY)
                else:
                    raise ConfigError(
                        f"File template {self.template!r} needs {name!r}, which the data ID {data_id} lacks; "
                        f"mark it optional as '{{{name}:?}}'."
                    )
        return _safe(_tidy(plan.text.format(*args)), ext)

    def _plan(self, dataset_type: DatasetType, required: tuple[str, ...], run: str, component: str) -> _Plan:
        """The template with its constant parts rendered, for data IDs of ``required`` dimensions."""
        text: list[str] = []
        codes: list[int] = []
        extras: list[str] = []
        others: list[tuple[str, bool]] = []
        for (literal, name, optional), extra in zip(self._parts, self._extras, strict=True):
            text.append(literal)
            if name is None:
                continue
            if name in ("run", "dataset_type", "component"):
                value = self._constant(name, dataset_type, run, component, extra)
                text.append(value.replace("{", "{{").replace("}", "}}"))
                continue
            if name == "id":
                codes.append(_ID)
            elif name == "dimensions_path":
                codes.append(_PATH)
            elif name == "dimensions_name":
                codes.append(_NAME)
                extra = "".join(sorted(set(extra + "_")))
            elif name in required:
                codes.append(required.index(name))
            else:
                codes.append(_OTHER - len(others))
                others.append((name, optional))
            extras.append(extra)
            text.append("{}")
        return _Plan("".join(text), tuple(codes), tuple(extras), tuple(others))

    @staticmethod
    def _constant(name: str, dataset_type: DatasetType, run: str, component: str, extra: str) -> str:
        if name == "run":
            return "/".join(escape_segment(seg, extra) for seg in run.split("/"))
        if name == "dataset_type":
            return escape_segment(dataset_type.parent_name, extra)
        return escape_segment(component, extra) if component else _EMPTY


_PLANS = 1000
"""Plans kept per template (one per dataset type, run and component in use); all dropped past this."""
_ID, _PATH, _NAME, _OTHER = -1, -2, -3, -4
"""`_Plan` codes of the data-ID-dependent fields other than a required dimension (its index); ``_OTHER - k``
is the k-th dimension that is not required (`_Plan.others`)."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """A template for one dataset type, run and component: ``text`` with ``{}`` where ``codes`` say."""

    text: str
    codes: tuple[int, ...]
    extras: tuple[str, ...]
    """Per code, the separators its values escape (`_separators`)."""
    others: tuple[tuple[str, bool], ...]
    """Dimensions named that are not required, and whether each is optional."""


def _separators(parts: list[tuple[str, str | None, bool]]) -> list[str]:
    """For each part, the characters next to its field within its segment (its values escape them).

    The literal before a field ends with one, the literal after starts with one (``/`` does not count: values
    never hold it).  Escaping both keeps values apart from the literals around them even where an empty
    optional field took one separator with it.  A non-optional ``{dataset_type}`` that is also a whole
    segment of the template escapes nothing: that segment already tells it apart (the default template's
    ``calexp_bkg/.../calexp_bkg_Cam_1_2`` stays readable; the hypothesis test of injectivity covers it).
    """
    out = []
    whole = False
    for i, (literal, name, optional) in enumerate(parts):
        after = parts[i + 1][0] if i + 1 < len(parts) else ""
        if name == "dataset_type" and not optional and literal[-1:] in ("/", "") and after[:1] in ("/", ""):
            whole = whole or literal.endswith("/") or i == 0
    for i, (literal, name, _opt) in enumerate(parts):
        if name is None or (name == "dataset_type" and whole):
            out.append("")
            continue
        after = parts[i + 1][0] if i + 1 < len(parts) else ""
        chars = {literal[-1:], after[:1]} - {"", "/"}
        out.append("".join(sorted(chars)))
    return out


_SENTINEL = re.compile(f"(?:^|/){_EMPTY}(?=/|$)|{_EMPTY}/|[^/]{_EMPTY}|{_EMPTY}[^/]?")
"""An empty field: a whole segment (with one ``/``), else with the separator before it, else the one after."""


def _tidy(path: str) -> str:
    """Remove what empty optional fields left (`_EMPTY` and one separator beside each); no empty segments."""
    if _EMPTY in path:
        path = _SENTINEL.sub("", path)
    if "//" in path:  # from the template's own literals only: values are never empty
        path = re.sub(r"/{2,}", "/", path)
    return path.strip("/")


def _reserved(path: str, ext: str) -> bool:
    """Whether the first segment of ``path + ext`` names one of the repository's files (`is_reserved_name`)."""
    slash = path.find("/")
    return is_reserved_name(path + ext if slash < 0 else path[:slash])


def _safe(path: str, ext: str) -> str:
    """``path + ext`` with a first segment that is not one of the repository's files and no over-long segment.

    A reserved first segment gets its dots escaped (``butler%2Eyaml``; its first character where the dot is
    the extension's); a segment over `MAX_SEGMENT`
    bytes (the file name: over it less the extension and `SUFFIX_ROOM`) is cut and ends with ``~`` and a
    hash of the whole, which neither a value nor a literal can produce.  Rendered paths are ASCII (values
    are percent-escaped), so characters are bytes.
    """
    if path[:1] in "bBrR" and _reserved(path, ext):
        slash = path.find("/")
        head = path if slash < 0 else path[:slash]
        safe = head.replace(".", "%2E") if "." in head else f"%{ord(head[0]):02X}{head[1:]}"  # the dot: in ext
        path = safe + path[len(head) :]
    if len(path) + len(ext) + SUFFIX_ROOM <= MAX_SEGMENT:  # the common case: no segment can be too long
        return path + ext
    segments = path.split("/")
    last = len(segments) - 1
    for i, seg in enumerate(segments):
        room = MAX_SEGMENT - (len(ext) + SUFFIX_ROOM if i == last else 0)
        if len(seg) > room:
            digest = hashlib.sha256(seg.encode()).hexdigest()[:_HASH]
            keep = seg[: room - _HASH - 1]
            cut = keep.rfind("%", len(keep) - 2)  # do not end within a %XX escape
            segments[i] = (keep[:cut] if cut >= 0 else keep) + "~" + digest
    return "/".join(segments) + ext
