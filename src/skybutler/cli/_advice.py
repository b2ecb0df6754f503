"""Error advice for the command line: the library's messages name Python calls; a shell user needs commands.

A message such as ``... Register it with register_dataset_type().`` is right for a Python caller and useless
at the prompt.  `for_the_command_line` rewrites such advice: keyword arguments the running command has as
options become those options (``skip_existing=True`` → ``--skip-existing``), and Python calls with a
command of their own become that command.
"""

from __future__ import annotations

import re

import click

__all__ = ["for_the_command_line"]

#: Python advice → its command-line form (applied in order, as regular expressions).
_CALLS = [
    (r"Use sync_dimension_records\(\) to insert-or-verify, or ", "Pass "),
    (r"register_dataset_type\(\)", "`skybutler register-dataset-type`"),
    (r"Butler\.create\(\) or `skybutler create`", "`skybutler create`"),
    (r"butler\.collections\.remove_runs\(\)", "`skybutler remove-runs`"),
    (r"`skybutler reconcile` \(butler\.reconcile\(\)\)", "`skybutler reconcile`"),
    (r"butler\.verify\(\)", "`skybutler verify`"),
    (r"remove it from those chains first", "remove it from those chains first with `skybutler collection-chain "
     "REPO CHAIN NAME --mode remove`"),
]  # fmt: skip


def for_the_command_line(message: str, command: click.Command | None) -> str:
    """``message`` with its Python advice in the words of the command line (``command``: the one running)."""
    for pattern, replacement in _CALLS:
        message = re.sub(pattern, replacement, message)
    if command is None:
        return message
    options = {p.name: p for p in command.params if isinstance(p, click.Option)}

    def option(match: re.Match[str]) -> str:
        found = options.get(match[1])
        if found is None:
            return match[0]
        long = [o for o in found.opts if o.startswith("--")]
        return (long or found.opts)[0]

    return re.sub(r"\b([a-z_]+)=True\b", option, message)
