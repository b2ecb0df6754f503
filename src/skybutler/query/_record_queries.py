"""Dimension-record queries: the records of one element satisfying a `where` expression and a data ID."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybutler.dimensions import normalize_data_id
from skybutler.errors import DatasetTypeError
from skybutler.query._builder import QueryBuilder
from skybutler.query._constraints import prepare
from skybutler.query._ordering import checked_ordering, distinct_ordered, own_field
from skybutler.query._queries import _apply

if TYPE_CHECKING:
    from skybutler.dimensions import DimensionRecord
    from skybutler.registry import Registry

__all__ = ["query_dimension_records"]


def query_dimension_records(
    registry: Registry,
    element: str,
    *,
    where: str = "",
    bind: Mapping[str, Any] | None = None,
    data_id: Any = None,
    order_by: Sequence[str] | None = None,
    limit: int | None = None,
    kwargs: Mapping[str, Any] | None = None,
) -> list[DimensionRecord]:
    """Records of ``element`` satisfying the constraints."""
    from skybutler.registry._dimensions import _from_row

    order_by, limit = checked_ordering(order_by, limit)
    element_obj = registry.universe[element]
    if element_obj.is_skypix:
        raise DatasetTypeError(f"{element!r} is a skypix dimension; it has no records.")
    if order_by:
        order_by = tuple(own_field(registry, element_obj, term) for term in order_by)
    node, constraints = prepare(registry, where, bind, normalize_data_id(registry.universe, data_id, kwargs or {}))
    b = QueryBuilder(registry, where)
    table = b.add_element(element)
    _apply(b, node, constraints)
    default = [b.dims[d] for d in element_obj.required]
    stmt = distinct_ordered(b, [(c.name, c) for c in table.c], order_by, default)
    if limit is not None:
        stmt = stmt.limit(limit)
    with registry.db.transaction(write=False) as conn:
        rows = conn.execute(stmt).mappings().all()
    return [_from_row(element_obj, r) for r in rows]
