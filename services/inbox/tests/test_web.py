"""The inbox serves the built agent desktop: index.html uncached, hashed assets immutable, nothing else."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from omnihub.inbox.web import NOT_BUILT, WEBAPP, Desktop


async def _client(root: Path) -> TestClient[web.Request, web.Application]:
    app = web.Application()
    Desktop(root).routes(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_serves_the_built_app(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text('<script type="module" src="/app/assets/index-abc.js"></script>')
    (tmp_path / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not served")
    client = await _client(tmp_path)
    try:
        for path in ("/", "/app/"):
            page = await client.get(path)
            assert page.status == 200 and "index-abc.js" in await page.text()
            assert page.headers["Cache-Control"] == "no-cache"
        asset = await client.get("/app/assets/index-abc.js")
        assert asset.status == 200 and "immutable" in asset.headers["Cache-Control"]
        assert asset.headers["Content-Type"].startswith(("text/javascript", "application/javascript"))
        for path in ("/app/assets/..%2Fsecret.txt", "/app/assets/missing.js", "/app/secret.txt"):
            assert (await client.get(path)).status == 404, path
    finally:
        await client.close()


async def test_says_how_to_build_when_not_built(tmp_path: Path) -> None:
    client = await _client(tmp_path / "nothing")
    try:
        page = await client.get("/")
        assert page.status == 503 and await page.text() == NOT_BUILT
    finally:
        await client.close()


def test_the_build_goes_into_the_package() -> None:
    assert WEBAPP.parent.name == "inbox" and WEBAPP.name == "webapp"
    vite = (Path(__file__).parents[1] / "web" / "vite.config.ts").read_text()
    assert '"../src/omnihub/inbox/webapp"' in vite and 'base: "/app/"' in vite
