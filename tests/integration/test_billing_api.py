"""Issue 6 over HTTP on the real services: Stripe webhooks signed the way Stripe signs them,
the admin API, and plan limits in the API (history window, places, circles)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from gateway.store import admin

from .. import services

pytestmark = pytest.mark.integration

SECRET = "whsec_integration"
TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def sign(body: bytes, t: int, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event(eid: str, kind: str, created: int, sub: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": eid, "object": "event", "type": kind, "created": created, "data": {"object": sub}}
    ).encode()


def stripe_subscription(
    sub_id: str, circle: str, plan: str, status: str = "active", cancel_at_period_end: bool = False
) -> dict[str, Any]:
    now = int(time.time())
    return {
        "id": sub_id,
        "object": "subscription",
        "status": status,
        "customer": "cus_it",
        "start_date": now - 86400,
        "trial_end": None,
        "cancel_at_period_end": cancel_at_period_end,
        "cancel_at": None,
        "metadata": {"circle_id": circle, "consumer_region": "EU"},
        "items": {
            "data": [
                {
                    "current_period_end": now + 30 * 86400,
                    "price": {"lookup_key": f"{plan}_monthly", "recurring": {"interval": "month"}},
                }
            ]
        },
    }


def settings(db_url: str) -> Any:
    return services.settings(db_url, http={"stripe_webhook_secret": SECRET, "admin_token": TOKEN})


def rows(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with services.connect() as conn:
        return conn.execute(sql, params).fetchall()


async def test_stripe_webhook_signed_forged_replayed_duplicate_out_of_order(db_url: str) -> None:
    owner, circle = services.unique("acct"), services.unique("circle")
    with services.connect() as conn:
        admin.add_circle(conn, circle, owner)
    sub_id = services.unique("sub")
    s = settings(db_url)
    async with services.running_gateway(s) as gw, aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{s.http.port}/webhooks/stripe"
        now = int(time.time())

        async def post(body: bytes, header: str | None) -> tuple[int, dict[str, Any]]:
            headers = {"Content-Type": "application/json"}
            if header is not None:
                headers["Stripe-Signature"] = header
            async with http.post(url, data=body, headers=headers) as resp:
                return resp.status, await resp.json()

        created = stripe_event(
            services.unique("evt"),
            "customer.subscription.created",
            now - 60,
            stripe_subscription(sub_id, circle, "gold"),
        )
        # forged: signed with another secret, or unsigned: refused and stored nowhere
        assert (await post(created, sign(created, now, "whsec_wrong")))[0] == 400
        assert (await post(created, None))[0] == 400
        # replayed too old: a valid signature from ten minutes ago
        assert (await post(created, sign(created, now - 600)))[0] == 400
        assert rows(
            "select count(*) from stripe_events where id = %s", json.loads(created)["id"]
        ) == [(0,)]
        assert rows("select count(*) from subscriptions where id = %s", sub_id) == [(0,)]
        # valid: accepted and applied; the running gateway enforces it at once
        status, answer = await post(created, sign(created, now))
        assert (status, answer["outcome"]) == (200, "applied")
        await gw.entitlements.reload_soon()
        assert gw.entitlements.snapshot.entitlement(circle, datetime.now(UTC)).plan == "gold"
        # the same event again: ignored
        status, answer = await post(created, sign(created, now))
        assert (status, answer["outcome"]) == (200, "duplicate")
        # a newer event (upgrade) then a late older one (cancel): the older does not undo it
        upgraded = stripe_event(
            services.unique("evt"),
            "customer.subscription.updated",
            now - 10,
            stripe_subscription(sub_id, circle, "platinum"),
        )
        late = stripe_event(
            services.unique("evt"),
            "customer.subscription.deleted",
            now - 30,
            stripe_subscription(sub_id, circle, "gold", status="canceled"),
        )
        assert (await post(upgraded, sign(upgraded, now)))[1]["outcome"] == "applied"
        assert (await post(late, sign(late, now)))[1]["outcome"] == "stale"
    assert rows("select plan from subscriptions where id = %s", sub_id) == [("platinum",)]
    assert rows("select plan from entitlements where circle_id = %s order by seq", circle)[-1] == (
        "platinum",
    )


async def insert_fixes(device_id: int, ages_days: list[float]) -> None:
    now = datetime.now(UTC)
    with services.connect() as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into positions (device_id, fix_time, received_at, lat, lon, valid)"
            " values (%s, %s, now(), 52.5, 13.4, true)",
            [(device_id, now - timedelta(days=d)) for d in ages_days],
        )


async def test_history_replay_follows_the_plan(db_url: str) -> None:
    owner = services.unique("acct")
    key = f"alice/{services.unique('phone')}"
    gold, free = services.unique("gold"), services.unique("free")
    with services.connect() as conn:
        device_id = admin.add_device(conn, "owntracks", key, owner).id
        admin.add_circle(conn, gold, owner)
        other = services.unique("acct")
        admin.add_circle(conn, free, other)
        admin.join_circle(conn, free, owner)
    await insert_fixes(device_id, [45, 31, 20, 10, 1])
    s = settings(db_url)
    async with services.running_gateway(s) as gw, aiohttp.ClientSession(headers=AUTH) as http:
        base = f"http://127.0.0.1:{s.http.port}/v1/admin"
        doc = {
            "circle": gold,
            "subscriptions": [
                {
                    "id": services.unique("sub"),
                    "plan": "gold",
                    "cycle": "monthly",
                    "started_at": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
                    "current_period_end": (datetime.now(UTC) + timedelta(days=28)).isoformat(),
                }
            ],
        }
        async with http.put(f"{base}/circles/{gold}/subscriptions", json=doc) as resp:
            assert resp.status == 200, await resp.text()
        await gw.entitlements.reload_soon()

        def window(days: int) -> dict[str, str]:
            now = datetime.now(UTC)
            return {"from": (now - timedelta(days=days)).isoformat(), "to": now.isoformat()}

        async with http.get(f"{base}/circles/{gold}/history/{key}", params=window(29)) as resp:
            assert resp.status == 200
            assert len((await resp.json())["fixes"]) == 3  # 20, 10 and 1 day old
        async with http.get(f"{base}/circles/{gold}/history/{key}", params=window(40)) as resp:
            assert resp.status == 403
            refusal = await resp.json()
        assert refusal["plan"] == "gold"
        assert refusal["allowed"] == 30
        assert "gold plan replays 30 days" in refusal["detail"]
        async with http.get(f"{base}/circles/{free}/history/{key}", params=window(2)) as resp:
            assert resp.status == 403
            assert "free plan has no history replay" in (await resp.json())["detail"]
        async with http.get(
            f"{base}/circles/{gold}/history/{key}", params={**window(29), "format": "gpx"}
        ) as resp:
            assert resp.status == 200
            assert (await resp.text()).count("<trkpt") == 3
        async with http.get(f"{base}/circles/{gold}/history/{key}") as resp:
            assert resp.status == 400  # from and to are required
        async with (
            aiohttp.ClientSession() as anonymous,
            anonymous.get(f"{base}/circles/{gold}/history/{key}", params=window(2)) as resp,
        ):
            assert resp.status == 401


async def test_place_and_circle_limits_in_the_api(db_url: str) -> None:
    owner = services.unique("acct")
    circle = services.unique("circle")
    s = settings(db_url)
    async with services.running_gateway(s) as gw, aiohttp.ClientSession(headers=AUTH) as http:
        base = f"http://127.0.0.1:{s.http.port}/v1/admin"
        async with http.post(f"{base}/circles", json={"id": circle, "owner": owner}) as resp:
            assert resp.status == 201
        await gw.entitlements.reload_soon()
        async with http.post(
            f"{base}/circles", json={"id": services.unique("c"), "owner": owner}
        ) as resp:
            assert resp.status == 403  # free: one circle per account
            assert (await resp.json())["detail"].startswith("free plan allows 1 circles")

        def place(name: str) -> dict[str, Any]:
            return {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
                "properties": {"id": name, "radius_m": 100},
            }

        features = {"type": "FeatureCollection", "features": [place("home"), place("school")]}
        async with http.post(f"{base}/circles/{circle}/places", json=features) as resp:
            assert resp.status == 201, await resp.text()
        await gw.entitlements.reload_soon()
        async with http.post(f"{base}/circles/{circle}/places", json=place("gym")) as resp:
            assert resp.status == 403
            body = await resp.json()
        assert (body["plan"], body["limit"], body["allowed"], body["current"]) == (
            "free",
            "places",
            2,
            2,
        )
        async with http.post(
            f"{base}/circles/{circle}/places", json={"type": "Feature", "geometry": None}
        ) as resp:
            assert resp.status == 400
        async with http.get(f"{base}/circles/{circle}/places") as resp:
            assert [p["name"] for p in await resp.json()] == ["home", "school"]


async def test_one_free_trial_per_payer_where_subscriptions_enter(db_url: str) -> None:
    """Issue 12: the webhook revokes a repeat trial of the same payer within 12 months (the
    subscription is kept, its trial features end at once); the admin API refuses it (409)."""
    owner = services.unique("acct")
    first_circle, second_circle, store_circle = (services.unique("circle") for _ in range(3))
    with services.connect() as conn:
        for circle in (first_circle, second_circle, store_circle):
            admin.add_circle(conn, circle, owner)
    payer = services.unique("cus")
    s = settings(db_url)
    now = int(time.time())

    def trialing(sub_id: str, circle: str) -> dict[str, Any]:
        sub = stripe_subscription(sub_id, circle, "gold", status="trialing")
        sub["customer"] = payer
        sub["trial_end"] = now + 10 * 86400
        return sub

    first_id, second_id = services.unique("sub"), services.unique("sub")
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{s.http.port}/webhooks/stripe"
        for i, (sub_id, circle) in enumerate(
            [(first_id, first_circle), (second_id, second_circle)]
        ):
            body = stripe_event(
                services.unique("evt"),
                "customer.subscription.created",
                now - 60 + i,
                trialing(sub_id, circle),
            )
            headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, now)}
            async with http.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
        doc = {
            "circle": store_circle,
            "subscriptions": [
                {
                    "id": services.unique("sub"),
                    "plan": "gold",
                    "cycle": "monthly",
                    "started_at": datetime.now(UTC).isoformat(),
                    "trial_end": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
                    "current_period_end": (datetime.now(UTC) + timedelta(days=37)).isoformat(),
                    "payer": payer,
                }
            ],
        }
        async with http.put(
            f"http://127.0.0.1:{s.http.port}/v1/admin/circles/{store_circle}/subscriptions",
            json=doc,
            headers=AUTH,
        ) as resp:
            assert resp.status == 409, await resp.text()
            assert "trial" in (await resp.json())["detail"]
    revoked = dict(
        rows("select id, trial_revoked_at is not null from subscriptions where payer = %s", payer)
    )
    assert revoked == {first_id: False, second_id: True}
