"""Issues 5 and 6 on the real services: a phone crosses a place and circle members get exactly
one alert; airport alerts only on Platinum; members past the plan's limit get nothing; a
subscription UPDATE changes enforcement of a running gateway within a second."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from entitlements import IngestDecision, load_subscriptions
from gateway.store import admin
from gateway.store.subscriptions import replace_circle_subscriptions
from protocols import simulate as sim

from .. import services
from ..devices import Gt06Client, fixes

pytestmark = pytest.mark.integration

HOME = (52.5200, 13.4050)  # a 150 m place
HOME_RADIUS_M = 150.0
M_PER_DEG = 111_320.0


def offset(lat: float, lon: float, north_m: float) -> tuple[float, float]:
    return lat + north_m / M_PER_DEG, lon


def circle_with_place(members: list[str], plan: str | None = None) -> str:
    circle = services.unique("circle")
    with services.connect() as conn:
        admin.add_circle(conn, circle, members[0])
        for account in members[1:]:
            admin.join_circle(conn, circle, account)
        conn.execute(
            "insert into places (circle_id, name, kind, geometry, radius_m)"
            " values (%s, 'home', 'circle', %s, %s)",
            (
                circle,
                json.dumps({"type": "Point", "coordinates": [HOME[1], HOME[0]]}),
                HOME_RADIUS_M,
            ),
        )
    if plan is not None:
        set_plan(circle, plan)
    return circle


def set_plan(circle: str, plan: str) -> None:
    now = datetime.now(UTC)
    doc = {
        "circle": circle,
        "subscriptions": [
            {
                "id": services.unique("sub"),
                "plan": plan,
                "cycle": "annual",
                "started_at": (now - timedelta(days=1)).isoformat(),
                "current_period_end": (now + timedelta(days=300)).isoformat(),
                "payer": "card-1",
            }
        ],
    }
    subs = load_subscriptions(doc)

    async def write() -> None:
        async with await psycopg.AsyncConnection.connect(services.TEST_URL) as conn:
            await replace_circle_subscriptions(conn, circle, list(subs.subscriptions), now)

    asyncio.run(write())


async def set_plan_async(circle: str, plan: str) -> None:
    await asyncio.to_thread(set_plan, circle, plan)


class Listener:
    """The operator's dashboard (the only reader of circle-wide and other members' topics;
    members' own access is tested in test_broker_access): subscribed, collecting payloads."""

    def __init__(self, *topics: str) -> None:
        self.topics = topics
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def __aenter__(self) -> Listener:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def _run(self) -> None:
        async with services.mqtt_client(services.OPERATOR_USER[0]) as client:
            for topic in self.topics:
                granted = await client.subscribe(topic, qos=1)
                assert [getattr(c, "value", c) for c in granted] == [1], topic
            self._ready.set()
            async for message in client.messages:
                self.received.append((str(message.topic), json.loads(message.payload)))

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [p for t, p in self.received if t == topic]


async def publish_track(
    user: str, key: str, points: list[tuple[float, float, float]], start: datetime
) -> None:
    """OwnTracks fixes (lat, lon, accuracy) one second apart."""
    async with services.mqtt_client(user) as phone:
        for i, (lat, lon, acc) in enumerate(points):
            fix = sim.Fix(start + timedelta(seconds=10 * i), lat, lon)
            await phone.publish(f"owntracks/{key}", sim.owntracks_location(fix, int(acc)), qos=1)


def walk_home_and_leave() -> list[tuple[float, float, float]]:
    """From 400 m north to the centre with GPS jitter around the boundary, stay, then leave."""
    points = []
    for north in (400, 300, 220, 170, 140, 165, 130, 160, 120, 60, 20, 0, 10, 5, 0):
        points.append((*offset(*HOME, north), 12.0))
    for north in (60, 120, 165, 140, 170, 150, 230, 320, 420):
        points.append((*offset(*HOME, north), 12.0))
    return points


async def test_a_phone_crossing_a_place_gives_members_exactly_one_enter_and_one_exit(
    db_url: str,
) -> None:
    owner, other = services.unique("acct"), services.unique("acct")
    key = f"alice/{services.unique('phone')}"
    with services.connect() as conn:
        device_id = admin.add_device(conn, "owntracks", key, owner).id
    circle = circle_with_place([owner, other])
    s = services.settings(db_url)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    async with (
        services.running_gateway(s),
        Listener(
            f"circles/{circle}/alerts",
            f"circles/{circle}/members/+/alerts",
            f"circles/{circle}/live/+",
            f"circles/{circle}/members/+/live/+",
        ) as app,
    ):
        await publish_track("alice", key, walk_home_and_leave(), start)
        await services.wait_until(lambda: len(app.of(f"circles/{circle}/alerts")) >= 2)
        await asyncio.sleep(0.5)  # a duplicate alert would arrive by now
    alerts = app.of(f"circles/{circle}/alerts")
    assert [a["type"] for a in alerts] == ["enter", "exit"]
    enter = alerts[0]
    assert enter["circle"] == circle
    assert enter["member"] == owner
    assert enter["device"] == key
    assert enter["place"]["name"] == "home"
    assert enter["recipients"] == sorted([owner, other])
    assert set(enter["position"]) >= {"lat", "lon", "accuracy_m"}
    assert len(app.of(f"circles/{circle}/members/{other}/alerts")) == 2
    live = app.of(f"circles/{circle}/live/{device_id}")  # one retained topic per device
    assert live, "no live position published"
    assert {p["device"] for p in live} == {key}
    assert all(p["type"] == "position" and p["member"] == owner for p in live)
    for member in (owner, other):  # each in-plan member's own live topic gets them too
        assert app.of(f"circles/{circle}/members/{member}/live/{device_id}") == live
    with services.connect() as conn:
        kinds = [
            r[0]
            for r in conn.execute(
                "select kind from events where circle_id = %s order by time", (circle,)
            ).fetchall()
        ]
    assert kinds == ["enter", "exit"]


async def test_a_restart_does_not_refire_and_state_is_persisted(db_url: str) -> None:
    owner = services.unique("acct")
    key = f"alice/{services.unique('phone')}"
    with services.connect() as conn:
        admin.add_device(conn, "owntracks", key, owner)
    circle = circle_with_place([owner])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    inside = [(*offset(*HOME, n), 10.0) for n in (400, 300, 0, 10, 0)]
    async with Listener(f"circles/{circle}/alerts") as app:
        async with services.running_gateway(services.settings(db_url)):
            await publish_track("alice", key, inside, start)
            await services.wait_until(lambda: len(app.of(f"circles/{circle}/alerts")) == 1)
        async with services.running_gateway(services.settings(db_url)):
            more = [(*offset(*HOME, n), 10.0) for n in (5, 0, 8)]
            await publish_track("alice", key, more, start + timedelta(minutes=5))
            await asyncio.sleep(1.0)
    assert [a["type"] for a in app.of(f"circles/{circle}/alerts")] == ["enter"]


def flight(
    start_iata: tuple[float, float], end_iata: tuple[float, float]
) -> list[tuple[float, float, float, int]]:
    """(lat, lon, accuracy, seconds after start): at the first airport, then at the second
    one 75 minutes later."""
    (a_lat, a_lon), (b_lat, b_lon) = start_iata, end_iata
    return [
        (*offset(a_lat, a_lon, 5000), 15.0, 0),
        (a_lat, a_lon, 15.0, 600),
        (a_lat + 0.001, a_lon, 15.0, 1200),
        (b_lat, b_lon, 15.0, 1200 + 75 * 60),
        (b_lat + 0.001, b_lon, 15.0, 1260 + 75 * 60),
    ]


LHR = (51.4700, -0.4543)
CDG = (49.0097, 2.5479)


@pytest.mark.parametrize(("plan", "expect_airport_alerts"), [("platinum", True), ("gold", False)])
async def test_airport_alerts_only_for_plans_that_have_them(
    db_url: str, plan: str, expect_airport_alerts: bool
) -> None:
    owner = services.unique("acct")
    key = f"bob/{services.unique('phone')}"
    with services.connect() as conn:
        admin.add_device(conn, "owntracks", key, owner)
    circle = circle_with_place([owner])
    await set_plan_async(circle, plan)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    async with (
        services.running_gateway(services.settings(db_url)),
        Listener(f"circles/{circle}/alerts") as app,
    ):
        async with services.mqtt_client("bob") as phone:
            for lat, lon, acc, dt in flight(LHR, CDG):
                fix = sim.Fix(start + timedelta(seconds=dt), lat, lon)
                await phone.publish(
                    f"owntracks/{key}", sim.owntracks_location(fix, int(acc)), qos=1
                )
        if expect_airport_alerts:
            await services.wait_until(lambda: len(app.of(f"circles/{circle}/alerts")) >= 4)
        await asyncio.sleep(1.0)
    got = [
        (a["type"], a.get("airport", {}).get("iata")) for a in app.of(f"circles/{circle}/alerts")
    ]
    if expect_airport_alerts:
        assert got == [
            ("airport_arrival", "LHR"),
            ("airport_departure", "LHR"),
            ("flight_landed", "CDG"),
            ("airport_arrival", "CDG"),
        ]
    else:
        assert got == []


async def test_free_circles_third_member_is_outside_the_plan(db_url: str) -> None:
    first, second, third = (services.unique("acct") for _ in range(3))
    circle = circle_with_place([first, second, third])  # free: 2 members per circle
    keys = {a: f"alice/{services.unique('phone')}" for a in (first, third)}
    with services.connect() as conn:
        for account, key in keys.items():
            admin.add_device(conn, "owntracks", key, account)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    walk = [(*offset(*HOME, n), 10.0) for n in (400, 250, 0, 10, 0)]
    topic = f"circles/{circle}/alerts"
    async with (
        services.running_gateway(services.settings(db_url)),
        Listener(topic, f"circles/{circle}/members/+/alerts") as app,
    ):
        await publish_track("alice", keys[third], walk, start)
        await publish_track("alice", keys[first], walk, start)
        await services.wait_until(lambda: len(app.of(topic)) >= 1)
        await asyncio.sleep(1.0)
    alerts = app.of(topic)
    # the third member's positions are not shared with the circle: no event from them
    assert [(a["type"], a["member"]) for a in alerts] == [("enter", first)]
    # and they receive no alerts
    assert alerts[0]["recipients"] == sorted([first, second])
    assert app.of(f"circles/{circle}/members/{third}/alerts") == []
    assert len(app.of(f"circles/{circle}/members/{second}/alerts")) == 1


async def test_subscription_update_changes_enforcement_within_a_second(db_url: str) -> None:
    account = services.unique("acct")
    imeis = [services.unique_imei() for _ in range(3)]
    with services.connect() as conn:
        for imei in imeis:  # free plan: one tag per account
            admin.add_device(conn, "gt06", imei, account)
        device_ids = [admin.get_device(conn, i).id for i in imeis]  # type: ignore[union-attr]
    circle = services.unique("circle")
    with services.connect() as conn:
        admin.add_circle(conn, circle, account)
    await set_plan_async(circle, "silver")  # 3 tags
    s = services.settings(db_url)
    async with services.running_gateway(s) as gw:
        now = datetime.now(UTC)
        assert (
            gw.entitlements.snapshot.ingest_decision(str(device_ids[2]), now)
            is IngestDecision.ALLOWED
        )
        with services.connect() as conn:  # a raw UPDATE: the plan changes to free
            conn.execute("update subscriptions set plan = 'free' where circle_id = %s", (circle,))
        changed_at = time.monotonic()
        while (
            gw.entitlements.snapshot.ingest_decision(str(device_ids[2]), datetime.now(UTC))
            is IngestDecision.ALLOWED
        ):
            assert time.monotonic() - changed_at < 1.0, "not enforced within one second"
            await asyncio.sleep(0.01)
        # the gateway now refuses the account's third tag, and still takes the first
        refused = Gt06Client("127.0.0.1", s.ports.gt06, imeis[2])
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await refused.connect()
        ok = Gt06Client("127.0.0.1", s.ports.gt06, imeis[0])
        _reader, writer = await ok.connect()
        writer.write(ok.location(fixes(1)[0]))
        await writer.drain()
        await services.wait_until(lambda: services.count_positions(device_ids[0]) == 1)
        writer.close()
