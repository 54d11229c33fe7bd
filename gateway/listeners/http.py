"""HTTP ingestion: OsmAnd / Traccar Client (its own port, any path), Overland and OwnTracks'
HTTP mode (on the API port). The answer is sent only after the data has committed, so an
HTTP 200 means stored; a client that does not get it resends, and the store deduplicates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from protocols import registry

from ..pipeline.route import IntakeClosed, Router

log = logging.getLogger(__name__)

#: how long a request may wait for its commit before the client is told to retry
COMMIT_WAIT_S = 30.0


async def ingest(
    router: Router,
    protocol: str,
    body: bytes,
    device_key: str | None,
    ok: Callable[[list[bytes]], web.Response],
) -> web.Response:
    session = registry.get(protocol).new_session("http", device_key)
    messages = session.receive(body)
    loop = asyncio.get_running_loop()
    committed: asyncio.Future[None] = loop.create_future()
    held: list[bytes] = []

    def done() -> None:
        if not committed.done():
            committed.set_result(None)

    try:
        outcome = await router.route(protocol, messages, held.append, on_last_commit=done, raw=body)
    except IntakeClosed:
        return web.json_response({"error": "shutting down"}, status=503)
    if outcome.errors and not outcome.data_items:
        return web.json_response({"error": "malformed request"}, status=400)
    if outcome.refused:
        status = 404 if outcome.refused == "unknown" else 403
        return web.json_response({"error": f"device refused: {outcome.refused}"}, status=status)
    try:
        await asyncio.wait_for(asyncio.shield(committed), COMMIT_WAIT_S)
    except TimeoutError:
        return web.json_response({"error": "storage busy, retry"}, status=503)
    return ok(held)


def _plain_ok(held: list[bytes]) -> web.Response:
    return web.Response(status=200, body=b"".join(held))


def _json_ok(default: bytes) -> Callable[[list[bytes]], web.Response]:
    def respond(held: list[bytes]) -> web.Response:
        body = b"".join(held) or default
        return web.Response(status=200, body=body, content_type="application/json")

    return respond


def osmand_app(router: Router, max_body: int) -> web.Application:
    """The OsmAnd / Traccar Client endpoint: GET or POST to any path, query or body."""

    async def handle(request: web.Request) -> web.Response:
        if request.method == "POST" and request.can_read_body:
            body = await request.read()
            if request.content_type == "application/x-www-form-urlencoded" and request.query_string:
                body = request.query_string.encode() + b"&" + body
            elif not body:
                body = request.query_string.encode()
        else:
            body = request.query_string.encode()
        return await ingest(router, "osmand", body, None, _plain_ok)

    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def add_phone_routes(app: web.Application, router: Router) -> None:
    """OwnTracks HTTP mode at /owntracks, Overland at /overland."""

    async def owntracks(request: web.Request) -> web.Response:
        # OwnTracks sends its user and device in X-Limit-U / X-Limit-D (and the user in Basic
        # auth); the key matches the MQTT form "<user>/<device>".
        user = request.headers.get("X-Limit-U") or request.query.get("u")
        device = request.headers.get("X-Limit-D") or request.query.get("d")
        if not user or not device:
            return web.json_response(
                {"error": "OwnTracks HTTP needs X-Limit-U and X-Limit-D headers (or ?u=&d=)"},
                status=400,
            )
        body = await request.read()
        return await ingest(router, "owntracks", body, f"{user}/{device}", _json_ok(b"[]"))

    async def overland(request: web.Request) -> web.Response:
        body = await request.read()
        device = request.query.get("device") or request.query.get("device_id")
        return await ingest(router, "overland", body, device, _json_ok(b'{"result":"ok"}'))

    app.router.add_post("/owntracks", owntracks)
    app.router.add_post("/overland", overland)
