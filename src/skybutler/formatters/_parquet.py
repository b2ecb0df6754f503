"""Parquet formatter (pyarrow): tables of any of the four kinds, column subsets and row filters pushed down.

Every table is written as Arrow (see `skybutler.astro._conversions` for what is kept: units, descriptions,
exact NumPy dtypes, table metadata, a DataFrame's index) with the storage class it was written as in the
schema metadata (``skybutler.storage_class``).  ``columns`` reads only those column chunks; ``filters``
are pyarrow's, so row groups are skipped by their statistics; the ``schema`` and ``rowcount`` components
read only the footer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from skybutler.astro._conversions import arrow_to_astropy, pandas_attrs, pandas_to_arrow, to_arrow, to_numpy
from skybutler.astro._tables import TableSchema, check_columns, normalize_filters, select
from skybutler.errors import FormatterError
from skybutler.formatters._astro_io import TABLE_CLASSES, read_parameters, storage_class_of
from skybutler.formatters._formatter import Formatter
from skybutler.formatters._streams import OutputStream, local_name

__all__ = ["ParquetFormatter"]

_PROVENANCE = b"skybutler.provenance"  # skybutler.formatters._provenance.PARQUET_KEY
_MARKER = b"skybutler.storage_class"


class ParquetFormatter(Formatter):
    """Parquet files written and read with pyarrow."""

    name = "parquet"
    extensions = (".parq",)
    storage_classes = TABLE_CLASSES
    records_provenance = True

    def write(self, obj: Any, stream: BinaryIO) -> None:
        """Write the table as Parquet (sequentially: the footer comes last)."""
        storage_class = storage_class_of(obj, self.storage_classes)
        # A DataFrame keeps its index as a column, so filtered reads keep the labels of the rows that pass.
        table = pandas_to_arrow(obj, preserve_index=True) if storage_class == "DataFrame" else to_arrow(obj)
        metadata = dict(table.schema.metadata or {})
        metadata[_MARKER] = storage_class.encode()
        if self.provenance is not None:
            from skybutler.formatters._provenance import PARQUET_KEY

            metadata[PARQUET_KEY] = json.dumps(dict(self.provenance), ensure_ascii=False).encode()
        try:
            pq.write_table(table.replace_schema_metadata(metadata), OutputStream(stream))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise FormatterError(f"Cannot write this {storage_class} as Parquet: {exc}") from exc

    def read(
        self,
        stream: BinaryIO,
        *,
        component: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Any:
        """Read the table, its schema or row count, or only some columns and rows."""
        source: Any = local_name(stream) or stream  # Arrow reads a local file itself, in parallel
        parquet = pq.ParquetFile(source)
        schema = parquet.schema_arrow
        storage_class = (schema.metadata or {}).get(_MARKER, b"ArrowTable").decode()
        params = read_parameters(storage_class, component, parameters, "Parquet")
        if component == "rowcount":
            return int(parquet.metadata.num_rows)
        if component == "schema":
            return TableSchema.of(_finish(schema.empty_table(), storage_class))
        names = [n for n in schema.names if not _is_index(schema, n)]
        columns = check_columns(params.get("columns"), names)
        filters = normalize_filters(params.get("filters"), names)
        pandas = storage_class == "DataFrame"
        stream.seek(0)
        try:
            table = pq.read_table(source, columns=columns, filters=filters, use_pandas_metadata=pandas)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            if filters is None:
                raise
            # Arrow cannot compare these types (float16; uint64 against a Python int, which it makes an int64
            # scalar: OverflowError at 2**63 and above): filter in NumPy, as `skybutler.astro.select` defines it.
            stream.seek(0)
            needed = None if columns is None else list(dict.fromkeys(columns + [t[0] for g in filters for t in g]))
            table = select(pq.read_table(source, columns=needed, use_pandas_metadata=pandas), columns, filters)
        return _finish(table, storage_class)


def _is_index(schema: pa.Schema, name: str) -> bool:
    """Whether ``name`` is a DataFrame index stored as a column (not a column the user can select)."""
    import json

    pandas = (schema.metadata or {}).get(b"pandas")
    return pandas is not None and name in json.loads(pandas).get("index_columns", [])


def _finish(table: pa.Table, storage_class: str) -> Any:
    metadata = {k: v for k, v in (table.schema.metadata or {}).items() if k not in (_MARKER, _PROVENANCE)}
    table = table.replace_schema_metadata(metadata or None)
    if storage_class == "ArrowTable":
        return table
    if storage_class == "AstropyTable":
        return arrow_to_astropy(table)
    if storage_class == "NumpyStructuredArray":
        return to_numpy(table)
    frame = table.to_pandas()
    frame.attrs = pandas_attrs(table)
    return frame
