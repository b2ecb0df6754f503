"""The query system: a `where` language (``where.lark``) compiled to SQL, and lazy results."""

from __future__ import annotations

from skybutler.query._missing import CompletenessRow, CompletenessTable, completeness
from skybutler.query._parser import parse_where
from skybutler.query._queries import (
    DataIdResults,
    DatasetResults,
    query_data_ids,
    query_datasets,
    query_dimension_records,
)

__all__ = [
    "CompletenessRow",
    "CompletenessTable",
    "DataIdResults",
    "DatasetResults",
    "completeness",
    "parse_where",
    "query_data_ids",
    "query_datasets",
    "query_dimension_records",
]
