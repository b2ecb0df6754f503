"""``python -m skybutler.cli``: the same as the ``skybutler`` command."""

from __future__ import annotations

from skybutler.cli import main

main()
