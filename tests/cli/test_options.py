"""Input files named on the command line: a file that is not UTF-8 text is the user's error, never an internal one."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.cli.conftest import Run

from skybutler.butler import Butler
from skybutler.errors import ExportFormatError

LATIN = b"name\n\xffr\n"  # a Latin-1 byte where UTF-8 needs a sequence


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["insert-dimension-records", "{repo}", "band", "{file}.csv"], "config"),
        (["insert-dimension-records", "{repo}", "band", "{file}.yaml"], "config"),
        (["ingest-files", "{repo}", "{file}.csv", "--dataset-type", "meta", "--run", "x"], "config"),
        (["import", "{repo}", "{file}.yaml"], "export-format"),
        (["create", "{tmp}/new", "--config", "{file}.yaml"], "config"),
    ],
)
def test_a_file_that_is_not_utf8_is_one_error_line(
    run: Run, any_repo: str, tmp_path: Path, args: list[str], code: str
) -> None:
    for suffix in (".csv", ".yaml"):
        (tmp_path / f"latin{suffix}").write_bytes(LATIN)
    filled = [a.format(repo=any_repo, file=tmp_path / "latin", tmp=tmp_path) for a in args]
    result = run(*filled)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error [{code}]: {tmp_path / 'latin'}"), result.stderr
    if code == "export-format":  # an export is read by the import's own reader, which also gives the line
        assert "(byte 5, line 2) is not an export file: byte 0xff is not UTF-8 text" in result.stderr
    else:
        assert "is not UTF-8 text (byte 0xff at offset 5)" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_importing_a_document_that_is_not_utf8_names_it(any_repo: str, tmp_path: Path) -> None:
    (tmp_path / "junk.yaml").write_bytes(b"a: \xff\n")
    with (
        Butler(any_repo, writeable=True) as butler,
        pytest.raises(
            ExportFormatError, match=r"junk\.yaml \(byte 3, line 1\) is not an export file: byte 0xff is not UTF-8"
        ),
    ):
        butler.import_(tmp_path / "junk.yaml")
