"""Issue 4: nothing acknowledged is ever lost — SIGKILL under load, and a database outage.

The gateway runs as a real ``trackgw serve`` process; Teltonika trackers and an OwnTracks phone
send over loopback. Loads are bounded (a fixed number of records) and every wait has a limit.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from protocols import simulate as sim

from .. import services
from ..devices import TeltonikaClient, fixes

pytestmark = pytest.mark.e2e

TRACKERS = 4
PACKETS = 60
RECORDS = 10  # per packet


@dataclass
class Tracker:
    """A tracker that keeps each packet until the server acknowledges it, then moves on."""

    imei: str
    device_id: int
    packets: list[list[sim.Fix]]
    acked: set[int] = field(default_factory=set)  # fix timestamps acknowledged
    resends: int = 0

    async def run(self, port: int, pause: float = 0.01, deadline_s: float = 120) -> None:
        client: TeltonikaClient | None = None
        deadline = time.monotonic() + deadline_s
        for packet in self.packets:
            while True:
                if time.monotonic() > deadline:
                    raise AssertionError(f"tracker {self.imei} did not finish in time")
                try:
                    if client is None:
                        client = TeltonikaClient("127.0.0.1", port, self.imei)
                        await client.connect()
                    accepted = await client.send(packet, timeout=3)
                    assert accepted == len(packet)
                    self.acked.update(int(f.time.timestamp()) for f in packet)
                    break
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    self.resends += 1
                    if client is not None:
                        await client.close()
                    client = None
                    await asyncio.sleep(0.2)
            await asyncio.sleep(pause)
        if client is not None:
            await client.close()


def make_trackers(n: int = TRACKERS) -> list[Tracker]:
    out = []
    for _ in range(n):
        imei = services.unique_imei()
        track = fixes(PACKETS * RECORDS)
        packets = [track[i : i + RECORDS] for i in range(0, len(track), RECORDS)]
        out.append(Tracker(imei, services.provision("teltonika", imei), packets))
    return out


def stored(device_id: int) -> set[int]:
    with services.connect() as conn:
        rows = conn.execute(
            "select extract(epoch from fix_time)::bigint from positions where device_id = %s",
            (device_id,),
        ).fetchall()
    return {r[0] for r in rows}


def assert_complete(tracker: Tracker) -> None:
    want = {int(f.time.timestamp()) for p in tracker.packets for f in p}
    assert tracker.acked == want
    assert services.count_positions(tracker.device_id) == len(want)  # each exactly once
    assert stored(tracker.device_id) == want


async def test_sigkill_under_load_loses_nothing_acknowledged(db_url: str, tmp_path: Path) -> None:
    s = services.settings(db_url)
    trackers = make_trackers()
    phone_key = f"alice/{services.unique('phone')}"
    phone_id = services.provision("owntracks", phone_key)
    phone_track = fixes(400)
    gw = services.GatewayProcess(s, str(tmp_path / "gateway.log"))
    gw.start()
    try:
        tasks = [asyncio.create_task(t.run(s.ports.teltonika)) for t in trackers]

        async def phone() -> None:
            async with services.mqtt_client("alice") as client:
                for f in phone_track:
                    await client.publish(f"owntracks/{phone_key}", sim.owntracks_location(f), qos=1)
                    await asyncio.sleep(0.002)

        tasks.append(asyncio.create_task(phone()))
        # let the load run, then kill the gateway in the middle of it
        while sum(len(t.acked) for t in trackers) < TRACKERS * PACKETS * RECORDS // 3:
            await asyncio.sleep(0.02)
        gw.kill()
        acked_at_kill = {t.imei: set(t.acked) for t in trackers}
        for t in trackers:
            missing = acked_at_kill[t.imei] - await asyncio.to_thread(stored, t.device_id)
            assert not missing, f"{len(missing)} acknowledged records lost for {t.imei}"
        await asyncio.sleep(0.5)
        gw.start()
        await asyncio.wait_for(asyncio.gather(*tasks), 180)
        deadline = time.monotonic() + 30
        while services.count_positions(phone_id) < len(phone_track) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    finally:
        gw.stop()
        services.clear_mqtt_session(s.mqtt.client_id)
    for t in trackers:
        assert_complete(t)
    assert sum(t.resends for t in trackers) > 0  # the kill really interrupted them
    assert services.count_positions(phone_id) == len(phone_track)


async def test_database_outage_pauses_ingestion_and_loses_nothing(
    db_url: str, tmp_path: Path
) -> None:
    s = services.settings(db_url, pipeline={"queue_max": 2000, "batch_max": 500})
    trackers = make_trackers()
    gw = services.GatewayProcess(s, str(tmp_path / "gateway.log"))
    gw.start()
    try:
        tasks = [
            asyncio.create_task(t.run(s.ports.teltonika, pause=0.02, deadline_s=150))
            for t in trackers
        ]
        while sum(len(t.acked) for t in trackers) < TRACKERS * PACKETS * RECORDS // 4:
            await asyncio.sleep(0.02)
        rss_before = gw.rss_kib()
        await asyncio.to_thread(services.local_services, "down", "db")
        try:
            acked_during = sum(len(t.acked) for t in trackers)
            await asyncio.sleep(20)
            # nothing can be acknowledged while nothing can be stored
            assert sum(len(t.acked) for t in trackers) == acked_during
            assert gw.alive()
            rss_during = gw.rss_kib()
        finally:
            await asyncio.to_thread(services.local_services, "up")
        await asyncio.wait_for(asyncio.gather(*tasks), 180)
        assert gw.alive()
    finally:
        code = gw.stop()
    assert code == 0
    for t in trackers:
        assert_complete(t)
    # bounded: the intake holds at most queue_max positions, the rest wait in the trackers
    assert rss_during - rss_before < 64 * 1024, (rss_before, rss_during)
