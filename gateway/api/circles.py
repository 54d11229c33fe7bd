"""The operator's circles, places and history (admin token), each under the circle's plan.

    POST /v1/admin/circles                            {"id", "owner", "name"?}  circle limit
    GET  /v1/admin/circles/{circle}/places
    POST /v1/admin/circles/{circle}/places            GeoJSON Feature(Collection)  place limit
    GET  /v1/admin/circles/{circle}/history/{device}  ?from=&to=&format=json|gpx|geojson|csv
                                                      &bucket=SECONDS&limit=&cursor=
                                                      history replay and its window

Refusals are problem+json (``api.problems``); by the plan: 403 ``plan-limit`` naming the plan
and the limit, and the numbers. Members use ``/v1/circles/...`` (``api.members``) instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiohttp import web

from entitlements import LimitExceeded
from geofence import InvalidGeometry

from .. import exports
from ..keys import ENTITLEMENTS, POOL, SETTINGS
from ..store import admin, history
from ..store import places as places_store
from ..store.ids import InvalidId
from .access import admin as require_admin
from .members import replay_window, stream_export
from .problems import Problem, plan_limit

_SLUGS = {400: "invalid-request", 403: "plan-limit", 404: "not-found", 409: "conflict"}


def _refused(exc: LimitExceeded) -> web.Response:
    return plan_limit(exc).response()


def _bad(message: str, status: int = 400) -> web.Response:
    return Problem(_SLUGS[status], message).response()


def _time(text: str | None, name: str) -> datetime:
    if not text:
        raise ValueError(f"{name} is required (ISO 8601, e.g. 2024-05-01T10:00:00Z)")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name} is not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a time zone (e.g. a trailing Z): {text!r}")
    return value.astimezone(UTC)


async def create_circle(request: web.Request) -> web.Response:
    require_admin(request)
    try:
        body = await request.json()
        circle, owner = str(body["id"]), str(body["owner"])
    except (ValueError, KeyError, TypeError):
        return _bad('expected {"id": CIRCLE, "owner": ACCOUNT}')
    snapshot = request.app[ENTITLEMENTS].snapshot
    try:
        snapshot.check_create_circle(owner, datetime.now(UTC))
    except LimitExceeded as exc:
        return _refused(exc)
    except LookupError:
        pass  # an account the snapshot does not know yet owns no circle
    url = request.app[SETTINGS].database.url

    def create() -> bool:
        with psycopg.connect(url) as conn:
            return admin.add_circle(conn, circle, owner, body.get("name"))

    try:
        created = await asyncio.to_thread(create)
    except InvalidId as exc:
        return Problem("invalid-id", str(exc)).response()
    except ValueError as exc:
        return _bad(str(exc), 409)
    await request.app[ENTITLEMENTS].reload_soon()
    return web.json_response(
        {"circle": circle, "owner": owner, "created": created}, status=201 if created else 200
    )


async def list_places(request: web.Request) -> web.Response:
    require_admin(request)
    async with request.app[POOL].connection() as conn:
        found = await places_store.list_places(conn, request.match_info["circle"])
    return web.json_response(found, dumps=_dumps)


async def add_places(request: web.Request) -> web.Response:
    require_admin(request)
    circle = request.match_info["circle"]
    try:
        new = places_store.parse_places(await request.json())
    except (ValueError, InvalidGeometry, AttributeError, KeyError, TypeError) as exc:
        return _bad(f"invalid places: {exc}")
    now = datetime.now(UTC)
    snapshot = request.app[ENTITLEMENTS].snapshot
    async with request.app[POOL].connection() as conn:
        try:
            created = await places_store.add_places(conn, circle, new, snapshot, now)
        except LimitExceeded as exc:
            return _refused(exc)
        except LookupError as exc:
            return _bad(str(exc.args[0]), 404)
        except ValueError as exc:
            return _bad(str(exc), 409)
    return web.json_response(created, status=201, dumps=_dumps)


async def device_history(request: web.Request) -> web.Response | web.StreamResponse:
    require_admin(request)
    circle, unique_id = request.match_info["circle"], request.match_info["device"]
    q = request.query
    fmt = q.get("format", "json")
    if fmt != "json" and fmt not in exports.FORMATS:
        return _bad(f"unknown format {fmt!r} (json, {', '.join(exports.FORMATS)})")
    try:
        start, end = _time(q.get("from"), "from"), _time(q.get("to"), "to")
        bucket = int(q["bucket"]) if q.get("bucket") else None
        limit = int(q.get("limit", "1000"))
    except ValueError as exc:
        return _bad(str(exc))
    pool = request.app[POOL]
    device_id = await history.device_id_of(pool, unique_id)
    if device_id is None:
        return _bad(f"no device {unique_id!r}", 404)
    now = datetime.now(UTC)
    snapshot = request.app[ENTITLEMENTS].snapshot
    try:
        entitlement = snapshot.entitlement(circle, now)
        shared = circle in snapshot.shared_circles(str(device_id), now)
    except LookupError:
        return _bad(f"no circle {circle!r}", 404)
    if not shared:
        return _bad(
            f"device {unique_id!r} does not share its positions with circle {circle!r}"
            f" (not a member, or a member beyond the {entitlement.plan} plan's"
            f" limit of {entitlement.limits.members_per_circle})",
            403,
        )
    earliest = replay_window(entitlement, start, now)
    try:
        if fmt == "json":
            page = await history.track(
                pool,
                device_id,
                start,
                end,
                limit=limit,
                cursor=q.get("cursor"),
                bucket_s=bucket,
                not_before=earliest,
            )
            return web.json_response(
                {
                    "device": unique_id,
                    "fixes": [asdict(f) for f in page.fixes],
                    "next_cursor": page.next_cursor,
                },
                dumps=_dumps,
            )
        return await stream_export(request, fmt, pool, device_id, start, end, bucket, earliest)
    except ValueError as exc:
        return _bad(str(exc))


def _dumps(obj: Any) -> str:
    import json

    return json.dumps(obj, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/admin/circles", create_circle)
    app.router.add_get("/v1/admin/circles/{circle}/places", list_places)
    app.router.add_post("/v1/admin/circles/{circle}/places", add_places)
    app.router.add_get("/v1/admin/circles/{circle}/history/{device:.+}", device_history)
