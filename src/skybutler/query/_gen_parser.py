"""Build the `where` parser's tables from ``where.lark`` ahead of time: ``python -m skybutler.query._gen_parser``.

lark builds an LALR parser from the grammar in 70-90 ms and importing lark itself costs 20-60 ms (with and without
bytecode): too much for the first query of a process (issue 26 part 4). This script asks lark, once, for what
its parser is made of (the parse table, the rules' tree-shaping options, the contextual lexer's patterns per
state) and writes them to ``where_tables.json`` beside the grammar; `skybutler.query._lalr` parses with them
without lark. Run it after every change to ``where.lark``: tests/query/test_where_tables.py fails while the
tables are stale (they record the grammar's digest) and checks that both parsers give the same trees.
"""

from __future__ import annotations

import hashlib
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["COMMAND", "TABLES", "build_tables", "grammar_digest", "main"]

COMMAND = "python -m skybutler.query._gen_parser"
TABLES = "where_tables.json"


def grammar_digest(grammar: str) -> str:
    """The digest the tables record of the grammar they were built from."""
    return hashlib.sha256(grammar.encode()).hexdigest()


def lark_parser(grammar: str) -> Any:
    """lark's own parser of ``grammar``, with the options skybutler parses with."""
    import lark

    return lark.Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _lexer_spec(lexer: Any) -> dict[str, Any]:
    """One lexer: its alternation patterns (tried in order, first match wins), flags and type-changing callbacks."""
    scanner = lexer.scanner  # built on first use
    unless = {}
    for name, callback in lexer.callback.items():
        if type(callback).__name__ != "UnlessCallback":
            raise ValueError(f"lexer callback {callback!r} of {name} is not one the runtime knows")
        unless[name] = [[m.pattern, m.flags] for m in callback.scanner._mres]
    return {"patterns": [[m.pattern, m.flags] for m in scanner._mres], "unless": unless}


def build_tables(grammar: str) -> dict[str, Any]:
    """The tables of ``grammar``'s parser, as plain JSON data (see `skybutler.query._lalr` for their use)."""
    from lark.parsers.lalr_analysis import Shift

    parser = lark_parser(grammar)
    frontend = parser.parser
    table = frontend.parser.parser.parse_table
    rules: list[Any] = []
    rule_index: dict[Any, int] = {}

    def index_of(rule: Any) -> int:
        if rule not in rule_index:
            rule_index[rule] = len(rules)
            keep_all = bool(rule.options.keep_all_tokens)
            include = [
                [i, int(not sym.is_term and sym.name.startswith("_"))]
                for i, sym in enumerate(rule.expansion)
                if keep_all or not (sym.is_term and sym.filter_out)
            ]
            expand1 = bool(rule.options.expand1 and not rule.alias)
            rules.append([rule.origin.name, len(rule.expansion), rule.alias or rule.origin.name, expand1, include])
        return rule_index[rule]

    if sorted(table.states) != list(range(len(table.states))):
        raise ValueError("parser states are not numbered 0..n-1")
    states = []
    for number in range(len(table.states)):
        actions = {}
        for symbol, (action, arg) in sorted(table.states[number].items()):
            actions[symbol] = [0, arg] if action is Shift else [1, index_of(arg)]
        states.append(actions)
    lexers: list[dict[str, Any]] = []
    lexer_index: dict[int, int] = {}
    by_state = []
    contextual = frontend.lexer
    for number in range(len(table.states)):
        lexer = contextual.lexers[number]
        if id(lexer) not in lexer_index:
            lexer_index[id(lexer)] = len(lexers)
            lexers.append(_lexer_spec(lexer))
        by_state.append(lexer_index[id(lexer)])
    root = len(lexers)
    lexers.append(_lexer_spec(contextual.root_lexer))
    import lark

    return {
        "grammar_sha256": grammar_digest(grammar),
        "generated_by": f"{COMMAND} (lark {lark.__version__})",
        "start_state": table.start_states["start"],
        "end_state": table.end_states["start"],
        "ignore": sorted(contextual.root_lexer.ignore_types),
        "states": states,
        "rules": rules,
        "lexers": lexers,
        "lexer_of_state": by_state,
        "root_lexer": root,
    }


def render(tables: dict[str, Any]) -> str:
    """The file's text: one state, rule or lexer per line, so a grammar change shows as a readable diff."""
    lines = ["{"]
    for key, value in tables.items():
        if isinstance(value, list) and value and isinstance(value[0], dict | list):
            lines.append(f"{json.dumps(key)}: [")
            lines += [json.dumps(item, sort_keys=True) + "," for item in value[:-1]]
            lines += [json.dumps(value[-1], sort_keys=True), "],"]
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value)},")
    lines[-1] = lines[-1].rstrip(",")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Regenerate ``where_tables.json`` from ``where.lark`` (in the source tree this module was imported from)."""
    folder = Path(str(resources.files("skybutler.query")))
    grammar = (folder / "where.lark").read_text()
    (folder / TABLES).write_text(render(build_tables(grammar)))
    print(f"wrote {folder / TABLES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
