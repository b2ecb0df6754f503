"""The reference butler's `where` language here and there: the same expressions, the same imported data, equal answers.

Both repositories get the reference's own test exports (three instruments, the ci_hsc ``calexp`` datasets,
``bias``/``flat`` in two runs); each expression of `CASES` runs in both, the reference's answer computed here,
never copied.  Ours runs on SQLite and PostgreSQL.  `REFUSED_BY_BOTH` are refused by both (ambiguous
names); where we deliberately differ, docs/queries.md says so and `DIFFERENCES` pins our side.
"""

from __future__ import annotations

import importlib.util
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybutler import Butler
from skybutler.errors import SkyButlerError
from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema, require_postgres

DATA = Path(__file__).parents[1] / "transfer" / "data" / "registry_data"
FILES = ("base.yaml", "datasets.yaml", "ci_hsc-subset-skymap.yaml", "ci_hsc-subset.yaml", "lsstcam-subset.yaml")
CALEXPS = [  # three of the calexp dataset IDs in ci_hsc-subset.yaml
    uuid.UUID("1b3a4c19-dffa-4942-af1d-b123a1497a00"),
    uuid.UUID("ae4cae3d-780e-422c-bf12-b21627f38f47"),
    uuid.UUID("d7f22645-9384-4e3b-aed9-66a29188fee2"),
]

try:
    HAS_REFERENCE = importlib.util.find_spec("lsst.daf.butler") is not None
except ModuleNotFoundError:
    HAS_REFERENCE = False
pytestmark = pytest.mark.skipif(not HAS_REFERENCE, reason="lsst-daf-butler (the reference butler) is not installed")

# (kind, what, where, bind): kind "ids" → data IDs of dimensions `what`; "records" → records of element `what`;
# "datasets" → dataset IDs of type `what` in every collection.
Case = tuple[str, Any, str, dict[str, Any]]
CASES: list[Case] = [
    ("ids", ["detector"], "instrument = 'HSC' AND GLOB(detector.full_name, '1_4*')", {}),
    ("ids", ["detector"], "instrument = 'HSC' AND GLOB(full_name, '?_5?')", {}),
    ("ids", ["detector"], "instrument = 'HSC' AND NOT GLOB(full_name, '*4*')", {}),
    ("ids", ["detector"], "instrument = 'Cam1' AND GLOB(full_name, :p)", {"p": "?"}),
    ("ids", ["visit"], "instrument = 'HSC' AND GLOB(visit.name, 'HSC*')", {}),
    ("ids", ["detector"], "instrument = 'HSC' AND GLOB(full_name, '1_5?')", {}),  # '_' is no wildcard
    ("records", "detector", "instrument = 'HSC' AND id > 40", {}),
    ("records", "detector", "instrument = 'LSSTCam' AND id IN (10, 11, 12)", {}),
    ("ids", ["detector"], "(instrument = 'HSC' AND detector = 50) OR (instrument = 'LSSTCam' AND detector = 10)", {}),
    (
        "ids",
        ["detector"],
        "(instrument = 'HSC' AND detector IN (20..30)) OR (instrument = 'Cam1' AND detector = 2)",
        {},
    ),
    ("datasets", "calexp", f"dataset_id = UUID('{CALEXPS[0]}')", {}),
    ("datasets", "calexp", "dataset_id = :i", {"i": CALEXPS[1]}),
    ("datasets", "calexp", "calexp.dataset_id IN (:i)", {"i": CALEXPS}),
    ("datasets", "calexp", "dataset_id != :i AND instrument = 'HSC' AND detector < 10", {"i": CALEXPS[1]}),
    ("datasets", "calexp", f"dataset_id IN (UUID('{CALEXPS[0]}'), UUID('{CALEXPS[2]}'))", {}),
    ("datasets", "calexp", "ingest_date > T'2000-01-01'", {}),
    ("datasets", "calexp", "calexp.ingest_date < T'2000-01-01'", {}),
    ("datasets", "bias", "ingest_date OVERLAPS (T'2000-01-01', T'2090-01-01')", {}),
    ("datasets", "bias", "bias.dataset_id IN (:i)", {"i": []}),
    ("datasets", "flat", "instrument = 'Cam1' AND GLOB(physical_filter, 'Cam1-R*')", {}),
]
REFUSED_BY_BOTH: list[Case] = [
    ("records", "physical_filter", "name = 'HSC-R'", {}),  # instrument, physical_filter and band have a name
    ("ids", ["visit", "detector"], "GLOB(visit, 'HSC*')", {}),  # not a string
    ("datasets", "calexp", "dataset_id > :i", {"i": CALEXPS[0]}),  # IDs have no order
]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from lsst.daf.butler import Butler as ReferenceButler

    root = str(tmp_path_factory.mktemp("reference"))
    ReferenceButler.makeRepo(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        butler = ReferenceButler.from_config(root, writeable=True)
        for name in FILES:
            butler.import_(filename=str(DATA / name), without_datastore=True)
    yield butler
    butler.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ours(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Butler]:
    root = tmp_path_factory.mktemp(f"ours-{request.param}") / "repo"
    if request.param == "sqlite":
        Butler.create(root)
        with Butler(root, writeable=True) as butler:
            for name in FILES:
                butler.import_(DATA / name)
            yield butler
        return
    require_postgres()
    with fresh_schema(POSTGRES_URL) as schema:
        Butler.create(root, registry=POSTGRES_URL, schema=schema)
        with Butler(root, writeable=True) as butler:
            for name in FILES:
                butler.import_(DATA / name)
            yield butler


def run_reference(butler: Any, case: Case) -> list[Any]:
    kind, what, where, bind = case
    registry = butler.registry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "ids":
            return sorted(tuple(d.required.values()) for d in registry.queryDataIds(what, where=where, bind=bind))
        if kind == "records":
            records = registry.queryDimensionRecords(what, where=where, bind=bind)
            return sorted(tuple(r.dataId.required.values()) for r in records)
        return sorted(str(r.id) for r in registry.queryDatasets(what, collections=..., where=where, bind=bind))


def run_ours(butler: Butler, case: Case) -> list[Any]:
    kind, what, where, bind = case
    if kind == "ids":
        return sorted(tuple(d.required.values()) for d in butler.query_data_ids(what, where=where, bind=bind))
    if kind == "records":
        records = butler.query_dimension_records(what, where=where, bind=bind)
        element = butler.universe[what]
        return sorted(tuple(getattr(r, k) for k in (*element.required[:-1], element.primary_key.name)) for r in records)
    refs = butler.query_datasets(what, collections="*", find_first=False, where=where, bind=bind)
    return sorted(str(r.id) for r in refs)


@pytest.mark.parametrize("case", CASES, ids=[c[2] for c in CASES])
def test_same_answer_as_the_reference(reference: Any, ours: Butler, case: Case) -> None:
    expected = run_reference(reference, case)
    assert run_ours(ours, case) == expected


@pytest.mark.parametrize("case", REFUSED_BY_BOTH, ids=[c[2] for c in REFUSED_BY_BOTH])
def test_refused_by_both(reference: Any, ours: Butler, case: Case) -> None:
    with pytest.raises(Exception):  # the reference's own error classes  # noqa: B017, PT011
        run_reference(reference, case)
    with pytest.raises(SkyButlerError):
        run_ours(ours, case)


def test_a_string_dataset_id_is_accepted_here(ours: Butler) -> None:
    """A difference (docs/queries.md): the reference refuses a string bound to a dataset ID; we read it as one."""
    refs = ours.query_datasets("calexp", collections="*", where="dataset_id = :i", bind={"i": str(CALEXPS[1])})
    assert [r.id for r in refs] == [CALEXPS[1]]
    with pytest.raises(SkyButlerError, match="not a dataset ID"):
        ours.query_datasets("calexp", collections="*", where="dataset_id = :i", bind={"i": "nope"})


def test_dataset_fields_need_a_dataset_search_and_a_qualifier_when_several(ours: Butler) -> None:
    with pytest.raises(SkyButlerError, match="searches none"):
        ours.query_data_ids(["detector"], where="dataset_id = :i", bind={"i": CALEXPS[0]}, instrument="HSC")
    with pytest.raises(SkyButlerError, match=r"write e\.g\. bias\.ingest_date"):
        ours.query_data_ids(
            ["detector"], datasets=["bias", "flat"], collections="*", where="ingest_date > T'2000-01-01'"
        )
    # query_datasets looks at one dataset type at a time: a bare field is that type's
    both = ours.query_datasets(["bias", "flat"], collections="*", find_first=False, where="ingest_date > T'2000-01-01'")
    assert len(list(both)) == 13
    ids = ours.query_data_ids(
        ["detector"], datasets="calexp", collections="*", where="calexp.dataset_id = :i", bind={"i": CALEXPS[0]}
    )
    assert [d["detector"] for d in ids] == [23]
