"""Nothing outside ``skybutler/butler/`` reaches into a butler's private parts.

The rule, checked on the syntax tree of every module under ``src/skybutler`` outside ``butler/``:

1. no access ``X._name`` (one leading underscore; dunders are Python's) where ``X`` is a butler: a name or
   attribute whose identifier contains "butler" (``butler``, ``self._butler``, ``source_butler``), or a
   parameter or variable annotated with a type whose name contains "Butler";
2. no import of a private module of the folder (``skybutler.butler._anything``): what other layers may use is
   exported by ``skybutler.butler``.

Private attributes are where an implementation keeps its caches and helpers; code that reaches into them breaks
when the implementation changes (or is a remote client that has none), which is what issue 18 found in
``transfer/_import.py`` and the collection helpers.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parent.parent.parent / "src" / "skybutler"


def _names_typed_butler(tree: ast.AST) -> set[str]:
    """Parameters and variables annotated with a Butler type (``butler: DirectButler``, ``b: Butler | None``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None and "Butler" in ast.unparse(node.annotation):
            found.add(node.arg)
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and "Butler" in ast.unparse(node.annotation)
        ):
            found.add(node.target.id)
    return found


def _is_butler(node: ast.expr, typed: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return "butler" in node.id.lower() or node.id in typed
    if isinstance(node, ast.Attribute):
        return "butler" in node.attr.lower()
    return False


def violations(path: Path) -> list[str]:
    """Every breach of the module docstring's rule in one source file, as ``path:line: text``."""
    tree = ast.parse(path.read_text(), str(path))
    typed = _names_typed_butler(tree)
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and _is_butler(node.value, typed)
        ):
            out.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            out += [f"{path}:{node.lineno}: import {m}" for m in modules if m.startswith("skybutler.butler._")]
        elif isinstance(node, ast.Import):
            out += [
                f"{path}:{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("skybutler.butler._")
            ]
    return out


def test_no_module_outside_the_butler_folder_touches_private_butler_parts() -> None:
    outside = [p for p in sorted(SRC.rglob("*.py")) if "butler" not in p.relative_to(SRC).parts[:1]]
    assert len(outside) > 100
    found = [v for p in outside for v in violations(p)]
    assert found == [], "use the public interface (or export what is needed from skybutler.butler):\n" + "\n".join(
        found
    )


def test_the_rule_catches_what_it_is_meant_to(tmp_path: Path) -> None:
    """The checker itself: each forbidden form is found, and look-alikes that are allowed are not."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from skybutler.butler._repository import read_config\n"
        "def f(butler, b: 'DirectButler', other, registry):\n"
        "    butler._data_id(1)\n"
        "    b._stored('x')\n"
        "    self._butler._forget_search_paths()\n"
        "    other._private()\n"  # not a butler: allowed
        "    registry._paths.clear()\n"  # a registry's own business, not the butler's
        "    butler.__class__\n"  # dunder: allowed
        "    butler.registry.collections.search_path(['a'])\n"  # public: allowed
    )
    found = [v.split(": ", 1)[1] for v in violations(sample)]
    assert sorted(found) == sorted(
        [
            "import skybutler.butler._repository",
            "import skybutler.butler._repository.read_config",
            "butler._data_id",
            "b._stored",
            "self._butler._forget_search_paths",
        ]
    )
