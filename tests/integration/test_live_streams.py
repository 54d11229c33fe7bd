"""Issue 11, the live streams, against the running gateway: snapshot then live events in
commit order, Last-Event-ID resumption without gaps, slow readers dropped while ingestion goes
on, other circles refused, the newest fix of a burst always delivered, WebSocket too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from protocols import simulate as sim

from .. import services
from ..devices import TeltonikaClient, fixes
from .live_client import Event, SseReader
from .member_client import Api

pytestmark = pytest.mark.integration

ADMIN = "test-admin-token"


def settings(db_url: str, **web: Any) -> Any:
    return services.settings(db_url, http={"admin_token": ADMIN}, web=web)


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Family:
    """Ann's circle with her Teltonika tag, on a running gateway."""

    def __init__(self, api: Api, port: int) -> None:
        self.api = api
        self.port = port
        self.imei = services.unique_imei()

    async def setup(self) -> Family:
        self.ann, self.token = await self.api.member("ann")
        self.circle = await self.api.circle(self.token, "ann's family")
        self.device = await self.api.device(self.token, "teltonika", self.imei)
        return self

    def url(self, tail: str = "live") -> str:
        return f"{self.api.base}/v1/circles/{self.circle}/{tail}"

    async def tracker(self) -> TeltonikaClient:
        t = TeltonikaClient("127.0.0.1", self.port, self.imei)
        await t.connect()
        return t


async def test_snapshot_then_live_positions_and_alerts_in_commit_order(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        fam = await Family(Api(http, s.http.port), s.ports.teltonika).setup()
        start = (datetime.now(UTC) - timedelta(minutes=30)).replace(microsecond=0)
        tracker = await fam.tracker()
        try:
            first = fixes(1, start=start, lat=52.50, lon=13.40)
            assert await tracker.send(first) == 1
            place = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [13.45, 52.50]},
                "properties": {"name": "school", "radius_m": 300},
            }
            r = await fam.api.call(
                "POST", f"/v1/circles/{fam.circle}/places", fam.token, json=place
            )
            assert r.status == 201, r.body
            await asyncio.sleep(1.0)  # the place reaches the geofence stage by NOTIFY
            reader = await SseReader.open(http, fam.url(), fam.token)
            assert reader.status == 200
            snap = await reader.next()
            assert snap.kind == "snapshot"
            assert snap.data["resumed"] is False
            (ann,) = snap.data["members"]["items"]
            (dev,) = ann["devices"]
            assert dev["id"] == fam.device
            assert dev["latest"]["lat"] == pytest.approx(52.50)
            assert [p["name"] for p in snap.data["places"]] == ["school"]
            # walk east to the school and stay there, one fix a minute, each packet its own
            # batch (an enter is confirmed by a second fix inside: docs/geofencing.md)
            walk = [
                sim.Fix(
                    start + timedelta(minutes=1 + i),
                    52.50,
                    min(13.40 + i * 0.005, 13.45),
                    speed_kmh=5,
                )
                for i in range(1, 16)
            ]
            for f in walk:
                assert await tracker.send([f]) == 1
            # the positions as their batches commit; the alert once the outbox's worker has
            # delivered it (after its batch's commit): read until both the enter and the
            # walk's last fix were seen, in whichever order they came
            events: list[Event] = []
            async with asyncio.timeout(30):
                while not (
                    any(e.kind == "alert" for e in events)
                    and any(e.data.get("time") == stamp(walk[-1].time) for e in events)
                ):
                    events.append(await reader.next())
        finally:
            await tracker.close()
        (alert,) = [e for e in events if e.kind == "alert"]
        assert alert.data["type"] == "enter"
        assert alert.data["place"]["name"] == "school"
        positions = [e for e in events if e.kind == "position"]
        assert positions[-1].data["device"] == fam.imei
        times = [e.data["time"] for e in positions]
        assert times == sorted(times)  # in commit order, never back in time
        ids = [int(e.id.split("-")[1]) for e in (snap, *events)]
        assert ids == sorted(ids)  # ids increase in the order the stream sends
        reader.close()


async def test_resume_with_last_event_id_loses_nothing(db_url: str) -> None:
    s = settings(db_url, live_interval_s=0.0)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        fam = await Family(Api(http, s.http.port), s.ports.teltonika).setup()
        control = await SseReader.open(http, fam.url(), fam.token)
        resumer = await SseReader.open(http, fam.url(), fam.token)
        assert (await control.next()).kind == "snapshot"
        assert (await resumer.next()).kind == "snapshot"
        tracker = await fam.tracker()
        track = fixes(30)
        try:
            for f in track[:10]:
                assert await tracker.send([f]) == 1
            seen = [await resumer.until("position") for _ in range(10)]
            resumer.close()  # the phone goes into a tunnel
            for f in track[10:]:
                assert await tracker.send([f]) == 1
            control_events = [await control.until("position") for _ in range(30)]
            again = await SseReader.open(http, fam.url(), fam.token, last_event_id=seen[-1].id)
            resumed = [await again.until("position") for _ in range(20)]
        finally:
            await tracker.close()
        assert [e.id for e in control_events[:10]] == [e.id for e in seen]
        assert [e.id for e in resumed] == [e.id for e in control_events[10:]]
        assert [e.data["time"] for e in resumed] == [stamp(f.time) for f in track[10:]]
        # an id from before the process started cannot be resumed: a new snapshot instead
        stale = await SseReader.open(http, fam.url(), fam.token, last_event_id="deadbeef-3")
        snap = await stale.next()
        assert (snap.kind, snap.data["resumed"]) == ("snapshot", False)
        for r in (control, again, stale):
            r.close()


def metric(port: int, name: str) -> float:
    """A metric's value (summed over its label sets) from /metrics. Blocking: call it in a
    thread (``services.wait_until`` does), the gateway runs on this loop."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_reader_that_stops_reading_is_dropped_while_ingestion_goes_on(db_url: str) -> None:
    s = settings(db_url, live_interval_s=0.0, live_reader_queue=8, live_send_buffer_bytes=4096)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        fam = await Family(Api(http, s.http.port), s.ports.teltonika).setup()
        # a reader that sends its request and then never reads a byte
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", s.http.port))
        sock.sendall(
            (
                f"GET /v1/circles/{fam.circle}/live HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: Bearer {fam.token}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        good = await SseReader.open(http, fam.url(), fam.token)
        assert (await good.next()).kind == "snapshot"
        slow = 'trackgw_live_readers_dropped_total{reason="slow"}'
        dropped_before = await asyncio.to_thread(metric, s.http.port, slow)
        tracker = await fam.tracker()
        track = fixes(600)
        try:
            acked = 0
            for i in range(0, len(track), 2):  # 300 packets, each its own batch and event
                acked += await tracker.send(track[i : i + 2])
        finally:
            await tracker.close()
        assert acked == 600  # ingestion never waited for the stalled reader
        await services.wait_until(lambda: services.count_positions(fam.device) == 600)
        await services.wait_until(
            lambda: (
                metric(s.http.port, 'trackgw_live_readers_dropped_total{reason="slow"}')
                > dropped_before
            )
        )
        # the reader that kept reading still gets the newest fix
        newest = await good.until("position", within=15, time=stamp(track[-1].time))
        assert newest.data["device"] == fam.imei
        # the stalled one was disconnected: draining its socket ends in EOF
        sock.settimeout(10)
        with contextlib.suppress(ConnectionResetError):
            while sock.recv(65536):
                pass
        sock.close()
        good.close()


async def test_only_members_of_the_circle_may_read_it(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        fam = await Family(Api(http, s.http.port), s.ports.teltonika).setup()
        api = fam.api
        _, eve = await api.member("eve")
        eves_circle = await api.circle(eve, "eve's")
        for url, token, status in (
            (fam.url(), eve, 404),  # another circle's member learns nothing
            (fam.url(), None, 401),
            (fam.url(), "tgw_not-a-token", 401),
            (fam.url("live/ws"), eve, 404),
        ):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with http.get(url, headers=headers) as resp:
                assert resp.status == status, url
                assert resp.headers["Content-Type"].startswith("application/problem+json")
        # tickets: for their own circle only, and only unexpired and unforged
        r = await api.call("POST", f"/v1/circles/{fam.circle}/live/tickets", eve)
        assert r.status == 404
        r = await api.call("POST", f"/v1/circles/{eves_circle}/live/tickets", eve)
        assert r.status == 201
        ticket = r.body["ticket"]
        async with http.get(fam.url() + f"?ticket={ticket}") as resp:
            assert resp.status == 401  # eve's ticket is for her circle, not ann's
        async with http.get(fam.url() + f"?ticket={ticket[:-2]}xx") as resp:
            assert resp.status == 401
        own = f"{api.base}/v1/circles/{eves_circle}/live?ticket={ticket}"
        reader = await SseReader.open(http, own)
        assert reader.status == 200
        assert (await reader.next()).kind == "snapshot"
        reader.close()


async def test_a_removed_members_stream_ends(db_url: str) -> None:
    s = settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        fam = await Family(Api(http, s.http.port), s.ports.teltonika).setup()
        bob_account, bob = await fam.api.member("bob")
        await fam.api.join(fam.token, fam.circle, bob)
        reader = await SseReader.open(http, fam.url(), bob)
        assert reader.status == 200
        assert (await reader.next()).kind == "snapshot"
        r = await fam.api.call(
            "DELETE", f"/v1/circles/{fam.circle}/members/{bob_account}", fam.token
        )
        assert r.status == 204
        with pytest.raises(EOFError):
            await reader.next(within=10)  # the gateway ended it: no further position reaches bob
        reader.close()


async def test_the_last_fix_of_a_burst_always_arrives(db_url: str) -> None:
    s = settings(db_url)  # the default: one message a second per device
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        fam = await Family(Api(http, s.http.port), s.ports.teltonika).setup()
        reader = await SseReader.open(http, fam.url(), fam.token)
        assert (await reader.next()).kind == "snapshot"
        tracker = await fam.tracker()
        burst = fixes(40)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            for f in burst:
                assert await tracker.send([f]) == 1
        finally:
            await tracker.close()
        got = []
        while True:
            event = await reader.until("position", within=10)
            got.append(event.data["time"])
            if event.data["time"] == stamp(burst[-1].time):
                break
        elapsed = loop.time() - began
        assert got == sorted(got)  # never back in time
        assert len(got) <= elapsed / 1.0 + 2  # at most about one a second
        reader.close()


async def test_the_websocket_stream_sends_the_same_events(db_url: str) -> None:
    s = settings(db_url, live_interval_s=0.0)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        fam = await Family(Api(http, s.http.port), s.ports.teltonika).setup()
        headers = {"Authorization": f"Bearer {fam.token}"}
        async with http.ws_connect(fam.url("live/ws"), headers=headers) as ws:
            snap = json.loads((await ws.receive(timeout=10)).data)
            assert snap["type"] == "snapshot"
            tracker = await fam.tracker()
            track = fixes(3)
            try:
                for f in track:
                    assert await tracker.send([f]) == 1
            finally:
                await tracker.close()
            times: list[str] = []
            while len(times) < 3:
                msg = json.loads((await ws.receive(timeout=10)).data)
                if msg["type"] == "position":
                    times.append(msg["data"]["time"])
            assert times == [stamp(f.time) for f in track]
