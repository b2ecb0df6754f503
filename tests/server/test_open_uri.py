"""`Butler.open_uri`: the file behind `get_uri`, read in byte ranges, the same way on a direct and a remote butler."""

from __future__ import annotations

import json

from skybutler.testing.server import ServedRepo

DATA_ID = {"instrument": "Cam", "visit": 1, "detector": 2}


def test_open_uri_reads_what_get_uri_names_on_both_butlers(served_files: ServedRepo) -> None:
    payload = {"seeing": 0.7, "note": "x" * 100_000}  # over the inline limit: a signed URL remotely
    with served_files.remote(run="u/run") as remote:
        remote.register_dataset_type("meta", list(DATA_ID), "StructuredDataDict")
        ref = remote.put(payload, "meta", DATA_ID)
        with served_files.local() as local:
            for butler in (local, remote):
                with butler.open_uri(butler.get_uri(ref)) as stream:
                    head = stream.read(11)
                    stream.seek(0)
                    assert json.loads(stream.read()) == payload
                assert head == b'{"seeing":0'  # compact JSON, as the formatter writes it
