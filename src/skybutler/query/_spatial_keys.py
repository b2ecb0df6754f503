"""The passing keys of a spatial step as one SQL condition (`in_keys`), in the form each database runs best."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter

__all__ = ["in_keys"]

_MAX_KEYS_AS_PARAMETERS = 500
"""Above this many passing key combinations, they are written into the SQL as literals (all our own values,
read from the registry) instead of one parameter each: SQLite takes at most 32 766 parameters a statement."""

_PG_ARRAYS_FROM = 10
"""From this many keys of several columns, PostgreSQL gets them as arrays (`in_keys`): the ``OR`` of 40 keys (the
patches of a visit) took the server 23.6 to 25.4 ms of CPU a query (most of it planning), the arrays 18.2 to 20.6;
but for the 1 to 4 keys of a POINT query the semi-join took 23 to 25 ms, the ``OR`` 2.6 to 3.0 (at load 8)."""


def in_keys(columns: list[Any], passing: list[tuple[Any, ...]], *, dialect: str) -> Any:
    """The rows whose ``columns`` hold one of the ``passing`` keys.

    On SQLite few keys become ``(a = ? AND b = ?) OR ...``, one parameter per value, built without
    SQLAlchemy's argument coercion (a tenth of a millisecond per key otherwise): SQLite reads each through the
    primary key (a row-value ``IN`` list makes it scan the table), and statements of the same shape compile
    once.  Many keys are rendered into the SQL as one ``IN`` list of literals (SQLite takes at most 32 766
    parameters).  On PostgreSQL `_PG_ARRAYS_FROM` keys or more of several columns are
    ``(a, b) IN (SELECT unnest(?), unnest(?))``, one array parameter per column (one statement shape, whatever
    the number of keys).
    """
    if not passing:
        return sa.false()
    distinct = sorted(set(passing), key=repr)
    if dialect == "postgresql" and len(columns) > 1 and len(distinct) >= _PG_ARRAYS_FROM:
        from sqlalchemy.dialects.postgresql import ARRAY

        arrays = [
            sa.func.unnest(BindParameter(None, list(values), type_=ARRAY(c.type), unique=True))
            for c, values in zip(columns, zip(*distinct, strict=True), strict=True)
        ]
        return sa.tuple_(*columns).in_(sa.select(*arrays))
    if len(columns) == 1:
        values = [v[0] for v in distinct]
        if len(values) > _MAX_KEYS_AS_PARAMETERS:
            return columns[0].in_(
                sa.bindparam("spatial_keys", values, expanding=True, literal_execute=True, unique=True)
            )
        return columns[0].in_([BindParameter(None, v, type_=columns[0].type, unique=True) for v in values])
    if len(distinct) * len(columns) > _MAX_KEYS_AS_PARAMETERS:
        keys: Any = sa.bindparam("spatial_keys", distinct, expanding=True, literal_execute=True, unique=True)
        return sa.tuple_(*columns).in_(keys)
    eq = operators.eq
    return sa.or_(*(
        sa.and_(*(BinaryExpression(c, BindParameter(None, v, type_=c.type, unique=True), eq)
                  for c, v in zip(columns, key, strict=True)))
        for key in distinct
    ))  # fmt: skip
