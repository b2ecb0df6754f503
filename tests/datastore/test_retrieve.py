"""Copying artifacts out of a repository (``butler.retrieve_artifacts``): all or nothing, at datastore paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skybutler.butler import Butler
from skybutler.errors import ConflictError, DatasetNotFoundError


def test_retrieve_copies_every_file(butler: Butler, tmp_path: Path) -> None:
    butler.register_dataset_type("arr", ["instrument", "detector"], "NumpyArray")
    refs = [butler.put(np.arange(4) + d, "arr", instrument="Cam", detector=d) for d in range(3)]
    out = tmp_path / "out"
    paths = [Path(p) for p in butler.retrieve_artifacts(refs, out)]
    assert [np.load(p).tolist() for p in paths] == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]]
    assert all(p.relative_to(out).parts[0] == "test" for p in paths)  # the run's path, "test/run/..."
    paths[0].write_bytes(b"mine")
    with pytest.raises(ConflictError, match="nothing was copied"):
        butler.retrieve_artifacts(refs, out)
    assert paths[0].read_bytes() == b"mine"
    assert not list(out.rglob(".*.partial"))
    butler.retrieve_artifacts(refs[:1], out, overwrite=True)
    assert np.load(paths[0]).tolist() == [0, 1, 2, 3]
    butler.remove(refs[1:2])
    with pytest.raises(DatasetNotFoundError, match="1 dataset"):
        butler.retrieve_artifacts(refs, tmp_path / "other")
    assert not (tmp_path / "other").exists()
