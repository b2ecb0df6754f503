"""The provenance commands: run-info, lineage, impact (with a DOT file), invalidated and logs."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.cli.conftest import Run

from skybutler.butler import Butler


@pytest.fixture
def prov_repo(sample_repo: str) -> tuple[str, dict[str, str]]:
    """The sample repository with a bias certified, then replaced, and outputs that used it, and a log."""
    ids: dict[str, str] = {}
    with Butler(sample_repo, writeable=True) as butler:
        butler.collections.register("calib", "CALIBRATION")
        bias = butler.find_dataset("bias", instrument="Cam", detector=0, collections="calib/run1")
        assert bias is not None
        butler.collections.certify("calib", [bias], ("2024-01-01", None))
        with butler.run_context("proc/run", config={"threshold": 5.0}):
            raw = butler.find_dataset("meta", instrument="Cam", visit=1, detector=0, collections="run1")
            assert raw is not None
            isr = butler.put(np.zeros(4), "image", instrument="Cam", visit=1, detector=0, inputs=[raw, bias])
            calexp = butler.put({"ok": True}, "meta", instrument="Cam", visit=1, detector=0, inputs=[isr])
            with butler.capture_logs("isr_log", instrument="Cam", visit=1, detector=0):
                logging.getLogger("isr").warning("saturation ✓")
        new_bias = butler.put(np.ones(4) * 2, "bias", instrument="Cam", detector=0, run="calib/run2")
        butler.collections.certify("calib", [new_bias], ("2024-06-01", None), replace=True)
        ids.update(raw=str(raw.id), bias=str(bias.id), isr=str(isr.id), calexp=str(calexp.id), new=str(new_bias.id))
    return sample_repo, ids


def test_lineage_and_impact(run: Run, prov_repo: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    repo, ids = prov_repo
    result = run("lineage", repo, ids["calexp"], "-f", "json")
    rows = json.loads(result.stdout)
    second = sorted([("bias", ids["bias"]), ("meta", ids["raw"])])
    assert [(r["depth"], r["id"]) for r in rows] == [(1, ids["isr"]), *((2, i) for _, i in second)]
    by_type = run("impact", repo, "--type", "bias", "-d", "instrument=Cam,detector=0", "-c", "calib/run1", "-f", "json")
    assert {r["id"] for r in json.loads(by_type.stdout)} == {ids["isr"], ids["calexp"]}
    dot = tmp_path / "impact.dot"
    result = run("impact", repo, ids["bias"], "--dot", str(dot), "--render", "svg")
    text = dot.read_text()
    assert text.startswith("digraph lineage")
    assert f'"{ids["bias"]}" -> "{ids["isr"]}";' in text
    assert f'"{ids["isr"]}" -> "{ids["calexp"]}";' in text
    if shutil.which("dot") is None:
        assert "Graphviz is not installed" in result.stderr
    else:
        assert dot.with_suffix(".svg").exists()
    empty = run("impact", repo, ids["calexp"])
    assert "No datasets that used it recorded" in empty.stdout


def test_run_info_invalidated_and_logs(run: Run, prov_repo: tuple[str, dict[str, str]]) -> None:
    repo, ids = prov_repo
    info = {r["field"]: r["value"] for r in json.loads(run("run-info", repo, "proc/run", "-f", "json").stdout)}
    assert json.loads(info["config"]) == {"threshold": 5.0}
    assert info["ended"] >= info["started"]
    packages = run("run-info", repo, "proc/run", "--packages", "-f", "csv").stdout
    assert "skybutler," in packages
    rows = json.loads(run("invalidated", repo, "-c", "calib", "-f", "json").stdout)
    assert [(r["output_id"], r["used"], r["now_valid"]) for r in rows] == [(ids["isr"], ids["bias"], ids["new"])]
    yaml_out = run("invalidated", repo, "-c", "calib", "-f", "yaml").stdout
    assert ids["isr"] in yaml_out
    log = run("logs", repo, "--type", "isr_log", "-d", "instrument=Cam,visit=1,detector=0", "-c", "proc/run").stdout
    assert "WARNING" in log
    assert "saturation ✓" in log
    assert run("logs", repo, "--type", "isr_log", "-d", "instrument=Cam,visit=1,detector=0", "-c", "proc/run",
               "--level", "ERROR").stdout.strip() == "No log records."  # fmt: skip
