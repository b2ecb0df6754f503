"""Workload W1 (shared/benchmarks/W1.md) run on skybutler.

Usage::

    python benchmarks/w1_skybutler.py --n 2000 [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Steps whose features skybutler does not have yet are reported as failed with the issue that adds them, so the
table always shows every W1 step.
"""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import sqlalchemy
import yaml

from _common import (
    ARRAY_LENGTH,
    N_ARRAY,
    N_DETECTORS,
    N_MISSING,
    N_QUERIES,
    Step,
    check,
    meta_payload,
    single_system_main,
    timed,
    untimed,
    worker_main,
)
from skybutler import Butler, DatasetRef, Timespan
from skybutler.dimensions import to_tai_ns
from skybutler.errors import DatasetNotFoundError
from skybutler.transfer import FileDataset

SYSTEM = "skybutler"
INSTRUMENT = "Cam"
DAY_OBS = 20250101
FILTERS = (("Cam-r", "r"), ("Cam-g", "g"))
RUN = "run1"
CALIB = "calib"
EPOCH_START = to_tai_ns("2025-01-01T00:00:00 TAI")
ONE_DAY = 86_400 * 10**9

#: W1 steps that need features of later issues, with the issue that adds them.
NOT_YET: dict[str, str] = {}


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema name in ``url``'s database, dropped with its tables afterwards."""
    name = f"w1sky_{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


class _SkyButlerW1:
    """One run of W1 on a fresh repository."""

    def __init__(self, root: Path, n: int, postgres: tuple[str, str] | None) -> None:
        if n % N_DETECTORS:
            raise ValueError(f"N must be a multiple of {N_DETECTORS}, got {n}")
        self.root = root
        self.n = n
        self.n_visits = n // N_DETECTORS
        self.postgres = postgres
        self.steps: list[Step] = []
        self.meta_refs: list[DatasetRef] = []
        self.data_ids = [
            {"instrument": INSTRUMENT, "visit": i // N_DETECTORS + 1, "detector": i % N_DETECTORS} for i in range(n)
        ]

    def run(self) -> list[Step]:
        """Every step, one after the other."""
        for _ in self.phases():
            pass
        return self.steps

    def phases(self) -> Iterator[None]:
        """The W1 steps in order, pausing after each (the fair harness runs another system's step between)."""
        repo = self.root / "repo"
        with contextlib.ExitStack() as stack:
            with timed("create_repo", 1, self.steps):  # made and opened, as the reference's step does
                if self.postgres is None:
                    Butler.create(repo)
                else:
                    Butler.create(repo, registry=self.postgres[0], schema=self.postgres[1])
                butler = stack.enter_context(Butler(repo, run=RUN))
            yield
            if not self.steps[-1].ok:
                return
            yield from self._dimension_records(butler)
            yield from self._register(butler)
            yield from self._meta(butler)
            yield from self._arrays(butler)
            yield from self._missing(butler)
            yield from self._queries(butler)
            yield from self._ingest(butler)
            yield from self._export_import(butler)
            yield from self._calibrations(butler)
        for name, why in NOT_YET.items():
            self.steps.append(Step(name, 0, error=f"not in skybutler yet: {why}"))

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
        detectors = [{"instrument": INSTRUMENT, "id": d, "full_name": f"D{d:02d}"} for d in range(N_DETECTORS)]
        n_records = 1 + 2 * len(FILTERS) + 1 + len(detectors) + len(visits)
        with timed("dimension_records", n_records, self.steps):
            registry.insert_dimension_records(
                "instrument",
                [{"name": INSTRUMENT, "visit_max": 10**6, "exposure_max": 10**6, "detector_max": N_DETECTORS,
                  "class_name": "w1.Cam"}],
            )  # fmt: skip
            registry.insert_dimension_records("band", [{"name": b} for _, b in FILTERS])
            registry.insert_dimension_records(
                "physical_filter", [{"instrument": INSTRUMENT, "name": f, "band": b} for f, b in FILTERS]
            )
            registry.insert_dimension_records("day_obs", [{"instrument": INSTRUMENT, "id": DAY_OBS}])
            registry.insert_dimension_records("detector", detectors)
            registry.insert_dimension_records("visit", visits)
        yield

    def _register(self, butler: Butler) -> Iterator[None]:
        """The same dataset types, runs and collection as the reference's step registers."""
        vd = ["instrument", "visit", "detector"]
        with timed("register", 1, self.steps):
            butler.register_dataset_type("meta", vd, "StructuredDataDict")
            butler.register_dataset_type("arr", vd, "NumpyArray")
            butler.register_dataset_type("ing", vd, "StructuredDataDict")
            butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
            for run in (RUN, "ingest_direct", "ingest_copy"):
                butler.registry.register_run(run)
            butler.collections.register(CALIB, "CALIBRATION")
        yield

    def _meta(self, butler: Butler) -> Iterator[None]:
        payloads = [meta_payload(i) for i in range(self.n)]
        with timed("put_meta", self.n, self.steps):
            for data_id, payload in zip(self.data_ids, payloads, strict=True):
                self.meta_refs.append(butler.put(payload, "meta", data_id, run=RUN))
        yield
        with timed("get_meta", self.n, self.steps):
            for data_id, payload in zip(self.data_ids, payloads, strict=True):
                got = butler.get("meta", data_id, collections=RUN)
                check(got == payload, f"meta {data_id} read back wrong")
        yield

    def _arrays(self, butler: Butler) -> Iterator[None]:
        n_arr = min(N_ARRAY, self.n)
        array = np.arange(ARRAY_LENGTH, dtype=np.float64)
        with timed("put_arr", n_arr, self.steps):
            for data_id in self.data_ids[:n_arr]:
                butler.put(array, "arr", data_id, run=RUN)
        yield
        with timed("get_arr", n_arr, self.steps):
            for data_id in self.data_ids[:n_arr]:
                got = butler.get("arr", data_id, collections=RUN)
                check(np.array_equal(got, array), f"arr {data_id} read back wrong")
        yield

    def _missing(self, butler: Butler) -> Iterator[None]:
        first = self.n_visits + 1  # visits past the last one: no such data ID, so no dataset
        missing = [{"instrument": INSTRUMENT, "visit": first + i, "detector": 3} for i in range(N_MISSING)]
        with timed("get_missing", N_MISSING, self.steps):
            for data_id in missing:
                try:
                    butler.get("meta", data_id, collections=RUN)
                except DatasetNotFoundError:
                    continue
                raise RuntimeError(f"get of missing {data_id} did not raise DatasetNotFoundError")
        yield

    def _queries(self, butler: Butler) -> Iterator[None]:
        with timed("query_all", 1, self.steps):
            refs = list(butler.query_datasets("meta", collections=RUN))
            check(len(refs) == self.n, f"query_all found {len(refs)} of {self.n}")
        yield
        ks = [i * self.n_visits // N_QUERIES for i in range(N_QUERIES)]
        with timed("query_where", N_QUERIES, self.steps):
            for k in ks:
                where = f"instrument = 'Cam' AND visit > {k} AND detector = 3"
                refs = list(butler.query_datasets("meta", collections=RUN, where=where))
                check(len(refs) == self.n_visits - k, f"where visit > {k}: {len(refs)} datasets")
        yield
        with timed("query_data_ids", 1, self.steps):
            found = list(butler.query_data_ids(["visit", "detector"], datasets="meta", collections=RUN))
            check(len(found) == self.n, f"query_data_ids found {len(found)} of {self.n}")
        yield
        with timed("query_partial", N_QUERIES, self.steps):
            for i in range(N_QUERIES):
                detector = i % N_DETECTORS
                found = list(
                    butler.query_data_ids(
                        ["visit", "detector"],
                        datasets="meta",
                        collections=RUN,
                        instrument=INSTRUMENT,
                        detector=detector,
                    )
                )
                check(len(found) == self.n_visits, f"detector {detector}: {len(found)} data IDs")
        yield

    def _ingest(self, butler: Butler) -> Iterator[None]:
        """W1 step 7: N YAML files written beforehand, ingested with ``direct``, then with ``copy``."""
        inputs = self.root / "inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, data_id in enumerate(self.data_ids):
            path = inputs / f"ing_{data_id['visit']}_{data_id['detector']}.yaml"
            path.write_text(yaml.safe_dump(meta_payload(i)))
            paths.append(path)
        for transfer in ("direct", "copy"):
            run = f"ingest_{transfer}"
            files = [
                FileDataset(p, dataset_type="ing", data_id=d, formatter="yaml")
                for p, d in zip(paths, self.data_ids, strict=True)
            ]
            with timed(f"ingest_{transfer}", self.n, self.steps) as step:
                butler.ingest(*files, transfer=transfer, run=run)
            with untimed(step):
                got = butler.get("ing", self.data_ids[-1], collections=run)
                check(got == meta_payload(self.n - 1), f"ingested ({transfer}) dataset read back wrong")
            yield

    def _export_import(self, butler: Butler) -> Iterator[None]:
        """W1 steps 7-8: export the meta datasets with their files copied; import them into a new repository."""
        export_dir = self.root / "export"
        with timed("export", self.n, self.steps):
            check(len(self.meta_refs) == self.n, "no datasets to export: put_meta failed")
            refs = self.meta_refs
            report = butler.export(export_dir / "export.yaml", refs=refs, directory=export_dir, transfer="copy")
            check(report.artifacts == self.n, f"export wrote {report.artifacts} of {self.n} files")
        yield
        repo2 = self.root / "repo2"
        with contextlib.ExitStack() as stack:  # the second, empty repository is made outside the timing
            if self.postgres is None:
                Butler.create(repo2)
            else:
                Butler.create(repo2, registry=self.postgres[0],
                              schema=stack.enter_context(_postgres_schema(self.postgres[0])))  # fmt: skip
            with Butler(repo2, writeable=True) as butler2:
                with timed("import", self.n, self.steps):
                    butler2.import_(export_dir / "export.yaml", directory=export_dir, transfer="copy")
                found = butler2.query_datasets("meta", collections=RUN).count()
                check(found == self.n, f"second repository has {found} of {self.n} datasets")
        yield

    def _calibrations(self, butler: Butler) -> Iterator[None]:
        n_epochs = max(1, self.n // 100)
        n_lookups = N_DETECTORS * n_epochs
        runs = [f"bias/e{epoch}" for epoch in range(n_epochs)]
        detector_ids = [{"instrument": INSTRUMENT, "detector": d} for d in range(N_DETECTORS)]
        refs_by_epoch = []
        for run in runs:  # untimed, as on the reference's side (a put would register its run implicitly)
            butler.registry.register_run(run)
        with timed("calib_put", n_lookups, self.steps):
            for epoch, run in enumerate(runs):
                refs_by_epoch.append([butler.put({"epoch": epoch, **d}, "bias", d, run=run) for d in detector_ids])
        yield
        with timed("calib_certify", n_epochs, self.steps):
            for epoch, refs in enumerate(refs_by_epoch):
                begin = EPOCH_START + epoch * ONE_DAY
                butler.collections.certify(CALIB, refs, Timespan(begin, begin + ONE_DAY))
        yield
        lookups = [
            (epoch, d, EPOCH_START + epoch * ONE_DAY + ONE_DAY // 2) for epoch in range(n_epochs) for d in detector_ids
        ]
        with timed("calib_lookup", n_lookups, self.steps):
            for epoch, data_id, when in lookups:
                ref = butler.find_dataset("bias", data_id, collections=CALIB, at=when)
                check(ref is not None and ref.run == runs[epoch], f"lookup {data_id} epoch {epoch}: {ref}")
        yield
        with timed("calib_get", n_lookups, self.steps):
            for epoch, data_id, when in lookups:
                bias = butler.get("bias", data_id, collections=CALIB, at=when)
                check(bias == {"epoch": epoch, **data_id}, f"get {data_id} epoch {epoch}: {bias}")
        yield


def run_skybutler(root: Path, n: int, postgres_url: str | None) -> list[Step]:
    """Run W1 with ``n`` datasets on skybutler in working directory ``root``; return the timed steps."""
    steps: list[Step] = []
    for _ in iter_skybutler(root, n, postgres_url, steps):
        pass
    return steps


def iter_skybutler(root: Path, n: int, postgres_url: str | None, steps: list[Step]) -> Iterator[None]:
    """W1 step by step: appends each step to ``steps`` and pauses after it (for the interleaving harness)."""
    root.mkdir(parents=True, exist_ok=True)
    if postgres_url is None:
        w1 = _SkyButlerW1(root, n, None)
        w1.steps = steps
        yield from w1.phases()
        return
    with _postgres_schema(postgres_url) as schema:
        w1 = _SkyButlerW1(root, n, (postgres_url, schema))
        w1.steps = steps
        yield from w1.phases()


def main(argv: list[str] | None = None) -> int:
    if argv is None and "--worker" in sys.argv:  # driven step by step by benchmarks/w1.py
        return worker_main(SYSTEM, iter_skybutler, sys.argv[1:])
    ok = lambda step: step.ok or step.name in NOT_YET  # noqa: E731 (steps of later issues are reported, not failures)
    return single_system_main(SYSTEM, run_skybutler, argv, description="W1 on skybutler", ok=ok)


if __name__ == "__main__":
    sys.exit(main())
