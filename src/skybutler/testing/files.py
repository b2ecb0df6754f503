"""Files that cannot be deleted, for tests of what happens when a delete is refused.

Tests here run as root, whom permissions do not stop; the immutable attribute (``chattr +i``) stops root too,
so a refused delete is the file system's own answer, not a patched function's.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

__all__ = ["immutable"]


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """Make ``paths`` immutable (no delete, rename or hard link, even by root) for the block.

    Skips the test where ``chattr`` is missing or not permitted (it needs root, or ``CAP_LINUX_IMMUTABLE``,
    and a file system with the attribute).
    """
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not installed: cannot make a file undeletable")
    done: list[Path] = []
    try:
        for path in paths:
            if subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
                pytest.skip(f"chattr +i is not permitted here (needs root and ext4/XFS-like attributes): {path}")
            done.append(path)
        yield
    finally:
        for path in done:
            subprocess.run([chattr, "-i", str(path)], check=True)
