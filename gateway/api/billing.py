"""Payments: the Stripe webhook, and the admin API for purchases made through the app stores.

Webhook: the Stripe-Signature header is verified before anything else (a request without a
valid signature, or older than the tolerance, is refused with 400 and stored nowhere). Events
are idempotent by event id (``stripe_events``) and applied in order of their creation time by
``entitlements.stripe.apply_event`` (an older event never undoes a newer state). A change is
written in one transaction with the circle's resolved timeline; the triggers NOTIFY every
gateway, which swaps in a new entitlement snapshot.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiohttp import web

from entitlements import (
    InvalidSubscription,
    TrialRefused,
    check_trial_for,
    load_subscriptions,
    refuse_repeat_trial,
)
from entitlements import stripe as stripe_events
from entitlements.errors import WebhookError

from ..keys import ENTITLEMENTS, POOL, SETTINGS
from ..store.subscriptions import (
    circle_subscriptions,
    get_subscription,
    payer_subscriptions,
    replace_circle_subscriptions,
    upsert_subscription,
    write_timeline,
)
from .access import admin as require_admin
from .problems import Problem

log = logging.getLogger(__name__)


async def stripe_webhook(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = await request.read()
    now = datetime.now(UTC)
    try:
        event = stripe_events.construct_event(
            body,
            request.headers.get("Stripe-Signature"),
            settings.http.stripe_webhook_secret,
            now=now,
        )
    except WebhookError as exc:
        log.warning("stripe webhook refused: %s", exc)
        return web.json_response({"error": str(exc)}, status=400)
    async with request.app[POOL].connection() as conn:
        try:
            outcome = await _apply(conn, event, now)
        except LookupError as exc:
            # the circle is not known (yet): let Stripe retry rather than lose the event
            return web.json_response({"error": str(exc)}, status=409)
    return web.json_response({"event": event.id, "outcome": outcome})


async def _apply(
    conn: psycopg.AsyncConnection[Any], event: stripe_events.StripeEvent, now: datetime
) -> str:
    async with conn.transaction():
        seen = await (
            await conn.execute(
                "insert into stripe_events (id, type, created, outcome) values (%s, %s, %s, '')"
                " on conflict (id) do nothing returning id",
                (event.id, event.type, event.created),
            )
        ).fetchone()
        if seen is None:
            return "duplicate"
        sub_id = stripe_events.subscription_id_of(event)
        outcome = "ignored"
        if sub_id is not None:
            await conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (sub_id,))
            record = await get_subscription(conn, sub_id)
            result = stripe_events.apply_event(record, event)
            outcome = result.outcome.value
            if result.outcome is stripe_events.Outcome.APPLIED and result.record is not None:
                record = result.record
                if record.payer is not None and record.trial_end is not None:
                    # one free trial per payer per 12 months: a repeat's trial is revoked
                    # (its features end at once), the subscription itself is kept
                    await conn.execute(
                        "select pg_advisory_xact_lock(hashtext(%s))", ("payer:" + record.payer,)
                    )
                    others = await payer_subscriptions(conn, record.payer)
                    record = refuse_repeat_trial(record, others, now)
                circle = record.circle_id
                exists = await (
                    await conn.execute("select 1 from circles where id = %s", (circle,))
                ).fetchone()
                if exists is None:
                    raise LookupError(f"subscription {sub_id!r} names unknown circle {circle!r}")
                await upsert_subscription(conn, record, "stripe")
                await write_timeline(conn, circle, await circle_subscriptions(conn, circle), now)
        await conn.execute(
            "update stripe_events set outcome = %s where id = %s", (outcome, event.id)
        )
    log.info("stripe event %s (%s): %s", event.id, event.type, outcome)
    return outcome


async def put_subscriptions(request: web.Request) -> web.Response:
    """PUT /v1/admin/circles/{circle}/subscriptions with a SUBS.json body: replaces the
    circle's app-store subscriptions (its Stripe subscriptions are left as they are)."""
    require_admin(request)
    circle = request.match_info["circle"]
    try:
        doc = await request.json()
        subs = load_subscriptions(doc)
    except (ValueError, InvalidSubscription) as exc:
        raise Problem("invalid-request", str(exc)) from None
    if subs.circle_id != circle:
        raise Problem("invalid-request", f"body is for circle {subs.circle_id!r}, not {circle!r}")
    async with request.app[POOL].connection() as conn:
        for sub in subs.subscriptions:
            if sub.payer is None or sub.trial_end is None:
                continue
            others = [o for o in await payer_subscriptions(conn, sub.payer) if o.id != sub.id]
            try:
                check_trial_for(sub, others)
            except TrialRefused as exc:
                raise Problem("conflict", f"subscription {sub.id!r}: {exc}") from None
        try:
            await replace_circle_subscriptions(
                conn,
                circle,
                list(subs.subscriptions),
                datetime.now(UTC),
                source="app-store",
                only_source=True,
            )
        except LookupError as exc:
            raise Problem("not-found", str(exc.args[0])) from None
        except ValueError as exc:
            raise Problem("conflict", str(exc)) from None
    return web.json_response({"circle": circle, "subscriptions": len(subs.subscriptions)})


async def get_entitlement(request: web.Request) -> web.Response:
    """GET /v1/admin/circles/{circle}/entitlement: what the running gateway enforces now."""
    require_admin(request)
    circle = request.match_info["circle"]
    snapshot = request.app[ENTITLEMENTS].snapshot
    try:
        entitlement = snapshot.entitlement(circle, datetime.now(UTC))
    except LookupError:
        raise Problem("not-found", f"no circle {circle!r}") from None
    out = entitlement.as_json(circle)
    out["snapshot_version"] = snapshot.version
    return web.json_response(out)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/stripe", stripe_webhook)
    app.router.add_put("/v1/admin/circles/{circle}/subscriptions", put_subscriptions)
    app.router.add_get("/v1/admin/circles/{circle}/entitlement", get_entitlement)
