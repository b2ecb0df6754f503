"""Workload W1 (shared/benchmarks/W1.md) run on the reference butler, Rubin's ``lsst-daf-butler``.

Usage::

    python benchmarks/w1_reference.py --n 2000 [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

or, from another script in this directory (``lsst.daf.butler`` must be importable: check with
``importlib.util.find_spec("lsst.daf.butler")`` before importing this module)::

    from w1_reference import run_reference
    steps = run_reference(workdir, 2000, None)   # list[Step]; the main repository is workdir / "repo"

``root`` is a working directory, created if missing: the repository under test is ``root / "repo"``; the
second repository (import target), the export and the files to ingest sit beside it. With ``postgres_url``
the registries live in fresh schemas ``w1ref_<random>`` of that database, dropped at the end.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import astropy.time  # type: ignore[import-untyped]
import numpy as np
import sqlalchemy
import yaml
from lsst.daf.butler import (  # type: ignore[attr-defined]  # CollectionType is public but not re-exported
    Butler,
    CollectionType,
    Config,
    DataCoordinate,
    DatasetNotFoundError,
    DatasetRef,
    DatasetType,
    FileDataset,
    Timespan,
)

from _common import (
    ARRAY_LENGTH,
    N_ARRAY,
    N_DETECTORS,
    N_MISSING,
    N_QUERIES,
    Step,
    Timed,
    check,
    meta_payload,
    single_system_main,
    timed,
    untimed,
    worker_main,
)

DataId = dict[str, str | int]

SYSTEM = "lsst-daf-butler"
INSTRUMENT = "Cam"
DAY_OBS = 20250101
FILTERS = (("Cam-r", "r"), ("Cam-g", "g"))
RUN = "run1"
CALIB = "calib"
# Calibration epochs are adjacent one-day validity ranges starting here (TAI: no leap-second tables needed).
EPOCH_START = astropy.time.Time("2025-01-01T00:00:00", scale="tai")
ONE_DAY = astropy.time.TimeDelta(1.0, format="jd")


def reference_version() -> str:
    return version("lsst-daf-butler")


def _driver_url(url: str) -> str:
    """``url`` with an explicit driver: plain ``postgresql://`` means psycopg2, which may be missing."""
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.drivername in ("postgresql", "postgres") and importlib.util.find_spec("psycopg2") is None:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


@contextmanager
def _postgres_schemas(url: str, count: int) -> Iterator[list[str]]:
    """Create ``count`` fresh schemas ``w1ref_<random>`` in the database at ``url``; drop them on exit."""
    engine = sqlalchemy.create_engine(url)
    token = secrets.token_hex(4)
    schemas = [f"w1ref_{token}_{i}" for i in range(count)]
    try:
        with engine.begin() as connection:
            # daf_butler's PostgreSQL registry refuses to start without btree_gist. It stays installed after
            # the run: dropping it could break other users of the database.
            connection.execute(sqlalchemy.text("CREATE EXTENSION IF NOT EXISTS btree_gist"))
            for schema in schemas:
                connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
        yield schemas
    finally:
        with engine.begin() as connection:
            for schema in schemas:
                connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


class _ReferenceW1:
    """The W1 steps on one lsst.daf.butler repository (plus a second one for import)."""

    def __init__(self, root: Path, n: int, registry_configs: tuple[Config | None, Config | None]) -> None:
        if n < N_DETECTORS or n % N_DETECTORS:
            raise ValueError(f"n must be a positive multiple of {N_DETECTORS}, got {n}")
        self.root = root
        self.n = n
        self.n_visits = n // N_DETECTORS
        self.n_epochs = max(1, n // 100)
        self.detectors = range(N_DETECTORS)
        self.repo = root / "repo"
        self.repo2 = root / "repo2"
        self.inputs = root / "inputs"
        self.export_dir = root / "export"
        self.configs = registry_configs
        self.steps: list[Step] = []
        self.data_ids: list[DataId] = [
            {"instrument": INSTRUMENT, "visit": v, "detector": d}
            for v in range(1, self.n_visits + 1)
            for d in range(N_DETECTORS)
        ]
        self.meta_refs: list[DatasetRef] = []

    def _timed(self, name: str, n: int) -> Timed:
        return timed(name, n, self.steps)

    def run(self) -> list[Step]:
        for _ in self.phases():
            pass
        return self.steps

    def phases(self) -> Iterator[None]:
        """The W1 steps in order, pausing after each (the fair harness runs another system's step between)."""
        with ExitStack() as stack:
            butler = self._create(stack)
            yield
            if butler is None:
                return
            yield from self._dimension_records(butler)
            yield from self._register(butler)
            yield from self._meta(butler)
            yield from self._arrays(butler)
            yield from self._missing(butler)
            yield from self._queries(butler)
            yield from self._ingest(butler)
            yield from self._export_import(butler, stack)
            yield from self._calibrations(butler)

    def _make_repo(self, path: Path, config: Config | None, stack: ExitStack) -> Butler:
        Butler.makeRepo(str(path), config=config)
        butler = Butler.from_config(str(path), writeable=True)
        stack.callback(butler.close)
        return butler

    def _create(self, stack: ExitStack) -> Butler | None:
        with self._timed("create_repo", 1):
            return self._make_repo(self.repo, self.configs[0], stack)
        return None  # create_repo failed: its step says why

    def _dimension_records(self, butler: Butler) -> Iterator[None]:
        registry = butler.registry
        visits = [
            {
                "instrument": INSTRUMENT,
                "id": v,
                "name": f"v{v}",
                "day_obs": DAY_OBS,
                "physical_filter": FILTERS[(v - 1) % 2][0],
            }
            for v in range(1, self.n_visits + 1)
        ]
        detectors = [{"instrument": INSTRUMENT, "id": d, "full_name": f"D{d:02d}"} for d in self.detectors]
        n_records = 1 + len(FILTERS) + 1 + len(detectors) + len(visits)
        with self._timed("dimension_records", n_records):
            registry.insertDimensionData(
                "instrument",
                {
                    "name": INSTRUMENT,
                    "visit_max": 10**6,
                    "exposure_max": 10**6,
                    "detector_max": N_DETECTORS,
                    "class_name": "w1.Cam",
                },
            )
            registry.insertDimensionData(
                "physical_filter", *[{"instrument": INSTRUMENT, "name": f, "band": b} for f, b in FILTERS]
            )
            registry.insertDimensionData("day_obs", {"instrument": INSTRUMENT, "id": DAY_OBS})
            registry.insertDimensionData("detector", *detectors)
            registry.insertDimensionData("visit", *visits)
        yield

    def _register(self, butler: Butler) -> Iterator[None]:
        registry = butler.registry
        vd = ("instrument", "visit", "detector")
        with self._timed("register", 1):
            for name, dims, storage_class, is_calib in (
                ("meta", vd, "StructuredDataDict", False),
                ("arr", vd, "NumpyArray", False),
                ("ing", vd, "StructuredDataDict", False),
                ("bias", ("instrument", "detector"), "StructuredDataDict", True),
            ):
                dataset_type = DatasetType(
                    name, dims, storage_class, universe=butler.dimensions, isCalibration=is_calib
                )
                registry.registerDatasetType(dataset_type)
            for run in (RUN, "ingest_direct", "ingest_copy"):
                registry.registerRun(run)
            registry.registerCollection(CALIB, CollectionType.CALIBRATION)
        yield

    def _meta(self, butler: Butler) -> Iterator[None]:
        payloads = [meta_payload(i) for i in range(self.n)]
        with self._timed("put_meta", self.n):
            for data_id, payload in zip(self.data_ids, payloads, strict=True):
                self.meta_refs.append(butler.put(payload, "meta", data_id, run=RUN))
        yield
        with self._timed("get_meta", self.n):
            for data_id, payload in zip(self.data_ids, payloads, strict=True):
                got = butler.get("meta", data_id, collections=RUN)
                check(got == payload, f"meta {data_id} read back wrong")
        yield

    def _arrays(self, butler: Butler) -> Iterator[None]:
        n_arr = min(N_ARRAY, self.n)  # one array per existing (visit, detector)
        array = np.arange(ARRAY_LENGTH, dtype=np.float64)
        with self._timed("put_arr", n_arr):
            for data_id in self.data_ids[:n_arr]:
                butler.put(array, "arr", data_id, run=RUN)
        yield
        with self._timed("get_arr", n_arr):
            for data_id in self.data_ids[:n_arr]:
                got = butler.get("arr", data_id, collections=RUN)
                check(np.array_equal(got, array), f"arr {data_id} read back wrong")
        yield

    def _missing(self, butler: Butler) -> Iterator[None]:
        first = self.n_visits + 1  # visits past the last one: no such data ID, so no dataset
        missing = [{"instrument": INSTRUMENT, "visit": first + i, "detector": 3} for i in range(N_MISSING)]
        with self._timed("get_missing", N_MISSING):
            for data_id in missing:
                try:
                    butler.get("meta", data_id, collections=RUN)
                except DatasetNotFoundError:
                    continue
                raise RuntimeError(f"get of missing {data_id} did not raise DatasetNotFoundError")
        yield

    def _queries(self, butler: Butler) -> Iterator[None]:
        with self._timed("query_all", 1):
            refs = butler.query_datasets("meta", collections=RUN, limit=None)
            check(len(refs) == self.n, f"query_all found {len(refs)} of {self.n}")
        yield
        ks = [i * self.n_visits // N_QUERIES for i in range(N_QUERIES)]
        with self._timed("query_where", N_QUERIES):
            for k in ks:
                where = f"instrument = 'Cam' AND visit > {k} AND detector = 3"
                refs = butler.query_datasets("meta", collections=RUN, where=where, limit=None, explain=False)
                check(len(refs) == self.n_visits - k, f"where visit > {k}: {len(refs)} datasets")
        yield
        with self._timed("query_data_ids", 1):
            with butler.query() as query:
                found = list(query.join_dataset_search("meta", [RUN]).data_ids(["visit", "detector"]))
            check(len(found) == self.n, f"query_data_ids found {len(found)} of {self.n}")
        yield
        with self._timed("query_partial", N_QUERIES):
            for i in range(N_QUERIES):
                detector = i % N_DETECTORS
                with butler.query() as query:
                    constrained = query.join_dataset_search("meta", [RUN])
                    constrained = constrained.where(instrument=INSTRUMENT, detector=detector)
                    found = list(constrained.data_ids(["visit", "detector"]))
                check(len(found) == self.n_visits, f"detector {detector}: {len(found)} data IDs")
        yield

    def _ingest(self, butler: Butler) -> Iterator[None]:
        self.inputs.mkdir(parents=True, exist_ok=True)
        dataset_type = butler.get_dataset_type("ing")
        coordinates = [DataCoordinate.standardize(d, universe=butler.dimensions) for d in self.data_ids]
        paths = []
        for i, data_id in enumerate(self.data_ids):
            path = self.inputs / f"ing_{data_id['visit']}_{data_id['detector']}.yaml"
            with open(path, "w") as stream:
                yaml.safe_dump(meta_payload(i), stream)
            paths.append(path)
        for transfer in ("direct", "copy"):
            run = f"ingest_{transfer}"
            datasets = [
                FileDataset(path=str(path), refs=[DatasetRef(dataset_type, coordinate, run=run)])
                for path, coordinate in zip(paths, coordinates, strict=True)
            ]
            with self._timed(f"ingest_{transfer}", self.n) as step:
                butler.ingest(*datasets, transfer=transfer)
            with untimed(step):
                got = butler.get("ing", self.data_ids[-1], collections=run)
                check(got == meta_payload(self.n - 1), f"ingested ({transfer}) dataset read back wrong")
            yield

    def _export_import(self, butler: Butler, stack: ExitStack) -> Iterator[None]:
        self.export_dir.mkdir(parents=True, exist_ok=True)
        with self._timed("export", self.n):
            check(len(self.meta_refs) == self.n, "no datasets to export: put_meta failed")
            directory = str(self.export_dir)
            with butler.export(filename="export.yaml", directory=directory, transfer="copy") as export:
                export.saveDatasets(self.meta_refs)
        yield
        butler2: Butler | None = None
        failure = ""
        try:  # the second, empty repository is made outside the timing
            butler2 = self._make_repo(self.repo2, self.configs[1], stack)
        except Exception as exc:
            failure = f"second repository: {type(exc).__name__}: {exc}"
        with self._timed("import", self.n) as step:
            if butler2 is None:
                raise RuntimeError(failure)
            butler2.import_(filename="export.yaml", directory=str(self.export_dir), transfer="copy")
        with untimed(step):
            if butler2 is not None:
                refs = butler2.query_datasets("meta", collections=RUN, limit=None)
                check(len(refs) == self.n, f"second repository has {len(refs)} of {self.n} datasets")
        yield

    def _calibrations(self, butler: Butler) -> Iterator[None]:
        n_lookups = N_DETECTORS * self.n_epochs
        # One RUN collection per epoch, since every epoch has the same data IDs.
        runs = [f"bias/e{epoch}" for epoch in range(self.n_epochs)]
        detector_ids: list[DataId] = [{"instrument": INSTRUMENT, "detector": d} for d in self.detectors]
        refs_by_epoch: list[list[DatasetRef]] = []
        with self._timed("calib_put", n_lookups) as step:
            with untimed(step):
                for run in runs:
                    butler.registry.registerRun(run)
            for epoch, run in enumerate(runs):
                refs = [butler.put({"epoch": epoch, **d}, "bias", d, run=run) for d in detector_ids]
                refs_by_epoch.append(refs)
        yield
        with self._timed("calib_certify", self.n_epochs):
            for epoch, refs in enumerate(refs_by_epoch):
                begin = EPOCH_START + epoch * ONE_DAY
                butler.registry.certify(CALIB, refs, Timespan(begin, begin + ONE_DAY))
        yield
        # Lookups at mid-epoch, built outside the timed loops (astropy Time arithmetic is not free).
        lookups: list[tuple[int, DataId, Timespan]] = []
        for epoch in range(self.n_epochs):
            instant = EPOCH_START + (epoch + 0.5) * ONE_DAY
            lookups.extend((epoch, d, Timespan(instant, instant)) for d in detector_ids)
        with self._timed("calib_lookup", n_lookups):
            for epoch, data_id, when in lookups:
                ref = butler.find_dataset("bias", data_id, collections=CALIB, timespan=when)
                check(ref is not None and ref.run == runs[epoch], f"lookup {data_id} epoch {epoch}: {ref}")
        yield
        with self._timed("calib_get", n_lookups):
            for epoch, data_id, when in lookups:
                bias = butler.get("bias", data_id, collections=CALIB, timespan=when)
                check(bias == {"epoch": epoch, **data_id}, f"get {data_id} epoch {epoch}: {bias}")
        yield


def run_reference(root: Path, n: int, postgres_url: str | None) -> list[Step]:
    """Run W1 with ``n`` datasets on lsst.daf.butler in working directory ``root``; return the timed steps.

    The repository is ``root / "repo"`` (SQLite registry inside it unless ``postgres_url`` is given). Steps
    that raise are returned with ``error`` set instead of ending the run.
    """
    steps: list[Step] = []
    for _ in iter_reference(root, n, postgres_url, steps):
        pass
    return steps


def iter_reference(root: Path, n: int, postgres_url: str | None, steps: list[Step]) -> Iterator[None]:
    """W1 step by step: appends each step to ``steps`` and pauses after it (for the interleaving harness)."""
    root.mkdir(parents=True, exist_ok=True)
    if postgres_url is None:
        w1 = _ReferenceW1(root, n, (None, None))
        w1.steps = steps
        yield from w1.phases()
        return
    url = _driver_url(postgres_url)
    with ExitStack() as stack:
        try:
            schemas = stack.enter_context(_postgres_schemas(url, 2))
        except Exception as exc:  # no database: report it as the first step failing, like any other step
            steps.append(Step("create_repo", 1, error=f"PostgreSQL schemas: {type(exc).__name__}: {exc}"[:500]))
            return
        configs = (
            Config({"registry": {"db": url, "namespace": schemas[0]}}),
            Config({"registry": {"db": url, "namespace": schemas[1]}}),
        )
        w1 = _ReferenceW1(root, n, configs)
        w1.steps = steps
        yield from w1.phases()


def use_our_durability() -> None:
    """Every SQLite connection of this process in WAL mode with ``synchronous=NORMAL``, skybutler's durability.

    The reference opens its SQLite connections through SQLAlchemy; a listener on every engine's ``connect`` sets
    the two pragmas before the reference's own (foreign keys, busy timeout) run.
    """

    @sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--wal" in args:
        use_our_durability()
        args = [a for a in args if a != "--wal"]
    if "--worker" in args:  # driven step by step by benchmarks/w1.py
        return worker_main(SYSTEM, iter_reference, args)
    argv = args
    description = __doc__.splitlines()[0] if __doc__ else "W1 on the reference butler"
    return single_system_main(SYSTEM, run_reference, argv, description=description,
                              extra={"version": reference_version()})  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
