"""Sign-up, sign-in (tokens), the caller's own account, its data export and its deletion.

    POST   /v1/accounts        {"email", "password", "name"}      -> 201 account
    POST   /v1/tokens          {"email", "password", "name"?, "expires_in_days"?} -> 201 token
    GET    /v1/tokens          my unexpired tokens (never their secrets)
    DELETE /v1/tokens/{token}  revoke one
    GET    /v1/me              my account and circles
    GET    /v1/me/export       all my positions, places and events (NDJSON, streamed)
    DELETE /v1/me              mails a confirmation code; nothing is deleted yet
    POST   /v1/me/deletion     {"code"}: deletes history and events, deactivates devices,
                               removes memberships and tokens; the counts in the response

Failed sign-ins are limited per account and per address (``api.signin_failures`` within
``api.signin_window_s``), sign-up and sign-in per address; beyond: 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import argon2
import psycopg
from aiohttp import web

from .. import email
from ..keys import POOL, SETTINGS
from ..store import accounts as store
from ..store import admin as admin_store
from ..store import members as members_store
from . import access, jsonio
from .problems import Problem

log = logging.getLogger(__name__)

_hasher = argon2.PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2 hash of ``password`` (the form accounts.password_hash stores). CPU-bound:
    call it in a thread from the event loop."""
    return str(_hasher.hash(password))


#: verified against when the email is unknown, so a miss takes as long as a wrong password
_DUMMY_HASH = _hasher.hash("not a password of anyone")

SUBSCRIPTION_NOTE = (
    "Deleting the account does not cancel a paid subscription: cancel it where it was bought"
    " (the app store or the billing portal)."
)


def _email(doc: dict[str, Any]) -> str:
    value = jsonio.text(doc, "email", max_len=254, min_len=3)
    assert value is not None
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise Problem("invalid-request", "'email' is not an email address")
    return value


def _password(doc: dict[str, Any]) -> str:
    value = doc.get("password")
    if not isinstance(value, str) or not 8 <= len(value) <= 256:
        raise Problem("invalid-request", "'password' must be a string of 8 to 256 characters")
    return value


async def create_account(request: web.Request) -> web.Response:
    access.anonymous(request)
    doc = await jsonio.body(request)
    address, password = _email(doc), _password(doc)
    name = jsonio.text(doc, "name", max_len=100) or ""
    hashed = await asyncio.to_thread(_hasher.hash, password)
    async with request.app[POOL].connection() as conn:
        try:
            account = await store.create_account(conn, address, hashed, name)
        except store.EmailTaken:
            raise Problem("email-taken", "an account with this email exists") from None
    return jsonio.respond(account.to_json(), 201)


async def create_token(request: web.Request) -> web.Response:
    access.anonymous(request)
    doc = await jsonio.body(request)
    address = _email(doc)
    password = doc.get("password")
    if not isinstance(password, str) or len(password) > 256:
        raise Problem("invalid-request", "'password' must be a string")
    name = jsonio.text(doc, "name", required=False, max_len=100) or ""
    api = request.app[SETTINGS].api
    days = doc.get("expires_in_days", api.token_ttl_days)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= api.token_ttl_days:
        raise Problem(
            "invalid-request",
            f"'expires_in_days' must be an integer from 1 to {api.token_ttl_days}",
        )
    failures = request.app[access.SIGNIN_BUCKETS]
    keys = ("email:" + address.lower(), "addr:" + access.client_address(request))
    wait = max(failures.wait_s(k) for k in keys)
    if wait:
        raise access.rate_limited(wait, "failed sign-ins")
    async with request.app[POOL].connection() as conn:
        account = await store.account_by_email(conn, address)
    stored = account.password_hash if account and account.password_hash else _DUMMY_HASH
    ok = await asyncio.to_thread(_verify, stored, password)
    if not ok or account is None or account.status == "deleted":
        for k in keys:
            failures.take(k)
        raise Problem("invalid-credentials", "wrong email or password")
    # a suspended account may still sign in: to read, export or delete its own data
    now = datetime.now(UTC)
    async with request.app[POOL].connection() as conn:
        if _hasher.check_needs_rehash(stored):
            await store.set_password_hash(
                conn, account.id, await asyncio.to_thread(_hasher.hash, password)
            )
        secret, token = await store.create_token(conn, account.id, name, now + timedelta(days=days))
    return jsonio.respond({"token": secret, "account": account.id, **token.to_json()}, 201)


def _verify(stored: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored, password))
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


async def list_tokens(request: web.Request) -> web.Response:
    who = await access.member(request, allow_suspended=True)
    async with request.app[POOL].connection() as conn:
        tokens = await store.list_tokens(conn, who.account_id, datetime.now(UTC))
    return jsonio.respond(
        {"items": [{**t.to_json(), "current": t.id == who.token_id} for t in tokens]}
    )


async def delete_token(request: web.Request) -> web.Response:
    who = await access.member(request, allow_suspended=True)
    token_id = jsonio.path_int(request, "token")
    async with request.app[POOL].connection() as conn:
        if not await store.delete_token(conn, who.account_id, token_id):
            raise Problem("not-found", f"no token {token_id}")
    return web.Response(status=204)


async def get_me(request: web.Request) -> web.Response:
    who = await access.member(request, allow_suspended=True)
    async with request.app[POOL].connection() as conn:
        account = await store.get_account(conn, who.account_id)
        circles = await members_store.my_circles(conn, who.account_id)
    assert account is not None
    return jsonio.respond(
        {
            **account.to_json(),
            "circles": [
                {"id": c.circle_id, "name": c.name, "owner": c.owner_account_id == who.account_id}
                for c in circles
            ],
        }
    )


async def request_deletion(request: web.Request) -> web.Response:
    who = await access.member(request, allow_suspended=True)
    settings = request.app[SETTINGS]
    expires = datetime.now(UTC) + timedelta(seconds=settings.api.deletion_code_ttl_s)
    async with request.app[POOL].connection() as conn:
        account = await store.get_account(conn, who.account_id)
        assert account is not None
        if not account.email:
            raise Problem("conflict", "the account has no email to confirm its deletion with")
        code = await store.request_deletion(conn, who.account_id, expires)
    body = (
        "Someone (we hope you) asked to delete your trackgw account.\n\n"
        f"Confirmation code: {code}\n\n"
        'To confirm, send it with POST /v1/me/deletion {"code": "..."} (or enter it in the'
        f" app) before {expires:%Y-%m-%d %H:%M} UTC. Deleting the account permanently deletes"
        " your location history and events, deactivates your devices and removes you from your"
        " circles.\n\n" + SUBSCRIPTION_NOTE + "\n\nIf you did not ask for this, ignore this"
        " message: nothing is deleted without the code.\n"
    )
    try:
        await email.send(settings.smtp, account.email, "Confirm the deletion of your account", body)
    except email.EmailError as exc:
        log.warning("deletion code not sent: %s", exc)
        raise Problem("email-unavailable", "the confirmation email could not be sent") from None
    return jsonio.respond(
        {
            "status": "confirmation-sent",
            "email": account.email,
            "expires_at": expires,
            "confirm": "POST /v1/me/deletion",
            "subscription": SUBSCRIPTION_NOTE,
        },
        202,
    )


async def confirm_deletion(request: web.Request) -> web.Response:
    who = await access.member(request, allow_suspended=True)
    doc = await jsonio.body(request)
    code = jsonio.text(doc, "code", max_len=32)
    assert code is not None
    refused = None
    async with request.app[POOL].connection() as conn:  # commits a wrong try's count too
        try:
            await store.take_deletion_request(conn, who.account_id, code, datetime.now(UTC))
        except store.DeletionRefused as exc:
            refused = exc.reason
    if refused == "expired":
        raise Problem("deletion-code-expired", "the code has expired; ask again with DELETE /v1/me")
    if refused is not None:
        raise Problem(
            "deletion-code-invalid",
            "no such code for this account (DELETE /v1/me first; a request is void after"
            f" {store.MAX_DELETION_ATTEMPTS} wrong codes)",
        )
    url = request.app[SETTINGS].database.url

    def purge() -> dict[str, int]:
        with psycopg.connect(url) as conn:
            return admin_store.delete_account(conn, who.account_id)

    counts = await asyncio.to_thread(purge)
    log.info("account %s deleted on its own request", who.account_id)
    return jsonio.respond(
        {
            "account": who.account_id,
            "status": "deleted",
            "deleted": counts,
            "subscription": SUBSCRIPTION_NOTE,
            "subscription_cancelled": False,
        }
    )


async def export_me(request: web.Request) -> web.StreamResponse:
    """NDJSON: one ``account`` line, then ``device``, ``place``, ``position`` and ``event``
    lines. Positions come through a server-side cursor, a batch at a time: memory stays
    bounded however long the history."""
    who = await access.member(request, allow_suspended=True)
    exports = request.app[access.EXPORTS]
    if exports.locked():
        raise access.rate_limited(5.0, "exports in progress on this gateway")
    async with exports:
        return await _export(request, who)


async def _export(request: web.Request, who: access.Member) -> web.StreamResponse:
    url = request.app[SETTINGS].database.url
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/x-ndjson",
            "Content-Disposition": 'attachment; filename="trackgw-export.ndjson"',
        }
    )
    async with await psycopg.AsyncConnection.connect(url, connect_timeout=5) as conn:
        account = await store.get_account(conn, who.account_id)
        assert account is not None
        await response.prepare(request)

        async def line(kind: str, data: dict[str, Any]) -> None:
            await response.write((jsonio.dumps({"type": kind, **data}) + "\n").encode())

        await line("account", account.to_json())
        devices = await members_store.my_devices(conn, who.account_id)
        for d in devices:
            await line("device", d.to_json())
        async for row in members_store.stream_rows(
            conn,
            "select p.id, p.circle_id, p.name, p.kind, p.geometry, p.radius_m, p.created_at"
            " from places p join circles c on c.id = p.circle_id"
            " where c.owner_account_id = %s order by p.id",
            (who.account_id,),
        ):
            keys = ("id", "circle", "name", "kind", "geometry", "radius_m", "created_at")
            await line("place", dict(zip(keys, row, strict=True)))
        device_ids = [d.id for d in devices]
        buffer: list[str] = []
        async for row in members_store.stream_rows(
            conn,
            "select device_id, fix_time, lat, lon, valid, speed_kmh, course_deg, altitude_m,"
            " accuracy_m, satellites, battery_pct from positions where device_id = any(%s)"
            " order by device_id, fix_time",
            (device_ids,),
        ):
            buffer.append(_position_line(row))
            if len(buffer) >= 1000:
                await response.write("".join(buffer).encode())
                buffer.clear()
        if buffer:
            await response.write("".join(buffer).encode())
        async for row in members_store.stream_rows(
            conn,
            "select id, device_id, circle_id, kind, time, subject, payload from events"
            " where device_id = any(%s) order by time, id",
            (device_ids,),
        ):
            keys = ("id", "device", "circle", "kind", "time", "subject", "payload")
            await line("event", dict(zip(keys, row, strict=True)))
    await response.write_eof()
    return response


_POSITION_KEYS = (
    "device",
    "time",
    "lat",
    "lon",
    "valid",
    "speed_kmh",
    "course_deg",
    "altitude_m",
    "accuracy_m",
    "satellites",
    "battery_pct",
)


def _position_line(row: tuple[Any, ...]) -> str:
    data: dict[str, Any] = {"type": "position"}
    data.update(zip(_POSITION_KEYS, row, strict=True))
    data["time"] = row[1].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(data) + "\n"


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/accounts", create_account)
    app.router.add_post("/v1/tokens", create_token)
    app.router.add_get("/v1/tokens", list_tokens)
    app.router.add_delete("/v1/tokens/{token}", delete_token)
    app.router.add_get("/v1/me", get_me)
    app.router.add_delete("/v1/me", request_deletion)
    app.router.add_post("/v1/me/deletion", confirm_deletion)
    app.router.add_get("/v1/me/export", export_me)
