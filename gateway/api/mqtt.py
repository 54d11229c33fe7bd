"""``POST /v1/me/mqtt``: the signed-in member's own broker client (gateway/broker/members.py).

Each call gives the member a new client password (the old one stops working and its
connections are closed) and answers where to connect and which topics the broker lets them
use: publish their own phones' topics, subscribe to their own alert and live topics of the
circles they are within the plan in.
"""

from __future__ import annotations

from aiohttp import web

from ..broker.dynsec import DynsecError
from ..broker.members import BROKER_ACCESS, BrokerUnavailable
from . import access, jsonio
from .problems import Problem


async def post_me_mqtt(request: web.Request) -> web.Response:
    who = await access.member(request)
    broker = request.app[BROKER_ACCESS]
    try:
        creds = await broker.provision(who.account_id)
    except LookupError:
        raise Problem("not-found", "no such account") from None
    except PermissionError as exc:
        raise Problem("account-suspended", str(exc)) from None
    except ValueError as exc:
        raise Problem("invalid-id", str(exc)) from None
    except (BrokerUnavailable, DynsecError):
        raise Problem("broker-unavailable", "the broker cannot be reached; retry") from None
    return jsonio.respond(creds.to_json(), 201)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/me/mqtt", post_me_mqtt)
