"""Who is asking, and what they may see: the ONE place the /v1 API decides access.

* ``member(request)``: a member bearer token (``Authorization: Bearer tgw_…``), unexpired,
  of an account that is not deleted (nor suspended, unless the route allows it); the token's
  rate limit is spent here (429 with ``Retry-After``). The operator's admin token is not a
  member token and is refused here; member tokens are refused by ``admin``.
* ``circle(request, who, circle_id)``: the circle if ``who`` is a member of it, else 404
  (a member of circle A learns nothing about circle B, not even that it exists). With
  ``in_plan=True`` (the default) a member beyond the plan's member limit is refused (403
  ``beyond-member-limit``): only in-plan members see the circle's data.
* ``shared_device(...)``: a device whose positions the circle gets (its owner an in-plan
  member, the device within the tag limit) — else 404.
* ``own_device(...)``: a device of the caller's own account — else 404.

Membership is read from the database on every request, so a removed member is refused at
once; the plan's member limit comes from the entitlement snapshot (reloaded on NOTIFY).
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from entitlements import Entitlement
from entitlements.errors import UnknownEntity

from ..keys import ENTITLEMENTS, POOL, SETTINGS
from ..store import accounts as accounts_store
from ..store import members as members_store
from .problems import Problem
from .ratelimit import Buckets, retry_after

TOKEN_BUCKETS: web.AppKey[Buckets] = web.AppKey("token_buckets")
ANONYMOUS_BUCKETS: web.AppKey[Buckets] = web.AppKey("anonymous_buckets")
SIGNIN_BUCKETS: web.AppKey[Buckets] = web.AppKey("signin_buckets")
#: exports in progress at once (each holds a database connection of its own)
EXPORTS: web.AppKey[asyncio.Semaphore] = web.AppKey("exports")
MAX_EXPORTS = 4


def setup(app: web.Application) -> None:
    api = app[SETTINGS].api
    app[TOKEN_BUCKETS] = Buckets(api.token_rate_per_s, api.token_burst)
    app[ANONYMOUS_BUCKETS] = Buckets(api.anonymous_rate_per_s, api.anonymous_burst)
    app[SIGNIN_BUCKETS] = Buckets(api.signin_failures / api.signin_window_s, api.signin_failures)
    app[EXPORTS] = asyncio.Semaphore(MAX_EXPORTS)


@dataclass(frozen=True, slots=True)
class Member:
    account_id: str
    token_id: int
    status: str


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def rate_limited(wait: float, what: str) -> Problem:
    return Problem(
        "rate-limited",
        f"too many {what}; retry in {retry_after(wait)} s",
        headers={"Retry-After": retry_after(wait)},
        retry_after_s=int(retry_after(wait)),
    )


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def anonymous(request: web.Request) -> None:
    """Spend the caller's address's budget for unauthenticated requests."""
    wait = request.app[ANONYMOUS_BUCKETS].take(client_address(request))
    if wait:
        raise rate_limited(wait, "requests from this address")


async def member(request: web.Request, *, allow_suspended: bool = False) -> Member:
    token = bearer(request)
    unauthorized = Problem(
        "unauthorized",
        "send a member token as 'Authorization: Bearer <token>' (POST /v1/tokens)",
        headers={"WWW-Authenticate": 'Bearer realm="trackgw"'},
    )
    if not token.startswith(accounts_store.TOKEN_PREFIX) or len(token) > 200:
        anonymous(request)
        raise unauthorized
    async with request.app[POOL].connection() as conn:
        found = await accounts_store.token_owner(conn, token, datetime.now(UTC))
    if found is None or found.status == "deleted":
        anonymous(request)
        raise unauthorized
    wait = request.app[TOKEN_BUCKETS].take(f"t{found.token_id}")
    if wait:
        raise rate_limited(wait, "requests with this token")
    if found.status == "suspended" and not allow_suspended:
        raise Problem("account-suspended", "the account is suspended; contact the operator")
    return Member(found.account_id, found.token_id, found.status)


def admin(request: web.Request) -> None:
    """The operator's admin token (``http.admin_token``), compared in constant time."""
    expected = request.app[SETTINGS].http.admin_token
    token = bearer(request)
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Problem(
            "not-admin",
            "the operator's admin token is required ('Authorization: Bearer <admin token>')",
            headers={"WWW-Authenticate": 'Bearer realm="trackgw-admin"'},
        )


@dataclass(frozen=True, slots=True)
class CircleAccess:
    circle_id: str
    owner: str
    name: str | None
    entitlement: Entitlement
    in_plan: bool
    #: the in-plan members' account ids
    in_plan_members: frozenset[str]

    @property
    def plan(self) -> str:
        return self.entitlement.plan


async def circle(
    request: web.Request, who: Member, circle_id: str, *, in_plan: bool = True
) -> CircleAccess:
    async with request.app[POOL].connection() as conn:
        found = await members_store.membership(conn, circle_id, who.account_id)
    if found is None:
        raise Problem("not-found", f"no circle {circle_id!r}")
    now = datetime.now(UTC)
    service = request.app[ENTITLEMENTS]
    try:
        entitlement = service.snapshot.entitlement(circle_id, now)
        recipients = service.snapshot.alert_recipients(circle_id, now)
    except UnknownEntity:  # created after the snapshot was built: its NOTIFY is on the way
        await service.reload_soon()
        entitlement = service.snapshot.entitlement(circle_id, now)
        recipients = service.snapshot.alert_recipients(circle_id, now)
    if who.account_id not in recipients and found.joined_at >= service.snapshot.built_at:
        # the snapshot predates this member's joining (its NOTIFY is on the way): a member
        # who joined within the limit must not be refused because of it
        await service.reload_soon()
        entitlement = service.snapshot.entitlement(circle_id, now)
        recipients = service.snapshot.alert_recipients(circle_id, now)
    access = CircleAccess(
        circle_id,
        found.owner_account_id,
        found.name,
        entitlement,
        who.account_id in recipients,
        recipients,
    )
    if in_plan and not access.in_plan:
        limit = entitlement.limits.members_per_circle
        raise Problem(
            "beyond-member-limit",
            f"{entitlement.plan} plan shares the circle with its first {limit} members;"
            " you joined after them",
            plan=entitlement.plan,
            limit="members",
            allowed=limit,
        )
    return access


def require_owner(access: CircleAccess, who: Member) -> None:
    if access.owner != who.account_id:
        raise Problem("not-owner", "only the circle's owner may do this")


def shared_device_ids(
    request: web.Request, access: CircleAccess, device_ids: list[int]
) -> list[int]:
    """The devices among ``device_ids`` whose positions ``access``'s circle gets now."""
    snapshot = request.app[ENTITLEMENTS].snapshot
    now = datetime.now(UTC)
    return [d for d in device_ids if access.circle_id in snapshot.shared_circles(str(d), now)]


async def shared_device(request: web.Request, access: CircleAccess, device_id: int) -> int:
    async with request.app[POOL].connection() as conn:
        owner = await members_store.device_owner(conn, device_id)
    if (
        owner is None
        or owner not in access.in_plan_members
        or not shared_device_ids(request, access, [device_id])
    ):
        raise Problem("not-found", f"no device {device_id} in circle {access.circle_id!r}")
    return device_id


async def own_device(request: web.Request, who: Member, device_id: int) -> int:
    async with request.app[POOL].connection() as conn:
        owner = await members_store.device_owner(conn, device_id)
    if owner != who.account_id:
        raise Problem("not-found", f"no device {device_id}")
    return device_id
