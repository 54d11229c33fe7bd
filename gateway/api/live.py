"""The member API's side of the live streams: who may read a circle's stream, and the
snapshot a reader gets on connect — the same access rules and views as ``/v1/circles/...``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..keys import POOL
from ..live.streams import TICKET_ACCOUNT, Grant
from ..store import places as places_store
from . import access
from .members import members_view


async def authorise(request: web.Request, circle_id: str) -> Grant:
    """A member token, or a stream ticket (``request[TICKET_ACCOUNT]``, already verified):
    either way the membership and the plan's member limit are checked now, in the database
    and the entitlement snapshot, as for every /v1 circle route."""
    ticket_account = request.get(TICKET_ACCOUNT)
    if ticket_account is not None:
        who = access.Member(ticket_account, 0, "active")
    else:
        who = await access.member(request)
    a = await access.circle(request, who, circle_id)

    async def snapshot() -> dict[str, Any]:
        members = await members_view(request, a)
        async with request.app[POOL].connection() as conn:
            places = await places_store.list_places(conn, a.circle_id)
        return {"circle": a.circle_id, "plan": a.plan, "members": members, "places": places}

    return Grant(who.account_id, snapshot)
