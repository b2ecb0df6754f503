"""A sample repository for the web pages' browser tests, their benchmark and docs/web.md's screenshots.

`build_site` fills a new repository with what every page has to show: public and secret runs (a grant-limited
token reads only ``public/*``), a chain leading to both, a TAGGED collection, FITS and HDF5 images, a table, JSON
dicts with lineage between them, and a CALIBRATION collection where a flat was certified, replaced and
decertified.  `launch_chromium` starts Debian's Chromium through Playwright (no browser download).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skybutler.butler import Butler, DirectButler
from skybutler.testing.sample import populate_sample

if TYPE_CHECKING:
    from skybutler.datasets import DatasetRef

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Site", "build_site", "chromium_missing", "launch_chromium"]

CHROMIUM = os.environ.get("SKYBUTLER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

T0 = "2025-01-01T00:00:00"
T1 = "2025-01-10T00:00:00"
T2 = "2025-01-20T00:00:00"
T3 = "2025-02-01T00:00:00"


@dataclass
class Site:
    """The sample repository and what the tests look for in it."""

    root: str
    admin_token: str
    reader_token: str
    refs: dict[str, DatasetRef] = field(default_factory=dict)


def build_site(
    folder: Path,
    *,
    n_visits: int = 6,
    n_detectors: int = 3,
    image_side: int = 512,
    registry: str | None = None,
    schema: str | None = None,
) -> Site:
    """A new repository under ``folder`` (registry: SQLite, or ``registry`` and ``schema``) with the sample content."""
    from skybutler.astro import Image

    root = Butler.create(folder / "repo", registry=registry, schema=schema)
    refs: dict[str, DatasetRef] = {}
    rng = np.random.default_rng(25)
    with DirectButler(root, writeable=True) as butler:
        populate_sample(butler, n_visits=n_visits, n_detectors=n_detectors)
        visit_dims = ["instrument", "visit", "detector"]
        butler.register_dataset_type("raw_meta", visit_dims, "StructuredDataDict")
        butler.register_dataset_type("calexp", visit_dims, "Image", format="fits")
        butler.register_dataset_type("coadd_h5", ["instrument", "detector"], "Image", format="hdf5")
        butler.register_dataset_type("sources", visit_dims, "AstropyTable")
        butler.register_dataset_type("flat", ["instrument", "detector"], "StructuredDataDict", is_calibration=True)
        collections = butler.collections
        with butler.run_context("public/run1", config={"threshold": 5.0}):
            for visit in range(n_visits):
                for detector in range(n_detectors):
                    ref = butler.put({"visit": visit, "detector": detector, "seeing": 0.6 + visit / 10},
                                     "raw_meta", instrument="Cam", visit=visit, detector=detector)  # fmt: skip
                    refs.setdefault("raw_meta", ref)
        collections.set_doc("public/run1", "Raw metadata of every visit and detector.")
        raw = refs["raw_meta"]
        sky = rng.normal(100.0, 5.0, size=(image_side, image_side)).astype("f4")
        sky[image_side // 3, image_side // 4] += 5000.0  # a star
        refs["calexp"] = butler.put(Image(sky, {"EXPTIME": 30.0}), "calexp", instrument="Cam", visit=0, detector=0,
                                    run="public/run2", inputs=[raw])  # fmt: skip
        refs["coadd_h5"] = butler.put(Image(sky[::2, ::2].copy()), "coadd_h5", instrument="Cam", detector=0,
                                      run="public/run2", inputs=[refs["calexp"]])  # fmt: skip
        from astropy.table import Table

        table = Table({"id": np.arange(50), "flux": rng.normal(10, 1, 50), "ra": np.linspace(10, 11, 50)})
        refs["sources"] = butler.put(table, "sources", instrument="Cam", visit=0, detector=0, run="public/run2",
                                     inputs=[refs["calexp"]])  # fmt: skip
        refs["secret"] = butler.put({"secret": True}, "raw_meta", instrument="Cam", visit=0, detector=0,
                                    run="secret/run1")  # fmt: skip
        refs["secret_use"] = butler.put({"derived": True}, "raw_meta", instrument="Cam", visit=1, detector=0,
                                        run="public/run3", inputs=[refs["secret"], raw])  # fmt: skip
        collections.register("public/chain", "CHAINED", doc="What a reader searches: runs, newest first.")
        collections.set_chain("public/chain", ["public/run2", "secret/run1", "public/run1"])
        collections.register("public/best", "TAGGED", doc="Hand-picked.")
        collections.associate("public/best", [raw])
        collections.register("public/calib", "CALIBRATION", doc="Flats.")
        a = butler.put({"flat": "A"}, "flat", instrument="Cam", detector=0, run="public/calib_inputs")
        b = butler.put({"flat": "B"}, "flat", instrument="Cam", detector=0, run="public/calib_inputs_b")
        c = butler.put({"flat": "C"}, "flat", instrument="Cam", detector=1, run="public/calib_inputs")
        collections.certify("public/calib", [a], (T0, T2))
        collections.certify("public/calib", [c], (T0, None))
        collections.certify("public/calib", [b], (T1, T3), replace=True)
        collections.decertify("public/calib", "flat", (T2, T3), data_ids=[{"instrument": "Cam", "detector": 0}])
        refs.update(flat_a=a, flat_b=b, flat_c=c)
        admin = butler.registry.tokens.create("admin", ["admin"])[0]
        reader = butler.registry.tokens.create("reader", ["read:public/*"])[0]
    return Site(root, admin, reader, refs)


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; never `playwright install`)"
    return None


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, through a started `playwright.sync_api.Playwright`."""
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
