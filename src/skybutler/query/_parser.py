"""Parse `where` strings into the AST; every failure is a `QuerySyntaxError` with a caret under the fault."""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

from skybutler.dimensions import to_tai_ns
from skybutler.errors import DataIdError, QuerySyntaxError
from skybutler.query import _parse_cache
from skybutler.query._ast import (
    And,
    Arith,
    Bind,
    Call,
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

__all__ = ["MAX_DEPTH", "int_literals", "integers", "parse_where", "sql_depth", "syntax_error", "with_int_literals"]

MAX_LENGTH = 100_000
MAX_DEPTH = 400
"""The deepest expression accepted, as SQL nests it (see `sql_depth`).  SQLite refuses a statement whose
expression tree is more than 1000 deep; the rest of the query's conditions need room too."""


@cache
def _parser() -> Any:
    """The LALR parser of ``where.lark``, from the per-user cache when it is there.

    Building the parse tables takes about 0.3 s, more than the rest of a command-line query; lark can save a
    built parser (a pickle) and load it in a few milliseconds.  The file is named after the grammar, lark and
    Python versions, lives in a folder only this user can write (a pickle from a shared folder could run
    someone else's code), and is written under a temporary name then renamed, so readers never see half a file.
    """
    import lark

    grammar = resources.files("skybutler.query").joinpath("where.lark").read_text()
    cached = _cache_file(grammar, lark.__version__)
    if cached is not None and cached.exists():
        try:
            with cached.open("rb") as stream:
                return lark.Lark.load(stream)
        except Exception:  # stale or damaged: build it again, and replace the file
            pass
    parser = lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)
    if cached is not None:
        partial = cached.with_name(f".{cached.name}.{os.getpid()}")
        try:
            with partial.open("wb") as stream:
                parser.save(stream)
            partial.replace(cached)
        except OSError:
            partial.unlink(missing_ok=True)
    return parser


def _cache_file(grammar: str, lark_version: str) -> Path | None:
    """Where to keep the built parser: in the per-user cache folder (`_parse_cache.cache_folder`), if usable."""
    folder = _parse_cache.cache_folder()
    if folder is None:
        return None
    key = hashlib.sha256(f"{grammar}\0{lark_version}\0{sys.version}".encode()).hexdigest()[:20]
    return folder / f"where-parser-{key}.pickle"


def syntax_error(text: str, pos: int, message: str) -> QuerySyntaxError:
    """A `QuerySyntaxError` quoting ``text`` with a caret under column ``pos``."""
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    caret = " " * (pos - line_start) + "^"
    error = QuerySyntaxError(f"{message}\n  {line}\n  {caret}")
    error.position = pos  # type: ignore[attr-defined]
    return error


# Tokens that may hold digits but are not integer literals (times, strings, ranges, floats, names), else an integer:
# the same precedence as the grammar's terminals, so the integers found are the INT tokens lark would see.
_SCAN = re.compile(
    r"""(?:[Tt]'[^']*'|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+\.\.-?\d+(?::\d+)?|\d+\.\d+(?:[eE][-+]?\d+)?"""
    r"""|\d+[eE][-+]?\d+|[A-Za-z_][A-Za-z0-9_]*)|(?P<int>\d+)"""
)
_TEMPLATES: dict[str, tuple[Node, list[tuple[int, int]], list[int]]] = {}
_MAX_TEMPLATES = 1000


def _integers(text: str) -> tuple[str, list[tuple[int, int]], list[int]]:
    """The text with each integer literal replaced by NUL, the literals' spans and their values."""
    spans = [m.span("int") for m in _SCAN.finditer(text) if m.group("int") is not None]
    values = [int(text[a:b]) for a, b in spans]
    parts, last = [], 0
    for a, b in spans:
        parts += [text[last:a], "\x00"]
        last = b
    parts.append(text[last:])
    return "".join(parts), spans, values


def integers(text: str) -> tuple[str, list[int]]:
    """The text with each integer literal replaced by NUL (a query *template*), and the literals' values."""
    template, _, values = _integers(text)
    return template, values


def int_literals(node: Any) -> list[int]:
    """The integer literals of an AST in source order (what `integers` finds, when the tree is "clean")."""
    return [] if node is None else _int_literals(node)


def with_int_literals(node: Any, values: list[Any]) -> Any:
    """A copy of ``node`` whose integer literals are ``values``, in source order."""
    return None if node is None else _substitute(node, iter(values), lambda pos: pos)


def _int_literals(node: Any) -> list[int]:
    """The integer literals of an AST in source order (children are stored in source order)."""
    if isinstance(node, Literal):
        return [node.value] if isinstance(node.value, int) and not isinstance(node.value, bool) else []
    out: list[int] = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        for child in value if isinstance(value, tuple) else (value,):
            if dataclasses.is_dataclass(child):
                out += _int_literals(child)
    return out


def _substitute(node: Any, values: Iterator[int], shift: Callable[[int], int]) -> Any:
    """A copy of ``node`` with its integer literals taken from ``values`` and its positions moved by ``shift``."""
    if isinstance(node, Literal):
        return Literal(next(values)) if isinstance(node.value, int) and not isinstance(node.value, bool) else node
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if f.name == "pos":
            changes["pos"] = shift(value)
        elif isinstance(value, tuple):
            changes[f.name] = tuple(_substitute(v, values, shift) if dataclasses.is_dataclass(v) else v for v in value)
        elif dataclasses.is_dataclass(value):
            changes[f.name] = _substitute(value, values, shift)
    return dataclasses.replace(node, **changes) if changes else node


def parse_where(text: str) -> Node | None:
    """Parse a `where` expression, reusing the parse of an earlier one that differs only in integer literals.

    Programs issue the same expression with different numbers (``visit > 17``, ``visit > 18``): the text with its
    integers blanked out keys a cache of parsed trees, and a hit copies the tree with the new integers (and
    error positions moved to match).  A tree is cached only when its integer literals are exactly the integers
    found in the text, in order.  The command line also keeps these trees on disk (`_parse_cache`), so a
    repeated command needs no lark.
    """
    if not isinstance(cast(object, text), str) or "\x00" in text:
        return _parse_where(text)  # refused there with the reason
    template, spans, values = _integers(text)
    cached = _TEMPLATES.get(template)
    if cached is None and _parse_cache.enabled():
        cached = _parse_cache.load(template)
        if cached is not None:
            _TEMPLATES[template] = cached
    if cached is not None:
        tree, old_spans, _ = cached
        starts = [a for a, _ in old_spans]
        deltas = [0]
        for (a, b), (c, d) in zip(old_spans, spans, strict=True):
            deltas.append(deltas[-1] + (d - c) - (b - a))

        def shift(pos: int) -> int:
            return pos + deltas[bisect.bisect_right(starts, pos)]

        return _substitute(tree, iter(values), shift)  # type: ignore[no-any-return]
    parsed = _parse_where(text)
    if parsed is not None and _int_literals(parsed) == values:  # (no integers: the text itself is the key)
        if len(_TEMPLATES) >= _MAX_TEMPLATES:
            _TEMPLATES.pop(next(iter(_TEMPLATES)))
        _TEMPLATES[template] = (parsed, spans, values)
        if _parse_cache.enabled():
            _parse_cache.save(template, (parsed, spans, values))
    return parsed


def _parse_where(text: str) -> Node | None:
    """Parse a `where` expression; an empty string means no constraint (``None``).

    Raises
    ------
    QuerySyntaxError
        The text is not a valid expression; the message shows where, with a caret.

    Examples
    --------
    >>> str(parse_where("visit > 5 AND detector IN (1..3)"))
    '(visit > 5) AND (detector IN (1..3))'
    """
    if not isinstance(text, str):
        raise QuerySyntaxError(f"A where expression must be a string, not {type(text).__name__}.")
    if not text.strip():
        return None
    if len(text) > MAX_LENGTH:
        raise QuerySyntaxError(f"The where expression is {len(text)} characters long; at most {MAX_LENGTH}.")
    import lark

    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedCharacters as exc:
        pos: int = getattr(exc, "pos_in_stream", None) or 0
        raise syntax_error(text, pos, f"Unexpected character {text[pos]!r}.") from None
    except lark.exceptions.UnexpectedToken as exc:
        token = exc.token
        if token.type == "$END":
            raise syntax_error(text, len(text), "The expression ends too early.") from None
        pos = token.start_pos if token.start_pos is not None else 0
        raise syntax_error(text, pos, f"Unexpected {token.value!r}.") from None
    except lark.exceptions.UnexpectedEOF:
        raise syntax_error(text, len(text), "The expression ends too early.") from None
    except lark.exceptions.LarkError as exc:  # anything else lark can raise
        raise QuerySyntaxError(f"Cannot parse {text!r}: {exc}") from None
    except RecursionError:
        raise QuerySyntaxError("The where expression is nested too deeply.") from None
    try:
        node = _build(tree, text)
        depth = sql_depth(node)
    except RecursionError:
        raise QuerySyntaxError("The where expression is nested too deeply.") from None
    if depth > MAX_DEPTH:
        raise QuerySyntaxError(
            f"The where expression is too large: it nests {depth} operations deep, at most {MAX_DEPTH} (each "
            "operand of a chain of AND or OR, and each item of IN (...) but a range or bind, counts one). "
            "Put lists of values in IN (...) with a range (1..500) or a bind (IN (:values)), or split the query."
        )
    return node


def sql_depth(node: Node) -> int:
    """How deep the SQL of ``node`` nests: ``a AND b AND c`` is a chain of two operators over its operands.

    The same measure on every back-end, so that an expression is accepted or refused alike on SQLite (which
    has a hard limit) and PostgreSQL; an upper bound of what the compiler produces.
    """
    if isinstance(node, And | Or):
        return len(node.items) - 1 + max(sql_depth(i) for i in node.items)
    if isinstance(node, In):
        listed = sum(1 for i in node.items if not isinstance(i, Range | Bind))
        return 1 + listed + max([sql_depth(node.expr), *(sql_depth(i) for i in node.items)])
    if isinstance(node, Not | Neg):
        return 1 + sql_depth(node.operand)
    if isinstance(node, Compare | Arith | Overlaps):
        return 2 + max(sql_depth(node.left), sql_depth(node.right))
    if isinstance(node, Pair):
        return 1 + max(sql_depth(node.begin), sql_depth(node.end))
    if isinstance(node, Call):  # evaluated in Python, never nested in SQL; its arguments are
        return 1 + max(sql_depth(a) for a in node.args)
    return 1


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _unescape(body: str) -> str:
    """The value of a string literal's body: ``\\\\ \\' \\" \\n \\t \\r`` are escapes, any other backslash stays.

    (Not `ast.literal_eval`: it raises ``SyntaxError`` on ``'\\x'`` or a NUL and warns on ``'\\d'``.)
    """
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)


def _build(node: Any, text: str) -> Node:
    import lark

    if isinstance(node, lark.Token):
        raise syntax_error(text, node.start_pos or 0, f"Unexpected {node.value!r}.")
    kind = node.data
    kids = node.children
    if kind in ("or_", "and_"):
        items = tuple(_build(k, text) for k in kids)
        if len(items) == 1:
            return items[0]
        return Or(items) if kind == "or_" else And(items)
    if kind == "not_":
        return Not(_build(kids[0], text))
    if kind == "compare":
        op = "!=" if str(kids[1]) == "<>" else str(kids[1])
        return Compare(op, _build(kids[0], text), _build(kids[2], text))
    if kind in ("in_", "not_in"):
        items = tuple(_build(k, text) for k in kids[1].children)
        return In(_build(kids[0], text), items, negated=kind == "not_in")
    if kind == "overlaps":
        return Overlaps(_build(kids[0], text), _build(kids[1], text))
    if kind == "arith":
        result = _build(kids[0], text)
        for i in range(1, len(kids), 2):
            result = Arith(str(kids[i]), result, _build(kids[i + 1], text))
        return result
    if kind == "neg":
        inner = _build(kids[0], text)
        if isinstance(inner, Literal) and isinstance(inner.value, int | float) and not isinstance(inner.value, bool):
            return Literal(-inner.value)
        return Neg(inner)
    if kind == "pair":
        return Pair(_build(kids[0], text), _build(kids[1], text))
    if kind == "range":
        bounds, _, step_text = str(kids[0]).partition(":")
        first, _, last = bounds.partition("..")
        start, stop, step = int(first), int(last), int(step_text or 1)
        if step <= 0:
            raise syntax_error(text, node.meta.start_pos, "A range step must be positive.")
        if stop < start:
            raise syntax_error(text, node.meta.start_pos, f"The range {start}..{stop} is empty (stop < start).")
        return Range(start, stop, step)
    if kind == "identifier":
        parts = [str(k) for k in kids]
        return Identifier(parts[0], parts[1] if len(parts) > 1 else None, node.meta.start_pos)
    if kind == "bind":
        return Bind(str(kids[0]), node.meta.start_pos)
    if kind == "region_call":
        return Call(str(kids[0]).upper(), tuple(_build(k, text) for k in kids[1:]), node.meta.start_pos)
    if kind == "string":
        return Literal(_unescape(str(kids[0])[1:-1]))
    if kind == "number":
        raw = str(kids[0])
        return Literal(float(raw) if any(c in raw for c in ".eE") else int(raw))
    if kind == "true":
        return Literal(True)
    if kind == "false":
        return Literal(False)
    if kind == "time":
        raw = str(kids[0])[2:-1]
        try:
            return TimeLiteral(to_tai_ns(raw), raw)
        except (DataIdError, ValueError, OverflowError) as exc:  # e.g. year 1 with a +01:00 offset overflows
            raise syntax_error(text, node.meta.start_pos, f"Invalid time literal: {exc}") from None
    raise syntax_error(text, getattr(node.meta, "start_pos", 0), f"Unsupported construct {kind!r}.")
