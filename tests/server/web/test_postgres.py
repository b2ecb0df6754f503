"""Every page answers on a PostgreSQL registry too (the SQL of counts and capped ranges is portable); no browser
needed for that: an HTTP client signs in as a browser does."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybutler.testing.fixtures import POSTGRES_URL, fresh_schema, require_postgres
from skybutler.testing.web import build_site


@pytest.mark.postgres
def test_every_page_answers_on_postgresql(tmp_path: Path) -> None:
    require_postgres()
    import httpx

    from skybutler.server import ServerConfig, ServerThread

    with fresh_schema(POSTGRES_URL) as schema:
        site = build_site(tmp_path, registry=POSTGRES_URL, schema=schema, image_side=64)
        with ServerThread(ServerConfig(site.root)) as server, httpx.Client(base_url=server.url) as client:
            login = client.post("/web/login", data={"token": site.reader_token, "next": "/web/"})
            assert login.status_code == 303
            refs = site.refs
            for path in [
                "/web/", "/web/collections", "/web/collection/public/chain", "/web/collection/public/run1",
                "/web/collection/public/best", "/web/collection/public/calib", "/web/run/public/run1",
                "/web/datasets?type=raw_meta&collections=public/*&order=-visit&page=2&size=5",
                "/web/missing?types=raw_meta,calexp&collections=public/*",
                f"/web/dataset/{refs['calexp'].id.hex}", f"/web/dataset/{refs['calexp'].id.hex}/lineage",
                f"/web/dataset/{refs['calexp'].id.hex}/preview.png", "/web/timeline?collection=public/calib&type=flat",
            ]:  # fmt: skip
                answer = client.get(path)
                assert answer.status_code == 200, (path, answer.text[:1000])
                assert b"secret/" not in answer.content, path
            home = client.get("/web/").text
            assert 'id="n-datasets">' in home
