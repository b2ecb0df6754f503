"""Engines that run a plan's tasks: `concurrent.futures` (`run_local`), Dask (`run_dask`), Parsl (`run_parsl`).

Each runs `run_task` (a task's `WorkerButler` around the user's function) on its workers, returns a
`RunSummary` (done, failed with the last error, retried) and, given a butler, merges the finished tasks as
they come in batches or at the end.  The retry policy: a task that raises is run again up to ``retries``
times (`DEFAULT_RETRIES`), through each engine's own retry setting; a task that still fails is reported with
its last error, and nothing of it is registered.  Dask and Parsl are imported only when their adapter runs.
"""

from skybutler.exec._dask import run_dask
from skybutler.exec._local import run_local
from skybutler.exec._parsl import DEFAULT_STALL_SECONDS, local_parsl_config, run_parsl
from skybutler.exec._summary import DEFAULT_RETRIES, RunSummary
from skybutler.exec._task import TaskFunction, run_task

__all__ = [
    "DEFAULT_RETRIES",
    "DEFAULT_STALL_SECONDS",
    "RunSummary",
    "TaskFunction",
    "local_parsl_config",
    "run_dask",
    "run_local",
    "run_parsl",
    "run_task",
]
