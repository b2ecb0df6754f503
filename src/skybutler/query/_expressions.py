"""Compile `where` AST nodes to SQLAlchemy expressions; every value becomes a bound parameter."""

from __future__ import annotations

import datetime
import itertools
import math
import numbers
import uuid
from collections.abc import Callable, Iterable, Mapping, Sized
from typing import Any

import sqlalchemy as sa

from skybutler.dimensions import TaiInstant, db_instant, to_tai_ns
from skybutler.dimensions._elements import INT64_MAX, INT64_MIN
from skybutler.query._ast import (
    And,
    Arith,
    Bind,
    Compare,
    Glob,
    Identifier,
    In,
    Literal,
    Neg,
    Node,
    Not,
    Or,
    Overlaps,
    Pair,
    Range,
    TimeLiteral,
    UuidLiteral,
)
from skybutler.query._parser import syntax_error

__all__ = ["MAX_BIND_VALUES", "ColumnResolver", "Estimator", "compile_expression"]

#: ``identifier → (SQL column, declared type)``; ``"timespan"`` identifiers resolve to a (begin, end) pair.
ColumnResolver = Callable[[Identifier], tuple[Any, str]]
Estimator = Callable[[Identifier, str, int], float | None]
"""The share of rows ``identifier <op> value`` keeps, when known: SQLite's ``likelihood()`` (`registry._statistics`)."""
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}

_PY_TYPES = {"int": (int,), "float": (int, float), "string": (str,), "bool": (bool,)}
_MAX_EXPANDED_RANGE = 10_000
MAX_BIND_VALUES = 10_000
"""The most values the bind parameters of one expression may hold in all (``IN (:values)``): each is a SQL
parameter, and SQLite takes at most 32 766 per statement.  A longer (or endless) iterable is refused after
reading at most one value more than this."""
_NAMES = {
    "int": "an integer", "float": "a number", "string": "a string", "bool": "a boolean", "time": "a time",
    "bytes": "a bytes field", "uuid": "a dataset ID", None: "NULL",
}  # fmt: skip
_NUMBERS = ("int", "float")
_COMPARABLE = (*_PY_TYPES, "time", "uuid")
"""Kinds two values of which compare with each other (a time field such as ``ingest_date``, a dataset ID)."""
_ORDER_OPS = ("<", "<=", ">", ">=")
_BIGINT = sa.BigInteger()
_NUMERIC = sa.Numeric()
FLOAT_RANGE = (1e-150, 1e150)
"""The magnitudes (besides 0) a constant operand of floating-point arithmetic may have: within them no
product, quotient or sum of two leaves the doubles, where PostgreSQL fails the statement ("value out of
range: overflow" or "underflow") and SQLite goes on with infinity or 0."""


class _Compiler:
    def __init__(
        self,
        text: str,
        resolve: ColumnResolver,
        bind: Mapping[str, Any],
        dialect: str,
        exact: Mapping[int, Any],
        estimate: Estimator | None = None,
    ) -> None:
        self.exact = exact
        self.estimate = estimate
        """SQL standing for nodes decided before compiling, by ``id`` (nested spatial terms)."""
        self.text = text
        self.resolve = resolve
        self.bind = bind
        self.dialect = dialect
        self.budget = MAX_BIND_VALUES
        """Bind values still allowed in this expression (see `MAX_BIND_VALUES`)."""
        self.constants: dict[int, int | float] = {}
        """The value of each numeric node made of literals and binds only, by ``id`` (see `arith`)."""

    def error(self, node: Node, message: str) -> Exception:
        return syntax_error(self.text, getattr(node, "pos", 0), message)

    # -- values ---------------------------------------------------------------------------------------------
    def value(self, node: Node) -> tuple[Any, str | None]:
        """SQL for a value-producing node, with its type when known (``int``, ``string``, ``timespan`` ...)."""
        if isinstance(node, Identifier):
            column, kind = self.resolve(node)
            if kind == "timespan":  # a (begin, end) pair: only OVERLAPS takes it (see `timespan`)
                raise self.error(node, f"{node} is a timespan; use it with OVERLAPS (a time or a (begin, end) pair).")
            if kind not in _COMPARABLE:  # bytes: the drivers compare them with other types differently
                raise self.error(node, f"{node} is {_NAMES.get(kind, kind)}, which a where expression cannot use.")
            return column, kind
        if isinstance(node, Literal):
            self.check_text(node, node.value)
            self.check_int(node, node.value)
            literal_kind = "bool" if isinstance(node.value, bool) else type(node.value).__name__
            if literal_kind in _NUMBERS and isinstance(node.value, int | float):
                self.constants[id(node)] = node.value
            return _literal(node.value), literal_kind.replace("str", "string")
        if isinstance(node, TimeLiteral):  # inside the stored range, as for OVERLAPS (`instant`)
            return _literal(db_instant(node.tai_ns)), "time"
        if isinstance(node, UuidLiteral):
            return self.uuid_literal(node.value), "uuid"
        if isinstance(node, Bind):
            value = self.bound(node)
            if isinstance(value, list):
                raise self.error(node, f"Bind parameter :{node.name} holds several values; use it inside IN (...).")
            if _is_time(value):
                return _literal(db_instant(to_tai_ns(value))), "time"
            if isinstance(value, uuid.UUID):
                return self.uuid_literal(value), "uuid"
            self.check_text(node, value)
            self.check_int(node, value)
            bind_kind = _kind_of(value)
            if bind_kind in _NUMBERS:
                self.constants[id(node)] = value
            return _literal(value), bind_kind
        if isinstance(node, Neg):
            inner, inner_kind = self.value(node.operand)
            if inner_kind not in _NUMBERS:
                raise self.error(node, f"Unary minus needs a number; {node.operand} is {_NAMES[inner_kind]}.")
            if id(node.operand) in self.constants:
                self.constants[id(node)] = -self.constants[id(node.operand)]
            return -(self.wide(inner) if inner_kind == "int" else inner), inner_kind
        if isinstance(node, Arith):
            return self.arith(node)
        if isinstance(node, Pair):
            raise self.error(node, f"{node} is a timespan; use it with OVERLAPS.")
        raise self.error(node, f"{node} is a condition, not a value.")

    def arith(self, node: Arith) -> tuple[Any, str]:
        """``+ - * / %`` between numbers, with one meaning on every back-end.

        ``/`` divides as floating point (PostgreSQL would divide integers exactly as NUMERIC, SQLite as REAL);
        ``%`` takes integers only (SQLite truncates ``2.5`` to ``2``, PostgreSQL has no such operator) and
        keeps the sign of the dividend on both; a zero divisor gives NULL, which matches nothing.
        """
        left, lk = self.value(node.left)
        right, rk = self.value(node.right)
        for side, side_kind in ((node.left, lk), (node.right, rk)):
            if side_kind not in _NUMBERS:
                raise self.error(side, f"Arithmetic needs numbers; {side} is {_NAMES[side_kind]}.")
            if node.op == "%" and side_kind != "int":
                raise self.error(side, f"% needs integers; {side} is {_NAMES[side_kind]} (use / for division).")
        self.check_float_range(node, "float" in (lk, rk) or node.op == "/")
        if node.op == "/":
            as_float: sa.Double[float] = sa.Double()
            return sa.cast(left, as_float) / sa.func.nullif(sa.cast(right, as_float), 0), "float"
        if lk == rk == "int":
            left, right = self.wide(left), self.wide(right)
        ops: dict[str, Callable[[Any, Any], Any]] = {
            "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
            "%": lambda a, b: a % sa.func.nullif(b, 0),
        }  # fmt: skip
        return ops[node.op](left, right), "float" if "float" in (lk, rk) else "int"

    def check_float_range(self, node: Arith, in_floats: bool) -> None:
        """Refuse a constant operand of floating-point arithmetic outside `FLOAT_RANGE`, and fold constants.

        ``1e300 * 1e300`` is infinity on SQLite and an error on PostgreSQL (so is ``1e-200 * 1e-200``, 0 on
        SQLite): rather than two answers, such an expression is refused before any SQL, the same on both.
        A constant is a literal, a bind, or arithmetic of constants (folded here, so ``1e100 * 1e100 *
        1e100 * 1e100`` is refused at the product ``1e200``).  Stored values are not known before SQL:
        arithmetic of fields that leaves the doubles still fails on PostgreSQL only (docs/queries.md).
        """
        left, right = self.constants.get(id(node.left)), self.constants.get(id(node.right))
        if in_floats:
            low, high = FLOAT_RANGE
            for side, constant in ((node.left, left), (node.right, right)):
                if constant is not None and constant != 0 and not low <= abs(constant) <= high:
                    raise self.error(
                        side,
                        f"{side} is {constant:g}: floating-point arithmetic takes constants of magnitude "
                        f"{low:g} to {high:g} (or 0), so that no result leaves the range of a double, which "
                        "the back-ends handle differently.",
                    )
        if left is None or right is None or (node.op in "/%" and right == 0):
            return
        if node.op == "/":
            if max(abs(left), abs(right)) > 1e300:  # an exact integer too large for float() (never refused)
                return
            self.constants[id(node)] = float(left) / float(right)
        elif node.op == "%":
            rest = abs(left) % abs(right)
            self.constants[id(node)] = -rest if left < 0 else rest
        else:
            self.constants[id(node)] = {"+": left + right, "-": left - right, "*": left * right}[node.op]

    def wide(self, operand: Any) -> Any:
        """An integer operand that cannot overflow: past 64 bits SQLite goes on in floating point, where
        PostgreSQL's BIGINT fails the statement; as NUMERIC, PostgreSQL goes on too (exactly)."""
        return sa.cast(operand, _NUMERIC) if self.dialect == "postgresql" else operand

    def check_text(self, node: Node, value: Any) -> None:
        """Refuse a NUL character in a string: PostgreSQL cannot take one (SQLite would quietly match nothing)."""
        if isinstance(value, str) and "\x00" in value:
            raise self.error(node, f"{value!r} holds a NUL character, which no stored value can hold.")

    def check_int(self, node: Node, value: Any) -> None:
        """Refuse an integer no BIGINT column holds: the drivers fail on it with a raw overflow error."""
        if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
            raise self.error(
                node, f"{value} is outside the 64-bit integers the registry stores ({INT64_MIN} to {INT64_MAX})."
            )
        if type(value) is float and not math.isfinite(value):  # e.g. 1e400; NaN binds as NULL on SQLite only
            raise self.error(node, f"{value} is not a finite number; the back-ends compare it differently.")

    def bound(self, node: Bind) -> Any:
        """The value of a bind parameter, as a plain Python value (a list for several values).

        Notebook values are often NumPy scalars or arrays: the drivers disagree on those (sqlite3 binds an
        ``int64`` as its bytes, so ``visit = :v`` silently matches nothing, where psycopg matches), so they
        become ``int``, ``float``, ``bool``, ``str`` or a list of them.  A value no column can be compared
        with is refused here, rather than by the driver with a raw SQL error.
        """
        if node.name not in self.bind:
            known = ", ".join(sorted(self.bind)) or "none"
            raise self.error(node, f"No value for bind parameter :{node.name} (bind= gives: {known}).")
        value = self.bind[node.name]
        if not _is_many(value):
            self.budget -= 1
            return self.plain(node, value)
        try:  # a range or an array says its size without being read; len() overflows past sys.maxsize
            size = len(value) if isinstance(value, Sized) else None
        except OverflowError:
            size = None if not isinstance(value, range) else MAX_BIND_VALUES + 1
        values = list(itertools.islice(value, self.budget + 1)) if size is None or size <= self.budget else None
        if values is None or len(values) > self.budget:
            raise self.error(
                node,
                f"Bind parameter :{node.name} holds too many values: the binds of one expression may hold "
                f"{MAX_BIND_VALUES} in all. Split the query, or give a range such as IN (0..99999) in the text.",
            )
        self.budget -= len(values)
        return [self.plain(node, one) for one in values]

    def plain(self, node: Bind, value: Any) -> Any:
        """One bind value as a type the SQL drivers all take the same way (see `bound`)."""
        if type(value) in (int, float, str, bool) or _is_time(value) or isinstance(value, uuid.UUID):
            return value
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, str):
            return str(value)
        shown = repr(value) if len(repr(value)) < 80 else repr(value)[:77] + "..."
        raise self.error(
            node,
            f"Bind parameter :{node.name} is {shown} ({type(value).__name__}); give a number, a string, a "
            "boolean, a datetime (UTC) or astropy Time, or a list of those for IN (...)."
            + (" (NULL equals nothing in SQL: leave the condition out instead.)" if value is None else ""),
        )

    def timespan(self, node: Node) -> tuple[Any, Any]:
        """(begin, end) SQL of a timespan-like node: a timespan field, a time, or a ``(begin, end)`` pair."""
        if isinstance(node, Pair):
            return self.instant(node.begin), self.instant(node.end)
        if isinstance(node, Identifier):
            column, kind = self.resolve(node)
            if kind == "timespan":
                return column  # type: ignore[no-any-return]
            if kind == "time":  # an instant (ingest_date): the one-nanosecond span holding it
                return column, column + 1
            raise self.error(node, f"{node} is not a timespan; use e.g. {node.element}.timespan.")
        instant = self.instant(node)
        return instant, instant + 1

    def instant(self, node: Node) -> Any:
        """SQL of a time: a time literal or bind, or an integer (TAI ns); anything else would reach SQL as a
        comparison of the stored integers with e.g. a string (an error on PostgreSQL, no match on SQLite)."""
        # A known time is moved inside the stored range (`db_instant`): one past 2116 or before 1823 falls in
        # the ranges unbounded on that side, and T'2300-01-01' (beyond 64 bits) overflowed SQLite's driver.
        if isinstance(node, TimeLiteral):
            return _literal(db_instant(node.tai_ns))
        if isinstance(node, Literal | Bind):
            value = node.value if isinstance(node, Literal) else self.bound(node)
            if _is_time(value) or _kind_of(value) == "int":
                self.check_int(node, value)
                return _literal(db_instant(to_tai_ns(value)))
        instant, instant_kind = self.value(node)
        if instant_kind in ("time", "int"):
            return instant
        raise self.error(node, f"{node} is not a time; use T'...' or bind a datetime (UTC) or astropy Time.")

    # -- conditions -----------------------------------------------------------------------------------------
    def condition(self, node: Node) -> Any:
        if id(node) in self.exact:
            return self.exact[id(node)]
        if isinstance(node, And):
            return sa.and_(*(self.condition(i) for i in node.items))
        if isinstance(node, Or):
            return sa.or_(*(self.condition(i) for i in node.items))
        if isinstance(node, Not):
            return sa.not_(self.condition(node.operand))
        if isinstance(node, Compare):
            (left, lk), (right, rk) = self.operands(node.left, node.right)
            if "uuid" in (lk, rk) and node.op not in ("=", "!="):
                raise self.error(node, f"Dataset IDs compare with = and != (or IN), not {node.op}.")
            self.check_types(node, node.left, lk, node.right, rk)
            self.check_types(node, node.right, rk, node.left, lk)
            if lk == "string" and node.op in _ORDER_OPS and self.dialect == "postgresql":
                # Order strings by code point, as SQLite does, whatever the database's locale (equality is
                # bytewise under both already, and keeps PostgreSQL's indexes usable).
                left, right = sa.collate(left, "C"), sa.collate(right, "C")
            compared = {
                "=": lambda: left == right, "!=": lambda: left != right, "<": lambda: left < right,
                "<=": lambda: left <= right, ">": lambda: left > right, ">=": lambda: left >= right,
            }[node.op]()  # fmt: skip
            return self.likely(node, compared) if self.estimate is not None and node.op in _ORDER_OPS else compared
        if isinstance(node, In):
            return self.in_(node)
        if isinstance(node, Glob):
            return self.glob(node)
        if isinstance(node, Overlaps):
            lb, le = self.timespan(node.left)
            rb, re = self.timespan(node.right)
            return sa.and_(lb < re, rb < le)
        if isinstance(node, Identifier):
            column, kind = self.resolve(node)
            if kind == "bool":
                # ``= TRUE``, not ``IS TRUE``: a NULL field must be unknown, so that neither the field nor its
                # negation selects it (docs/queries.md), as with ``exposure.can_see_sky = TRUE``.
                return column == sa.true()
            raise self.error(node, f"{node} is a value, not a condition; compare it with something.")
        if isinstance(node, Literal) and isinstance(node.value, bool):
            return sa.true() if node.value else sa.false()
        raise self.error(node, f"{node} is a value, not a condition.")

    def likely(self, node: Compare, compared: Any) -> Any:
        """``compared`` in SQLite's ``likelihood()`` when the share of rows it keeps is estimated.

        SQLite (built without STAT4) takes every range to keep a quarter of the rows; this tells its planner
        that ``visit <= 100`` keeps 1 % of a repository's visits and ``detector < 10`` 10 % of its detectors.
        """
        assert self.estimate is not None
        ident, op, other = node.left, node.op, node.right
        if not isinstance(ident, Identifier):
            ident, op, other = other, _FLIP[op], ident
        value = other.value if isinstance(other, Literal) else None
        if isinstance(other, Bind):
            value = self.bind.get(other.name)
        if not isinstance(ident, Identifier) or type(value) is not int:
            return compared
        share = self.estimate(ident, op, value)
        if share is None:
            return compared
        return sa.func.likelihood(compared, sa.literal_column(repr(share)))

    def in_(self, node: In) -> Any:
        column, kind = self.value(node.expr)
        values: list[Any] = []
        ids: list[Any] = []
        clauses = []
        for item in node.items:
            if isinstance(item, Range):
                if kind != "int":
                    raise self.error(node.expr, f"A range needs integers; {node.expr} is a {kind}.")
                self.check_int(item, item.start)
                self.check_int(item, item.stop)
                count = (item.stop - item.start) // item.step + 1  # len() overflows on huge ranges
                if count <= min(_MAX_EXPANDED_RANGE, self.budget):
                    self.budget -= count
                    values.extend(item.values())
                else:
                    # ``column - start`` would overflow BIGINT on PostgreSQL (REAL on SQLite) for a start near
                    # -2**63; a remainder of the column alone cannot (it keeps the sign of the column)
                    within = column.between(item.start, item.stop)
                    step = item.step
                    clauses.append(
                        within if step == 1 else sa.and_(within, (column % step + step) % step == item.start % step)
                    )
            elif isinstance(item, Bind):
                bound = self.bound(item)
                for one in bound if isinstance(bound, list) else [bound]:
                    if kind == "uuid":
                        one = self.as_uuid(item, one)
                        if isinstance(one, uuid.UUID):  # one IN list, however many (an OR chain nests)
                            ids.append(self.uuid_literal(one))
                            continue
                    # checked like literals: PostgreSQL refuses e.g. bigint = varchar
                    self.check_text(item, one)
                    self.check_int(item, one)
                    self.check_types(node, node.expr, kind, item, _kind_of(one))
                    self.check_types(node, item, _kind_of(one), node.expr, kind)
                    if _kind_of(one) == kind or kind == "float":
                        values.append(one)
                    else:  # a float among integers: compared as a float (in the list it would be cast to BIGINT)
                        clauses.append(column == sa.literal(one))
            else:
                sql, item_kind = self.operand(item, kind)
                self.check_types(node, node.expr, kind, item, item_kind)
                self.check_types(node, item, item_kind, node.expr, kind)
                clauses.append(column == sql)
        if values:
            clauses.append(column.in_(values))
        if ids:
            clauses.append(column.in_(ids))
        result = sa.or_(*clauses) if clauses else sa.false()
        return sa.not_(result) if node.negated else result

    def operands(self, left: Node, right: Node) -> tuple[tuple[Any, str | None], tuple[Any, str | None]]:
        """SQL and kind of both sides of a comparison; a string beside a dataset ID is read as one."""
        first = self.value(left)
        second = self.operand(right, first[1])
        if second[1] == "uuid" and first[1] != "uuid":
            first = self.operand(left, "uuid")
        return first, second

    def operand(self, node: Node, other_kind: str | None) -> tuple[Any, str | None]:
        """`value`, except that a string literal or bind compared with a dataset ID becomes a UUID."""
        if other_kind == "uuid" and isinstance(node, Literal | Bind):
            value = node.value if isinstance(node, Literal) else self.bound(node)
            if isinstance(value, str | uuid.UUID):
                return self.uuid_literal(self.as_uuid(node, value)), "uuid"
        return self.value(node)

    def uuid_literal(self, value: uuid.UUID) -> Any:
        """A dataset ID as the registry stores it: native on PostgreSQL, 32 hex digits on SQLite (whose driver
        takes no `uuid.UUID`, and query plans pass values to it as they are)."""
        return sa.literal(value, _UUID) if self.dialect == "postgresql" else sa.literal(value.hex)

    def as_uuid(self, node: Node, value: Any) -> Any:
        """A dataset ID from a `uuid.UUID` or its text; anything else is returned for the type check to name."""
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                raise self.error(node, f"{value!r} is not a dataset ID (a UUID: 32 hex digits).") from None
        return value

    def glob(self, node: Glob) -> Any:
        """``GLOB(column, pattern)`` as the reference has it: ``*`` any run of characters, ``?`` one character,
        a backslash escapes either (or itself); no character classes; case-sensitive.  One indexable SQL
        comparison: SQLite's own ``GLOB`` (case-sensitive; a constant prefix uses the index), PostgreSQL's
        ``LIKE`` (case-sensitive) with ``%`` and ``_`` escaped."""
        column, kind = self.value(node.expr)
        if kind != "string":
            raise self.error(node.expr, f"GLOB matches strings; {node.expr} is {_NAMES.get(kind, kind)}.")
        pattern = node.pattern
        value = (
            pattern.value
            if isinstance(pattern, Literal)
            else self.bound(pattern)
            if isinstance(pattern, Bind)
            else None
        )
        if not isinstance(value, str):
            raise self.error(pattern, f"The pattern of GLOB is a string ('A*') or a bind holding one; got {pattern}.")
        self.check_text(pattern, value)
        if self.dialect == "postgresql":
            return column.like(sa.literal(_glob_pattern(value, "like")), escape="\\")
        return column.op("GLOB", is_comparison=True)(sa.literal(_glob_pattern(value, "glob")))

    def check_types(self, node: Node, left: Node, lk: str | None, right: Node, rk: str | None) -> None:
        """Refuse a comparison of values of different kinds, before SQL: numbers compare with numbers,
        strings with strings, booleans with booleans (SQLite would compare anything, PostgreSQL refuses)."""
        if (lk == rk and lk in _COMPARABLE) or (rk in _NUMBERS and lk not in ("time", "uuid")):
            return  # a number on the right is reported by the caller's mirrored call, which names the number
        if "time" in (lk, rk):
            time_side = left if lk == "time" else right
            raise self.error(time_side, f"{time_side} is a time; use it with OVERLAPS (e.g. visit.timespan).")
        raise self.error(
            left if isinstance(left, Identifier) else node, f"{left} is {_NAMES[lk]}; {right} is {_NAMES[rk]}."
        )


def _literal(value: Any) -> Any:
    """A bound value; integers as BIGINT, whatever their size.

    SQLAlchemy types a small integer as INTEGER, and PostgreSQL then casts what it is compared with to INTEGER
    too: ``0 IN (-9223372036854775808..9223372036854775807)`` failed with "integer out of range".
    """
    return sa.literal(value, _BIGINT) if type(value) is int else sa.literal(value)


_UUID = sa.Uuid()
_GLOB_SPECIAL = {"glob": "*?[", "like": "%_\\"}


def _glob_pattern(pattern: str, target: str) -> str:
    r"""The reference's glob ``pattern`` as a SQLite ``GLOB`` or a ``LIKE`` (escape ``\\``) pattern.

    Examples
    --------
    >>> _glob_pattern("A*_[1]?", "like"), _glob_pattern("A*_[1]?", "glob")
    ('A%\\_[1]_', 'A*_[[]1]?')
    >>> _glob_pattern("a\\*b", "glob"), _glob_pattern("a\\*b", "like")
    ('a[*]b', 'a*b')
    """
    out: list[str] = []
    escaped = False
    for char in pattern:
        if not escaped and char == "\\":
            escaped = True
            continue
        if not escaped and char in "*?":
            out.append(({"*": "%", "?": "_"} if target == "like" else {"*": "*", "?": "?"})[char])
        elif char in _GLOB_SPECIAL[target]:  # a literal character the target language treats specially
            out.append(f"\\{char}" if target == "like" else f"[{char}]")
        else:
            out.append(char)
        escaped = False
    if escaped:  # a trailing backslash stands for itself
        out.append("\\\\" if target == "like" else "\\")
    return "".join(out)


def _is_time(value: Any) -> bool:
    """An astropy ``Time``, a `datetime.datetime` (pandas ``Timestamp`` included) or a `TaiInstant`."""
    return hasattr(value, "jd1") or isinstance(value, datetime.datetime | TaiInstant)


def _is_many(value: Any) -> bool:
    """A bind value holding several values: a list, tuple, set, range or NumPy array (not a string or a Time)."""
    if isinstance(value, str | bytes | Mapping) or _is_time(value):
        return False
    return isinstance(value, Iterable) and getattr(value, "ndim", 1) != 0


def _kind_of(value: Any) -> str | None:
    """The declared-type name of a Python value given through ``bind=`` (None when not one of ours)."""
    if isinstance(value, bool):
        return "bool"
    if _is_time(value):
        return "time"
    if isinstance(value, uuid.UUID):
        return "uuid"
    return {int: "int", float: "float", str: "string"}.get(type(value))


def compile_expression(
    text: str,
    node: Node,
    resolve: ColumnResolver,
    bind: Mapping[str, Any],
    dialect: str = "sqlite",
    exact: Mapping[int, Any] | None = None,
    estimate: Estimator | None = None,
) -> Any:
    """Compile a condition node of the expression ``text`` to a SQLAlchemy boolean expression.

    ``dialect`` (``sqlite`` or ``postgresql``) is the database it will run on: the SQL differs where the two
    would otherwise answer differently (string order).  ``exact`` gives the SQL of nodes decided before (the
    nested spatial terms), by ``id`` of the node.  ``estimate`` (SQLite) gives the share of rows a comparison
    of a dimension key with a constant keeps, for the planner (`_Compiler.likely`).
    """
    return _Compiler(text, resolve, bind, dialect, exact or {}, estimate).condition(node)


def suggest(name: str, pool: list[str]) -> str:
    """ "; did you mean ...?" with the closest names, or ""."""
    import difflib  # only for an error message: not on every command's start-up

    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
