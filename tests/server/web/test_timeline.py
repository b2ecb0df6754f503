"""The calibration timeline is checked, not just drawn: its blocks' data attributes are the registry's
certification history after a scripted certify, replace and decertify, and a block opens its dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skybutler.butler import DirectButler
from skybutler.server import ServerThread
from skybutler.testing.web import Site

ATTRS = "rects => rects.map(r => [r.dataset.datasetId, r.dataset.validBegin, r.dataset.validEnd, " \
        "r.dataset.recordedBegin, r.dataset.recordedEnd])"  # fmt: skip


def _text(ns: int | None) -> str:
    return "" if ns is None else str(ns)


def test_blocks_equal_the_certification_history(site: Site, server: ServerThread, admin: Any, artifacts: Path) -> None:
    with DirectButler(site.root) as butler:
        history = butler.collections.history("public/calib", "flat", {"instrument": "Cam", "detector": 0})
    expected = sorted(
        (str(r.dataset_id), _text(r.valid.begin), _text(r.valid.end), _text(r.recorded.begin), _text(r.recorded.end))
        for r in history
    )
    # certify A over [T0, T2); replace with B over [T1, T3): A's row closed, A re-added over [T0, T1); decertify
    # [T2, T3): B's row closed, B re-added over [T1, T2).  Four rows, the last of A and of B current.
    assert len(expected) == 4
    assert sum(1 for row in expected if row[4] == "") == 2
    page = admin.new_page()
    page.goto(server.url + "/web/timeline?collection=public/calib&type=flat&data_id=instrument=Cam,detector=0")
    shown = sorted(tuple(row) for row in page.eval_on_selector_all("svg.timeline rect.block", ATTRS))
    assert shown == expected
    page.screenshot(path=str(artifacts / "timeline_detector0.png"), full_page=True)
    current_b = next(r for r in history if r.dataset_id == site.refs["flat_b"].id and r.recorded.end is None)
    page.click(f"svg.timeline rect[data-dataset-id='{current_b.dataset_id}'][data-recorded-end='']")
    page.wait_for_url(f"**/web/dataset/{current_b.dataset_id.hex}")
    assert page.locator("#dataset-id").inner_text() == str(current_b.dataset_id)
    page.close()


def test_every_data_id_has_its_chart(site: Site, server: ServerThread, admin: Any) -> None:
    with DirectButler(site.root) as butler:
        history = butler.collections.history("public/calib", "flat")
    page = admin.new_page()
    page.goto(server.url + "/web/timeline?collection=public/calib&type=flat")
    assert page.locator("svg.timeline").count() == 2
    assert page.locator("svg.timeline rect.block").count() == len(history)
    page.close()
