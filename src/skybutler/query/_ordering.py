"""ORDER BY and LIMIT of queries: the arguments checked, terms resolved, and sorted statements built.

Both back-ends must return one order: NULLs sort last either way and ties follow the selected data ID
columns; a term is reported quoting the term (not the where expression); sorting datasets by a dimension
they lack is refused rather than multiplying rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skybutler.errors import QuerySyntaxError
from skybutler.query._ast import Identifier

if TYPE_CHECKING:
    from skybutler.query._builder import QueryBuilder
    from skybutler.registry import Registry, StoredDatasetType

__all__ = [
    "check_dataset_order",
    "checked_ordering",
    "distinct_ordered",
    "order_columns",
    "order_key",
    "own_field",
    "sort_order",
]


def checked_ordering(
    order_by: str | Sequence[str] | None, limit: int | None
) -> tuple[tuple[str, ...] | None, int | None]:
    """``order_by`` as a tuple of terms and ``limit`` as an int, checked before any SQL is built.

    One term may be given as a plain string (``order_by="-visit"``), as in the reference butler; iterating it would
    sort by each of its letters.  A negative limit is refused: SQLite reads it as "no limit" and PostgreSQL
    rejects it, so the two back-ends would disagree.
    """
    terms = (order_by,) if isinstance(order_by, str) else None if order_by is None else tuple(order_by)
    if limit is not None:
        if isinstance(limit, bool) or not hasattr(limit, "__index__") or limit.__index__() < 0:
            raise QuerySyntaxError(f"limit= must be a whole number >= 0 (or None for no limit), not {limit!r}.")
        limit = int(limit.__index__())
    return terms, limit


def order_columns(builder: QueryBuilder, order_by: Sequence[str] | None) -> list[tuple[Any, bool]]:
    """``(column, descending)`` of each ``order_by`` term (``"-visit"``, ``"visit.exposure_time"``).

    A wrong term is reported quoting the term itself (not the where expression, which it is not part of).
    """
    out = []
    where_text = builder.text
    for term in order_by or ():
        desc = term.startswith("-")
        name, _, field = term.lstrip("-").partition(".")
        builder.text = term.lstrip("-")
        try:
            column, kind = builder.resolve(Identifier(name, field or None))
        except QuerySyntaxError as exc:
            raise QuerySyntaxError(f"In order_by {term!r}: {exc}") from None
        finally:
            builder.text = where_text
        if kind == "timespan":
            column = column[0]
        out.append((column, desc))
    return out


def distinct_ordered(
    builder: QueryBuilder, named: Sequence[tuple[str, Any]], order_by: Sequence[str] | None, default: Sequence[Any]
) -> Any:
    """SELECT DISTINCT of the ``(name, column)`` pairs, sorted by ``order_by`` (else by ``default``).

    PostgreSQL wants the ORDER BY of a SELECT DISTINCT in its select list, and ``order_by`` may name fields that
    are not selected (``visit.exposure_time``): they are selected too, in a subquery that the result sorts on.
    Ties, and the rows whose sort field is NULL, follow the selected columns, so both back-ends return one order.
    The DISTINCT is left out when the columns hold a key of the join (`QueryBuilder.unique`): no row repeats.
    """
    terms = order_columns(builder, order_by)  # first: a term may join a table
    unique = builder.unique([column for _, column in named])
    if not terms:
        stmt = builder.select([column.label(name) for name, column in named])
        return (stmt if unique else stmt.distinct()).order_by(*default)
    sort_keys = [column.label(f"_o{i}") for i, (column, _) in enumerate(terms)]
    inner = builder.select([*(column.label(name) for name, column in named), *sort_keys])
    inner = (inner if unique else inner.distinct()).subquery("s")
    order = sort_order([inner.c[f"_o{i}"] for i in range(len(terms))], terms)
    return sa.select(*(inner.c[name] for name, _ in named)).order_by(*order, *(inner.c[name] for name, _ in named))


def sort_order(keys: Sequence[Any], terms: Sequence[tuple[Any, bool]]) -> list[Any]:
    """``keys`` ascending or descending as ``terms`` say, NULLs last either way.

    SQLite sorts NULL first and PostgreSQL last (first when descending): a field that some records leave
    unset (``visit.seq_num``) would order the same query differently on the two registries.
    """
    return [(key.desc() if desc else key.asc()).nulls_last() for key, (_, desc) in zip(keys, terms, strict=True)]


def order_key(order_by: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if order_by is None else tuple(order_by)


def check_dataset_order(registry: Registry, types: Sequence[StoredDatasetType], order_by: Sequence[str]) -> None:
    """Refuse sorting datasets by a dimension none of them has: it would join that dimension's every value and
    return each dataset once per value (each bias once per visit)."""
    dims = {name for s in types for name in s.dataset_type.dimensions.names}
    for term in order_by:
        name = term.lstrip("-").partition(".")[0]
        if name in registry.universe and registry.universe[name].is_dimension and name not in dims:
            described = ", ".join(sorted(dims)) or "none"
            raise QuerySyntaxError(
                f"In order_by {term!r}: the datasets searched have no {name} dimension (theirs: {described}); "
                "order by one of those."
            )


def own_field(registry: Registry, element: Any, term: str) -> str:
    """An ``order_by`` term of a record query: a bare field of the element (``seq_num``) means ``visit.seq_num``.

    Names of dimensions keep their meaning (``detector`` is the detector's value, not a field of the record).
    """
    name = term.lstrip("-")
    if "." in name or name in registry.universe or name not in element.field_index:
        return term
    return f"{term[: len(term) - len(name)]}{element.name}.{name}"
