"""HTTP ingestion: OsmAnd / Traccar Client (its own port, any path), Overland and OwnTracks'
HTTP mode (on the API port). The answer is sent only after the data has committed, so an
HTTP 200 means stored; a client that does not get it resends, and the store deduplicates.
Every phone authenticates with its device's secret first (phone_auth.py): 401 otherwise.

Slow clients are cut on both ports (``runner``): a request head must arrive within
``limits.http_header_timeout_s`` of connecting or of the previous answer (aiohttp's keep-alive
timer, which incoming bytes do not reset, so a head sent byte by byte is cut too), and a body
within ``limits.http_body_timeout_s`` (answered 408).

A request the decoder understood as a whole is answered as the protocol's success once what
could be stored has committed, even when every item in it was rejected (counted in
``trackgw_frames_rejected_total``): Overland's app resends a batch until it reads
``{"result":"ok"}``, and a batch of points that can never be stored must not be resent forever.
A body that is unusable as a whole (not JSON, no ``locations`` list) gets a 400.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from urllib.parse import urlencode

from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from protocols import registry

from ..config import LimitSettings
from ..keys import POOL
from ..pipeline.route import IntakeClosed, Router
from .decode import receive
from .phone_auth import PhoneAuth, basic_credentials, bearer_token, osmand_key, unauthorized

log = logging.getLogger(__name__)

#: how long a request may wait for its commit before the client is told to retry
COMMIT_WAIT_S = 30.0
#: defaults of ``limits.http_body_timeout_s`` / ``http_header_timeout_s`` (config.py)
BODY_TIMEOUT_S = LimitSettings().http_body_timeout_s
HEADER_TIMEOUT_S = LimitSettings().http_header_timeout_s


def runner(app: web.Application, limits: LimitSettings | None = None) -> web.AppRunner:
    """The ``AppRunner`` for a port clients talk to: request heads must arrive within
    ``http_header_timeout_s`` (aiohttp closes a connection idle or mid-head that long after
    it opened or after its last answer)."""
    timeout = limits.http_header_timeout_s if limits is not None else HEADER_TIMEOUT_S
    return web.AppRunner(app, access_log=None, keepalive_timeout=timeout)


async def read_body(request: web.Request, timeout_s: float) -> bytes | None:
    """The body, or None when the client does not send it within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            return await request.read()
    except TimeoutError:
        return None


def _too_slow() -> web.Response:
    response = web.json_response({"error": "request body too slow"}, status=408)
    response.force_close()
    return response


async def ingest(
    router: Router,
    protocol: str,
    body: bytes,
    device_key: str | None,
    ok: Callable[[list[bytes]], web.Response],
    authenticated: str | None = None,
    scheme: str = "Bearer",
) -> web.Response:
    """``authenticated``: the device the request's credentials belong to; a body that speaks
    for any other device is refused whole (401)."""
    session = registry.get(protocol).new_session("http", device_key)
    messages = receive(session, body, stream=False)
    if authenticated is not None and any(
        getattr(m, "device_key", authenticated) not in (authenticated, None) for m in messages
    ):
        return unauthorized(scheme)
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
    if outcome.errors and not outcome.data_items and not outcome.replies:
        # nothing understood: the decoder did not get as far as its acknowledgement
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


def osmand_app(
    router: Router,
    max_body: int,
    pool: AsyncConnectionPool,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> web.Application:
    """The OsmAnd / Traccar Client endpoint: GET or POST to any path, query or body; the
    device's secret in ``?key=`` or the last path segment."""
    auth = PhoneAuth(pool)

    async def handle(request: web.Request) -> web.Response:
        device = await auth.device_for("osmand", osmand_key(request))
        if device is None:
            return unauthorized("Key")
        # the key is a credential, not an attribute to store
        query = urlencode([(k, v) for k, v in request.query.items() if k != "key"])
        if request.method == "POST" and request.can_read_body:
            read = await read_body(request, body_timeout_s)
            if read is None:
                return _too_slow()
            body = read
            if request.content_type == "application/x-www-form-urlencoded" and query:
                body = query.encode() + b"&" + body
            elif not body:
                body = query.encode()
        else:
            body = query.encode()
        return await ingest(
            router, "osmand", body, device, _plain_ok, authenticated=device, scheme="Key"
        )

    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def add_phone_routes(
    app: web.Application, router: Router, body_timeout_s: float = BODY_TIMEOUT_S
) -> None:
    """OwnTracks HTTP mode at /owntracks, Overland at /overland."""
    auth = PhoneAuth(app[POOL])

    async def owntracks(request: web.Request) -> web.Response:
        # OwnTracks sends its user and device in X-Limit-U / X-Limit-D and the user and
        # password in Basic auth; the key matches the MQTT form "<user>/<device>".
        credentials = basic_credentials(request)
        if credentials is None:
            return unauthorized("Basic")
        user = request.headers.get("X-Limit-U") or request.query.get("u") or credentials[0]
        device = request.headers.get("X-Limit-D") or request.query.get("d")
        if not device:
            return web.json_response(
                {"error": "OwnTracks HTTP needs X-Limit-U and X-Limit-D headers (or ?u=&d=)"},
                status=400,
            )
        key = f"{user}/{device}"
        if user != credentials[0] or not await auth.matches("owntracks", key, credentials[1]):
            return unauthorized("Basic")
        body = await read_body(request, body_timeout_s)
        if body is None:
            return _too_slow()
        return await ingest(
            router, "owntracks", body, key, _json_ok(b"[]"), authenticated=key, scheme="Basic"
        )

    async def overland(request: web.Request) -> web.Response:
        device = await auth.device_for("overland", bearer_token(request))
        named = request.query.get("device") or request.query.get("device_id")
        if device is None or (named and named != device):
            return unauthorized("Bearer")
        body = await read_body(request, body_timeout_s)
        if body is None:
            return _too_slow()
        ok = _json_ok(b'{"result":"ok"}')
        return await ingest(router, "overland", body, device, ok, authenticated=device)

    for protocol, handler in (("owntracks", owntracks), ("overland", overland)):
        path = registry.get(protocol).http_path
        assert path is not None, f"{protocol} has no HTTP path"
        app.router.add_post(path, handler)
