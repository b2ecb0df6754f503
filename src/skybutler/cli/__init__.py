"""The ``skybutler`` command line (click); subcommands import the library only when they run."""

from __future__ import annotations

from skybutler.cli._main import main

__all__ = ["main"]
