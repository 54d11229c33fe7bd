"""Issue 10, the member API, against the running gateway and the real database: accounts,
tokens, devices, circles, invitations, members, places, history, alerts, the admin split."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from .. import services
from .member_client import Api

pytestmark = pytest.mark.integration

ADMIN = "test-admin-token"


def settings(db_url: str, **api: Any) -> Any:
    return services.settings(db_url, http={"admin_token": ADMIN}, api=api)


def sql(query: str, *params: Any) -> list[tuple[Any, ...]]:
    with services.connect() as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def place(name: str, lon: float = 13.4, lat: float = 52.5) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"name": name, "radius_m": 100},
    }


async def test_sign_up_sign_in_tokens_and_the_admin_split(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        email = f"{services.unique('Ada')}@Example.org"
        r = await api.call(
            "POST",
            "/v1/accounts",
            json={"email": email, "password": "correct horse", "name": "Ada"},
        )
        assert r.status == 201
        account = r.body["id"]
        assert r.body["email"] == email
        assert "password_hash" not in r.body
        # unique whatever its case
        again = await api.call(
            "POST", "/v1/accounts", json={"email": email.upper(), "password": "x" * 8, "name": "A"}
        )
        assert (again.status, again.problem) == (409, "email-taken")
        for bad in (
            {"email": "no-at-sign", "password": "x" * 8, "name": "A"},
            {"email": "b@example.org", "password": "short", "name": "A"},
            {"email": "b@example.org", "password": "x" * 8},
            [1, 2],
        ):
            r = await api.call("POST", "/v1/accounts", json=bad)
            assert (r.status, r.problem) == (400, "invalid-request"), bad
        wrong = await api.call("POST", "/v1/tokens", json={"email": email, "password": "wrong!!!"})
        assert (wrong.status, wrong.problem) == (401, "invalid-credentials")
        nobody = await api.call(
            "POST", "/v1/tokens", json={"email": "nobody@example.org", "password": "x" * 8}
        )
        assert (nobody.status, nobody.problem) == (401, "invalid-credentials")
        t = await api.call(
            "POST",
            "/v1/tokens",
            json={"email": email.lower(), "password": "correct horse", "name": "laptop"},
        )
        assert t.status == 201
        token = t.body["token"]
        # stored hashed: the secret is nowhere in the database
        assert sql(
            "select count(*) from api_tokens where token_sha256::text like %s", "%" + token + "%"
        ) == [(0,)]
        me = await api.call("GET", "/v1/me", token)
        assert (me.status, me.body["id"], me.body["circles"]) == (200, account, [])
        listed = await api.call("GET", "/v1/tokens", token)
        assert [(x["name"], x["current"]) for x in listed.body["items"]] == [("laptop", True)]
        assert "token" not in listed.body["items"][0]
        # no token, a malformed one, the admin token: not a member
        for bad_token in (None, "garbage", ADMIN, token + "x"):
            r = await api.call("GET", "/v1/me", bad_token)
            assert (r.status, r.problem) == (401, "unauthorized"), bad_token
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
        # a member token is not an admin token, and the admin routes are the admin's
        r = await api.call("GET", "/v1/admin/devices", token)
        assert (r.status, r.problem) == (401, "not-admin")
        r = await api.call("GET", f"/v1/admin/accounts/{account}", ADMIN)
        assert (r.status, r.body["email"]) == (200, email)
        # the old routes are gone
        r = await api.call("POST", "/api/circles", ADMIN, json={"id": "x", "owner": "y"})
        assert r.status == 404
        # an expired token is refused
        second = await api.call(
            "POST", "/v1/tokens", json={"email": email, "password": "correct horse"}
        )
        sql(
            "update api_tokens set expires_at = now() - interval '1 s' where id = %s",
            second.body["id"],
        )
        r = await api.call("GET", "/v1/me", second.body["token"])
        assert r.status == 401
        # revoked: refused from then on; someone else's token id is not found
        r = await api.call("DELETE", f"/v1/tokens/{t.body['id']}", token)
        assert r.status == 204
        assert (await api.call("GET", "/v1/me", token)).status == 401
        other_account, other = await api.member("eve")
        r = await api.call("DELETE", f"/v1/tokens/{second.body['id']}", other)
        assert (r.status, r.problem) == (404, "not-found")
        # suspension by the operator: refused except for the account itself and its data
        r = await api.call("PUT", f"/v1/admin/accounts/{other_account}/suspension", ADMIN)
        assert (r.status, r.body["status"]) == (200, "suspended")
        r = await api.call("GET", "/v1/devices", other)
        assert (r.status, r.problem) == (403, "account-suspended")
        assert (await api.call("GET", "/v1/me", other)).status == 200
        assert (await api.call("GET", "/v1/me/export", other)).status == 200
        r = await api.call("DELETE", f"/v1/admin/accounts/{other_account}/suspension", ADMIN)
        assert (await api.call("GET", "/v1/devices", other)).status == 200


async def test_failed_sign_ins_and_token_use_are_rate_limited(db_url: str) -> None:
    s = settings(db_url, signin_failures=3, token_burst=5, token_rate_per_s=0.2)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        _, token = await api.member("rl")
        statuses = [(await api.call("GET", "/v1/me", token)).status for _ in range(5)]
        assert statuses == [200] * 5  # a burst of 5 (signing in spent none of it)
        r = await api.call("GET", "/v1/me", token)
        assert (r.status, r.problem) == (429, "rate-limited")
        assert int(r.headers["Retry-After"]) >= 1
        # per account: three failures, then even the right password waits
        email = f"{services.unique('victim')}@example.org"
        await api.call(
            "POST", "/v1/accounts", json={"email": email, "password": "p" * 10, "name": "v"}
        )
        for _ in range(3):
            r = await api.call("POST", "/v1/tokens", json={"email": email, "password": "guess123"})
            assert r.status == 401
        r = await api.call("POST", "/v1/tokens", json={"email": email, "password": "p" * 10})
        assert (r.status, r.problem) == (429, "rate-limited")
        assert int(r.headers["Retry-After"]) >= 1
        # per address: another account from the same address waits too ...
        other = f"{services.unique('bystander')}@example.org"
        await api.call(
            "POST", "/v1/accounts", json={"email": other, "password": "q" * 10, "name": "b"}
        )
        r = await api.call("POST", "/v1/tokens", json={"email": other, "password": "q" * 10})
        assert r.status == 429
        # ... but not from another address; and the victim's account waits from anywhere
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=connector) as elsewhere_http:
            elsewhere = Api(elsewhere_http, s.http.port)
            r = await elsewhere.call(
                "POST", "/v1/tokens", json={"email": other, "password": "q" * 10}
            )
            assert r.status == 201
            r = await elsewhere.call(
                "POST", "/v1/tokens", json={"email": email, "password": "p" * 10}
            )
            assert (r.status, r.problem) == (429, "rate-limited")


async def test_devices_are_their_owners_and_ids_are_checked(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        _, alice = await api.member("alice")
        _, bob = await api.member("bob")
        imei = services.unique_imei()
        tag = await api.device(alice, "gt06", imei)
        phone = await api.device(alice, "owntracks", f"alice/{services.unique('p')}")
        # the free plan tracks one tag per account: the second is refused, a phone is not a tag
        r = await api.call(
            "POST",
            "/v1/devices",
            alice,
            json={"protocol": "gt06", "unique_id": services.unique_imei()},
        )
        assert (r.status, r.problem) == (403, "plan-limit")
        assert (r.body["plan"], r.body["limit"], r.body["allowed"], r.body["current"]) == (
            "free",
            "tags",
            1,
            1,
        )
        # ids that would be MQTT wildcards, topic levels or controls are refused
        for bad in ("a+b", "a#", "a/b", "a\nb", "a\x00", "$SYS", " lead", "x" * 200):
            r = await api.call(
                "POST", "/v1/devices", bob, json={"protocol": "teltonika", "unique_id": bad}
            )
            assert (r.status, r.problem) == (400, "invalid-id"), bad
        r = await api.call(
            "POST", "/v1/devices", bob, json={"protocol": "owntracks", "unique_id": "bob/+"}
        )
        assert (r.status, r.problem) == (400, "invalid-id")
        r = await api.call(
            "POST",
            "/v1/admin/devices",
            ADMIN,
            json={"protocol": "gt06", "unique_id": "a#", "account": "x"},
        )
        assert (r.status, r.problem) == (400, "invalid-id")
        r = await api.call(
            "POST", "/v1/devices", bob, json={"protocol": "nonsense", "unique_id": "x"}
        )
        assert (r.status, r.problem) == (400, "invalid-request")
        # someone else's device id: a conflict, owner not named
        r = await api.call("POST", "/v1/devices", bob, json={"protocol": "gt06", "unique_id": imei})
        assert (r.status, r.problem) == (409, "conflict")
        assert "alice" not in r.body["detail"]
        # an account sees and deletes only its own devices
        mine = await api.call("GET", "/v1/devices", alice)
        assert [d["id"] for d in mine.body["items"]] == [tag, phone]
        assert (await api.call("GET", "/v1/devices", bob)).body["items"] == []
        r = await api.call("DELETE", f"/v1/devices/{tag}", bob)
        assert (r.status, r.problem) == (404, "not-found")
        sql(
            "insert into positions (device_id, fix_time, received_at, lat, lon, valid)"
            " values (%s, now(), now(), 1, 2, true)",
            tag,
        )
        r = await api.call("DELETE", f"/v1/devices/{tag}", alice)
        assert (r.status, r.body["deleted"]["positions"]) == (200, 1)
        assert sql("select count(*) from devices where id = %s", tag) == [(0,)]
        # the slot is free again
        await api.device(alice, "gt06", services.unique_imei())


async def test_circles_invites_members_and_cross_circle_404(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        alice_id, alice = await api.member("alice")
        carol_id, carol = await api.member("carol")
        dave_id, dave = await api.member("dave")
        bob_id, bob = await api.member("bob")
        a = await api.circle(alice, "A")
        b = await api.circle(bob, "B")
        # the free plan: one circle per account
        r = await api.call("POST", "/v1/circles", alice, json={"name": "second"})
        assert (r.status, r.problem, r.body["plan"], r.body["limit"]) == (
            403,
            "plan-limit",
            "free",
            "circles",
        )
        devices = {
            who: await api.device(tok, "owntracks", f"{who}/{services.unique('p')}")
            for who, tok in (("alice", alice), ("carol", carol), ("dave", dave), ("bob", bob))
        }
        for device in devices.values():
            sql(
                "insert into latest_positions (device_id, fix_time, received_at, lat, lon, valid)"
                " values (%s, now(), now(), 52.5, 13.4, true)",
                device,
            )
        invite = await api.call("POST", f"/v1/circles/{a}/invites", alice)
        assert invite.status == 201
        code = invite.body["code"]
        expires = datetime.fromisoformat(invite.body["expires_at"].replace("Z", "+00:00"))
        assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
        assert (await api.call("POST", f"/v1/invites/{code}", carol)).status == 200
        # single use
        r = await api.call("POST", f"/v1/invites/{code}", dave)
        assert (r.status, r.problem) == (404, "not-found")
        # expired
        late = await api.call("POST", f"/v1/circles/{a}/invites", alice)
        sql(
            "update circle_invites set expires_at = now() - interval '1 s'"
            " where circle_id = %s and used_at is null",
            a,
        )
        assert (await api.call("POST", f"/v1/invites/{late.body['code']}", dave)).status == 404
        await api.join(alice, a, dave)  # the third member of a Free circle
        # members: the first two in plan with their devices' latest positions; dave beyond
        r = await api.call("GET", f"/v1/circles/{a}/members", alice)
        assert r.status == 200
        people = {m["account"]: m for m in r.body["items"]}
        assert [m["account"] for m in r.body["items"]] == [alice_id, carol_id, dave_id]
        assert (people[alice_id]["in_plan"], people[carol_id]["in_plan"]) == (True, True)
        assert people[dave_id]["in_plan"] is False
        assert "devices" not in people[dave_id]
        assert [d["id"] for d in people[carol_id]["devices"]] == [devices["carol"]]
        assert people[carol_id]["devices"][0]["latest"]["lat"] == 52.5
        # dave, beyond the limit, gets none of the others' positions and no alerts
        for path in ("members", "alerts", "places"):
            r = await api.call("GET", f"/v1/circles/{a}/{path}", dave)
            assert (r.status, r.problem) == (403, "beyond-member-limit"), path
            assert (r.body["plan"], r.body["allowed"]) == ("free", 2)
        r = await api.call("GET", f"/v1/circles/{a}", dave)
        assert (r.status, r.body["in_plan"]) == (200, False)
        # events: dave's device's never reach the circle's alerts
        now = datetime.now(UTC)
        for who in ("alice", "carol", "dave"):
            sql(
                "insert into events (device_id, circle_id, kind, time, subject)"
                " values (%s, %s, 'geofence:enter', %s, 'home')",
                devices[who],
                a,
                now - timedelta(minutes=len(who)),
            )
        for who in ("carol", "dave", "bob"):  # a device's own alarm belongs to no circle
            sql(
                "insert into events (device_id, kind, time) values (%s, 'alarm:sos', now())",
                devices[who],
            )
        alerts = await api.call("GET", f"/v1/circles/{a}/alerts", alice)
        assert sorted((x["kind"], x["device"]) for x in alerts.body["items"]) == sorted(
            [
                ("alarm:sos", devices["carol"]),
                ("geofence:enter", devices["alice"]),
                ("geofence:enter", devices["carol"]),
            ]
        )
        # cross-circle: bob's circle B is not found for alice, whatever the path
        for method, path in (
            ("GET", f"/v1/circles/{b}"),
            ("GET", f"/v1/circles/{b}/members"),
            ("GET", f"/v1/circles/{b}/alerts"),
            ("GET", f"/v1/circles/{b}/places"),
            ("POST", f"/v1/circles/{b}/invites"),
            ("DELETE", f"/v1/circles/{b}/members/{bob_id}"),
            ("DELETE", f"/v1/circles/{b}/places/1"),
            (
                "GET",
                f"/v1/circles/{b}/devices/{devices['bob']}/history"
                "?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z",
            ),
            ("GET", "/v1/circles/does-not-exist/members"),
        ):
            r = await api.call(method, path, alice)
            assert (r.status, r.problem) == (404, "not-found"), path
        # and bob's device is not found through alice's own circle either
        r = await api.call(
            "GET",
            f"/v1/circles/{a}/devices/{devices['bob']}/history",
            alice,
            params={"from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z"},
        )
        assert (r.status, r.problem) == (404, "not-found")
        assert [c["id"] for c in (await api.call("GET", "/v1/circles", alice)).body["items"]] == [a]
        # only the owner removes others; a member may leave
        r = await api.call("DELETE", f"/v1/circles/{a}/members/{dave_id}", carol)
        assert (r.status, r.problem) == (403, "not-owner")
        r = await api.call("DELETE", f"/v1/circles/{a}/members/{alice_id}", alice)
        assert (r.status, r.problem) == (409, "conflict")
        # a removed member is refused at once (within a second)
        r = await api.call("DELETE", f"/v1/circles/{a}/members/{carol_id}", alice)
        assert r.status == 204
        removed_at = time.monotonic()
        r = await api.call("GET", f"/v1/circles/{a}/members", carol)
        assert (r.status, r.problem) == (404, "not-found")
        assert time.monotonic() - removed_at < 1.0
        # carol's slot is free: dave is in plan now
        for _ in range(40):
            r = await api.call("GET", f"/v1/circles/{a}/members", dave)
            if r.status == 200:
                break
            await asyncio.sleep(0.05)
        assert r.status == 200
        assert [m["account"] for m in r.body["items"] if m["in_plan"]] == [alice_id, dave_id]
        # dave leaves on his own
        assert (await api.call("DELETE", f"/v1/circles/{a}/members/{dave_id}", dave)).status == 204
        assert (await api.call("GET", f"/v1/circles/{a}", dave)).status == 404


async def test_places_crud_limit_and_bad_geometry(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        _, alice = await api.member("alice")
        a = await api.circle(alice)
        home = await api.call("POST", f"/v1/circles/{a}/places", alice, json=place("home"))
        assert (home.status, home.body["name"], home.body["kind"]) == (201, "home", "circle")
        square = {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[13.0, 52.0], [13.1, 52.0], [13.1, 52.1], [13.0, 52.1], [13.0, 52.0]]
                ],
            },
            "properties": {"name": "park"},
        }
        park = await api.call("POST", f"/v1/circles/{a}/places", alice, json=square)
        assert (park.status, park.body["kind"]) == (201, "polygon")
        r = await api.call("POST", f"/v1/circles/{a}/places", alice, json=place("gym"))
        assert (r.status, r.problem, r.body["limit"], r.body["allowed"]) == (
            403,
            "plan-limit",
            "places",
            2,
        )
        bowtie = {
            **square,
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
            },
        }
        for bad in (
            {"type": "Feature", "geometry": None, "properties": {"name": "x"}},
            {**place("far"), "geometry": {"type": "Point", "coordinates": [200, 95]}},
            bowtie,
            {"type": "FeatureCollection", "features": []},
        ):
            r = await api.call("PUT", f"/v1/circles/{a}/places/{home.body['id']}", alice, json=bad)
            assert (r.status, r.problem) == (400, "bad-geometry"), bad
        r = await api.call(
            "PUT", f"/v1/circles/{a}/places/{home.body['id']}", alice, json=place("home", 13.5)
        )
        assert (r.status, r.body["geometry"]["coordinates"]) == (200, [13.5, 52.5])
        listed = await api.call("GET", f"/v1/circles/{a}/places", alice)
        assert [p["name"] for p in listed.body["items"]] == ["home", "park"]
        assert (
            await api.call("DELETE", f"/v1/circles/{a}/places/{park.body['id']}", alice)
        ).status == 204
        assert (
            await api.call("DELETE", f"/v1/circles/{a}/places/{park.body['id']}", alice)
        ).status == 404
        await asyncio.sleep(0.3)  # the snapshot's place count follows the NOTIFY
        r = await api.call("POST", f"/v1/circles/{a}/places", alice, json=place("gym"))
        assert r.status == 201


async def test_history_and_alerts_paging(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s) as gw, aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        _, alice = await api.member("alice")
        _, carol = await api.member("carol")
        a = await api.circle(alice)
        await api.join(alice, a, carol)
        device = await api.device(carol, "owntracks", f"carol/{services.unique('p')}")
        now = datetime.now(UTC)
        with services.connect() as conn, conn.cursor() as cur:
            cur.executemany(
                "insert into positions (device_id, fix_time, received_at, lat, lon, valid)"
                " values (%s, %s, now(), 52.5, 13.4, true)",
                [(device, now - timedelta(hours=h)) for h in range(1, 6)],
            )
            cur.executemany(
                "insert into events (device_id, circle_id, kind, time) values (%s, %s, %s, %s)",
                [(device, a, f"alarm:{i}", now - timedelta(minutes=i)) for i in range(5)],
            )
        window = {"from": (now - timedelta(hours=10)).isoformat(), "to": now.isoformat()}
        path = f"/v1/circles/{a}/devices/{device}/history"
        r = await api.call("GET", path, alice, params=window)
        assert (r.status, r.problem, r.body["limit"]) == (403, "plan-limit", "history_replay")
        # gold (through the admin API) replays 30 days
        doc = {
            "circle": a,
            "subscriptions": [
                {
                    "id": services.unique("sub"),
                    "plan": "gold",
                    "cycle": "monthly",
                    "started_at": (now - timedelta(days=2)).isoformat(),
                    "current_period_end": (now + timedelta(days=28)).isoformat(),
                }
            ],
        }
        r = await api.call("PUT", f"/v1/admin/circles/{a}/subscriptions", ADMIN, json=doc)
        assert r.status == 200, r.body
        await gw.entitlements.reload_soon()
        r = await api.call("GET", path, alice, params={**window, "limit": "3"})
        assert (r.status, len(r.body["fixes"])) == (200, 3)
        r2 = await api.call(
            "GET", path, alice, params={**window, "limit": "3", "cursor": r.body["next"]}
        )
        assert (len(r2.body["fixes"]), r2.body["next"]) == (2, None)
        gpx = await api.call("GET", path, alice, params={**window, "format": "gpx"})
        assert gpx.headers["Content-Type"].startswith("application/gpx+xml")
        assert gpx.body.count("<trkpt") == 5
        geo = await api.call("GET", path, alice, params={**window, "format": "geojson"})
        features = geo.body["features"]
        assert [f["geometry"]["type"] for f in features] == ["Point"] * 5 + ["LineString"]
        assert len(features[-1]["geometry"]["coordinates"]) == 5
        csv_text = (await api.call("GET", path, alice, params={**window, "format": "csv"})).body
        assert len(csv_text.strip().splitlines()) == 6
        r = await api.call(
            "GET",
            path,
            alice,
            params={"from": (now - timedelta(days=40)).isoformat(), "to": now.isoformat()},
        )
        assert (r.status, r.body["limit"], r.body["allowed"]) == (403, "history_days", 30)
        r = await api.call("GET", path, alice, params={"from": "yesterday", "to": now.isoformat()})
        assert (r.status, r.problem) == (400, "invalid-request")
        # alerts, newest first, two at a time
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = await api.call("GET", f"/v1/circles/{a}/alerts", carol, params=params)
            assert page.status == 200
            seen += [x["kind"] for x in page.body["items"]]
            assert all({"kind", "time", "device"} <= set(x) for x in page.body["items"])
            cursor = page.body["next"]
            if cursor is None:
                break
        assert seen == [f"alarm:{i}" for i in range(5)]
        r = await api.call("GET", f"/v1/circles/{a}/alerts", carol, params={"cursor": "bogus"})
        assert (r.status, r.problem) == (400, "invalid-request")


async def test_app_store_subscriptions_never_replace_stripe_ones(db_url: str) -> None:
    from gateway.store import admin

    owner, circle = services.unique("acct"), services.unique("circle")
    with services.connect() as conn:
        admin.add_circle(conn, circle, owner)
        conn.execute(
            "insert into subscriptions (id, circle_id, plan, cycle, started_at,"
            " current_period_end, source) values (%s, %s, 'gold', 'monthly', now(),"
            " now() + interval '20 days', 'stripe')",
            ("sub_stripe_" + circle, circle),
        )
    s = settings(db_url)
    now = datetime.now(UTC)

    def doc(sub_id: str) -> dict[str, Any]:
        return {
            "circle": circle,
            "subscriptions": [
                {
                    "id": sub_id,
                    "plan": "silver",
                    "cycle": "monthly",
                    "started_at": (now - timedelta(days=1)).isoformat(),
                    "current_period_end": (now + timedelta(days=29)).isoformat(),
                }
            ],
        }

    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        api = Api(http, s.http.port)
        url = f"/v1/admin/circles/{circle}/subscriptions"
        assert (await api.call("PUT", url, ADMIN, json=doc("apple-1"))).status == 200
        assert (await api.call("PUT", url, ADMIN, json=doc("apple-2"))).status == 200
        r = await api.call("PUT", url, ADMIN, json=doc("sub_stripe_" + circle))
        assert (r.status, r.problem) == (409, "conflict")
        r = await api.call("GET", f"/v1/admin/circles/{circle}/entitlement", ADMIN)
        assert r.body["plan"] == "gold"  # the Stripe subscription still counts
    assert sql("select id, source from subscriptions where circle_id = %s order by id", circle) == [
        ("apple-2", "app-store"),
        ("sub_stripe_" + circle, "stripe"),
    ]
