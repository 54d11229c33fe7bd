"""Issue 4: every listener into TimescaleDB, acknowledgements after commit, resends stored once."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from gateway import metrics
from protocols import simulate as sim

from .. import services
from ..devices import Gt06Client, TeltonikaClient, fixes

pytestmark = pytest.mark.integration

N = 300


def stored_times(device_id: int) -> list[int]:
    with services.connect() as conn:
        return [
            r[0]
            for r in conn.execute(
                "select extract(epoch from fix_time)::bigint from positions where device_id = %s"
                " order by fix_time",
                (device_id,),
            ).fetchall()
        ]


async def test_teltonika_tcp_records_are_acknowledged_after_commit_and_resends_stored_once(
    db_url: str,
) -> None:
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    track = fixes(N)
    s = services.settings(db_url)
    latency = "trackgw_receive_to_commit_seconds_count"
    observed_before = metrics.REGISTRY.get_sample_value(latency) or 0.0
    async with services.running_gateway(s):
        client = TeltonikaClient("127.0.0.1", s.ports.teltonika, imei)
        await client.connect()
        acked = 0
        for i in range(0, N, 25):
            accepted = await client.send(track[i : i + 25])
            assert accepted == len(track[i : i + 25])
            acked += accepted
            # the reply means stored: the rows are there the moment it arrives
            assert services.count_positions(device_id) == acked
        # a reply that got lost: the tracker sends the same packet again
        assert await client.send(track[:25]) == 25
        await client.close()
    assert stored_times(device_id) == [int(f.time.timestamp()) for f in track]
    # each packet's arrival -> commit time was observed (one per envelope)
    assert (metrics.REGISTRY.get_sample_value(latency) or 0.0) - observed_before >= N // 25 + 1


async def test_teltonika_udp_reply_after_commit(db_url: str) -> None:
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    track = fixes(10)
    avl = sim.teltonika_avl(track)
    # UDP channel header: length, packet id, not usable, AVL packet id, IMEI length + IMEI
    body = (
        (0xCAFE).to_bytes(2, "big")
        + b"\x01"
        + b"\x07"
        + len(imei).to_bytes(2, "big")
        + imei.encode()
        + avl[8:-4]
    )
    datagram = len(body).to_bytes(2, "big") + body
    s = services.settings(db_url)
    async with services.running_gateway(s):
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Peer(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                replies.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(
            Peer, remote_addr=("127.0.0.1", s.ports.teltonika_udp)
        )
        transport.sendto(datagram)
        reply = await asyncio.wait_for(replies.get(), 10)
        assert services.count_positions(device_id) == 10
        transport.sendto(datagram)  # resent: acknowledged again, stored once
        assert await asyncio.wait_for(replies.get(), 10) == reply
        transport.close()
    # packet id echoed, AVL packet id 7, 10 records accepted
    assert reply == bytes.fromhex("0005CAFE01070A")
    assert services.count_positions(device_id) == 10


async def test_gt06_locations_stored_and_resent_frames_stored_once(db_url: str) -> None:
    imei = services.unique_imei()
    device_id = services.provision("gt06", imei)
    track = fixes(N)
    s = services.settings(db_url)
    async with services.running_gateway(s):
        client = Gt06Client("127.0.0.1", s.ports.gt06, imei)
        _reader, writer = await client.connect()
        frames = [client.location(f) for f in track]
        writer.write(b"".join(frames))
        writer.write(b"".join(frames[:50]))  # resent after a reconnect
        await writer.drain()
        await services.wait_until(lambda: services.count_positions(device_id) >= N)
        writer.close()
    assert stored_times(device_id) == [int(f.time.timestamp()) for f in track]


async def test_gt06_on_the_auto_detect_port(db_url: str) -> None:
    imei = services.unique_imei()
    device_id = services.provision("gt06", imei)
    s = services.settings(db_url)
    async with services.running_gateway(s):
        client = Gt06Client("127.0.0.1", s.ports.auto, imei)
        _reader, writer = await client.connect()
        writer.write(client.location(fixes(1)[0]))
        await writer.drain()
        await services.wait_until(lambda: services.count_positions(device_id) == 1)
        writer.close()


async def test_owntracks_phone_over_mqtt_all_stored_once(db_url: str) -> None:
    key = f"bob/{services.unique('phone')}"
    device_id = services.provision("owntracks", key)
    track = fixes(N)
    s = services.settings(db_url)
    async with services.running_gateway(s):
        async with services.mqtt_client("bob") as phone:
            for f in track + track[:40]:  # the last 40 resent (the phone missed its PUBACKs)
                await phone.publish(f"owntracks/{key}", sim.owntracks_location(f), qos=1)
        await services.wait_until(lambda: services.count_positions(device_id) >= N)
        await asyncio.sleep(0.3)
    assert stored_times(device_id) == [int(f.time.timestamp()) for f in track]


async def test_osmand_http_answers_after_commit_and_resends_stored_once(db_url: str) -> None:
    device = services.unique("osm")
    device_id, key = services.provision_phone("osmand", device)
    track = fixes(60)
    s = services.settings(db_url)
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{s.ports.osmand}/"
        for i, f in enumerate(track + track[:10]):
            params = {
                "key": key,
                "id": device,
                "timestamp": str(int(f.time.timestamp())),
                "lat": f"{f.lat:.6f}",
                "lon": f"{f.lon:.6f}",
                "speed": "2.7",
                "bearing": "45",
                "altitude": "30",
                "accuracy": "8",
                "batt": "64",
            }
            async with http.get(url, params=params) as resp:
                assert resp.status == 200, await resp.text()
            if i < len(track):
                assert services.count_positions(device_id) == i + 1
        async with http.get(
            url,
            params={"id": "nobody-" + device, "lat": "1", "lon": "1", "timestamp": "1700000000"},
        ) as resp:
            assert resp.status == 401  # no key: nobody's
        async with http.get(url, params={"key": key, "id": device, "lat": "north"}) as resp:
            assert resp.status == 400
    assert stored_times(device_id) == [int(f.time.timestamp()) for f in track]
    with services.connect() as conn:
        row = conn.execute(
            "select speed_kmh, accuracy_m, battery_pct from positions where device_id = %s limit 1",
            (device_id,),
        ).fetchone()
    assert row is not None
    assert row[0] == pytest.approx(2.7 * 1.852, rel=1e-3)  # knots -> km/h
    assert row[1:] == (8.0, 64.0)


async def test_unknown_tracker_is_refused_and_not_acknowledged(db_url: str) -> None:
    imei = services.unique_imei()  # never provisioned
    s = services.settings(db_url)
    async with services.running_gateway(s):
        reader, writer = await asyncio.open_connection("127.0.0.1", s.ports.gt06)
        writer.write(sim.gt06_login(imei))
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 10) == b""  # closed, login unanswered
        writer.close()
