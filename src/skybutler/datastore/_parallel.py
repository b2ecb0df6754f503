"""Running many independent storage calls at once, for transports where each call waits on a network."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["run_all"]

T = TypeVar("T")


def run_all(
    calls: Sequence[Callable[[], T]], workers: int, *, undo: Callable[[list[T]], None] | None = None
) -> list[T]:
    """Run ``calls`` on up to ``workers`` threads; return their results in order.

    On the first failure the calls not yet started are cancelled, the ones running are awaited, ``undo`` is
    given the results of those that succeeded, and the first error is raised.  With one worker (local files,
    where threads only add overhead) the calls run in this thread.
    """
    done: list[T] = []
    if workers <= 1 or len(calls) <= 1:
        try:
            for call in calls:
                done.append(call())
        except BaseException:
            if undo is not None and done:
                undo(done)
            raise
        return done
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait  # not on a command's start-up

    with ThreadPoolExecutor(min(workers, len(calls)), thread_name_prefix="skybutler-io") as pool:
        futures = [pool.submit(call) for call in calls]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            future.cancel()
    failed = [f for f in futures if not f.cancelled() and f.exception() is not None]
    if failed:
        if undo is not None:
            undo([f.result() for f in futures if not f.cancelled() and f.exception() is None])
        raise failed[0].exception()  # type: ignore[misc]
    return [f.result() for f in futures]
