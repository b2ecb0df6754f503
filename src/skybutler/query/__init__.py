"""The query system: a `where` language (``where.lark``) compiled to SQL, and lazy results.

The completeness matrix (``completeness``, ``missing`` on the command line) is imported on first use: a
query command does not need it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from skybutler.query._parse_cache import enable as enable_parse_cache
from skybutler.query._parser import parse_where
from skybutler.query._queries import query_data_ids, query_datasets
from skybutler.query._record_queries import query_dimension_records
from skybutler.query._results import DataIdResults, DatasetResults, QueryResults

if TYPE_CHECKING:
    from skybutler.query._missing import CompletenessRow, CompletenessTable, completeness

_LAZY = {
    "CompletenessRow": "skybutler.query._missing",
    "CompletenessTable": "skybutler.query._missing",
    "completeness": "skybutler.query._missing",
}

__all__ = [
    "CompletenessRow",
    "CompletenessTable",
    "DataIdResults",
    "DatasetResults",
    "QueryResults",
    "completeness",
    "enable_parse_cache",
    "parse_where",
    "query_data_ids",
    "query_datasets",
    "query_dimension_records",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'skybutler.query' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
