"""The operator's accounts and devices (admin token only; member tokens are refused).

    POST   /v1/admin/accounts                      {"id"?, "name"?}       -> 201 account
    GET    /v1/admin/accounts/{account}            the account, its devices and circles
    PUT    /v1/admin/accounts/{account}/suspension suspend (its devices are not ingested)
    DELETE /v1/admin/accounts/{account}/suspension lift the suspension
    POST   /v1/admin/devices                       {"protocol", "unique_id", "account", "name"?}
    GET    /v1/admin/devices                       ?account=

Circles, places and history for operators are in ``api.circles``; subscriptions and
entitlements in ``api.billing``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from aiohttp import web

from ..keys import ENTITLEMENTS, SETTINGS
from ..store import admin as store
from ..store.ids import InvalidId, check_id, new_id
from . import access, jsonio
from .members import known_protocols
from .problems import Problem


async def _sync(request: web.Request, work: Any) -> Any:
    url = request.app[SETTINGS].database.url

    def run() -> Any:
        with psycopg.connect(url) as conn:
            return work(conn)

    return await asyncio.to_thread(run)


async def create_account(request: web.Request) -> web.Response:
    access.admin(request)
    doc = await jsonio.body(request)
    account = doc.get("id") or new_id("acc")
    name = jsonio.text(doc, "name", required=False, max_len=100)
    try:
        check_id(account, "id")
    except InvalidId as exc:
        raise Problem("invalid-id", str(exc)) from None
    created = await _sync(request, lambda conn: store.ensure_account(conn, account, name))
    return jsonio.respond({"id": account, "created": created}, 201 if created else 200)


async def get_account(request: web.Request) -> web.Response:
    access.admin(request)
    account = request.match_info["account"]

    def read(conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        row = conn.execute(
            "select id, name, email, status, created_at, deleted_at from accounts where id = %s",
            (account,),
        ).fetchone()
        if row is None:
            return None
        circles = conn.execute(
            "select circle_id from circle_members where account_id = %s order by join_seq",
            (account,),
        ).fetchall()
        keys = ("id", "name", "email", "status", "created_at", "deleted_at")
        return {
            **dict(zip(keys, row, strict=True)),
            "devices": [d.to_json() for d in store.list_devices(conn, account)],
            "circles": [c[0] for c in circles],
        }

    found = await _sync(request, read)
    if found is None:
        raise Problem("not-found", f"no account {account!r}")
    return jsonio.respond(found)


async def _set_status(request: web.Request, status: str) -> web.Response:
    access.admin(request)
    account = request.match_info["account"]

    def update(conn: psycopg.Connection[Any]) -> str | None:
        row = conn.execute(
            "update accounts set status = %s where id = %s and status <> 'deleted'"
            " returning status",
            (status, account),
        ).fetchone()
        conn.execute("select pg_notify('trackgw_devices', %s)", (account,))
        conn.commit()
        return None if row is None else str(row[0])

    done = await _sync(request, update)
    if done is None:
        raise Problem("not-found", f"no (undeleted) account {account!r}")
    await request.app[ENTITLEMENTS].reload_soon()
    return jsonio.respond({"id": account, "status": done})


async def suspend(request: web.Request) -> web.Response:
    return await _set_status(request, "suspended")


async def unsuspend(request: web.Request) -> web.Response:
    return await _set_status(request, "active")


async def add_device(request: web.Request) -> web.Response:
    access.admin(request)
    doc = await jsonio.body(request)
    protocol = jsonio.text(doc, "protocol", max_len=32)
    account = jsonio.text(doc, "account", max_len=128)
    name = jsonio.text(doc, "name", required=False, max_len=100)
    unique_id = doc.get("unique_id")
    if protocol not in known_protocols():
        raise Problem("invalid-request", f"unknown protocol {protocol!r}")
    try:
        device = await _sync(
            request,
            lambda conn: store.add_device(conn, protocol, unique_id, account, name),  # type: ignore[arg-type]
        )
    except InvalidId as exc:
        raise Problem("invalid-id", str(exc)) from None
    except ValueError as exc:
        raise Problem("conflict", str(exc)) from None
    await request.app[ENTITLEMENTS].reload_soon()
    return jsonio.respond(device.to_json(), 201)


async def list_devices(request: web.Request) -> web.Response:
    access.admin(request)
    account = request.query.get("account")
    devices = await _sync(request, lambda conn: store.list_devices(conn, account))
    return jsonio.respond({"items": [d.to_json() for d in devices]})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/admin/accounts", create_account)
    r.add_get("/v1/admin/accounts/{account}", get_account)
    r.add_put("/v1/admin/accounts/{account}/suspension", suspend)
    r.add_delete("/v1/admin/accounts/{account}/suspension", unsuspend)
    r.add_post("/v1/admin/devices", add_device)
    r.add_get("/v1/admin/devices", list_devices)
