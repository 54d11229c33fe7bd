"""The member API's notifications: what I was told, my email opt-in, my rules per circle,
and my devices' expected reporting interval (docs/notifications.md, docs/api.md).

    GET    /v1/me/notifications                  ?limit=&before=   newest first
    GET    /v1/me/notification-settings
    PUT    /v1/me/notification-settings          {"email": bool}
    GET    /v1/circles/{circle}/rules
    POST   /v1/circles/{circle}/rules            a rule
    PUT    /v1/circles/{circle}/rules/{rule}     a rule
    DELETE /v1/circles/{circle}/rules/{rule}
    PATCH  /v1/devices/{device}                  {"expected_interval_s": int | null}

A rule: ``{"kinds": [..] | null, "places": [place id] | null, "members": [account] | null,
"channels": ["mqtt", "email"], "window": {"start": "22:00", "end": "07:00", "tz": "Europe/
Berlin"} | null}``. Circle routes go through ``access.circle`` (in-plan members only).
"""

from __future__ import annotations

from datetime import time
from typing import Any

from aiohttp import web

from ..keys import POOL
from ..notify.rules import InvalidRule, Rule
from ..store import outbox
from ..store import rules as store
from . import access, jsonio
from .problems import Problem

_MAX_LIST = 100


def _strings(doc: dict[str, Any], key: str) -> list[str] | None:
    value = doc.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= _MAX_LIST
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value)
    ):
        raise Problem("invalid-request", f"{key!r} must be null or a list of 1 to {_MAX_LIST} ids")
    out = sorted({str(v) for v in value})
    if any(not 1 <= len(v) <= 200 for v in out):
        raise Problem("invalid-request", f"{key!r}: ids are 1 to 200 characters")
    return out


def _time(text: Any, name: str) -> time:
    if not isinstance(text, str) or len(text) > 8:
        raise Problem("invalid-request", f"window.{name} must be a time such as '22:00'")
    try:
        value = time.fromisoformat(text)
    except ValueError:
        raise Problem("invalid-request", f"window.{name} must be a time such as '22:00'") from None
    if value.tzinfo is not None:
        raise Problem("invalid-request", f"window.{name}: the zone goes in window.tz")
    return value


async def _rule(request: web.Request, circle_id: str) -> dict[str, Any]:
    doc = await jsonio.body(request)
    unknown = set(doc) - {"kinds", "places", "members", "channels", "window"}
    if unknown:
        raise Problem("invalid-request", f"unknown fields: {sorted(unknown)}")
    kinds, places, members = (_strings(doc, k) for k in ("kinds", "places", "members"))
    channels = _strings(doc, "channels") or ["mqtt"]
    window = doc.get("window")
    start = end = None
    tz = "UTC"
    if window is not None:
        if not isinstance(window, dict) or set(window) - {"start", "end", "tz"}:
            raise Problem("invalid-request", "window is {start, end, tz} or null")
        start, end = _time(window.get("start"), "start"), _time(window.get("end"), "end")
        tz_value = window.get("tz", "UTC")
        if not isinstance(tz_value, str) or not 1 <= len(tz_value) <= 64:
            raise Problem("invalid-request", "window.tz must be a time zone name")
        tz = tz_value
    try:
        Rule(
            kinds=frozenset(kinds) if kinds is not None else None,
            channels=frozenset(channels),
            window=(start, end) if start is not None and end is not None else None,
            tz=tz,
        )
    except InvalidRule as exc:
        raise Problem("invalid-request", str(exc)) from None
    async with request.app[POOL].connection() as conn:
        if places is not None:
            missing = set(places) - await store.circle_place_ids(conn, circle_id)
            if missing:
                raise Problem("invalid-request", f"no places {sorted(missing)} in this circle")
        if members is not None:
            missing = set(members) - await store.circle_member_ids(conn, circle_id)
            if missing:
                raise Problem("invalid-request", f"no members {sorted(missing)} in this circle")
    return {
        "kinds": kinds,
        "places": places,
        "members": members,
        "channels": channels,
        "start": start,
        "end": end,
        "tz": tz,
    }


async def list_rules(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    async with request.app[POOL].connection() as conn:
        items = await store.list_rules(conn, a.circle_id, who.account_id)
    return jsonio.respond({"items": items})


async def add_rule(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    rule = await _rule(request, a.circle_id)
    async with request.app[POOL].connection() as conn:
        try:
            saved = await store.save_rule(conn, a.circle_id, who.account_id, rule)
        except ValueError as exc:
            raise Problem("conflict", str(exc)) from None
    return jsonio.respond(saved, 201)


async def replace_rule(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    rule_id = jsonio.path_int(request, "rule")
    rule = await _rule(request, a.circle_id)
    async with request.app[POOL].connection() as conn:
        saved = await store.save_rule(conn, a.circle_id, who.account_id, rule, rule_id)
    if saved is None:
        raise Problem("not-found", f"no rule {rule_id} of yours in this circle")
    return jsonio.respond(saved)


async def delete_rule(request: web.Request) -> web.Response:
    who = await access.member(request)
    a = await access.circle(request, who, request.match_info["circle"])
    rule_id = jsonio.path_int(request, "rule")
    async with request.app[POOL].connection() as conn:
        if not await store.delete_rule(conn, a.circle_id, who.account_id, rule_id):
            raise Problem("not-found", f"no rule {rule_id} of yours in this circle")
    return web.Response(status=204)


async def my_notifications(request: web.Request) -> web.Response:
    who = await access.member(request)
    limit = jsonio.integer(request.query.get("limit"), "limit", default=50, low=1, high=500)
    before = request.query.get("before")
    before_id = jsonio.integer(before, "before", default=0, low=1, high=2**62) if before else None
    async with request.app[POOL].connection() as conn:
        rows = await outbox.recent(conn, who.account_id, limit + 1, before_id)
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonio.respond({"items": rows, "next": str(rows[-1]["id"]) if more and rows else None})


async def get_settings(request: web.Request) -> web.Response:
    who = await access.member(request)
    async with request.app[POOL].connection() as conn:
        on = await store.email_opt_in(conn, who.account_id)
    return jsonio.respond({"email": on})


async def put_settings(request: web.Request) -> web.Response:
    who = await access.member(request)
    doc = await jsonio.body(request)
    if set(doc) != {"email"} or not isinstance(doc["email"], bool):
        raise Problem("invalid-request", 'expected {"email": true|false}')
    async with request.app[POOL].connection() as conn:
        await store.set_email_opt_in(conn, who.account_id, doc["email"])
    return jsonio.respond({"email": doc["email"]})


async def patch_device(request: web.Request) -> web.Response:
    who = await access.member(request)
    device_id = await access.own_device(request, who, jsonio.path_int(request, "device"))
    doc = await jsonio.body(request)
    if set(doc) != {"expected_interval_s"}:
        raise Problem("invalid-request", 'expected {"expected_interval_s": seconds | null}')
    value = doc["expected_interval_s"]
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 10 <= value <= 604800
    ):
        raise Problem("invalid-request", "expected_interval_s is null or 10 to 604800 seconds")
    async with request.app[POOL].connection() as conn:
        await store.set_expected_interval(conn, device_id, value)
    return jsonio.respond({"id": device_id, "expected_interval_s": value})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/v1/me/notifications", my_notifications)
    r.add_get("/v1/me/notification-settings", get_settings)
    r.add_put("/v1/me/notification-settings", put_settings)
    r.add_get("/v1/circles/{circle}/rules", list_rules)
    r.add_post("/v1/circles/{circle}/rules", add_rule)
    r.add_put("/v1/circles/{circle}/rules/{rule}", replace_rule)
    r.add_delete("/v1/circles/{circle}/rules/{rule}", delete_rule)
    r.add_patch("/v1/devices/{device}", patch_device)
