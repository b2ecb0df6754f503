"""Compile `where` AST nodes to SQLAlchemy expressions; every value becomes a bound parameter."""

from __future__ import annotations

import datetime
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from skybutler.dimensions import to_tai_ns
from skybutler.dimensions._elements import INT64_MAX, INT64_MIN
from skybutler.query._ast import (
    And,
    Arith,
    Bind,
    Compare,
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
)
from skybutler.query._parser import syntax_error

__all__ = ["ColumnResolver", "compile_expression"]

#: ``identifier → (SQL column, declared type)``; ``"timespan"`` identifiers resolve to a (begin, end) pair.
ColumnResolver = Callable[[Identifier], tuple[Any, str]]

_PY_TYPES = {"int": (int,), "float": (int, float), "string": (str,), "bool": (bool,)}
_MAX_EXPANDED_RANGE = 10_000
_NAMES = {"int": "an integer", "float": "a number", "string": "a string", "bool": "a boolean"}


class _Compiler:
    def __init__(self, text: str, resolve: ColumnResolver, bind: Mapping[str, Any]) -> None:
        self.text = text
        self.resolve = resolve
        self.bind = bind

    def error(self, node: Node, message: str) -> Exception:
        return syntax_error(self.text, getattr(node, "pos", 0), message)

    # -- values ---------------------------------------------------------------------------------------------
    def value(self, node: Node) -> tuple[Any, str | None]:
        """SQL for a value-producing node, with its type when known (``int``, ``string``, ``timespan`` ...)."""
        if isinstance(node, Identifier):
            column, kind = self.resolve(node)
            if kind == "timespan":  # a (begin, end) pair: only OVERLAPS takes it (see `timespan`)
                raise self.error(node, f"{node} is a timespan; use it with OVERLAPS (a time or a (begin, end) pair).")
            return column, kind
        if isinstance(node, Literal):
            self.check_text(node, node.value)
            self.check_int(node, node.value)
            literal_kind = "bool" if isinstance(node.value, bool) else type(node.value).__name__
            return sa.literal(node.value), literal_kind.replace("str", "string")
        if isinstance(node, TimeLiteral):
            return sa.literal(node.tai_ns), "time"
        if isinstance(node, Bind):
            value = self.bound(node)
            if isinstance(value, list):
                raise self.error(node, f"Bind parameter :{node.name} holds several values; use it inside IN (...).")
            if _is_time(value):
                return sa.literal(to_tai_ns(value)), "time"
            self.check_text(node, value)
            self.check_int(node, value)
            return sa.literal(value), _kind_of(value)
        if isinstance(node, Neg):
            inner, inner_kind = self.value(node.operand)
            return -inner, inner_kind
        if isinstance(node, Arith):
            left, lk = self.value(node.left)
            right, rk = self.value(node.right)
            for side, side_kind in ((node.left, lk), (node.right, rk)):
                if side_kind in ("string", "bool", "timespan"):
                    raise self.error(side, f"Arithmetic needs numbers; {side} is a {side_kind}.")
            ops: dict[str, Callable[[Any, Any], Any]] = {
                "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
                "/": lambda a, b: a / sa.func.nullif(b, 0), "%": lambda a, b: a % sa.func.nullif(b, 0),
            }  # fmt: skip
            return ops[node.op](left, right), "float" if "float" in (lk, rk) else lk or rk
        if isinstance(node, Pair):
            raise self.error(node, f"{node} is a timespan; use it with OVERLAPS.")
        raise self.error(node, f"{node} is a condition, not a value.")

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
        if _is_many(value):
            return [self.plain(node, one) for one in value]
        return self.plain(node, value)

    def plain(self, node: Bind, value: Any) -> Any:
        """One bind value as a type the SQL drivers all take the same way (see `bound`)."""
        if value is None or type(value) in (int, float, str, bool, bytes) or _is_time(value):
            return value
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            return bool(value)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        if isinstance(value, str):
            return str(value)
        raise self.error(
            node,
            f"Bind parameter :{node.name} is {value!r} ({type(value).__name__}); give a number, a string, a "
            "boolean, a datetime (UTC) or astropy Time, or a list of those for IN (...).",
        )

    def timespan(self, node: Node) -> tuple[Any, Any]:
        """(begin, end) SQL of a timespan-like node: a timespan field, a time, or a ``(begin, end)`` pair."""
        if isinstance(node, Pair):
            return self.instant(node.begin), self.instant(node.end)
        if isinstance(node, Identifier):
            column, kind = self.resolve(node)
            if kind == "timespan":
                return column  # type: ignore[no-any-return]
            raise self.error(node, f"{node} is not a timespan; use e.g. {node.element}.timespan.")
        instant = self.instant(node)
        return instant, instant + 1

    def instant(self, node: Node) -> Any:
        """SQL of a time: a time literal or bind, or an integer (TAI ns); anything else would reach SQL as a
        comparison of the stored integers with e.g. a string (an error on PostgreSQL, no match on SQLite)."""
        instant, instant_kind = self.value(node)
        if instant_kind in ("time", None, "int"):
            return instant
        raise self.error(node, f"{node} is not a time; use T'...' or bind a datetime (UTC) or astropy Time.")

    # -- conditions -----------------------------------------------------------------------------------------
    def condition(self, node: Node) -> Any:
        if isinstance(node, And):
            return sa.and_(*(self.condition(i) for i in node.items))
        if isinstance(node, Or):
            return sa.or_(*(self.condition(i) for i in node.items))
        if isinstance(node, Not):
            return sa.not_(self.condition(node.operand))
        if isinstance(node, Compare):
            left, lk = self.value(node.left)
            right, rk = self.value(node.right)
            self.check_types(node, node.left, lk, node.right, rk)
            self.check_types(node, node.right, rk, node.left, lk)
            return {
                "=": lambda: left == right, "!=": lambda: left != right, "<": lambda: left < right,
                "<=": lambda: left <= right, ">": lambda: left > right, ">=": lambda: left >= right,
            }[node.op]()  # fmt: skip
        if isinstance(node, In):
            return self.in_(node)
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

    def in_(self, node: In) -> Any:
        column, kind = self.value(node.expr)
        values: list[Any] = []
        clauses = []
        for item in node.items:
            if isinstance(item, Range):
                if kind not in (None, "int"):
                    raise self.error(node.expr, f"A range needs integers; {node.expr} is a {kind}.")
                self.check_int(item, item.start)
                self.check_int(item, item.stop)
                if (item.stop - item.start) // item.step < _MAX_EXPANDED_RANGE:  # len() overflows on huge ranges
                    values.extend(item.values())
                else:
                    clauses.append(
                        sa.and_(column.between(item.start, item.stop), (column - item.start) % item.step == 0)
                    )
            elif isinstance(item, Bind):
                bound = self.bound(item)
                many = bound if isinstance(bound, list) else [bound]
                for one in many:  # checked like literals: PostgreSQL refuses e.g. bigint = varchar
                    self.check_text(item, one)
                    self.check_int(item, one)
                    self.check_types(node, node.expr, kind, item, _kind_of(one))
                    self.check_types(node, item, _kind_of(one), node.expr, kind)
                values.extend(many)
            else:
                sql, item_kind = self.value(item)
                self.check_types(node, node.expr, kind, item, item_kind)
                self.check_types(node, item, item_kind, node.expr, kind)
                clauses.append(column == sql)
        if values:
            clauses.append(column.in_(values))
        result = sa.or_(*clauses) if clauses else sa.false()
        return sa.not_(result) if node.negated else result

    def check_types(self, node: Node, left: Node, lk: str | None, right: Node, rk: str | None) -> None:
        if (
            lk in _PY_TYPES
            and rk in _PY_TYPES
            and rk not in ("int", "float", lk)
            and not (lk == "float" and rk == "int")
        ):
            raise self.error(
                left if isinstance(left, Identifier) else node, f"{left} is {_NAMES[lk]}; {right} is {_NAMES[rk]}."
            )
        if lk in ("int", "float") and rk == "string":
            raise self.error(
                left if isinstance(left, Identifier) else node, f"{left} is a number; {right} is a string."
            )


def _is_time(value: Any) -> bool:
    """An astropy ``Time`` or a `datetime.datetime` (pandas ``Timestamp`` included)."""
    return hasattr(value, "jd1") or isinstance(value, datetime.datetime)


def _is_many(value: Any) -> bool:
    """A bind value holding several values: a list, tuple, set, range or NumPy array (not a string or a Time)."""
    if isinstance(value, str | bytes | Mapping) or _is_time(value):
        return False
    return isinstance(value, Iterable) and getattr(value, "ndim", 1) != 0


def _kind_of(value: Any) -> str | None:
    """The declared-type name of a Python value given through ``bind=`` (None when not one of ours)."""
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "string"}.get(type(value))


def compile_expression(text: str, node: Node, resolve: ColumnResolver, bind: Mapping[str, Any]) -> Any:
    """Compile a condition node of the expression ``text`` to a SQLAlchemy boolean expression."""
    return _Compiler(text, resolve, bind).condition(node)


def suggest(name: str, pool: list[str]) -> str:
    """ "; did you mean ...?" with the closest names, or ""."""
    import difflib  # only for an error message: not on every command's start-up

    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
