"""Where-expression names that are not ``element[.field]``: dataset fields, and a bare field of the one element.

The reference butler's language has them and scripts use them:

* ``dataset_id`` and ``ingest_date`` of the datasets searched (``query_datasets``, or ``query_data_ids`` with
  ``datasets=``): bare when one dataset type is searched, else qualified, ``bias.dataset_id``;
* a bare field name (``id``, ``name``, ``full_name``) that only one element in play has: the element of a
  records query, or the dimensions of the data IDs.  When several have it the name is refused as ambiguous,
  with the qualified choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from skybutler.query._parser import syntax_error

if TYPE_CHECKING:
    from skybutler.query._ast import Identifier
    from skybutler.query._builder import QueryBuilder

__all__ = ["DATASET_FIELDS", "resolve_bare_field", "resolve_dataset_field"]

#: Fields every dataset has in a where expression, and their kinds.
DATASET_FIELDS = {"dataset_id": "uuid", "ingest_date": "time"}


def resolve_dataset_field(builder: QueryBuilder, ident: Identifier) -> tuple[Any, str] | None:
    """``dataset_id`` / ``ingest_date`` (bare or ``<dataset type>.<field>``); ``None`` for other names."""
    if ident.field is None and ident.element in DATASET_FIELDS:
        field = ident.element
        if len(builder.datasets) != 1:
            searched = sorted(builder.datasets)
            raise syntax_error(
                builder.text,
                ident.pos,
                f"{field} is a field of the datasets searched, and this query searches "
                + (f"several dataset types ({', '.join(searched)}): write e.g. {searched[0]}.{field}."
                   if searched else "none: use query_datasets, or query_data_ids with datasets=."),
            )  # fmt: skip
        (type_name,) = builder.datasets
    elif ident.field in DATASET_FIELDS and ident.element in builder.datasets:
        type_name, field = ident.element, ident.field
    else:
        return None
    dataset_id = builder.datasets[type_name]
    if field == "dataset_id":
        return dataset_id, "uuid"
    rows = builder._dataset_rows.get(type_name)
    if rows is None:  # the dataset table, joined once per dataset type when ingest_date is named
        rows = builder._alias(builder.registry.tables.dataset)
        builder.lookup_join(rows, rows.c.id == dataset_id)
        builder._dataset_rows[type_name] = rows
    return rows.c.ingest_date, "time"


def resolve_bare_field(builder: QueryBuilder, ident: Identifier) -> tuple[Any, str] | None:
    """A bare field name only one element in play has (see the module docstring); ``None`` when none has it."""
    if ident.field is not None:
        return None
    name = ident.element
    universe = builder.universe
    in_play = [
        e for e in universe.elements if not e.is_skypix and (e.name in builder.elements or e.name in builder.dims)
    ]
    owners = [e.name for e in in_play if (e.is_dimension and e.primary_key.name == name) or name in e.record_fields()]
    if not owners:
        return None
    if len(owners) > 1:
        choices = " or ".join(f"{owner}.{name}" for owner in owners)
        raise syntax_error(builder.text, ident.pos, f"{name!r} is ambiguous here: write {choices}.")
    from skybutler.query._ast import Identifier

    return builder.resolve(Identifier(owners[0], name, ident.pos))
