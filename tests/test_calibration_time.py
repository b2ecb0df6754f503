"""A calibration lookup that misses says where the dataset is certified, for which ranges, and that none covers
the time asked (issue 19 item 14: it pointed at the RUN, "add one of them to collections=")."""

from __future__ import annotations

import re

import pytest

from skybutler.butler import Butler
from skybutler.errors import DatasetNotFoundError


@pytest.fixture
def certified(butler: Butler) -> tuple[Butler, int]:
    """A telemetry table certified in 'calib' for [2025-01-01, 2025-06-01); the transaction time."""
    butler.register_dataset_type("telemetry", ["instrument"], "StructuredDataDict", is_calibration=True)
    ref = butler.put({"t": 1}, "telemetry", instrument="Cam", run="calib/run1")
    butler.collections.register("calib", "CALIBRATION")
    return butler, butler.collections.certify("calib", [ref], ("2025-01-01", "2025-06-01"))


def test_a_miss_names_the_certified_ranges(certified: tuple[Butler, int]) -> None:
    butler, _ = certified
    with pytest.raises(DatasetNotFoundError) as caught:
        butler.get("telemetry", instrument="Cam", collections="calib", at="2026-03-01")
    assert str(caught.value) == (
        "No 'telemetry' with data ID {instrument: 'Cam'} is certified for 2026-03-01T00:00:00 UTC: it is certified "
        "in 'calib' for [2025-01-01T00:00:00, 2025-06-01T00:00:00) (UTC), and none of these ranges covers that "
        "time. Certify one for that time, or ask at= a time inside a range."
    )
    assert "add one of them to collections=" not in str(caught.value)


def test_a_miss_as_of_an_earlier_time_says_what_was_known_then(certified: tuple[Butler, int]) -> None:
    butler, recorded = certified
    with pytest.raises(DatasetNotFoundError) as caught:
        butler.get("telemetry", instrument="Cam", collections="calib", at="2025-03-01", as_of=recorded - 1)
    message = str(caught.value)
    start = r"No 'telemetry' with data ID \{instrument: 'Cam'\} is certified for 2025-03-01T00:00:00 UTC as of "
    assert re.match(start, message)
    assert "certified in 'calib' only by rows recorded at other times (the first at " in message
    assert message.endswith(
        "nothing there was in force then. Certify one for that time, or ask at= a time inside a range."
    )


def test_a_miss_in_a_run_keeps_the_general_explanation(certified: tuple[Butler, int]) -> None:
    butler, _ = certified
    with pytest.raises(DatasetNotFoundError, match=r"It exists in \['calib/run1'\]"):
        butler.get("telemetry", instrument="Cam", collections="test/run", at="2025-03-01")
