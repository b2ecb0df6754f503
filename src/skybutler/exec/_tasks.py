"""What every engine adapter does first: make sure the plan is saved where workers can read it."""

from __future__ import annotations

import os

from skybutler.errors import ConfigError
from skybutler.workers import Manifest

__all__ = ["saved_manifest"]


def saved_manifest(plan: Manifest | str | os.PathLike[str]) -> tuple[Manifest, str]:
    """The plan and the path workers open it from.

    Raises
    ------
    ConfigError
        The plan was never saved (workers read it from a file: ``plan.save(path)`` first).
    """
    if isinstance(plan, Manifest):
        if plan.path is None:
            raise ConfigError("Save the plan first (plan.save(path)): workers read it from a file.")
        return plan, plan.path
    path = os.fspath(plan)
    return Manifest.load(path), path
