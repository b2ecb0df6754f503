"""Files carry their provenance (issue 23 part 6): FITS cards, HDF5 attributes and Parquet metadata that
astropy, h5py and pyarrow read without skybutler, in a copy taken out of the repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skybutler import Butler
from skybutler.astro import Image
from skybutler.formatters._provenance import TRUNCATED, fits_cards, provenance_of
from skybutler.testing.sample import populate_sample

DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}


@pytest.fixture
def files_butler(tmp_path: Path) -> Any:
    root = Butler.create(tmp_path / "repo")
    with Butler(root, run="u/me/prov") as butler:
        populate_sample(butler)
        butler.register_dataset_type("bias", ["instrument", "detector"], "StructuredDataDict")
        yield butler


def _copy_out(butler: Butler, ref: Any, tmp_path: Path) -> Path:
    source = Path(butler.get_uri(ref).removeprefix("file://"))
    target = tmp_path / "outside" / source.name
    target.parent.mkdir(exist_ok=True)
    shutil.copy(source, target)
    return target


def _read_elsewhere(code: str, path: Path) -> Any:
    """Run ``code`` (which prints JSON) in a fresh interpreter that cannot import skybutler."""
    guard = "import sys; sys.modules['skybutler'] = None\n"
    out = subprocess.run([sys.executable, "-c", guard + code, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


@pytest.mark.parametrize(
    ("storage_class", "fmt", "reader"),
    [
        ("Image", "fits", "from astropy.io import fits\nh = fits.getheader(sys.argv[1])\n"
         "print(json.dumps({k: str(h[k]) for k in ('SBDSID','SBRUN','SBDSTYPE','SBDATAID','SBNINPUT','SBINPUTS')}))"),
        ("Image", "hdf5", "import h5py\nf = h5py.File(sys.argv[1])\n"
         "print(json.dumps({k[10:]: str(v) for k, v in f.attrs.items() if k.startswith('skybutler_')}))"),
        ("ArrowTable", "parquet", "import pyarrow.parquet as pq\n"
         "print(pq.read_schema(sys.argv[1]).metadata[b'skybutler.provenance'].decode())"),
    ],
)  # fmt: skip
def test_a_copied_file_says_where_it_came_from(
    files_butler: Butler, tmp_path: Path, storage_class: str, fmt: str, reader: str
) -> None:
    butler = files_butler
    name = f"thing_{fmt}"
    butler.register_dataset_type(name, ["instrument", "visit", "detector"], storage_class, format=fmt)
    inputs = [butler.put({"n": d}, "bias", instrument="Cam", detector=d) for d in range(3)]
    if storage_class == "Image":
        obj: Any = Image(np.arange(12, dtype="f4").reshape(3, 4), {"EXPTIME": 30.0})
    else:
        import pyarrow as pa

        obj = pa.table({"a": [1, 2, 3]})
    ref = butler.put(obj, name, DATA_ID, inputs=inputs)
    found = _read_elsewhere("import json, sys\n" + reader, _copy_out(butler, ref, tmp_path))
    found = {k.replace("SBDSID", "dataset_id"): v for k, v in found.items()}
    keys = {"SBRUN": "run", "SBDSTYPE": "dataset_type", "SBDATAID": "data_id", "SBNINPUT": "n_inputs",
            "SBINPUTS": "inputs"}  # fmt: skip
    found = {keys.get(k, k): v for k, v in found.items()}
    assert found["dataset_id"] == str(ref.id)
    assert found["run"] == "u/me/prov"
    assert found["dataset_type"] == name
    assert json.loads(found["data_id"]) == {"instrument": "Cam", "visit": 1, "detector": 2}
    assert found["n_inputs"] == "3"
    assert found["inputs"].split(",") == [str(r.id) for r in inputs]
    read = butler.get(ref)  # and the cards do not leak into what is read back
    if storage_class == "Image":
        assert read.metadata == {"EXPTIME": 30.0}
    else:
        assert read.schema.metadata is None or b"skybutler.provenance" not in read.schema.metadata


def test_a_header_too_long_for_fits_is_cut_with_a_marker(files_butler: Butler, tmp_path: Path) -> None:
    import uuid

    from astropy.io import fits

    from skybutler.formatters._provenance import inputs_recorded

    butler = files_butler
    butler.register_dataset_type("img", ["instrument", "visit", "detector"], "Image")
    ref = butler.put(Image(np.zeros((2, 2), dtype="f4"), {}), "img", DATA_ID)
    many = [uuid.uuid4() for _ in range(500)]  # 18 500 characters of IDs
    with inputs_recorded({ref.id: many}):
        provenance = provenance_of(ref)
    header = fits.Header(fits_cards({**provenance, "run": "ü/run"}))
    assert header["SBNINPUT"] == "500"
    assert header["SBINPUTS"].endswith(TRUNCATED)
    assert len(header["SBINPUTS"]) == 2000
    assert header["SBRUN"] == "\\xfc/run"  # FITS is ASCII: escaped, not refused
    header.tostring()  # a valid header
    with warnings.catch_warnings():  # astropy would warn about a comment it had to cut: none is left to cut
        warnings.simplefilter("error")
        fits.PrimaryHDU(header=header).writeto(tmp_path / "long.fits")
    assert fits.getheader(tmp_path / "long.fits")["SBINPUTS"] == header["SBINPUTS"]
