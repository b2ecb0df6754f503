"""Copying artifacts out of a datastore into a local folder (`FileDatastore.retrieve`), never outside it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from skybutler.datastore._keys import copy_target
from skybutler.errors import ConflictError

if TYPE_CHECKING:
    from pathlib import Path

    from skybutler.datasets import ArtifactInfo
    from skybutler.transports import Transport

__all__ = ["copy_artifacts"]


def copy_artifacts(
    locate: Callable[[str], tuple[Transport, str]],
    artifacts: Iterable[ArtifactInfo],
    destination: Path,
    *,
    overwrite: bool,
) -> list[Path]:
    """Copy artifacts (found by ``locate``) under ``destination`` at their paths; see `FileDatastore.retrieve`."""
    artifacts = list(artifacts)
    targets = [destination / copy_target(a.path) for a in artifacts]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ConflictError(
            f"{len(existing)} file(s) exist already under {destination}, e.g. {existing[0]}; "
            "nothing was copied. Choose an empty directory or allow overwriting."
        )
    for artifact, target in zip(artifacts, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            transport, key = locate(artifact.path)
            with transport.open(key) as source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
    return targets
