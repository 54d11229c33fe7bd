"""The member API's devices, circles, invitations, members, places, history and alerts.

Every circle route goes through ``access.circle`` (404 for a circle the caller is not in,
403 ``beyond-member-limit`` past the plan's member limit); devices through ``access``'s
device checks. Plan limits are checked here, on the action, with the entitlement snapshot:
a refusal is 403 ``plan-limit`` naming the plan and the limit.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from entitlements import Entitlement, LimitExceeded
from entitlements.errors import UnknownEntity
from geofence import InvalidGeometry
from protocols import registry

from .. import exports
from ..keys import ENTITLEMENTS, POOL, SETTINGS
from ..pipeline.identify import kind_of
from ..store import accounts as accounts_store
from ..store import credentials, history
from ..store import members as store
from ..store import places as places_store
from ..store.ids import InvalidId, check_unique_id
from . import access, jsonio
from .problems import Problem, plan_limit


def known_protocols() -> frozenset[str]:
    return frozenset(registry.names())


# -- devices ---------------------------------------------------------------------------


async def add_device(request: web.Request) -> web.Response:
    who = await access.member(request)
    doc = await jsonio.body(request)
    protocol = jsonio.text(doc, "protocol", max_len=32)
    assert protocol is not None
    if protocol not in known_protocols():
        raise Problem(
            "invalid-request",
            f"unknown protocol {protocol!r}; one of {', '.join(sorted(known_protocols()))}",
        )
    unique_id = doc.get("unique_id")
    if not isinstance(unique_id, str):
        raise Problem("invalid-request", "'unique_id' (the device's own id) must be a string")
    try:
        check_unique_id(protocol, unique_id)
    except InvalidId as exc:
        raise Problem("invalid-id", str(exc)) from None
    name = jsonio.text(doc, "name", required=False, max_len=100)
    service = request.app[ENTITLEMENTS]
    if kind_of(protocol) == "tag":
        async with request.app[POOL].connection() as conn:
            mine = {d.unique_id for d in await store.my_devices(conn, who.account_id)}
        if unique_id not in mine:
            _check(lambda: service.snapshot.check_add_tag(who.account_id, datetime.now(UTC)))
    async with request.app[POOL].connection() as conn:
        try:
            device, created = await store.add_device(
                conn,
                who.account_id,
                protocol,
                unique_id,
                name,
            )
        except InvalidId as exc:
            raise Problem("invalid-id", str(exc)) from None
        except store.DeviceTaken:
            raise Problem(
                "conflict", "this device id is provisioned to another account or protocol"
            ) from None
        body = device.to_json()
        if created and protocol in credentials.HTTP_PROTOCOLS:
            # shown this once: the phone app's password / token / URL key (docs/mqtt.md)
            body["secret"] = await credentials.give_device_secret(conn, device.id)
    await service.reload_soon()
    return jsonio.respond(body, 201 if created else 200)


async def renew_device_secret(request: web.Request) -> web.Response:
    """A new HTTP secret for one of my phones (the old one stops working at once)."""
    who = await access.member(request)
    device_id = await access.own_device(request, who, jsonio.path_int(request, "device"))
    async with request.app[POOL].connection() as conn:
        mine = {d.id: d for d in await store.my_devices(conn, who.account_id)}
        device = mine.get(device_id)
        if device is None or device.protocol not in credentials.HTTP_PROTOCOLS:
            raise Problem("not-found", f"no phone {device_id} that signs in over HTTP")
        secret = await credentials.give_device_secret(conn, device_id)
    return jsonio.respond({"id": device_id, "secret": secret}, 201)


def _check(decide: Any) -> None:
    try:
        decide()
    except LimitExceeded as exc:
        raise plan_limit(exc) from None
    except UnknownEntity:
        pass  # not in the snapshot yet: nothing owned yet, under any plan


async def list_devices(request: web.Request) -> web.Response:
    who = await access.member(request)
    async with request.app[POOL].connection() as conn:
        devices = await store.my_devices(conn, who.account_id)
    return jsonio.respond({"items": [d.to_json() for d in devices]})


async def delete_device(request: web.Request) -> web.Response:
    who = await access.member(request)
    device_id = await access.own_device(request, who, jsonio.path_int(request, "device"))
    async with request.app[POOL].connection() as conn:
        counts = await store.delete_device(conn, who.account_id, device_id)
    if counts is None:
        raise Problem("not-found", f"no device {device_id}")
    await request.app[ENTITLEMENTS].reload_soon()
    return jsonio.respond({"id": device_id, "deleted": counts})


# -- circles ---------------------------------------------------------------------------


async def create_circle(request: web.Request) -> web.Response:
    who = await access.member(request)
    doc = await jsonio.body(request)
    name = jsonio.text(doc, "name", max_len=100)
    assert name is not None
    service = request.app[ENTITLEMENTS]
    _check(lambda: service.snapshot.check_create_circle(who.account_id, datetime.now(UTC)))
    async with request.app[POOL].connection() as conn:
        circle_id = await store.create_circle(conn, who.account_id, name)
    await service.reload_soon()
    return jsonio.respond({"id": circle_id, "name": name, "owner": who.account_id}, 201)


def _circle_json(a: access.CircleAccess, who: access.Member) -> dict[str, Any]:
    return {
        "id": a.circle_id,
        "name": a.name,
        "owner": a.owner,
        "is_owner": a.owner == who.account_id,
        "in_plan": a.in_plan,
        "plan": a.plan,
        "limits": a.entitlement.limits.as_json(),
    }


async def list_circles(request: web.Request) -> web.Response:
    who = await access.member(request)
    async with request.app[POOL].connection() as conn:
        mine = await store.my_circles(conn, who.account_id)
    items = []
    for m in mine:
        try:
            a = await access.circle(request, who, m.circle_id, in_plan=False)
        except Problem:
            continue  # left or removed meanwhile
        items.append(_circle_json(a, who))
    return jsonio.respond({"items": items})


async def get_circle(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"], in_plan=False)
    return jsonio.respond(_circle_json(a, who))


async def create_invite(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    expires = datetime.now(UTC) + timedelta(days=request.app[SETTINGS].api.invite_ttl_days)
    async with request.app[POOL].connection() as conn:
        code = await accounts_store.create_invite(conn, a.circle_id, who.account_id, expires)
    return jsonio.respond(
        {"code": code, "circle": a.circle_id, "expires_at": expires, "join": f"/v1/invites/{code}"},
        201,
    )


async def redeem_invite(request: web.Request) -> web.Response:
    who = await access.member(request)
    code = request.match_info["code"]
    if len(code) > 64:
        raise Problem("not-found", "no such invitation (or used, or expired)")
    async with request.app[POOL].connection() as conn:
        try:
            circle_id = await accounts_store.redeem_invite(
                conn, code, who.account_id, datetime.now(UTC)
            )
        except accounts_store.InviteRefused:
            raise Problem("not-found", "no such invitation (or used, or expired)") from None
    await request.app[ENTITLEMENTS].reload_soon()
    a = await access.circle(request, who, circle_id, in_plan=False)
    return jsonio.respond(_circle_json(a, who))


async def list_members(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    return jsonio.respond(await members_view(request, a))


async def members_view(request: web.Request, a: access.CircleAccess) -> dict[str, Any]:
    """The circle's members as ``a``'s member may see them: in-plan members with their shared
    devices' latest positions; members beyond the plan's limit listed as such, without."""
    async with request.app[POOL].connection() as conn:
        people = await store.members(conn, a.circle_id)
        in_plan = [p["account"] for p in people if p["account"] in a.in_plan_members]
        devices = await store.devices_with_latest(conn, in_plan)
    shared = set(access.shared_device_ids(request, a, [d["id"] for d in devices]))
    items = []
    for p in people:
        entry: dict[str, Any] = {
            "account": p["account"],
            "name": p["name"],
            "owner": p["owner"],
            "joined_at": p["joined_at"],
            "in_plan": p["account"] in a.in_plan_members,
        }
        if entry["in_plan"]:
            entry["devices"] = [
                {k: v for k, v in d.items() if k != "account"}
                for d in devices
                if d["account"] == p["account"] and d["id"] in shared
            ]
        items.append(entry)
    return {
        "circle": a.circle_id,
        "plan": a.plan,
        "member_limit": a.entitlement.limits.members_per_circle,
        "items": items,
    }


async def remove_member(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"], in_plan=False)
    account = request.match_info["account"]
    if account != who.account_id:
        access.require_owner(a, who)
    if account == a.owner:
        raise Problem("conflict", "the owner cannot leave their own circle")
    async with request.app[POOL].connection() as conn:
        if not await store.remove_member(conn, a.circle_id, account):
            raise Problem("not-found", f"no member {account!r} in this circle")
    await request.app[ENTITLEMENTS].reload_soon()
    return web.Response(status=204)


# -- places ----------------------------------------------------------------------------


def _parse_place(doc: Any) -> places_store.NewPlace:
    if not isinstance(doc, dict) or doc.get("type") != "Feature":
        raise Problem("bad-geometry", "expected one GeoJSON Feature")
    props = doc.get("properties")
    if isinstance(props, dict) and "id" not in props and isinstance(props.get("name"), str):
        doc = {**doc, "properties": {**props, "id": props["name"]}}
    try:
        (place,) = places_store.parse_places(doc)
    except (InvalidGeometry, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise Problem("bad-geometry", str(exc)) from None
    if not 1 <= len(place.name) <= 100:
        raise Problem("bad-geometry", "the place's name must be 1 to 100 characters")
    return place


async def list_places(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    async with request.app[POOL].connection() as conn:
        found = await places_store.list_places(conn, a.circle_id)
    return jsonio.respond({"items": found})


async def add_place(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    place = _parse_place(await jsonio.body(request))
    snapshot = request.app[ENTITLEMENTS].snapshot
    async with request.app[POOL].connection() as conn:
        try:
            (created,) = await places_store.add_places(
                conn, a.circle_id, [place], snapshot, datetime.now(UTC)
            )
        except LimitExceeded as exc:
            raise plan_limit(exc) from None
        except LookupError:
            raise Problem("not-found", f"no circle {a.circle_id!r}") from None
        except ValueError as exc:
            raise Problem("conflict", str(exc)) from None
    await request.app[ENTITLEMENTS].reload_soon()
    return jsonio.respond({**created, "geometry": place.geometry}, 201)


async def update_place(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    place_id = jsonio.path_int(request, "place")
    place = _parse_place(await jsonio.body(request))
    async with request.app[POOL].connection() as conn:
        try:
            updated = await store.update_place(conn, a.circle_id, place_id, place)
        except ValueError as exc:
            raise Problem("conflict", str(exc)) from None
    if updated is None:
        raise Problem("not-found", f"no place {place_id} in this circle")
    return jsonio.respond(updated)


async def delete_place(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    place_id = jsonio.path_int(request, "place")
    async with request.app[POOL].connection() as conn:
        if not await store.delete_place(conn, a.circle_id, place_id):
            raise Problem("not-found", f"no place {place_id} in this circle")
    await request.app[ENTITLEMENTS].reload_soon()
    return web.Response(status=204)


# -- history ---------------------------------------------------------------------------


async def device_history(request: web.Request) -> web.StreamResponse:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    device_id = await access.shared_device(request, a, jsonio.path_int(request, "device"))
    q = request.query
    fmt = q.get("format", "json")
    if fmt != "json" and fmt not in exports.FORMATS:
        raise Problem(
            "invalid-request", f"format must be json or one of {', '.join(exports.FORMATS)}"
        )
    start, end = jsonio.iso_time(q.get("from"), "from"), jsonio.iso_time(q.get("to"), "to")
    bucket = jsonio.integer(q.get("bucket"), "bucket", default=0, low=0, high=86_400) or None
    limit = jsonio.integer(q.get("limit"), "limit", default=1000, low=1, high=history.MAX_LIMIT)
    earliest = replay_window(a.entitlement, start, datetime.now(UTC))
    pool = request.app[POOL]
    if fmt == "json":
        try:
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
        except ValueError as exc:
            raise Problem("invalid-request", str(exc)) from None
        return jsonio.respond(
            {
                "device": device_id,
                "fixes": [asdict(f) for f in page.fixes],
                "next": page.next_cursor,
            }
        )
    return await stream_export(request, fmt, pool, device_id, start, end, bucket, earliest)


def replay_window(entitlement: Entitlement, start: datetime, now: datetime) -> datetime:
    """The earliest instant the circle's plan replays; 403 ``plan-limit`` (naming the plan and
    the limit) when it has no history replay, or when ``start`` is before that instant. The
    member and the admin history routes both ask here."""
    plan, limits = entitlement.plan, entitlement.limits
    if not limits.history_replay:
        raise Problem(
            "plan-limit",
            f"{plan} plan has no history replay (live positions only)",
            plan=plan,
            limit="history_replay",
            allowed=0,
        )
    earliest = now - timedelta(days=limits.history_days)
    if start < earliest:
        raise Problem(
            "plan-limit",
            f"{plan} plan replays {limits.history_days} days of history;"
            f" {start:%Y-%m-%dT%H:%M:%SZ} is before {earliest:%Y-%m-%dT%H:%M:%SZ}",
            plan=plan,
            limit="history_days",
            allowed=limits.history_days,
        )
    return earliest


async def stream_export(
    request: web.Request,
    fmt: str,
    pool: Any,
    device_id: int,
    start: datetime,
    end: datetime,
    bucket: int | None,
    earliest: datetime | None,
) -> web.StreamResponse:
    """The track, page by page of ``history.track``: one page in memory at a time."""
    content_type, ext = exports.FORMATS[fmt]
    name = str(device_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="device-{device_id}.{ext}"',
        }
    )
    writer = exports.Streamer(fmt, name)

    async def pages() -> Any:
        cursor = None
        while True:
            page = await history.track(
                pool,
                device_id,
                start,
                end,
                limit=history.MAX_LIMIT,
                cursor=cursor,
                bucket_s=bucket,
                not_before=earliest,
            )
            yield page.fixes
            cursor = page.next_cursor
            if cursor is None:
                return

    await response.prepare(request)
    await response.write(writer.head().encode())
    async for fixes in pages():
        await response.write("".join(writer.body(fixes)).encode())
    if writer.needs_second_pass:
        await response.write(writer.between().encode())
        async for fixes in pages():
            await response.write(writer.second(fixes).encode())
    await response.write(writer.tail().encode())
    await response.write_eof()
    return response


# -- alerts ----------------------------------------------------------------------------


async def circle_alerts(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    limit = jsonio.integer(request.query.get("limit"), "limit", default=100, low=1, high=1000)
    async with request.app[POOL].connection() as conn:
        devices = await store.devices_with_latest(conn, a.in_plan_members)
        shared = access.shared_device_ids(request, a, [d["id"] for d in devices])
        try:
            rows, nxt = await store.circle_events(
                conn, a.circle_id, shared, limit, request.query.get("cursor")
            )
        except store.InvalidCursor as exc:
            raise Problem("invalid-request", str(exc)) from None
    return jsonio.respond({"items": rows, "next": nxt})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/devices", add_device)
    r.add_get("/v1/devices", list_devices)
    r.add_delete("/v1/devices/{device}", delete_device)
    r.add_post("/v1/devices/{device}/secret", renew_device_secret)
    r.add_post("/v1/circles", create_circle)
    r.add_get("/v1/circles", list_circles)
    r.add_get("/v1/circles/{circle}", get_circle)
    r.add_post("/v1/circles/{circle}/invites", create_invite)
    r.add_post("/v1/invites/{code}", redeem_invite)
    r.add_get("/v1/circles/{circle}/members", list_members)
    r.add_delete("/v1/circles/{circle}/members/{account}", remove_member)
    r.add_get("/v1/circles/{circle}/places", list_places)
    r.add_post("/v1/circles/{circle}/places", add_place)
    r.add_put("/v1/circles/{circle}/places/{place}", update_place)
    r.add_delete("/v1/circles/{circle}/places/{place}", delete_place)
    r.add_get("/v1/circles/{circle}/devices/{device}/history", device_history)
    r.add_get("/v1/circles/{circle}/alerts", circle_alerts)
