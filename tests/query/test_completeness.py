"""``butler.missing``: the completeness matrix of dataset types over data IDs, on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
import pytest

from skybutler.butler import Butler
from skybutler.errors import DatasetTypeError


@pytest.fixture
def filled(butler: Butler) -> Butler:
    butler.register_dataset_type("raw", ["instrument", "visit", "detector"], "NumpyArray")
    butler.register_dataset_type("calexp", ["instrument", "visit", "detector"], "NumpyArray")
    butler.register_dataset_type("bias", ["instrument", "detector"], "NumpyArray", is_calibration=True)
    for visit in range(3):
        for detector in range(2):
            butler.put(np.zeros(2), "raw", instrument="Cam", visit=visit, detector=detector)
            if (visit, detector) != (1, 1):
                butler.put(np.zeros(2), "calexp", instrument="Cam", visit=visit, detector=detector)
    butler.put(np.zeros(2), "bias", instrument="Cam", detector=0, run="calib/run")
    return butler


def test_matrix_and_gaps(filled: Butler) -> None:
    matrix = filled.missing(["raw", "calexp"], ["visit", "detector"], where="visit < 3 AND detector < 2")
    assert matrix.dataset_types == ("raw", "calexp")
    assert len(matrix.rows) == 6
    assert [(c["visit"], c["detector"], lacking) for c, lacking in matrix.missing()] == [(1, 1, ["calexp"])]
    assert not matrix.is_complete
    assert filled.missing("raw", ["visit", "detector"], where="visit < 3 AND detector < 2").is_complete


def test_types_of_other_dimensions_join_like_a_query(filled: Butler) -> None:
    matrix = filled.missing(["c*", "bias"], ["visit", "detector"], where="visit = 0 AND detector < 2",
                            collections=["test/run", "calib/run"])  # fmt: skip
    assert matrix.dataset_types == ("calexp", "bias")
    assert [(c["detector"], present) for c, present in matrix.rows] == [(0, (True, True)), (1, (True, False))]


def test_unknown_names_and_empty_globs(filled: Butler) -> None:
    with pytest.raises(DatasetTypeError, match="'nope' is not registered"):
        filled.missing(["raw", "nope"], ["visit"])
    assert filled.missing(["zz*"], ["detector"]).dataset_types == ()
