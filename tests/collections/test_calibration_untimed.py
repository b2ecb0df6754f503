"""A CALIBRATION collection searched with no time: the reference's answer when unambiguous, else an error saying
what to add; never a silent empty result (docs/queries.md, "Where we differ from the reference butler")."""

from __future__ import annotations

from typing import Any

import pytest

from skybutler import Butler
from skybutler.errors import DataIdError


@pytest.fixture
def calib(butler: Butler) -> Butler:
    """Biases of detectors 0 and 1 certified once each; detector 2 certified twice, with two datasets."""
    butler.register_dataset_type("bias", ["detector"], "StructuredDataDict", is_calibration=True)
    refs = [butler.put({"d": d}, "bias", instrument="Cam", detector=d, run="calib/2024") for d in (0, 1, 2)]
    late = butler.put({"d": 2, "late": True}, "bias", instrument="Cam", detector=2, run="calib/2025")
    butler.collections.register("calib", "CALIBRATION")
    butler.collections.certify("calib", refs, ("2024-01-01T00:00:00", "2025-01-01T00:00:00"))
    butler.collections.certify("calib", [late], ("2025-01-01T00:00:00", None))
    return butler


def det(d: int) -> dict[str, Any]:
    return {"instrument": "Cam", "detector": d}


def test_find_and_get_answer_the_one_certified_dataset(calib: Butler) -> None:
    assert calib.get("bias", det(0), collections="calib") == {"d": 0}
    ref = calib.find_dataset("bias", det(1), collections="calib")
    assert ref is not None
    assert ref.run == "calib/2024"
    assert calib.exists("bias", det(1), collections="calib")


def test_several_certified_datasets_are_an_error_naming_the_ranges(calib: Butler) -> None:
    with pytest.raises(DataIdError, match=r"over different validity ranges .*pass at=") as caught:
        calib.get("bias", det(2), collections="calib")
    assert "2025-01-01" in str(caught.value)
    assert calib.get("bias", det(2), collections="calib", at="2025-06-01T00:00:00") == {"d": 2, "late": True}


def test_query_datasets_with_no_time(calib: Butler) -> None:
    every = calib.query_datasets("bias", collections="calib", find_first=False)
    assert sorted((r.data_id["detector"], r.run) for r in every) == [
        (0, "calib/2024"), (1, "calib/2024"), (2, "calib/2024"), (2, "calib/2025"),
    ]  # fmt: skip
    with pytest.raises(DataIdError, match=r"Several 'bias' datasets are certified .* find_first=False"):
        calib.query_datasets("bias", collections="calib")
    # after decertifying the late one, each data ID has one: find-first answers
    (late,) = [r for r in every if r.run == "calib/2025"]
    calib.collections.decertify("calib", "bias", ("2025-01-01T00:00:00", None), data_ids=[late.data_id])
    found = calib.query_datasets("bias", collections="calib")
    assert sorted(r.data_id["detector"] for r in found) == [0, 1, 2]
