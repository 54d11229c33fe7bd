"""Issue 13, end to end: every protocol's real samples (captured or documented, the sources
named beside them in tests/unit/protocols/test_*.py) through the running gateway: the row is
found in ``positions`` with the decoder's values, and the replies the protocol requires are
on the wire. Auto-detection (the ``auto`` port) for every TCP protocol. Phones on HTTP
authenticate with their device's secret (OwnTracks Basic, Overland Bearer, OsmAnd ``key``).

Where a sample carries a fixed device id in ASCII (H02, TK103, watch, OsmAnd) it is swapped
for a fresh one of the same length (a watch's LEN counts only the content); the Teltonika
IMEI handshake is rebuilt for a fresh IMEI and followed by the captured record.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from gateway import app
from protocols.msgpack_phone import encode_batch
from tests.unit.protocols.test_gt06 import (
    HEARTBEAT_VL03,
    LOCATION_22,
    LOGIN_REPLY_VL03,
    LOGIN_VL03,
)
from tests.unit.protocols.test_h02 import V1
from tests.unit.protocols.test_msgpack_phone import FULL, SPARSE
from tests.unit.protocols.test_osmand import BLOG_1
from tests.unit.protocols.test_overland import README_BODY
from tests.unit.protocols.test_owntracks import ANDROID
from tests.unit.protocols.test_teltonika_messages import FMB120_RECORD
from tests.unit.protocols.test_tk103 import BRENT, BRENT_LOGIN
from tests.unit.protocols.test_watch import LK, UD

from .. import services
from ..devices import TextClient, teltonika_udp

pytestmark = pytest.mark.integration


@pytest.fixture
async def gateway(db_url: str) -> AsyncIterator[app.Gateway]:
    async with services.running_gateway(services.settings(db_url)) as gw:
        yield gw


def row(device_id: int) -> tuple[datetime, float, float] | None:
    with services.connect() as conn:
        found = conn.execute(
            "select fix_time, lat, lon from positions where device_id = %s order by fix_time",
            (device_id,),
        ).fetchone()
    return None if found is None else (found[0], float(found[1]), float(found[2]))


async def stored(device_id: int, fix_time: datetime, lat: float, lon: float) -> None:
    await services.wait_until(lambda: row(device_id) is not None)
    got = row(device_id)
    assert got is not None
    assert got[0] == fix_time
    assert got[1] == pytest.approx(lat, abs=1e-6)
    assert got[2] == pytest.approx(lon, abs=1e-6)


def text_id(length: int) -> str:
    return services.unique_imei()[:length]


async def tcp_port(gw: app.Gateway, protocol: str, auto: bool) -> int:
    s = gw.settings.ports
    return s.auto if auto else int(getattr(s, protocol))


async def test_gt06_login_location_heartbeat(gateway: app.Gateway) -> None:
    device_id = services.provision("gt06", "752533678900242")  # [VL03] §1's login
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.settings.ports.gt06)
    writer.write(LOGIN_VL03)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(10), 10) == LOGIN_REPLY_VL03
    writer.write(LOCATION_22 + HEARTBEAT_VL03)
    await writer.drain()
    # the heartbeat's answer echoes its serial 0x000F ([VL03] §2)
    beat = await asyncio.wait_for(reader.readexactly(10), 10)
    assert beat[:4] == bytes.fromhex("78780513")
    assert beat[4:6] == b"\x00\x0f"
    await stored(
        device_id,
        datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC),
        0x027AC818 / 1.8e6,
        0x0C465860 / 1.8e6,
    )
    writer.close()


@pytest.mark.parametrize("auto", [False, True], ids=["port", "auto"])
async def test_teltonika_tcp_field_capture(gateway: app.Gateway, auto: bool) -> None:
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    port = await tcp_port(gateway, "teltonika", auto)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\x00\x0f" + imei.encode())
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(1), 10) == b"\x01"
    writer.write(FMB120_RECORD)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"\x00\x00\x00\x01"
    await stored(device_id, datetime(2024, 4, 16, 7, 10, 3, tzinfo=UTC), 48.3791083, 6.6657249)
    writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.received.put_nowait(data)


async def test_teltonika_udp_field_record(gateway: app.Gateway) -> None:
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    loop = asyncio.get_running_loop()
    transport, peer = await loop.create_datagram_endpoint(
        _Udp, remote_addr=("127.0.0.1", gateway.settings.ports.teltonika_udp)
    )
    try:
        transport.sendto(teltonika_udp(imei, FMB120_RECORD[8:-4], packet_id=0x0102, avl_id=7))
        ack = await asyncio.wait_for(peer.received.get(), 10)
        assert ack == bytes.fromhex("0005010201" + "0701")  # packet id, 01, AVL id, 1 record
    finally:
        transport.close()
    await stored(device_id, datetime(2024, 4, 16, 7, 10, 3, tzinfo=UTC), 48.3791083, 6.6657249)


@pytest.mark.parametrize("auto", [False, True], ids=["port", "auto"])
async def test_h02_v1(gateway: app.Gateway, auto: bool) -> None:
    device = text_id(15)
    device_id = services.provision("h02", device)
    client = TextClient("127.0.0.1", await tcp_port(gateway, "h02", auto), b"#")
    await client.connect()
    await client.send(V1.replace(b"865205030330012", device.encode()))
    await stored(
        device_id,
        datetime(2015, 8, 10, 14, 54, 52, tzinfo=UTC),
        22 + 40.55181 / 60,
        113 + 58.32389 / 60,
    )
    await client.close()


@pytest.mark.parametrize("auto", [False, True], ids=["port", "auto"])
async def test_tk103_login_and_report(gateway: app.Gateway, auto: bool) -> None:
    imei = text_id(15)
    device_id = services.provision("tk103", imei)
    client = TextClient("127.0.0.1", await tcp_port(gateway, "tk103", auto), b";")
    await client.connect()
    await client.send(BRENT_LOGIN.replace(b"359710049095095", imei.encode()))
    assert client.reader is not None
    assert await asyncio.wait_for(client.reader.readexactly(4), 10) == b"LOAD"
    await client.send(BRENT.replace(b"359710049095095", imei.encode()))
    await stored(
        device_id,
        datetime(2015, 10, 5, 17, 0, 36, tzinfo=UTC),
        51 + 5.9768 / 60,
        -(114 + 4.9571 / 60),
    )
    await client.close()


@pytest.mark.parametrize("auto", [False, True], ids=["port", "auto"])
async def test_watch_link_keep_and_ud(gateway: app.Gateway, auto: bool) -> None:
    watch_id = text_id(10)
    device_id = services.provision("watch", watch_id)
    client = TextClient("127.0.0.1", await tcp_port(gateway, "watch", auto), b"]")
    await client.connect()
    mine = watch_id.encode()
    await client.send(LK.replace(b"8800000015", mine))
    assert await client.read_frame() == b"[3G*" + mine + b"*0002*LK]"  # "1. Link Keep" reply
    await client.send(UD.replace(b"8800000015", mine))
    await stored(device_id, datetime(2016, 9, 18, 2, 57, 23, tzinfo=UTC), 22.570733, 113.8626083)
    await client.close()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_osmand_blog_sample_with_its_key(gateway: app.Gateway) -> None:
    device = text_id(6)
    device_id, key = services.provision_phone("osmand", device)
    query = BLOG_1.replace(b"id=123456", b"id=" + device.encode()).decode()
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{gateway.osmand_port}{query}&key={key}"
        async with http.post(url) as resp:
            assert resp.status == 200
            assert await resp.read() == b""
    await stored(device_id, datetime(2024, 7, 30, 14, 30, tzinfo=UTC), 34.0522, -118.2437)


async def test_overland_readme_sample_with_its_token(gateway: app.Gateway) -> None:
    device_id, token = services.provision_phone("overland", services.unique("ovl"))
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{gateway.http_port}/overland",
            data=README_BODY,
            headers={"Authorization": f"Bearer {token}"},
        ) as resp,
    ):
        assert resp.status == 200
        assert await resp.json() == {"result": "ok"}
    await stored(device_id, datetime(2015, 10, 1, 15, 0, tzinfo=UTC), 37.3318, -122.030581)


async def test_owntracks_android_sample_over_http(gateway: app.Gateway) -> None:
    user = services.unique("u")
    device_id, secret = services.provision_phone("owntracks", f"{user}/phone")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"http://127.0.0.1:{gateway.http_port}/owntracks",
            data=ANDROID,
            headers={"X-Limit-U": user, "X-Limit-D": "phone", **basic(user, secret)},
        ) as resp,
    ):
        assert resp.status == 200
        assert await resp.json() == []  # the booklet's HTTP answer
    await stored(device_id, datetime(2021, 1, 16, 12, 10, 26, tzinfo=UTC), 51.2, -4.0)


async def test_owntracks_android_sample_over_mqtt(gateway: app.Gateway) -> None:
    key = f"bob/{services.unique('phone')}"
    device_id = services.provision("owntracks", key)
    async with services.mqtt_client("bob") as phone:
        await phone.publish(f"owntracks/{key}", ANDROID, qos=1)
    await stored(device_id, datetime(2021, 1, 16, 12, 10, 26, tzinfo=UTC), 51.2, -4.0)


async def test_msgpack_batch_over_mqtt(gateway: app.Gateway) -> None:
    key = f"bob/{services.unique('tab')}"
    device_id = services.provision("msgpack_phone", key)
    async with services.mqtt_client("bob") as phone:
        # (SPARSE, Sydney 30 s after FULL's Berlin, is the jump filter's to drop)
        await phone.publish(f"trackgw/phones/{key}", encode_batch([FULL, SPARSE]), qos=1)
    await stored(device_id, FULL.time, FULL.lat, FULL.lon)
