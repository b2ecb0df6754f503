"""Helpers of lazy query results: statements built once, checked at the call, read in pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybutler.query._constraints import Constraints

__all__ = ["checked", "chunks", "deferred", "once"]


def checked(constraints: Constraints, build: Any) -> tuple[list[Any], bool]:
    """Build a call's statements to raise its errors at the call, and say whether a spatial step took part.

    The spatial step runs SQL (its prefilter and exact check), which waits until the results are read
    (`_spatial.checking_only`): such statements were built without it, and serve only to derive a query plan
    whose spatial keys are parameters (`_spatial_plan`, on PostgreSQL); they are never run themselves.
    """
    from skybutler.query._spatial import checking_only

    before = len(constraints.spatial)
    with checking_only():
        built = build()
    return built, len(constraints.spatial) != before


def once(build: Any) -> Any:
    """Build a statement the first time it is needed and reuse it (statements are immutable)."""
    built: list[Any] = []

    def get() -> Any:
        if not built:
            built.append(build())
        return built[0]

    return get


def chunks(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Rows in lists of up to ``size``."""
    page: list[Any] = []
    for row in rows:
        page.append(row)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def deferred(build: Any, node: Any, constraints: Constraints) -> Any:
    """``build(node(), constraints)``, called when the statement is first needed (``node`` may parse on demand)."""
    return lambda: build(node(), constraints)
