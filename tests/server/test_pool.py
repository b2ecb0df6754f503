"""The server's pool of butlers keeps no stale cache, and a bad option of a request is a 422 on every endpoint.

A pooled butler caches collections and dataset types.  Before the pool's generation counter, a run, chain or
dataset type removed through one pooled butler stayed cached in the others: an import through another then
failed (SQLite gives a removed collection's ID to the next one, so the stale cache named the wrong collection
and the chain insert broke), and a dataset type removed and registered again kept its old ID.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skybutler import Butler
from skybutler.butler import DirectButler
from skybutler.errors import ConfigError
from skybutler.server._app import ButlerPool
from skybutler.testing.sample import populate_sample
from skybutler.testing.server import ServedRepo
from skybutler.wire import PrepareRequest
from skybutler.wire_transfer import ExportRequest

DIMS = ["instrument", "visit", "detector"]


@pytest.fixture
def root(tmp_path: Path) -> str:
    root = Butler.create(tmp_path / "repo")
    with Butler(root, writeable=True) as butler:
        populate_sample(butler)
        butler.register_dataset_type("meta", DIMS, "StructuredDataDict")
    return str(root)


@pytest.fixture
def pool(root: str) -> Iterator[ButlerPool]:
    pool = ButlerPool(root)
    yield pool
    pool.close()


def _fill_and_export(butler: DirectButler, export: Path) -> None:
    refs = butler.put_many([({"v": v}, {"instrument": "Cam", "visit": v, "detector": 1}) for v in range(3)], "meta",
                           run="u/run")  # fmt: skip
    butler.collections.register("u/tagged", "TAGGED")
    butler.collections.associate("u/tagged", refs[:2])
    butler.collections.set_chain("u/chain", ["u/tagged", "u/run"])
    butler.export(export, collections="u/chain")
    butler.collections.flatten(["u/chain"])  # cached by this butler


def _remove_all(butler: DirectButler) -> None:
    butler.collections.remove("u/chain")
    butler.collections.remove("u/tagged")
    butler.collections.remove_runs(["u/run"])
    butler.collections.register("u/other", "TAGGED")  # takes a removed collection's ID on SQLite


def test_a_removal_through_one_pooled_butler_is_not_cached_in_another(pool: ButlerPool, tmp_path: Path) -> None:
    with pool.butler() as first, pool.butler() as second:  # two butlers: the first is busy when asked again
        assert first is not second
        _fill_and_export(first, tmp_path / "export.zip")
        first.get_dataset_type("meta")
    with pool.butler(write=True, changes=True) as remover:
        assert remover is second
        _remove_all(remover)
        remover.remove_dataset_type("meta")
        remover.register_dataset_type("meta", DIMS, "StructuredDataDict")  # a new ID
    with pool.butler(write=True) as importer:
        assert importer is first  # the butler that cached all of it
        assert importer.import_(tmp_path / "export.zip").datasets == 3
        assert importer.collections.children("u/chain") == ["u/tagged", "u/run"]
        assert [r.dataset_type.name for r in importer.query_datasets("meta", collections="u/chain")] == ["meta"] * 3


def test_a_removal_by_another_process_is_seen_by_a_write_request(pool: ButlerPool, root: str, tmp_path: Path) -> None:
    with pool.butler() as pooled:
        _fill_and_export(pooled, tmp_path / "export.zip")
    with DirectButler(root, writeable=True) as elsewhere:  # e.g. the command line, next to the server
        _remove_all(elsewhere)
    with pool.butler(write=True) as importer:
        assert importer is pooled
        assert importer.import_(tmp_path / "export.zip").datasets == 3
        assert importer.collections.children("u/chain") == ["u/tagged", "u/run"]


def test_a_bad_option_is_a_422_config_error_outside_the_transfer_endpoints_too(served_files: ServedRepo) -> None:
    import httpx

    with served_files.remote(writeable=True) as admin:
        admin.register_dataset_type("meta", DIMS, "StructuredDataDict")
        session = admin._session
        one = {"instrument": "Cam", "visit": 1, "detector": 1}
        prepare = PrepareRequest(dataset_type="meta", run="u/run", data_ids=[one], id_mode="bogus")
        with pytest.raises(ConfigError, match="id_mode 'bogus'"):
            session.call("POST", "/datasets/prepare", prepare)
        export = ExportRequest(name="x.zip", transfer="bogus")
        with pytest.raises(ConfigError, match="bogus"):
            session.call("POST", "/transfer/export", export)
        headers = {"Authorization": f"Bearer {served_files.admin_token}"}
        for path, body in [("/datasets/prepare", prepare), ("/transfer/export", export)]:
            answer = httpx.post(f"{served_files.url}/api/v1{path}", json=body.model_dump(), headers=headers)
            assert (answer.status_code, answer.json()["code"]) == (422, "config")
        assert "u/run" not in admin.query_collections()
