"""Scale-out test support: a W1-shaped repository with a calibration, and task functions workers can import.

Engines pickle task functions by reference, so a worker process must be able to import them: these live in
the installed package (a test module may not be importable in a Dask or Parsl worker).  This module imports
no SQL engine, so the workers that import it stay isolated.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skybutler.butler import Butler
    from skybutler.workers import WorkerButler

__all__ = ["BIAS_SWITCH_VISIT", "Faulty", "Stuck", "populate_scaleout", "summarize"]

BIAS_SWITCH_VISIT = 25
"""Visits before this one are calibrated by bias epoch 0, later ones by epoch 1."""


def populate_scaleout(butler: Butler, *, n_visits: int = 50, n_detectors: int = 10, run: str = "w1/in") -> None:
    """W1's shape: instrument ``Cam``, ``n_visits`` times ``n_detectors`` ``meta`` datasets (dicts) in ``run``, and
    two epochs of ``bias`` per detector certified in CALIBRATION collection ``calib`` (switching at visit
    `BIAS_SWITCH_VISIT`); the collection ``w1/inputs`` chains ``run`` and ``calib``.  Registers the output
    type ``summary`` (instrument, visit, detector)."""
    from skybutler.testing.sample import populate_sample

    populate_sample(butler, n_visits=n_visits, n_detectors=n_detectors)
    dims = ["instrument", "visit", "detector"]
    butler.register_dataset_type("meta", dims, "StructuredDataDict")
    butler.register_dataset_type("summary", dims, "StructuredDataDict")
    butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
    butler.put_many(
        [({"visit": v, "detector": d, "flux": float(v * 100 + d)}, {"instrument": "Cam", "visit": v, "detector": d})
         for v in range(n_visits) for d in range(n_detectors)],
        "meta", run=run,
    )  # fmt: skip
    switch = f"2025-01-01T12:{BIAS_SWITCH_VISIT:02d}:00"
    butler.collections.register("calib", "CALIBRATION")
    for epoch, valid in enumerate([("2025-01-01T00:00:00", switch), (switch, "2025-01-03T00:00:00")]):
        biases = [({"epoch": epoch, "level": 1000.0 + epoch}, {"instrument": "Cam", "detector": d})
                  for d in range(n_detectors)]  # fmt: skip
        refs = butler.put_many(biases, "bias", run=f"w1/bias{epoch}")
        butler.collections.certify("calib", refs, valid)
    butler.collections.register("w1/inputs", "CHAINED")
    butler.collections.set_chain("w1/inputs", [run, "calib"])


def summarize(wb: WorkerButler) -> None:
    """The test task: read the task's ``meta`` and ``bias``, write a ``summary`` of both."""
    meta = wb.get("meta")
    bias = wb.get("bias")
    wb.put({"visit": meta["visit"], "detector": meta["detector"], "flux": meta["flux"] - bias["level"],
            "epoch": bias["epoch"]}, "summary")  # fmt: skip


def summarize_with_pid(wb: WorkerButler) -> None:
    """`summarize`, with the worker process's id in the summary (tests check where tasks ran)."""
    import os

    meta = wb.get("meta")
    wb.put({"visit": meta["visit"], "detector": meta["detector"], "flux": meta["flux"], "pid": os.getpid()},
           "summary")  # fmt: skip


@dataclass(frozen=True)
class Faulty:
    """`summarize`, except on some tasks: those in ``fail`` raise, those in ``kill`` end their worker process
    mid-task (after writing their output, before the record).  With ``once_dir`` each fault happens on the
    first attempt only (a marker file per task there), so a retry succeeds, except for the tasks in ``always``."""

    fail: frozenset[int] = field(default_factory=frozenset)
    kill: frozenset[int] = field(default_factory=frozenset)
    once_dir: str | None = None
    always: frozenset[int] = field(default_factory=frozenset)

    def __call__(self, wb: WorkerButler) -> None:
        task = wb.task.index
        faulty = task in self.fail or task in self.kill
        if faulty and self.once_dir is not None and task not in self.always:
            marker = Path(self.once_dir) / f"fault-{task}"
            if marker.exists():
                faulty = False
            else:
                marker.touch()
        summarize(wb)
        if faulty and task in self.kill:
            # A moment first: an engine's worker may still be sending its previous task's result through a
            # multiprocessing queue, and a process ended mid-write leaves half a message in the pipe, on which
            # the engine's reader then waits forever (seen with Parsl's HTEX, a hung test run). A batch
            # system's kill comes at any time; a test's must not land inside the engine's own bookkeeping.
            time.sleep(0.5)
            os._exit(17)  # the worker dies as a batch system's kill would end it: no clean-up, no record
        if faulty:
            raise RuntimeError(f"task {task} failed on purpose")


@dataclass(frozen=True)
class Stuck:
    """`summarize`, except that the tasks in ``stuck`` never hand their result back (they sleep ``seconds``
    first): what an engine sees of a result lost on its way, which only a stall guard ends."""

    stuck: frozenset[int] = field(default_factory=frozenset)
    seconds: float = 600.0

    def __call__(self, wb: WorkerButler) -> None:
        summarize(wb)
        if wb.task.index in self.stuck:
            time.sleep(self.seconds)
