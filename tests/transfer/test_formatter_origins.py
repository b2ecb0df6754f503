"""The reference formatter paths kept by imports: concurrent writers keep each other's keys."""

from __future__ import annotations

import threading
import time

from skybutler.butler import DirectButler
from skybutler.transfer._formatter_origins import load_origins, save_origins

FITS = "lsst.obs.base.formatters.fitsExposure.FitsExposureFormatter"
PARQUET = "lsst.daf.butler.formatters.parquet.ParquetFormatter"


def test_origins_first_kept_wins(butler: DirectButler) -> None:
    save_origins(butler.registry, {("calexp", "afw_fits"): FITS})
    save_origins(butler.registry, {("calexp", "afw_fits"): "other.Formatter", ("src", "parquet"): PARQUET})
    assert load_origins(butler.registry) == {("calexp", "afw_fits"): FITS, ("src", "parquet"): PARQUET}


def test_concurrent_writers_keep_both(butler: DirectButler, repo: str) -> None:
    """A second writer waits for the first's commit and then adds to its row, instead of overwriting or failing."""
    errors: list[BaseException] = []
    with DirectButler(repo, writeable=True) as other:
        second = threading.Thread(target=_save, args=(other, {("src", "parquet"): PARQUET}, errors))
        with butler.registry.db.transaction():
            save_origins(butler.registry, {("calexp", "afw_fits"): FITS})
            second.start()
            time.sleep(0.3)  # the second writer reaches its lock (or, on SQLite, its BEGIN) before this commit
        second.join(timeout=60)
        assert not second.is_alive()
        assert errors == []
        assert load_origins(other.registry) == {("calexp", "afw_fits"): FITS, ("src", "parquet"): PARQUET}
    assert load_origins(butler.registry) == {("calexp", "afw_fits"): FITS, ("src", "parquet"): PARQUET}


def _save(butler: DirectButler, origins: dict[tuple[str, str], str], errors: list[BaseException]) -> None:
    try:
        save_origins(butler.registry, origins)
    except BaseException as exc:  # reported to the test's thread
        errors.append(exc)
