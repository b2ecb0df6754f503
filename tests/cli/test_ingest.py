"""ingest-files (CSV and YAML tables, common data ID values, errors) and ingest-raws (real FITS headers)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.cli.conftest import Run, run_process

from skybutler.butler import DirectButler


def _npy(directory: Path, name: str, value: float) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    np.save(path, np.full(3, value))
    return path


def _register(root: str) -> None:
    with DirectButler(root, writeable=True) as butler:
        butler.register_dataset_type("flat", ["instrument", "detector"], "NumpyArray")


def test_ingest_files_from_a_csv_table(run: Run, any_repo: str, tmp_path: Path) -> None:
    _register(any_repo)
    files = tmp_path / "files"
    _npy(files, "flat_0.npy", 0.0)
    _npy(files, "flat_1.npy", 1.0)
    table = files / "flats.csv"
    table.write_text("# flats of Cam\npath,detector\nflat_0.npy,0\nflat_1.npy,1\n")
    result = run("ingest-files", any_repo, str(table), "--dataset-type", "flat", "--run", "flats",
                 "-d", "instrument=Cam", "--transfer", "copy", "--id-mode", "deterministic")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "Ingested 2 file(s) as flat into flats (copy).\n"
    with DirectButler(any_repo) as butler:
        assert butler.get("flat", instrument="Cam", detector=1, collections="flats")[0] == 1.0
    again = run("ingest-files", any_repo, str(table), "--dataset-type", "flat", "--run", "flats",
                "-d", "instrument=Cam", "--id-mode", "deterministic", "--skip-existing", "-f", "json")  # fmt: skip
    assert again.exit_code == 0, again.output
    rows = json.loads(again.stdout)
    assert sorted(r["detector"] for r in rows) == [0, 1]
    assert {r["run"] for r in rows} == {"flats"}
    assert (files / "flat_0.npy").exists()  # copied, not moved


def test_ingest_files_from_a_csv_table_saved_by_a_spreadsheet(run: Run, sample_repo: str, tmp_path: Path) -> None:
    # Spreadsheets save "CSV UTF-8" with a byte order mark before the header row; it is not part of 'path'.
    _register(sample_repo)
    _npy(tmp_path / "files", "flat é 0.npy", 3.0)
    table = tmp_path / "files" / "flats.csv"
    table.write_bytes("\ufeffpath,detector\r\nflat é 0.npy,0\r\n".encode())
    result = run("ingest-files", sample_repo, str(table), "--dataset-type", "flat", "--run", "flats",
                 "-d", "instrument=Cam", "--transfer", "copy")  # fmt: skip
    assert result.exit_code == 0, result.output
    with DirectButler(sample_repo) as butler:
        assert butler.get("flat", instrument="Cam", detector=0, collections="flats")[0] == 3.0


def test_ingest_files_from_yaml_with_relative_paths_and_a_prefix(run: Run, sample_repo: str, tmp_path: Path) -> None:
    _register(sample_repo)
    _npy(tmp_path / "data", "a.npy", 5.0)
    table = tmp_path / "table.yaml"
    table.write_text("files:\n- {path: a.npy, instrument: Cam, detector: 0}\n")
    result = run("ingest-files", sample_repo, str(table), "--dataset-type", "flat", "--run", "flats",
                 "--prefix", str(tmp_path / "data"), "--transfer", "move")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "data" / "a.npy").exists()
    with DirectButler(sample_repo) as butler:
        assert butler.get("flat", instrument="Cam", detector=0, collections="flats")[0] == 5.0


def test_ingest_files_direct_records_a_checksum_only_when_asked(run: Run, sample_repo: str, tmp_path: Path) -> None:
    _register(sample_repo)
    _npy(tmp_path, "a.npy", 1.0)
    table = tmp_path / "t.csv"
    table.write_text("path,instrument,detector\na.npy,Cam,0\n")
    for flag, run_name in (("--no-checksum", "sizes"), ("--checksum", "sums")):
        result = run("ingest-files", sample_repo, str(table), "--dataset-type", "flat", "--run", run_name,
                     "--transfer", "direct", flag)  # fmt: skip
        assert result.exit_code == 0, result.output
    with DirectButler(sample_repo) as butler:
        stored = butler.registry.dataset_types.get("flat")
        refs = {name: butler.query_datasets_in_run("flat", name)[0] for name in ("sizes", "sums")}
        rows = {r.id: r.artifact for r in butler.registry.datasets.by_ids([stored], [r.id for r in refs.values()])}
        sizes, sums = rows[refs["sizes"].id], rows[refs["sums"].id]
        assert sizes is not None
        assert sums is not None
        assert sizes.size == sums.size == (tmp_path / "a.npy").stat().st_size
        assert sizes.checksum is None
        assert sums.checksum is not None


def test_ingest_files_bad_input_ingests_nothing(run: Run, sample_repo: str, tmp_path: Path) -> None:
    _register(sample_repo)
    _npy(tmp_path, "a.npy", 1.0)
    table = tmp_path / "t.csv"
    table.write_text("path,instrument,detector\na.npy,Cam,0\nmissing.npy,Cam,1\n")
    result = run("ingest-files", sample_repo, str(table), "--dataset-type", "flat", "--run", "flats")
    assert result.exit_code == 1, result.output  # a storage error
    assert result.stderr.startswith("error [artifact-not-found]:")
    assert "missing.npy" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with DirectButler(sample_repo) as butler:
        assert "flats" not in butler.query_collections()
    no_path = tmp_path / "n.csv"
    no_path.write_text("file,detector\na.npy,0\n")
    result = run("ingest-files", sample_repo, str(no_path), "--dataset-type", "flat", "--run", "flats")
    assert result.exit_code == 1
    assert result.stderr.startswith("error [config]: Row 1 of")
    missing_option = run("ingest-files", sample_repo, str(table), "--run", "flats")
    assert missing_option.exit_code == 2
    assert "Missing option '--dataset-type'" in missing_option.stderr
    bad_mode = run("ingest-files", sample_repo, str(table), "--dataset-type", "flat", "--run", "r", "--transfer", "x")
    assert bad_mode.exit_code == 2
    assert "'x' is not one of" in bad_mode.stderr


def _fits(path: Path, seq: int, detector: int) -> Path:
    from astropy.io import fits

    hdu = fits.PrimaryHDU(np.full((4, 5), seq, dtype=np.int16))
    cards = {"INSTRUME": "TestCam", "DATE-OBS": f"2025-03-04T0{seq}:00:00.000", "EXPTIME": 30.0,
             "FILTER": "TestCam-r", "BAND": "r", "DETECTOR": detector, "DETNAME": f"S{detector:02d}",
             "OBSID": f"TC_{seq:04d}", "SEQNUM": seq, "IMAGETYP": "science"}  # fmt: skip
    for key, value in cards.items():
        hdu.header[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu.writeto(path)
    return path


def test_ingest_raws_reports_ingested_skipped_and_failed(run: Run, repo: str, tmp_path: Path) -> None:
    pytest.importorskip("astropy")
    night = tmp_path / "night"
    for seq in (1, 2):
        for detector in (0, 1):
            _fits(night / f"raw_{seq}_{detector}.fits", seq, detector)
    result = run("ingest-raws", repo, str(night))
    assert result.exit_code == 0, result.output
    assert result.stdout == "4 file(s): ingested 4, skipped 0 existing, 0 failed.\n"
    (night / "broken.fits").write_text("not FITS")
    again = run("ingest-raws", repo, str(night), "-f", "json")
    assert again.exit_code == 1
    rows = json.loads(again.stdout)
    assert sorted(r["status"] for r in rows) == ["failed", "skipped", "skipped", "skipped", "skipped"]
    failed = next(r for r in rows if r["status"] == "failed")
    assert failed["path"].endswith("broken.fits")
    assert failed["reason"]
    table = run("ingest-raws", repo, str(night / "broken.fits"), str(night / "raw_1_0.fits"))
    assert table.exit_code == 1
    assert table.stdout == "2 file(s): ingested 0, skipped 1 existing, 1 failed.\n"
    assert table.stderr.startswith(f"failed: {night / 'broken.fits'}: ")
    with DirectButler(repo) as butler:
        assert butler.query_datasets("raw", collections="TestCam/raw/all").count() == 4
    unknown = run("ingest-raws", repo, str(night), "--translator", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error [")
    assert "nope" in unknown.stderr


def test_ingest_as_a_process(sample_repo: str, tmp_path: Path) -> None:
    _register(sample_repo)
    _npy(tmp_path, "a.npy", 2.0)
    done = run_process("ingest-files", sample_repo, "-", "--dataset-type", "flat", "--run", "flats",
                       "--prefix", str(tmp_path), input="path,instrument,detector\na.npy,Cam,1\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Ingested 1 file(s) as flat into flats (auto).\n"
    assert done.stderr == ""


def test_ingest_draws_progress_on_a_terminal(
    run: Run, sample_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybutler.cli import _progress

    monkeypatch.setattr(_progress, "stderr_is_terminal", lambda: True)  # the runner's stderr is a buffer
    _register(sample_repo)
    _npy(tmp_path, "a.npy", 2.0)
    (tmp_path / "t.csv").write_text("path,instrument,detector\na.npy,Cam,1\n")
    result = run("ingest-files", sample_repo, str(tmp_path / "t.csv"), "--dataset-type", "flat", "--run", "flats")
    assert result.exit_code == 0, result.output
    assert "━" in result.stderr


def test_ingest_files_from_an_ecsv_table(run: Run, sample_repo: str, tmp_path: Path) -> None:
    table_module = pytest.importorskip("astropy.table")
    _register(sample_repo)
    _npy(tmp_path, "e0.npy", 7.0)
    _npy(tmp_path, "e1.npy", 8.0)
    table = table_module.Table({"path": ["e0.npy", "e1.npy"], "detector": [0, 1]})
    table.write(tmp_path / "files.ecsv", format="ascii.ecsv")  # space-delimited, typed columns
    result = run("ingest-files", sample_repo, str(tmp_path / "files.ecsv"), "--dataset-type", "flat",
                 "--run", "flats", "-d", "instrument=Cam")  # fmt: skip
    assert result.exit_code == 0, result.output
    with DirectButler(sample_repo) as butler:
        assert butler.get("flat", instrument="Cam", detector=1, collections="flats")[0] == 8.0
    (tmp_path / "bad.ecsv").write_text("# %ECSV 1.0\n# ---\n# datatype: [oops\npath\n")
    bad = run("ingest-files", sample_repo, str(tmp_path / "bad.ecsv"), "--dataset-type", "flat", "--run", "x")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error [config]: ")
    assert "is not valid ECSV" in bad.stderr


def test_ingest_raws_over_a_folder_without_raws_says_nothing_matched(run: Run, any_repo: str, tmp_path: Path) -> None:
    # it reported success, having ingested nothing
    (tmp_path / "night").mkdir()
    (tmp_path / "night" / "notes.txt").write_text("no raws tonight")
    result = run("ingest-raws", any_repo, str(tmp_path / "night"))
    assert result.exit_code == 1
    assert result.stderr == f"error [config]: No file in {tmp_path / 'night'} matches --pattern '*.fits*'; " \
        "nothing was ingested.\n"  # fmt: skip
