"""The calibration timeline: for a CALIBRATION collection, dataset type and data ID, when each dataset was valid
(valid time, across) as known when (knowledge time, down), from the registry's bitemporal certification rows.

Each certification row is one block: ``[valid.begin, valid.end)`` across, ``[recorded.begin, recorded.end)``
down, so a certify adds a block that reaches "now", a replace closes the old block where the new one starts
(and re-adds the old dataset's untouched parts), and a decertify closes a block with nothing after it.  Both
axes are ordinal (each distinct boundary gets a step), so a replace made seconds after a certify is as visible
as one made months later; the boundaries' times label the axes.  Every block carries its ranges in
``data-*`` attributes (TAI nanoseconds, empty for unbounded or current) and links to its dataset.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from skybutler.dimensions import tai_ns_to_iso
from skybutler.errors import CollectionError
from skybutler.registry import CollectionType
from skybutler.server.web._render import page, session
from skybutler.server.web._visible import counts_by_type

if TYPE_CHECKING:
    from skybutler.registry import CertificationRow

__all__ = ["router", "timeline_svg"]

router = APIRouter()

LEFT, TOP, STEP_X, STEP_Y, RIGHT, BOTTOM = 190, 20, 90, 26, 20, 120
MAX_DATA_IDS = 20
"""Data IDs drawn on one page (``page=`` shows the next ones)."""


@functools.lru_cache(maxsize=8192)
def _iso(ns: int) -> str:
    return tai_ns_to_iso(ns)[:23]  # a timeline repeats the same boundaries many times


def _time(ns: int | None, unbounded: str) -> str:
    return unbounded if ns is None else _iso(ns)


def _attr(ns: int | None) -> str:
    return "" if ns is None else str(ns)


@functools.lru_cache(maxsize=8192)
def _colour(dataset_id: str) -> str:
    hue = int(hashlib.sha1(dataset_id.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 65%, 55%)"


def timeline_svg(rows: Sequence[CertificationRow], label: str) -> str:
    """The SVG of one data ID's certification rows."""
    valid = sorted({t for r in rows for t in (r.valid.begin, r.valid.end) if t is not None})
    known = sorted({t for r in rows for t in (r.recorded.begin, r.recorded.end) if t is not None})
    # column 0 is "-inf", then each finite valid boundary, then "+inf"; row i is the i-th knowledge boundary, last "now"
    vx = {t: i + 1 for i, t in enumerate(valid)}
    ky = {t: i for i, t in enumerate(known)}
    n_cols, n_rows = len(valid) + 2, len(known) + 1

    def x(ns: int | None, end: bool) -> int:
        col = (n_cols - 1 if end else 0) if ns is None else vx[ns]
        return LEFT + col * STEP_X

    def y(ns: int | None) -> int:
        return TOP + (n_rows - 1 if ns is None else ky[ns]) * STEP_Y

    width = LEFT + (n_cols - 1) * STEP_X + RIGHT
    height = TOP + (n_rows - 1) * STEP_Y + BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="group" aria-label="Certification timeline of {escape(label)}">'
    ]
    for t in known:
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(t)}" y2="{y(t)}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y(t) + 4}" text-anchor="end">{_time(t, "")}</text>')
    parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y(None) + 4}" text-anchor="end">now</text>')
    for col, name in ((0, "-inf"), *((vx[t], _time(t, "")) for t in valid), (n_cols - 1, "+inf")):
        cx = LEFT + col * STEP_X
        parts.append(f'<line class="grid" x1="{cx}" x2="{cx}" y1="{TOP}" y2="{y(None)}"/>')
        parts.append(
            f'<text class="tick" x="{cx}" y="{y(None) + 14}" transform="rotate(35 {cx} {y(None) + 14})">{name}</text>'
        )
    for r in rows:
        x0, x1 = x(r.valid.begin, False), x(r.valid.end, True)
        y0, y1 = y(r.recorded.begin), y(r.recorded.end)
        state = "current" if r.recorded.end is None else "closed"
        title = (
            f"{r.dataset_id} valid {_time(r.valid.begin, '-inf')} to {_time(r.valid.end, '+inf')}, "
            f"known {_time(r.recorded.begin, '')} to {_time(r.recorded.end, 'now')}"
        )
        parts.append(
            f'<a href="/web/dataset/{r.dataset_id.hex}" aria-label="{escape(title)}">'
            f'<rect class="block {state}" x="{x0 + 1}" y="{y0 + 1}" width="{max(2, x1 - x0 - 2)}" '
            f'height="{max(2, y1 - y0 - 2)}" fill="{_colour(r.dataset_id.hex)}" '
            f'data-dataset-id="{r.dataset_id}" data-valid-begin="{_attr(r.valid.begin)}" '
            f'data-valid-end="{_attr(r.valid.end)}" data-recorded-begin="{_attr(r.recorded.begin)}" '
            f'data-recorded-end="{_attr(r.recorded.end)}"><title>{escape(title)}</title></rect></a>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


@router.get("/timeline", response_class=HTMLResponse)
@page("timeline.html")
def timeline(
    request: Request,
    collection: Annotated[str, Query(max_length=256)] = "",
    type: Annotated[str, Query(max_length=128)] = "",
    data_id: Annotated[str, Query(max_length=1024)] = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> dict[str, Any]:
    """The timelines of a calibration dataset type in a CALIBRATION collection (one per data ID, or the one given)."""
    values: dict[str, Any] = {
        "title": "Calibration timeline", "collection": collection, "type": type, "data_id": data_id,
        "choices": [], "charts": [], "page": page, "has_next": False, "n_data_ids": 0, "per_page": MAX_DATA_IDS,
    }  # fmt: skip
    with session(request) as (_, butler, caller):
        values["user"] = caller.user
        if not collection or not type:
            for record in butler.registry.collections.all():
                if record.type is CollectionType.CALIBRATION and caller.may("read", record.name):
                    for type_name in counts_by_type(butler, record):
                        values["choices"].append((record.name, type_name))
            values["choices"].sort()
            return values
        caller.require("read", [collection])
        record = butler.registry.collections.get(collection)
        if record.type is not CollectionType.CALIBRATION:
            kind = record.type.name
            raise CollectionError(f"Collection {collection!r} is {kind}: only a CALIBRATION one has a timeline.")
        wanted: dict[str, Any] = {}
        for part in data_id.replace(" ", ",").split(","):
            if "=" in part:
                key, _, value = part.partition("=")
                wanted[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else value.strip()
        history = butler.collections.history(collection, type, wanted or None)
        by_id: dict[tuple[Any, ...], list[CertificationRow]] = {}
        for row in history:
            by_id.setdefault(tuple(row.data_id.required.items()), []).append(row)
        keys = sorted(by_id, key=lambda k: tuple(str(v) for _, v in k))
        first = (page - 1) * MAX_DATA_IDS
        values["has_next"] = len(keys) > first + MAX_DATA_IDS
        values["n_data_ids"] = len(keys)
        for data_id_key in keys[first : first + MAX_DATA_IDS]:
            label = ", ".join(f"{k}={v}" for k, v in data_id_key)
            rows = by_id[data_id_key]
            values["charts"].append({"label": label, "svg": timeline_svg(rows, label), "rows": [_row(r) for r in rows]})
        return values


def _row(r: CertificationRow) -> dict[str, Any]:
    return {
        "id": r.dataset_id,
        "valid": (_time(r.valid.begin, "-inf"), _time(r.valid.end, "+inf")),
        "known": (_time(r.recorded.begin, ""), _time(r.recorded.end, "now")),
        "current": r.recorded.end is None,
    }
