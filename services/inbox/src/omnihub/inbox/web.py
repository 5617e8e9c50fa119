"""Serves the agent desktop that Vite builds from services/inbox/web into webapp/ (never committed)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEBAPP = Path(__file__).parent / "webapp"
NOT_BUILT = "the agent desktop is not built: run `make web` (Node.js 20.19+ and npm) from the repository root"


class Desktop:
    """The built single-page app: index.html for the app's pages, hashed assets cached for a year."""

    def __init__(self, root: Path = WEBAPP) -> None:
        self.root = root.resolve()

    async def index(self, request: web.Request) -> web.StreamResponse:
        """The app's index.html (never cached: it names the current hashed assets)."""
        page = self.root / "index.html"
        if not page.is_file():
            raise web.HTTPServiceUnavailable(text=NOT_BUILT)
        resp = web.FileResponse(page)
        resp.headers["Cache-Control"] = "no-cache"
        return resp

    async def asset(self, request: web.Request) -> web.StreamResponse:
        """A built file under /app/assets/; names carry a content hash, so they never change."""
        name = request.match_info["name"]
        path = (self.root / "assets" / name).resolve()
        if not path.is_relative_to(self.root / "assets") or not path.is_file():
            raise web.HTTPNotFound(text="no such file")
        resp = web.FileResponse(path)
        resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return resp

    def routes(self, app: web.Application) -> None:
        """Register the desktop at / (and /app/, where its assets live)."""
        app.router.add_get("/", self.index)
        app.router.add_get("/app", self.index)
        app.router.add_get("/app/", self.index)
        app.router.add_get("/app/assets/{name:[A-Za-z0-9._-]+}", self.asset)
