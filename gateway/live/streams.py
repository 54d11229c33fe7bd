"""A circle's live stream over HTTP: Server-Sent Events and WebSocket.

    GET  /v1/circles/{circle}/live           text/event-stream
    GET  /v1/circles/{circle}/live/ws        WebSocket (one JSON object per message)
    POST /v1/circles/{circle}/live/tickets   {"ticket", "expires"}: for browsers' EventSource,
                                             which cannot send an Authorization header

Both streams are authorised like the member API (a bearer token, or ``?ticket=`` from the
tickets endpoint: valid 60 s, for that account and circle only). On connect a stream sends a
``snapshot`` (the latest position of each in-plan member's devices, and the circle's places),
then ``position`` and ``alert`` events as they commit. Each event has an id; an SSE client that
reconnects with ``Last-Event-ID`` (or a WebSocket client with ``?last_event_id=``) resumes
without gaps, or gets a new snapshot when that is no longer possible.

A reader that stops reading is dropped once its bounded queue is full, or when one write has
waited ``WRITE_TIMEOUT_S``; it never slows ingestion (``LiveHub`` never awaits a reader).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .hub import LiveEvent, LiveHub, Reader

log = logging.getLogger(__name__)

#: a reader whose socket accepts nothing for this long is dropped
WRITE_TIMEOUT_S = 10.0
#: a comment line this often keeps proxies and browsers from closing an idle stream
KEEPALIVE_S = 15.0
TICKET_TTL_S = 60


@dataclass(frozen=True, slots=True)
class Grant:
    """What ``authorise`` found: who reads, and how to read the circle as they may see it."""

    account: str
    #: -> {"members": [...], "places": [...]} as the member API shows them to ``account``
    snapshot: Callable[[], Awaitable[Mapping[str, Any]]]


#: (request, circle id) -> the grant; raises the API's 401/404 problems. A request that came
#: with a valid ``?ticket=`` has ``request[TICKET_ACCOUNT]`` set to the ticket's account.
Authorise = Callable[[web.Request, str], Awaitable[Grant]]
TICKET_ACCOUNT: web.RequestKey[str] = web.RequestKey("ticket_account", str)


@dataclass(frozen=True, slots=True)
class Tickets:
    """Short-lived, signed stream tickets: ``account.circle.expiry.signature``, so any gateway
    process holding the same secret accepts them (no shared store)."""

    secret: bytes
    ttl_s: int = TICKET_TTL_S

    def issue(self, account: str, circle_id: str, now: float | None = None) -> tuple[str, int]:
        expires = int(now if now is not None else time.time()) + self.ttl_s
        body = _b64(json.dumps([account, circle_id, expires], separators=(",", ":")).encode())
        return f"{body}.{self._sign(body)}", expires

    def check(self, ticket: str, circle_id: str, now: float | None = None) -> str | None:
        """The account the ticket was issued to, or None when it is forged, expired or for
        another circle."""
        body, _, sig = ticket.partition(".")
        if not body or not hmac.compare_digest(sig, self._sign(body)):
            return None
        try:
            account, circle, expires = json.loads(base64.urlsafe_b64decode(body + "=="))
        except (ValueError, TypeError):
            return None
        if circle != circle_id or not isinstance(expires, int) or not isinstance(account, str):
            return None
        if (now if now is not None else time.time()) > expires:
            return None
        return account

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class LiveStreams:
    hub: LiveHub
    authorise: Authorise
    tickets: Tickets
    #: SO_SNDBUF of a reader's socket: what the kernel holds for a reader that stalls
    send_buffer_bytes: int = 65536

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/circles/{circle}/live", self.sse)
        app.router.add_get("/v1/circles/{circle}/live/ws", self.websocket)
        app.router.add_post("/v1/circles/{circle}/live/tickets", self.issue_ticket)

    async def _grant(self, request: web.Request, circle_id: str) -> Grant:
        ticket = request.query.get("ticket")
        if ticket is not None:
            account = self.tickets.check(ticket, circle_id)
            if account is None:  # the API's problem middleware answers problem+json
                raise web.HTTPUnauthorized(reason="the stream ticket is invalid or expired")
            # the ticket proves who; membership and plan are checked now, as for a token
            request[TICKET_ACCOUNT] = account
        return await self.authorise(request, circle_id)

    async def issue_ticket(self, request: web.Request) -> web.Response:
        circle_id = request.match_info["circle"]
        grant = await self.authorise(request, circle_id)
        ticket, expires = self.tickets.issue(grant.account, circle_id)
        return web.json_response({"ticket": ticket, "expires": expires}, status=201)

    async def _open(
        self, request: web.Request, on_drop: Callable[[], None], last_event_id: str | None
    ) -> tuple[Reader, list[LiveEvent]]:
        circle_id = request.match_info["circle"]
        grant = await self._grant(request, circle_id)
        self._bound_send_buffer(request)
        reader, backlog = self.hub.subscribe(circle_id, on_drop, last_event_id, grant.account)
        if backlog is None:
            try:
                snap = dict(await grant.snapshot())
            except BaseException:
                self.hub.unsubscribe(reader)
                raise
            snap["resumed"] = False
            backlog = [LiveEvent(id=self.hub.next_id(), kind="snapshot", data=snap)]
        return reader, backlog

    def _bound_send_buffer(self, request: web.Request) -> None:
        """What a reader that stops reading can hold: the kernel's send buffer and the
        transport's own write buffer are both bounded by ``send_buffer_bytes``, so a write to
        a stalled reader waits (and times out) instead of buffering without end."""
        transport = request.transport
        if transport is None or self.send_buffer_bytes <= 0:
            return
        transport.set_write_buffer_limits(high=self.send_buffer_bytes)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)

    async def sse(self, request: web.Request) -> web.StreamResponse:
        end = _canceller(request)
        last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id")
        reader, backlog = await self._open(request, end, last)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        try:
            await resp.prepare(request)
            await _write(resp, b"retry: 2000\n\n")
            for event in backlog:
                await _write(resp, sse_bytes(event))
            while True:
                try:
                    event = await asyncio.wait_for(reader.queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    await _write(resp, b": keepalive\n\n")
                    continue
                await _write(resp, sse_bytes(event))
        except TimeoutError:
            self._stalled(request, reader)
        except ConnectionResetError:
            pass
        finally:
            self.hub.unsubscribe(reader)
        return resp

    def _stalled(self, request: web.Request, reader: Reader) -> None:
        """One write waited ``WRITE_TIMEOUT_S``: the reader is dropped, its socket aborted."""
        self.hub.drop(reader, reason="slow", notify=False)
        if request.transport is not None:
            request.transport.abort()

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=KEEPALIVE_S, max_msg_size=4096)
        reader, backlog = await self._open(
            request, _canceller(request), request.query.get("last_event_id")
        )
        try:
            await ws.prepare(request)
            for event in backlog:
                await asyncio.wait_for(ws.send_str(ws_text(event)), WRITE_TIMEOUT_S)
            receiving = asyncio.create_task(_until_closed(ws))
            try:
                while not receiving.done():
                    getting = asyncio.create_task(reader.queue.get())
                    done, _ = await asyncio.wait(
                        {getting, receiving}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getting not in done:
                        getting.cancel()
                        break
                    await asyncio.wait_for(ws.send_str(ws_text(getting.result())), WRITE_TIMEOUT_S)
            finally:
                receiving.cancel()
        except TimeoutError:
            self._stalled(request, reader)
        except ConnectionResetError:
            pass
        finally:
            self.hub.unsubscribe(reader)
            with contextlib.suppress(Exception):
                await ws.close()
        return ws


def _canceller(request: web.Request) -> Callable[[], None]:
    """What the hub calls to end a dropped reader: the connection is aborted (a graceful close
    would wait for a reader that does not read to take what is buffered) and the handler
    ended."""
    task = asyncio.current_task()
    assert task is not None

    def end() -> None:
        if request.transport is not None:
            request.transport.abort()
        task.cancel()

    return end


async def _until_closed(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends until it closes: the stream is one-way."""
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


async def _write(resp: web.StreamResponse, data: bytes) -> None:
    await asyncio.wait_for(resp.write(data), WRITE_TIMEOUT_S)


def sse_bytes(event: LiveEvent) -> bytes:
    data = json.dumps(event.data, separators=(",", ":"), default=str)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


def ws_text(event: LiveEvent) -> str:
    return json.dumps(
        {"id": event.id, "type": event.kind, "data": event.data},
        separators=(",", ":"),
        default=str,
    )
