"""Spatial benchmark (issue 22): regions with their skypix index, POINT overlaps, the patches of a visit.

Usage::

    python benchmarks/spatial.py [--visits 1000] [--detectors 100] [--queries 50]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--reference] [--json]

The sky: ``visits`` visits on a grid 1.5 degrees apart (40 a row, from ra 100, dec -20), each a 1.4-degree
square of ``detectors`` detectors (a square grid of equal squares), so 1000 x 100 gives 100 000
``visit_detector_region`` records; one sky map of 2-degree tracts of 4 x 4 patches over the same area.

Timed (wall and CPU; queries warm, the median of ``queries`` different points or visits):

* ``insert_regions``: inserting every ``visit_detector_region`` record with its overlap index (bulk insert);
* ``point_overlap``: ``query_data_ids(["visit", "detector"], where="visit_detector_region.region OVERLAPS
  POINT(ra, dec)")`` at points inside the visits;
* ``patches_of_visit``: ``query_data_ids(["tract", "patch"], instrument=..., visit=v)`` (the automatic join).

With ``--reference`` the same records go into a reference butler (``lsst-daf-butler``) on the same back-end
(SQLite, or with ``--postgres`` a schema of its own in that database, through psycopg 3; the reference needs
the ``btree_gist`` extension there: ``CREATE EXTENSION btree_gist``) and the same queries run there, with the
answers compared; ratios are printed.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from skybutler import Butler
from skybutler.testing.spatial import square

ROW = 40
STEP = 1.5
HALF = 0.7
TRACT = 2.0
PATCHES = 4


def visit_centre(v: int) -> tuple[float, float]:
    """Where visit ``v`` points."""
    return 100.0 + (v % ROW) * STEP, -20.0 + (v // ROW) * STEP


def records(visits: int, detectors: int) -> dict[str, list[dict[str, Any]]]:
    """Every record of the benchmark, by element (regions as sphgeom objects)."""
    side = max(1, round(math.sqrt(detectors)))
    size = 2 * HALF / side
    out: dict[str, list[dict[str, Any]]] = {
        "instrument": [{"name": "Cam", "visit_max": 10**6, "detector_max": detectors}],
        "band": [{"name": "r"}],
        "physical_filter": [{"instrument": "Cam", "name": "Cam-r", "band": "r"}],
        "day_obs": [{"instrument": "Cam", "id": 20250101}],
        "detector": [{"instrument": "Cam", "id": d, "full_name": f"D{d:03d}"} for d in range(detectors)],
        "visit": [],
        "visit_detector_region": [],
        "skymap": [{"name": "sky", "hash": b"\x01" * 8}],
        "tract": [],
        "patch": [],
    }
    for v in range(visits):
        ra, dec = visit_centre(v)
        out["visit"].append({"instrument": "Cam", "id": v, "name": f"v{v}", "physical_filter": "Cam-r",
                             "day_obs": 20250101, "region": square(ra, dec, HALF)})  # fmt: skip
        for d in range(detectors):
            dra = ra - HALF + size * (d % side + 0.5)
            ddec = dec - HALF + size * (d // side + 0.5)
            out["visit_detector_region"].append(
                {"instrument": "Cam", "visit": v, "detector": d, "region": square(dra, ddec, size / 2)}
            )
    rows = math.ceil(visits / ROW)
    nx = math.ceil(ROW * STEP / TRACT) + 1
    ny = math.ceil(rows * STEP / TRACT) + 1
    psize = TRACT / PATCHES
    for ty in range(ny):
        for tx in range(nx):
            t = ty * nx + tx
            tra, tdec = 100.0 - STEP + tx * TRACT, -20.0 - STEP + ty * TRACT
            out["tract"].append({"skymap": "sky", "id": t, "region": square(tra, tdec, TRACT / 2)})
            for p in range(PATCHES * PATCHES):
                px, py = p % PATCHES, p // PATCHES
                pra = tra - TRACT / 2 + psize * (px + 0.5)
                pdec = tdec - TRACT / 2 + psize * (py + 0.5)
                out["patch"].append({"skymap": "sky", "tract": t, "id": p, "cell_x": px, "cell_y": py,
                                     "region": square(pra, pdec, psize / 2)})  # fmt: skip
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall and CPU seconds of one call, and its value."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, value


def points(visits: int, n: int) -> list[tuple[int, float, float]]:
    """``n`` (visit, ra, dec) points inside visits spread over the grid."""
    out = []
    for i in range(n):
        v = (i * 7919) % visits
        ra, dec = visit_centre(v)
        out.append((v, ra + 0.3 * math.sin(i), dec + 0.3 * math.cos(i)))
    return out


def run_ours(data: dict[str, list[dict[str, Any]]], n_queries: int, postgres: str | None) -> dict[str, Any]:
    """Insert and query with skybutler; return figures and answers."""
    root = Path(tempfile.mkdtemp()) / "repo"
    if postgres is None:
        Butler.create(root)
    else:
        Butler.create(root, registry=postgres, schema=f"spbench_{uuid.uuid4().hex[:10]}")
    butler = Butler(root, writeable=True)
    reg = butler.registry
    for element in ("instrument", "band", "physical_filter", "day_obs", "detector", "visit", "skymap", "tract",
                    "patch"):  # fmt: skip
        reg.insert_dimension_records(element, data[element])
    wall, cpu, _ = timed(lambda: reg.insert_dimension_records("visit_detector_region", data["visit_detector_region"]))
    figures: dict[str, Any] = {"insert_regions": {"wall": wall, "cpu": cpu, "n": len(data["visit_detector_region"])}}
    answers: dict[str, Any] = {"point": [], "patches": []}
    visits = len(data["visit"])
    where = "visit_detector_region.region OVERLAPS POINT(:ra, :dec)"
    butler.query_data_ids(["visit", "detector"], where=where, bind={"ra": 100.0, "dec": -20.0}).__len__()  # warm
    walls, cpus = [], []
    for _, ra, dec in points(visits, n_queries):
        bind = {"ra": ra, "dec": dec}
        w, c, found = timed(
            lambda bind=bind: list(butler.query_data_ids(["visit", "detector"], where=where, bind=bind))
        )
        walls.append(w)
        cpus.append(c)
        answers["point"].append(sorted((d["visit"], d["detector"]) for d in found))
    figures["point_overlap"] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}
    walls, cpus = [], []
    list(butler.query_data_ids(["tract", "patch"], instrument="Cam", visit=0))  # warm
    for v, _, _ in points(visits, n_queries):
        w, c, found = timed(lambda v=v: list(butler.query_data_ids(["tract", "patch"], instrument="Cam", visit=v)))
        walls.append(w)
        cpus.append(c)
        answers["patches"].append(sorted((d["tract"], d["patch"]) for d in found))
    figures["patches_of_visit"] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}
    butler.close()
    return {"figures": figures, "answers": answers}


def run_reference(data: dict[str, list[dict[str, Any]]], n_queries: int, postgres: str | None) -> dict[str, Any]:
    """The same with the reference butler (SQLite, or PostgreSQL in a schema of its own)."""
    from lsst.daf.butler import Butler as RefButler
    from lsst.daf.butler import Config

    root = Path(tempfile.mkdtemp()) / "ref"
    if postgres is None:
        RefButler.makeRepo(str(root))
    else:
        url = "postgresql+psycopg://" + postgres.split("://", 1)[1]
        namespace = f"spref_{uuid.uuid4().hex[:10]}"
        RefButler.makeRepo(str(root), config=Config({"registry": {"db": url, "namespace": namespace}}))
    butler = RefButler.from_config(str(root), writeable=True)
    reg = butler.registry
    for element in ("instrument", "physical_filter", "day_obs", "detector", "visit", "skymap", "tract", "patch"):
        rows = [dict(r) for r in data[element]]
        if element == "visit":
            for r in rows:
                r["day_obs"] = 20250101
        reg.insertDimensionData(element, *rows)
    vdr = data["visit_detector_region"]
    wall, cpu, _ = timed(lambda: reg.insertDimensionData("visit_detector_region", *vdr))
    figures: dict[str, Any] = {"insert_regions": {"wall": wall, "cpu": cpu, "n": len(vdr)}}
    if postgres is not None:
        # Statistics for the reference's tables, as ours get them after a bulk load: where autovacuum is off (as
        # on the test server) its queries were otherwise planned blind (its first POINT query ran for minutes).
        import psycopg

        with psycopg.connect(postgres, autocommit=True) as conn:
            tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (namespace,)).fetchall()
            for (table,) in tables:
                conn.execute(f'ANALYZE "{namespace}"."{table}"')
    answers: dict[str, Any] = {"point": [], "patches": []}
    visits = len(data["visit"])
    where = "instrument = 'Cam' AND visit_detector_region.region OVERLAPS POINT(ra, dec)"
    walls, cpus = [], []
    for _, ra, dec in points(visits, n_queries):
        w, c, found = timed(lambda ra=ra, dec=dec: list(butler.query_data_ids(
            ["visit", "detector"], where=where, bind={"ra": ra, "dec": dec}, explain=False)))  # fmt: skip
        walls.append(w)
        cpus.append(c)
        answers["point"].append(sorted((d["visit"], d["detector"]) for d in found))
    figures["point_overlap"] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}
    walls, cpus = [], []
    for v, _, _ in points(visits, n_queries):
        w, c, found = timed(lambda v=v: list(butler.query_data_ids(
            ["tract", "patch"], instrument="Cam", visit=v, skymap="sky", explain=False)))  # fmt: skip
        walls.append(w)
        cpus.append(c)
        answers["patches"].append(sorted((d["tract"], d["patch"]) for d in found))
    figures["patches_of_visit"] = {"wall": statistics.median(walls), "cpu": statistics.median(cpus)}
    return {"figures": figures, "answers": answers}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=1000)
    parser.add_argument("--detectors", type=int, default=100)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--reference", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    data = records(args.visits, args.detectors)
    results = {"skybutler": run_ours(data, args.queries, args.postgres)}
    if args.reference:
        results["reference"] = run_reference(data, args.queries, args.postgres)
        same = results["reference"]["answers"] == results["skybutler"]["answers"]
        results["same_answers"] = {"equal": same}
    backend = "postgresql" if args.postgres else "sqlite"
    if args.json:
        json.dump({k: v.get("figures", v) for k, v in results.items()}, sys.stdout, indent=1)
        print()
        return 0
    ours = results["skybutler"]["figures"]
    print(f"spatial benchmark on {backend}: {ours['insert_regions']['n']} visit_detector_regions")
    for step, fig in ours.items():
        line = f"  {step:18s} wall {fig['wall'] * 1e3:10.2f} ms  cpu {fig['cpu'] * 1e3:10.2f} ms"
        if args.reference:
            ref = results["reference"]["figures"][step]
            line += f"   reference wall {ref['wall'] * 1e3:10.2f} ms  ratio {ref['wall'] / fig['wall']:6.1f}x"
        print(line)
    if args.reference:
        print(f"  same answers as the reference: {results['same_answers']['equal']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
