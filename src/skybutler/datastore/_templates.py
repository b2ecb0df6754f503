"""File templates: render a dataset's path; refuse templates that are not unique or not safe.

A template is a ``/``-separated pattern with ``{field}`` placeholders.  Fields: ``run``, ``dataset_type``,
``component``, ``id``, any dimension of the dataset type, and two shorthands: ``dimensions_path`` (every
required dimension value but the last, as directories) and ``dimensions_name`` (every required value joined
by ``_``).  ``{field:?}`` is optional: it renders empty when the data ID lacks the field.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING

from skybutler.errors import ConfigError

if TYPE_CHECKING:
    from skybutler.datasets import DatasetType
    from skybutler.dimensions import DataCoordinate

__all__ = ["FileTemplate", "escape_segment"]

_SAFE_LITERAL = re.compile(r"^[A-Za-z0-9/_.\-+=@,]*\Z")
_UNSAFE_VALUE = re.compile(r"[^A-Za-z0-9_.\-+=@,]")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.\-+=@,]+").fullmatch
_SPECIAL = ("run", "dataset_type", "component", "id", "dimensions_path", "dimensions_name")


def escape_segment(value: str) -> str:
    """Make one path segment S3-safe and reversible: unsafe characters become ``%XX``; ``.``/``..`` too."""
    if _SAFE_VALUE(value) and value not in (".", ".."):  # the common case, without a substitution per segment
        return value
    out = _UNSAFE_VALUE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value)
    if out in (".", ".."):
        out = out.replace(".", "%2E")
    return out or "%00"


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
        self._parts = parts
        self.fields: tuple[str, ...] = tuple(name for _, name, _ in parts if name is not None)

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
    ) -> str:
        """Return the path (without extension) of one dataset."""
        values = dict(data_id)
        required = [str(v) for v in data_id.required_values]
        out: list[str] = []
        for literal, name, optional in self._parts:
            out.append(literal)
            if name is None:
                continue
            if name == "run":
                out.append("/".join(escape_segment(seg) for seg in run.split("/")))
            elif name == "dataset_type":
                out.append(escape_segment(dataset_type.parent_name))
            elif name == "component":
                out.append(escape_segment(component) if component else "")
            elif name == "id":
                out.append(dataset_id)
            elif name == "dimensions_path":
                out.append("/".join(escape_segment(v) for v in required[:-1]))
            elif name == "dimensions_name":
                out.append("_".join(escape_segment(v) for v in required))
            elif name in values:
                out.append(escape_segment(str(values[name])))
            elif not optional:
                raise ConfigError(
                    f"File template {self.template!r} needs {name!r}, which the data ID {data_id} lacks; "
                    f"mark it optional as '{{{name}:?}}'."
                )
        path = re.sub(r"/{2,}", "/", "".join(out)).strip("/")
        return re.sub(r"_{2,}", "_", path).rstrip("_")
