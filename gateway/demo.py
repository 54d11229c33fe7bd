"""The demo: a provisioned account, circle and phone, and a simulated phone walking a loop
near a place, publishing OwnTracks JSON over MQTT so the gateway has real work to show."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from typing import Any

import aiomqtt
import psycopg

from .api.accounts import hash_password
from .config import Settings
from .store import admin

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "demo"
DEMO_CIRCLE = "demo-family"
#: how the demo member signs in on the live page (a development default, loopback only)
DEMO_EMAIL, DEMO_SIGN_IN_PASSWORD = "demo@example.org", "demo-password"
#: the phone's MQTT user (deploy/mosquitto/users) and OwnTracks device name
DEMO_USER, DEMO_PASSWORD, DEMO_DEVICE = "demo-phone", "demo-phone-secret", "phone"
#: a walk around a park in Berlin (Tiergarten), ~1.2 km loop
CENTRE = (52.5145, 13.3501)
RADIUS_M = 600.0


#: the demo circle's place: on the loop's northern edge, so the phone enters and leaves it
PLACE_NAME = "park-gate"
PLACE_RADIUS_M = 120.0


def provision(url: str) -> str:
    """Idempotently create the demo account, circle, place and phone; returns the device key."""
    key = f"{DEMO_USER}/{DEMO_DEVICE}"
    with psycopg.connect(url, connect_timeout=5) as conn:
        admin.add_circle(conn, DEMO_CIRCLE, DEMO_ACCOUNT, "Demo family")
        admin.set_sign_in(conn, DEMO_ACCOUNT, DEMO_EMAIL, hash_password(DEMO_SIGN_IN_PASSWORD))
        admin.add_device(conn, "owntracks", key, DEMO_ACCOUNT, "Demo phone")
        lat, lon = fix_at(0)
        conn.execute(
            "insert into places (circle_id, name, kind, geometry, radius_m)"
            " values (%s, %s, 'circle', %s, %s) on conflict (circle_id, name) do nothing",
            (
                DEMO_CIRCLE,
                PLACE_NAME,
                json.dumps({"type": "Point", "coordinates": [lon, lat]}),
                PLACE_RADIUS_M,
            ),
        )
        conn.commit()
    return key


def fix_at(step: int) -> tuple[float, float]:
    angle = (step % 120) / 120 * 2 * math.pi
    dlat = RADIUS_M * math.cos(angle) / 111_320
    dlon = RADIUS_M * math.sin(angle) / (111_320 * math.cos(math.radians(CENTRE[0])))
    return CENTRE[0] + dlat, CENTRE[1] + dlon


async def run_phone(settings: Settings, interval_s: float = 1.0, count: int | None = None) -> None:
    """Publish one OwnTracks location per interval (QoS 1) until cancelled or ``count``."""
    step = 0
    topic = f"owntracks/{DEMO_USER}/{DEMO_DEVICE}"
    while count is None or step < count:
        try:
            async with aiomqtt.Client(
                settings.mqtt.host,
                settings.mqtt.port,
                username=DEMO_USER,
                password=DEMO_PASSWORD,
                identifier="trackgw-demo-phone",
            ) as client:
                while count is None or step < count:
                    lat, lon = fix_at(step)
                    payload: dict[str, Any] = {
                        "_type": "location",
                        "tid": "dp",
                        "tst": int(time.time()),
                        "lat": round(lat, 6),
                        "lon": round(lon, 6),
                        "acc": 12,
                        "alt": 34,
                        "vel": 5,
                        "cog": (step * 3) % 360,
                        "batt": 80,
                        "conn": "w",
                        "t": "t",
                    }
                    await client.publish(topic, json.dumps(payload), qos=1)
                    step += 1
                    await asyncio.sleep(interval_s)
        except aiomqtt.MqttError as exc:
            log.warning("demo phone: broker unavailable (%s); retrying", exc)
            await asyncio.sleep(2.0)


async def run_reporter(settings: Settings, interval_s: float = 5.0) -> None:
    """Log the growing row count and the circle's alerts, so the demo shows real work."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            async with await psycopg.AsyncConnection.connect(settings.database.url) as conn:
                cur = await conn.execute(
                    "select (select count(*) from positions p join devices d"
                    "        on d.id = p.device_id where d.account_id = %s),"
                    " (select count(*) from events where circle_id = %s)",
                    (DEMO_ACCOUNT, DEMO_CIRCLE),
                )
                positions, alerts = await cur.fetchone() or (0, 0)
            log.info(
                "demo: %d positions stored for the demo phone, %d place alerts for circle %r"
                " (watch them: mosquitto_sub -p %d -u trackgw-operator -P operator-dev-secret"
                " -t 'circles/%s/#')",
                positions,
                alerts,
                DEMO_CIRCLE,
                settings.mqtt.port,
                DEMO_CIRCLE,
            )
        except psycopg.Error as exc:
            log.warning("demo: cannot count positions: %s", exc)
