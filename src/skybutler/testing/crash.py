"""Kill real writer processes at random points of real operations (shared by ``tests/reliability`` and the soak).

A child process (``multiprocessing``; spawn by default) opens the repository and repeats one operation --
``put``, ``put_many``, ingest by ``copy`` or ``move``, ``import``, ``remove`` or ``certify`` -- until it is
killed with SIGKILL, in one of two ways, both drawn from a seeded generator so a failure reproduces:

* **from inside** (`Kill.at_call`): storage and registry steps are counted -- file renames, links, unlinks,
  ``fsync``, transport writes, moves and deletes, registry inserts, removes and certifications -- and the
  process kills itself just before (or just after) the n-th one: the worst moments (after registration,
  before promotion; after the registry removed a dataset, before its file went) are hit on purpose;
* **by the parent** after a random delay once the child is at work (`Kill.delay`): anywhere at all,
  including inside the database driver or half-way through writing a file.

After each kill, `skybutler.testing.invariants.check_repository` reconciles and checks the invariants.
`prepare_repository` makes a repository these operations run in (sample instrument, the crash dataset types,
calibrations to certify).
"""

from __future__ import annotations

import functools
import itertools
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skybutler.butler import DirectButler
from skybutler.testing.invariants import (
    CALIB_COLLECTION,
    CALIB_TYPE,
    DATASET_TYPE,
    SOURCE_DETECTORS,
    content_for,
    source_data_id,
)
from skybutler.testing.sample import populate_sample

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from multiprocessing.synchronize import Event

__all__ = [
    "OPERATIONS",
    "CrashError",
    "Kill",
    "crash_once",
    "plan_kill",
    "prepare_repository",
    "run_name",
    "sources_dir",
]

OPERATIONS = ("put", "put_many", "ingest_copy", "ingest_move", "import", "remove", "certify")
"""The operations a crashed child runs."""

N_VISITS = 200
"""Visits of the sample instrument: a child writes at most ``N_VISITS * SOURCE_DETECTORS`` datasets per run."""

_T0_NS = 1_893_456_000 * 10**9  # 2030-01-01, TAI-ish: certification windows are one day each from here
_DAY_NS = 86_400 * 10**9
_DAYS_PER_ROUND = 200  # days a certifying round may use: 100 rounds reach 2085, inside what a timespan holds


class CrashError(RuntimeError):
    """The crash harness itself failed: a child did not start, raised, or did not die as planned."""


@dataclass(frozen=True, slots=True)
class Kill:
    """One planned kill of one child running ``op`` in run `run_name` (``round`` numbers the kills of a repo)."""

    op: str
    round: int
    seed: int
    at_call: int | None = None
    """Kill from inside at this counted storage/registry step; None: the parent kills after ``delay``."""
    after: bool = False
    """Die just after the step (else just before it)."""
    step: str | None = None
    """Count only the calls of the hooked function of this name (``"insert"``: the registry's dataset insert),
    so a kill can name a moment whatever the file-system steps before it."""
    delay: float = 0.0
    """Seconds the parent waits, once the child is at work, before killing it."""

    def __str__(self) -> str:
        how = (
            f"at {self.step or 'step'} {self.at_call} ({'after' if self.after else 'before'})"
            if self.at_call
            else f"after {self.delay:.3f}s"
        )
        return f"{self.op} round {self.round} seed {self.seed}: killed {how}"


def plan_kill(op: str, round_: int, rng: random.Random, *, max_call: int = 30, max_delay: float = 0.6) -> Kill:
    """Draw a kill: two in three from inside at a random step, one in three by the parent after a random delay."""
    seed = rng.randrange(2**31)
    if rng.random() < 2 / 3:
        return Kill(op, round_, seed, at_call=rng.randint(1, max_call), after=rng.random() < 0.5)
    return Kill(op, round_, seed, delay=rng.uniform(0.0, max_delay))


def run_name(op: str, round_: int) -> str:
    """The run a child of ``op`` writes in, in round ``round_`` (with an ``_``: a test names its twin ``r__``)."""
    return f"crash/{op}/r_{round_}"


def sources_dir(work: Path, op: str, round_: int) -> Path:
    """Where an ingesting child writes its source files (outside the repository)."""
    return work / "sources" / f"{op}-{round_}"


def prepare_repository(
    root: Path, *, registry: str | None = None, schema: str | None = None, datastore: Mapping[str, Any] | None = None
) -> str:
    """Create a repository the crash operations run in; return its root.

    It has the sample instrument (`N_VISITS` visits x `SOURCE_DETECTORS` detectors), the dataset types
    `DATASET_TYPE` and (calibration) `CALIB_TYPE` in JSON, one bias per detector and the CALIBRATION
    collection `CALIB_COLLECTION`.
    """
    repo = DirectButler.create(root, registry=registry, schema=schema, config={"datastore": dict(datastore or {})})
    calib_run = "crash/calib-inputs"
    with DirectButler(repo, run=calib_run) as butler:
        populate_sample(butler, n_visits=N_VISITS, n_detectors=SOURCE_DETECTORS)
        butler.register_dataset_type(
            DATASET_TYPE, ["instrument", "visit", "detector"], "StructuredDataDict", format="json"
        )
        butler.register_dataset_type(
            CALIB_TYPE, ["instrument", "detector"], "StructuredDataDict", is_calibration=True, format="json"
        )
        items = [
            (content_for(calib_run, detector=d), {"instrument": "Cam", "detector": d}) for d in range(SOURCE_DETECTORS)
        ]
        butler.put_many(items, CALIB_TYPE)
        butler.collections.register(CALIB_COLLECTION, "CALIBRATION")
    return repo


def crash_once(root: str, work: Path, kill: Kill, *, start_method: str = "spawn", timeout: float = 120.0) -> None:
    """Run one child for ``kill`` and make sure it died of SIGKILL (`CrashError` otherwise).

    ``import`` first prepares, in this process, the export the child imports (see `_prepare_import`).
    """
    if kill.op == "import":
        _prepare_import(root, work, kill.round)
    ctx: Any = mp.get_context(start_method)
    started = ctx.Event()
    errors: mp.Queue[str] = ctx.Queue()
    child = ctx.Process(target=_child, args=(root, str(work), kill, started, errors), daemon=True)
    child.start()
    try:
        if kill.at_call is None:
            deadline = time.monotonic() + timeout
            while not started.wait(0.5):
                if not child.is_alive() or time.monotonic() > deadline:
                    break
            if child.is_alive():
                time.sleep(kill.delay)
                assert child.pid is not None
                os.kill(child.pid, signal.SIGKILL)
        child.join(timeout)
        if child.is_alive():
            raise CrashError(f"{kill}: the child was still running after {timeout} s")
    finally:
        if child.is_alive():
            child.kill()
            child.join()
    if child.exitcode != -signal.SIGKILL:
        try:
            message = errors.get(timeout=5)
        except queue.Empty:
            message = "no message (see its standard error)"
        raise CrashError(f"{kill}: the child ended with exit code {child.exitcode}, not SIGKILL: {message}")
    errors.close()


# -- in the child ----------------------------------------------------------------------------------------------


class _Tripwire:
    """Counts hooked steps while armed and kills this process at the planned one."""

    def __init__(self, at_call: int | None, after: bool, step: str | None = None) -> None:
        self.at_call = at_call
        self.after = after
        self.step = step
        self.count = 0
        self.armed = False

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def hooked(*args: Any, **kwargs: Any) -> Any:
            if not self.armed or self.at_call is None or (self.step is not None and fn.__name__ != self.step):
                return fn(*args, **kwargs)
            self.count += 1
            hit = self.count == self.at_call
            if hit and not self.after:
                _die()
            try:
                result = fn(*args, **kwargs)
            except BaseException:
                if hit:  # a step that failed (a directory not empty, one that exists) is a step all the same
                    _die()
                raise
            if hit:
                if hasattr(result, "__enter__") and hasattr(result, "__exit__"):
                    return _DieOnExit(result)  # a writer opened: die once its bytes are written
                _die()
            return result

        return hooked

    def install(self, butler: DirectButler) -> None:
        """Hook the file system calls, the datastores' transports and the registry's writes."""
        for name in ("replace", "rename", "link", "symlink", "unlink", "remove", "rmdir", "mkdir", "fsync"):
            setattr(os, name, self.wrap(getattr(os, name)))
        for name in ("copyfile", "copy2", "copy"):
            setattr(shutil, name, self.wrap(getattr(shutil, name)))
        for leaf in butler.datastore.leaves():
            files = leaf.file_datastore()
            if files is None:
                continue
            transport = files.transport
            for name in ("put", "put_file", "open_write", "open_create", "move", "delete", "delete_many"):
                setattr(transport, name, self.wrap(getattr(transport, name)))
        datasets, calibrations = butler.registry.datasets, butler.registry.calibrations
        for name in ("insert", "insert_artifacts", "remove", "drop_trash"):
            setattr(datasets, name, self.wrap(getattr(datasets, name)))
        for name in ("certify", "decertify"):
            setattr(calibrations, name, self.wrap(getattr(calibrations, name)))


class _DieOnExit:
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __enter__(self) -> Any:
        return self._inner.__enter__()

    def __exit__(self, *exc: object) -> Any:
        result = self._inner.__exit__(*exc)
        _die()
        return result


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Armed:
    """``with armed(wire):`` counts the steps of the operation under test only (not its set-up)."""

    def __init__(self, wire: _Tripwire) -> None:
        self.wire = wire

    def __enter__(self) -> None:
        self.wire.armed = True

    def __exit__(self, *exc: object) -> None:
        self.wire.armed = False


def _child(root: str, work: str, kill: Kill, started: Event, errors: mp.Queue[str]) -> None:
    try:
        run = run_name(kill.op, kill.round)
        with DirectButler(root, run=run) as butler:
            wire = _Tripwire(kill.at_call, kill.after, kill.step)
            wire.install(butler)
            step = _STEPS[kill.op]
            context = _Context(butler, Path(work), kill, run, random.Random(kill.seed), _Armed(wire))
            for i in itertools.count():
                step(context, i)
                if i == 0:
                    started.set()
    except BaseException as exc:  # report everything to the parent, which expected a SIGKILL
        errors.put(f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


@dataclass
class _Context:
    butler: DirectButler
    work: Path
    kill: Kill
    run: str
    rng: random.Random
    armed: _Armed


def _data_ids(start: int, n: int) -> list[dict[str, Any]] | None:
    """The next ``n`` data IDs from index ``start``; None once the run is full (the child then idles)."""
    if source_data_id(start + n - 1)[0] >= N_VISITS:
        time.sleep(0.2)
        return None
    return [dict(zip(("visit", "detector"), source_data_id(k), strict=True)) for k in range(start, start + n)]


def _put(c: _Context, i: int) -> None:
    ids = _data_ids(i, 1)
    if ids is not None:
        with c.armed:
            c.butler.put(content_for(c.run, **ids[0]), DATASET_TYPE, {"instrument": "Cam", **ids[0]})


def _put_many(c: _Context, i: int) -> None:
    ids = _data_ids(5 * i, 5)
    if ids is not None:
        with c.armed:
            c.butler.put_many([(content_for(c.run, **d), {"instrument": "Cam", **d}) for d in ids], DATASET_TYPE)


def _ingest(mode: str) -> Callable[[_Context, int], None]:
    def step(c: _Context, i: int) -> None:
        from skybutler.transfer import FileDataset

        ids = _data_ids(3 * i, 3)
        if ids is None:
            return
        folder = sources_dir(c.work, c.kill.op, c.kill.round)
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for k, data_id in enumerate(ids, 3 * i):
            path = folder / f"{k:05d}.json"
            path.write_text(json.dumps(content_for(c.run, **data_id)))
            files.append(FileDataset(path, dataset_type=DATASET_TYPE, data_id={"instrument": "Cam", **data_id}))
        with c.armed:
            c.butler.ingest(*files, transfer=mode)

    return step


def _prepare_import(root: str, work: Path, round_: int) -> None:
    """Put a few datasets in run `run_name` of ``import``, export them with their files, remove the run."""
    run = run_name("import", round_)
    folder = work / "exports" / str(round_)
    with DirectButler(root, run=run) as butler:
        items = [(content_for(run, **d), {"instrument": "Cam", **d}) for d in _data_ids(0, 6) or []]
        butler.put_many(items, DATASET_TYPE)
        butler.export(folder / "export.yaml", collections=run, directory=folder / "files", transfer="copy",
                      include_dimensions=False)  # fmt: skip
        butler.collections.remove_runs([run])


def _import(c: _Context, i: int) -> None:
    """Import the round's export; from the second time on, remove its run first (import, remove, import ...)."""
    folder = c.work / "exports" / str(c.kill.round)
    if i > 0:
        with c.armed:
            c.butler.collections.remove_runs([c.run])
    with c.armed:
        c.butler.import_(folder / "export.yaml", directory=folder / "files", transfer="copy")


def _remove(c: _Context, i: int) -> None:
    """Put four datasets, then remove two of them (or, every other time, all four)."""
    ids = _data_ids(4 * i, 4)
    if ids is None:
        return
    refs = c.butler.put_many([(content_for(c.run, **d), {"instrument": "Cam", **d}) for d in ids], DATASET_TYPE)
    with c.armed:
        c.butler.remove(refs if i % 2 else c.rng.sample(refs, 2))


def _certify(c: _Context, i: int) -> None:
    """Certify a bias over day ``i`` of the round's days; every third time, withdraw the day before."""
    if i >= _DAYS_PER_ROUND:  # the round's days are used up: idle until killed
        time.sleep(0.2)
        return
    detector = c.rng.randrange(SOURCE_DETECTORS)
    ref = c.butler.find_dataset(CALIB_TYPE, instrument="Cam", detector=detector, collections="crash/calib-inputs")
    assert ref is not None
    begin = _T0_NS + (c.kill.round * _DAYS_PER_ROUND + i) * _DAY_NS
    with c.armed:
        c.butler.collections.certify(CALIB_COLLECTION, [ref], (begin, begin + _DAY_NS))
        if i % 3 == 2:
            window = (begin - _DAY_NS, begin)
            c.butler.collections.decertify(CALIB_COLLECTION, CALIB_TYPE, window)


_STEPS: dict[str, Callable[[_Context, int], None]] = {
    "put": _put,
    "put_many": _put_many,
    "ingest_copy": _ingest("copy"),
    "ingest_move": _ingest("move"),
    "import": _import,
    "remove": _remove,
    "certify": _certify,
}
