"""Serve the page's bundled assets (``gateway/web/dist``, built by ``make web``) and its
``config.json`` (the base map's tile URL: a setting, empty = a plain background)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from ..config import WebSettings

DIST = Path(__file__).resolve().parent / "dist"

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>trackgw</title>
<p>The page's assets are not built: run <code>make web</code> (the README's <code>make run</code>
does it).</p>"""


def add_routes(app: web.Application, settings: WebSettings, dist: Path = DIST) -> None:
    async def index(request: web.Request) -> web.StreamResponse:
        page = dist / "index.html"
        if not page.is_file():
            return web.Response(text=NOT_BUILT, content_type="text/html", status=503)
        return web.FileResponse(page, headers={"Cache-Control": "no-cache"})

    async def config(request: web.Request) -> web.Response:
        return web.json_response(
            {"tile_url": settings.tile_url, "tile_attribution": settings.tile_attribution}
        )

    app.router.add_get("/", index)
    app.router.add_get("/config.json", config)
    if dist.is_dir():
        # app.js, app.css and vendor/leaflet/*; aiohttp refuses paths outside the folder
        app.router.add_static("/static/", dist, show_index=False, follow_symlinks=False)
