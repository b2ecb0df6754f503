"""Pausing Python's cyclic garbage collector during bulk calls that build many long-lived objects.

The collector runs whenever 700 more container objects have been allocated than freed; objects that
survive are promoted, and once enough have been promoted it scans the *whole* heap.  A bulk ingest or
import keeps several objects per dataset alive until it returns (refs, data IDs, rows), so it triggers a
full scan of every object of the process again and again: for 10 000 files that was a quarter of a direct
ingest's time.  Reference counting still frees everything that is not part of a cycle while the collector
is paused (our bulk paths make no cycles); cycles made meanwhile anywhere in the process are collected when
it runs again after the call.  Mercurial's ``util.nogc`` does the same, for the same reason.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the block with the cyclic garbage collector paused (if it was on; it is switched on again after).

    The switch is process-wide: a thread that turns the collector on meanwhile only costs this call speed.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
