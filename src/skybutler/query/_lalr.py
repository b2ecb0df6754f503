"""A small LALR(1) parser driven by tables lark built ahead of time (`skybutler.query._gen_parser`).

Importing lark and building the `where` parser cost a process's first query 40-90 ms (issue 26 part 4); loading
the tables (JSON) and compiling a state's lexer patterns when first needed costs about a millisecond. The trees
are the ones lark makes with ``propagate_positions=True, maybe_placeholders=False``: the same rule names, the
same children (anonymous and ``_`` terminals left out, ``_`` rules inlined, ``?`` rules with one child replaced
by it) and the same start positions, so `skybutler.query._parser` builds its AST from either. The tokens are read
by a contextual lexer, as lark's: in each parser state only the terminals that state accepts are tried.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["Meta", "Parser", "Token", "Tree", "UnexpectedCharactersError", "UnexpectedTokenError", "load"]

_SHIFT = 0


class Token(str):
    """A terminal: its text, its type (terminal name) and where it starts."""

    type: str
    value: str
    start_pos: int

    def __new__(cls, type_: str, value: str, start_pos: int) -> Token:
        token = super().__new__(cls, value)
        token.type, token.value, token.start_pos = type_, value, start_pos
        return token


class Meta:
    """Where a tree starts (None: it holds no token), and where its container (parentheses included) does."""

    __slots__ = ("container_start_pos", "start_pos")

    def __init__(self) -> None:
        self.start_pos: int | None = None
        self.container_start_pos: int | None = None


class Tree:
    """A rule's node: ``data`` is the rule's name (or alias), ``children`` its kept trees and tokens."""

    __slots__ = ("children", "data", "meta")

    def __init__(self, data: str, children: list[Any]) -> None:
        self.data = data
        self.children = children
        self.meta = Meta()

    def __repr__(self) -> str:
        return f"Tree({self.data!r}, {self.children!r})"


class UnexpectedCharactersError(Exception):
    """No terminal matches the text at ``pos_in_stream``."""

    def __init__(self, pos: int) -> None:
        super().__init__(f"no terminal matches at {pos}")
        self.pos_in_stream = pos


class UnexpectedTokenError(Exception):
    """``token`` is not allowed where it stands (type ``$END``: the text ends too early)."""

    def __init__(self, token: Token) -> None:
        super().__init__(f"unexpected {token.type} {token.value!r} at {token.start_pos}")
        self.token = token


class _Lexer:
    """One state's terminals: alternations tried in order, the first match wins (as lark's scanner)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.patterns = [re.compile(p, flags) for p, flags in spec["patterns"]]
        self.unless = {name: [re.compile(p, f) for p, f in alts] for name, alts in spec["unless"].items()}

    def match(self, text: str, pos: int) -> tuple[str, str] | None:
        for pattern in self.patterns:
            m = pattern.match(text, pos)
            if m:
                kind = m.lastgroup
                assert kind is not None
                for alternative in self.unless.get(kind, ()):  # a keyword-like string the pattern also matches
                    exact = alternative.fullmatch(m.group(0))
                    if exact and exact.lastgroup:
                        kind = exact.lastgroup
                        break
                return m.group(0), kind
        return None


class Parser:
    """The parser of one set of tables (see `skybutler.query._gen_parser.build_tables`)."""

    def __init__(self, tables: dict[str, Any]) -> None:
        self.grammar_sha256: str = tables["grammar_sha256"]
        self._states: list[dict[str, list[int]]] = tables["states"]
        self._rules: list[list[Any]] = tables["rules"]
        self._start: int = tables["start_state"]
        self._end: int = tables["end_state"]
        self._ignore = frozenset(tables["ignore"])
        self._lexer_specs: list[dict[str, Any]] = tables["lexers"]
        self._lexer_of_state: list[int] = tables["lexer_of_state"]
        self._root: int = tables["root_lexer"]
        self._lexers: dict[int, _Lexer] = {}

    def _lexer(self, index: int) -> _Lexer:
        lexer = self._lexers.get(index)
        if lexer is None:  # compiled when a state first needs it: most queries visit few of them
            lexer = self._lexers[index] = _Lexer(self._lexer_specs[index])
        return lexer

    def _next_token(self, text: str, pos: int, state: int) -> tuple[Token | None, int]:
        """The next token from ``pos`` for parser ``state`` (None at the end), and the position after it."""
        lexer = self._lexer(self._lexer_of_state[state])
        while pos < len(text):
            found = lexer.match(text, pos)
            if found is None:
                # As lark: if a terminal of the whole grammar stands here, it is an unexpected token, not a character.
                anywhere = self._lexer(self._root).match(text, pos)
                if anywhere is None:
                    raise UnexpectedCharactersError(pos)
                raise UnexpectedTokenError(Token(anywhere[1], anywhere[0], pos))
            value, kind = found
            if kind in self._ignore:
                pos += len(value)
                continue
            return Token(kind, value, pos), pos + len(value)
        return None, pos

    def parse(self, text: str) -> Any:
        """The tree of ``text``; `UnexpectedCharactersError` or `UnexpectedTokenError` where it is not valid."""
        stack = [self._start]
        values: list[Any] = []
        pos = 0
        while True:
            token, pos = self._next_token(text, pos, stack[-1])
            if token is None:
                end = Token("$END", "", len(text))
                result = self._feed(end, stack, values)
                assert result is not None
                return result
            self._feed(token, stack, values)

    def _feed(self, token: Token, stack: list[int], values: list[Any]) -> Any:
        """Shift ``token`` after the reductions it calls for; at ``$END``, return the finished tree."""
        states, rules, is_end = self._states, self._rules, token.type == "$END"
        while True:
            action = states[stack[-1]].get(token.type)
            if action is None:
                raise UnexpectedTokenError(token)
            if action[0] == _SHIFT:
                stack.append(action[1])
                values.append(token)
                return None
            origin, size, name, expand1, include = rules[action[1]]
            children = values[len(values) - size :] if size else []
            if size:
                del values[-size:]
                del stack[-size:]
            values.append(_reduce(children, name, expand1, include))
            stack.append(states[stack[-1]][origin][1])
            if is_end and stack[-1] == self._end:
                return values[-1]


def _reduce(children: list[Any], name: str, expand1: bool, include: list[list[int]]) -> Any:
    """A rule's node from its matched ``children``: filtered, inlined and positioned as lark does."""
    kept: list[Any] = []
    for i, inline in include:
        if inline:
            kept += children[i].children
        else:
            kept.append(children[i])
    node = kept[0] if expand1 and len(kept) == 1 else Tree(name, kept)
    if isinstance(node, Tree):
        first = _first_position(children)
        if first is not None:
            if node.meta.start_pos is None:
                node.meta.start_pos = first
            node.meta.container_start_pos = first
    return node


def _first_position(children: list[Any]) -> int | None:
    for child in children:
        if isinstance(child, Token):
            return child.start_pos
        meta = child.meta
        if meta.start_pos is not None:
            container: int | None = meta.container_start_pos
            return container if container is not None else meta.start_pos
    return None


@cache
def load() -> Parser:
    """The parser of ``where.lark`` from ``where_tables.json`` (``python -m skybutler.query._gen_parser`` makes it)."""
    text = resources.files("skybutler.query").joinpath("where_tables.json").read_text()
    return Parser(json.loads(text))
