"""Logs and configurations as datasets (issue 23 parts 2 and 3), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from skybutler.butler import Butler
from skybutler.datasets._log_records import LogRecords
from skybutler.errors import ConflictError

DATA_ID: dict[str, Any] = {"instrument": "Cam", "visit": 1, "detector": 2}


def test_logs_round_trip_with_exceptions_and_non_ascii_text(butler: Butler) -> None:
    log = logging.getLogger("isr.task")
    root_level = logging.getLogger().level
    with butler.capture_logs("isr_log", DATA_ID) as capture:
        log.debug("not captured: below INFO")
        log.info("Übergang — ✓ 天体 %d", 42)
        log.warning("saturated pixels: %s", 17)
        try:
            raise ValueError("bad ‰ value")
        except ValueError:
            log.exception("ISR failed")
    assert logging.getLogger().level == root_level  # restored
    assert capture.ref is not None
    records = butler.get("isr_log", DATA_ID)
    assert isinstance(records, LogRecords)
    assert [(r.level, r.logger, r.message) for r in records] == [
        ("INFO", "isr.task", "Übergang — ✓ 天体 42"),
        ("WARNING", "isr.task", "saturated pixels: 17"),
        ("ERROR", "isr.task", "ISR failed"),
    ]
    assert records[2].exc_text is not None
    assert "ValueError: bad ‰ value" in records[2].exc_text
    assert records[0].exc_text is None
    assert records[0].time <= records[2].time
    warnings = butler.get("isr_log", DATA_ID, parameters={"level": "WARNING"})
    assert [r.level for r in warnings] == ["WARNING", "ERROR"]
    assert [r.level for r in records.filter(logging.ERROR)] == ["ERROR"]
    assert "天体" in str(records)


def test_a_failing_block_still_stores_its_log(butler: Butler) -> None:
    def failing() -> None:
        with butler.capture_logs("isr_log", DATA_ID, level="DEBUG"):
            logging.getLogger("x").debug("step 1")
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        failing()
    records = butler.get("isr_log", DATA_ID)
    assert [r.level for r in records] == ["DEBUG", "ERROR"]
    assert "RuntimeError: stop" in (records[-1].exc_text or "")


def test_task_configs_are_datasets_that_run_info_links(butler: Butler) -> None:
    ref = butler.put_config("isr", {"doBias": True, "threshold": 5.0})
    butler.put_config("calibrate", {"astrometry": {"order": 3}})
    info = butler.run_info("test/run")
    assert set(info.task_configs) == {"isr", "calibrate"}
    assert info.task_configs["isr"] == ref
    assert butler.get(info.task_configs["calibrate"]) == {"astrometry": {"order": 3}}
    with pytest.raises(ConflictError):
        butler.put_config("isr", {"doBias": False})  # one per label and run
