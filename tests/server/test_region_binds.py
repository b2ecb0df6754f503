"""Sky regions and positions as bind values of a remote query (``OVERLAPS :r``): the same answers as locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skybutler.butler import Butler, DirectButler
from skybutler.testing.server import ServedRepo
from skybutler.testing.spatial import fill_spatial_sample, square
from skybutler.wire import QueryDataIdsRequest, decode_bind, encode_bind

VD = ["visit", "detector"]


def _ids(results: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(c[d] for d in VD) for c in results)


def _values() -> list[Any]:
    import astropy.units as u
    import lsst.sphgeom as sg
    from astropy.coordinates import SkyCoord

    point = sg.LonLat.fromDegrees(150.2, 2.01)
    return [
        square(149.75, 2.0, 0.01),  # a polygon
        sg.Circle(sg.UnitVector3d(point), sg.Angle.fromDegrees(0.05)),
        point,
        sg.UnitVector3d(point),
        SkyCoord(150.2 * u.deg, 2.01 * u.deg).galactic,  # any frame: ICRS on the wire
        SkyCoord([149.74, 149.76, 149.76, 149.74] * u.deg, [1.99, 1.99, 2.01, 2.01] * u.deg),  # corners
    ]


def test_every_region_kind_survives_the_wire() -> None:
    for value in _values():
        sent = json.loads(json.dumps(encode_bind({"r": value})))
        back = decode_bind(sent)["r"]
        if hasattr(value, "encode"):
            assert back.encode() == value.encode()
        elif type(value).__name__ == "SkyCoord":
            assert back.separation(value.icrs).max().deg < 1e-9
        elif type(value).__name__ == "UnitVector3d":  # normalized again: equal to the last bit or so
            assert [back.x(), back.y(), back.z()] == pytest.approx([value.x(), value.y(), value.z()], abs=1e-15)
        else:
            assert str(back) == str(value)
    request = QueryDataIdsRequest(dimensions=VD, bind={"r": _values()[0], "n": 3})
    back = QueryDataIdsRequest.model_validate_json(request.model_dump_json()).bind
    assert back is not None
    assert back["n"] == 3


def test_remote_overlaps_queries_answer_as_local_ones(tmp_path: Path) -> None:
    from skybutler.client import RemoteButler
    from skybutler.server import ServerConfig, ServerThread

    root = Butler.create(tmp_path / "repo")
    with DirectButler(root, writeable=True) as local:
        fill_spatial_sample(local.registry)
        local.register_dataset_type("calexp", VD, "StructuredDataDict")
        local.put_many([({"v": v, "d": d}, {"instrument": "Cam", "visit": v, "detector": d})
                        for v in range(3) for d in range(4)], "calexp", run="r")  # fmt: skip
        token = local.registry.tokens.create("reader", ["read:*"])[0]
        with ServerThread(ServerConfig(str(root))) as server, RemoteButler(server.url, token=token) as remote:
            for value in _values():
                where = "visit_detector_region.region OVERLAPS :r"
                want = _ids(local.query_data_ids(VD, where=where, bind={"r": value}))
                assert want, value
                assert _ids(remote.query_data_ids(VD, where=where, bind={"r": value})) == want
                found = remote.query_datasets("calexp", collections="r", where=where, bind={"r": value})
                assert sorted((r.data_id["visit"], r.data_id["detector"]) for r in found) == want
            # records with regions cross the wire (as the region's own encoding)
            assert remote.query_dimension_records("visit") == local.query_dimension_records("visit")
            # expanded(): the records come from the server, regions and timespans included
            mine = remote.query_data_ids(VD, where="visit = 1")
            theirs = local.query_data_ids(VD, where="visit = 1").expanded()
            expanded = mine.expanded()
            assert expanded == theirs
            assert all(c.has_records for c in expanded)
            assert [c.records["visit_detector_region"] for c in expanded] == [
                c.records["visit_detector_region"] for c in theirs
            ]


def test_a_malformed_region_is_refused_with_the_bind_named(served_files: ServedRepo) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {served_files.admin_token}"}
    for bad in ({"__skybutler__": "region", "hex": "zz"}, {"__skybutler__": "blob"}):
        body = {"dimensions": VD, "where": "visit_detector_region.region OVERLAPS :r", "bind": {"r": bad}}
        answer = httpx.post(f"{served_files.url}/api/v1/query/data-ids", json=body, headers=headers, timeout=30)
        assert answer.status_code == 422
        assert "bind 'r'" in answer.json()["message"]
