"""/healthz (the process answers), /readyz (database and broker reachable, every supervised
task running), /metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import metrics
from ..keys import MQTT_INGEST, POOL, SUPERVISOR, WRITER


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    app = request.app
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2.0):
            async with app[POOL].connection() as conn:
                await conn.execute("select 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; say which
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ingest = app.get(MQTT_INGEST)
    checks["broker"] = "ok" if ingest is not None and ingest.connected.is_set() else "disconnected"
    writer = app.get(WRITER)
    if writer is not None and writer.intake.full:
        checks["intake"] = "full"
    supervisor = app.get(SUPERVISOR)
    if supervisor is not None:
        if supervisor.failure is not None:
            checks["tasks"] = f"failed: {supervisor.failure}"
        elif supervisor.stopping:
            checks["tasks"] = "stopping"
        else:
            down = [name for name, state in supervisor.state().items() if state != "running"]
            checks["tasks"] = "ok" if not down else "not running: " + ", ".join(down)
    ready = all(v == "ok" for v in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics_view(request: web.Request) -> web.Response:
    body = generate_latest(metrics.REGISTRY)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
