"""Issue 12: a tag that stops reporting gets exactly one "tracking stopped" after its expected
interval and one "back online" when it reports again -- with ``trackgw serve`` SIGKILLed
and restarted around each of them (the due time passes while no gateway runs; a restart
right after each was told). Decided from the database, so nothing fires twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.store import admin
from protocols import simulate as sim

from .. import services
from ..devices import Gt06Client
from ..integration.test_alerts import Listener

pytestmark = pytest.mark.e2e

INTERVAL_S = 10  # the shortest expected interval a device may have


async def report(port: int, imei: str, device_id: int, lat: float) -> None:
    """One GT06 location (0x12 has no reply): returns once it is stored."""
    before = services.count_positions(device_id)
    client = Gt06Client("127.0.0.1", port, imei)
    _, writer = await client.connect()
    try:
        writer.write(client.location(sim.Fix(datetime.now(UTC).replace(microsecond=0), lat, 13.4)))
        await writer.drain()
        await services.wait_until(lambda: services.count_positions(device_id) > before)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def events(device_id: int) -> list[str]:
    with services.connect() as conn:
        rows = conn.execute(
            "select kind from events where device_id = %s order by id", (device_id,)
        ).fetchall()
    return [r[0] for r in rows]


async def test_tracking_stopped_and_back_online_once_across_sigkills(
    db_url: str, tmp_path: Path
) -> None:
    owner, other = services.unique("acct"), services.unique("acct")
    circle = services.unique("circle")
    imei = services.unique_imei()
    with services.connect() as conn:
        admin.add_circle(conn, circle, owner)
        admin.join_circle(conn, circle, other)
        device_id = admin.add_device(conn, "gt06", imei, owner).id
        conn.execute(
            "update devices set expected_interval_s = %s where id = %s", (INTERVAL_S, device_id)
        )
    s = services.settings(db_url, notify={"watch_tick_s": 0.5, "poll_s": 0.2})
    topic = f"circles/{circle}/members/{other}/alerts"

    def told(kind: str) -> int:
        return sum(1 for a in app.of(topic) if a["type"] == kind)

    gw = services.GatewayProcess(s, str(tmp_path / "gateway.log"))
    async with Listener(topic) as app:
        try:
            await asyncio.to_thread(gw.start)
            await report(s.ports.gt06, imei, device_id, 52.5)
            reported = time.monotonic()
            gw.kill()  # the due time passes while no gateway runs
            await asyncio.sleep(INTERVAL_S + 2 - (time.monotonic() - reported))
            assert told("tracking_stopped") == 0
            await asyncio.to_thread(gw.start)
            await services.wait_until(lambda: told("tracking_stopped") == 1, within=20)
            gw.kill()  # right after it was told
            await asyncio.to_thread(gw.start)
            await asyncio.sleep(3.0)
            assert told("tracking_stopped") == 1
            stopped = next(a for a in app.of(topic) if a["type"] == "tracking_stopped")
            assert (stopped["device"], stopped["member"]) == (imei, owner)
            assert stopped["position"]["lat"] == pytest.approx(52.5)
            assert "last_seen" in stopped["details"]

            await report(s.ports.gt06, imei, device_id, 52.5005)
            await services.wait_until(lambda: told("back_online") == 1, within=20)
            gw.kill()
            await asyncio.to_thread(gw.start)
            await asyncio.sleep(3.0)  # less than the interval: no second "stopped" yet
            assert gw.stop() == 0
        finally:
            gw.kill()
    assert told("tracking_stopped") == 1
    assert told("back_online") == 1
    back = next(a for a in app.of(topic) if a["type"] == "back_online")
    assert back["position"]["lat"] == pytest.approx(52.5005)
    assert events(device_id) == ["tracking_stopped", "back_online"]
