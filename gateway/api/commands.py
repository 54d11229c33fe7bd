"""Commands to devices, for the device's owner and for operators.

    POST /v1/devices/{device}/commands        {"command", "argument"?, "expires_in_s"?} -> 201
    GET  /v1/devices/{device}/commands        the device's commands, newest first
    POST /v1/admin/devices/{device}/commands  the same, for any device (admin token)

The command is queued and delivered by the gateway process that holds the device's
connection (gateway/device_commands.py); its ``state`` goes queued -> sent -> answered, or
expired when the device does not connect before ``expires_at``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from protocols import commands as codec

from ..device_commands import expiry, validate
from ..keys import POOL, SETTINGS
from ..store import commands as store
from . import access, jsonio
from .problems import Problem

#: commands listed per request at most
LIST_MAX = 100


async def _queue(request: web.Request, device_id: int, requested_by: str) -> web.Response:
    doc = await jsonio.body(request)
    name = jsonio.text(doc, "command", max_len=32)
    assert name is not None
    raw_argument = doc.get("argument")
    if isinstance(raw_argument, int) and not isinstance(raw_argument, bool):
        raw_argument = str(raw_argument)
        doc["argument"] = raw_argument
    argument = jsonio.text(doc, "argument", required=False, max_len=1024)
    expires_in = doc.get("expires_in_s")
    if expires_in is not None and (not isinstance(expires_in, int) or isinstance(expires_in, bool)):
        raise Problem("invalid-request", "'expires_in_s' must be an integer")
    try:
        expires_at = expiry(request.app[SETTINGS].commands, expires_in)
    except ValueError as exc:
        raise Problem("invalid-request", str(exc)) from None
    async with request.app[POOL].connection() as conn:
        found = await store.device(conn, device_id)
        if found is None:
            raise Problem("not-found", f"no device {device_id}")
        protocol, unique_id = found
        try:
            validate(protocol, unique_id, name, argument)
        except codec.CommandRefused as exc:
            raise Problem("invalid-request", str(exc)) from None
        command = await store.queue(conn, device_id, name, argument, requested_by, expires_at)
    return jsonio.respond(command.to_json(), 201)


async def send_mine(request: web.Request) -> web.Response:
    who = await access.member(request)
    device_id = await access.own_device(request, who, jsonio.path_int(request, "device"))
    return await _queue(request, device_id, f"account:{who.account_id}")


async def list_mine(request: web.Request) -> web.Response:
    who = await access.member(request)
    device_id = await access.own_device(request, who, jsonio.path_int(request, "device"))
    async with request.app[POOL].connection() as conn:
        items: list[Any] = await store.listed(conn, device_id=device_id, limit=LIST_MAX)
    return jsonio.respond({"items": [c.to_json() for c in items]})


async def send_admin(request: web.Request) -> web.Response:
    access.admin(request)
    return await _queue(request, jsonio.path_int(request, "device"), "operator")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/v1/devices/{device}/commands", send_mine)
    r.add_get("/v1/devices/{device}/commands", list_mine)
    r.add_post("/v1/admin/devices/{device}/commands", send_admin)
