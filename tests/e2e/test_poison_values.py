"""Issue 9: the poison values that used to take the gateway down, on every listener type they
can arrive on, while a good Teltonika tracker is served.

Each poison frame is sent between two good frames of the same device on the same
connection/topic/port: the gateway must refuse it (counted in trackgw_frames_rejected_total),
store both good frames, and keep the good tracker's every acknowledged record. Bounded: a few
hundred frames, every wait timed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from gateway.app import Gateway
from protocols import simulate as sim

from .. import services
from ..devices import fixes
from .test_bad_input import good_tracker

pytestmark = pytest.mark.e2e

DEPTHS = (100, 500, 1000, 2000)
#: the protocols whose rejections are counted, and the listeners they arrive on
PROTOCOLS = ("h02", "tk103", "watch", "teltonika", "osmand", "owntracks", "overland")


def rejected(protocols: Iterable[str]) -> dict[str, float]:
    """trackgw_frames_rejected_total summed over reasons, per protocol."""
    wanted = set(protocols)
    out = dict.fromkeys(wanted, 0.0)
    from gateway import metrics

    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name == "trackgw_frames_rejected_total":
                protocol = sample.labels.get("protocol", "")
                if protocol in wanted:
                    out[protocol] += sample.value
    return out


def nested(depth: int) -> str:
    """``{"a":{"a":...1...}}``, ``depth`` objects deep."""
    return '{"a":' * depth + "1" + "}" * depth


def when(minutes_ago: int) -> datetime:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)


# -- TCP: H02, TK103, watch -------------------------------------------------------------------


def h02_frame(imei: str, t: datetime, speed: str) -> bytes:
    return (
        f"*HQ,{imei},V1,{t:%H%M%S},A,2240.55181,N,11358.32389,E,{speed},0,{t:%d%m%y},FFFFFBFF#"
    ).encode()


def tk103_frame(imei: str, t: datetime, event: str) -> bytes:
    return (
        f"imei:{imei},{event},{t:%y%m%d%H%M%S},,F,{t:%H%M%S}.000,A,5105.9768,N,11404.9571,W,"
        "0.00,322.56,,0,0,,,;"
    ).encode()


def watch_frame(device: str, t: datetime, satellites: str) -> bytes:
    content = (
        f"UD,{t:%d%m%y},{t:%H%M%S},A,22.570733,N,113.8626083,E,0.00,249.5,0.0,{satellites},"
        "100,60,0,0,00000010,0,0,0,0,0,0"
    ).encode()
    return b"[3G*%s*%04X*" % (device.encode(), len(content)) + content + b"]"


async def tcp_exchange(port: int, frames: list[bytes], pause: float = 0.3) -> bool:
    """Send frames one by one on one connection; True when it is still open at the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for frame in frames:
            writer.write(frame)
            await writer.drain()
            await asyncio.sleep(pause)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                while data := await reader.read(4096):
                    del data
                return False  # EOF: the server closed it
        return True
    finally:
        writer.close()


# -- UDP: Teltonika with a 64-bit timestamp of all ones ---------------------------------------


def udp_datagram(imei: str, start: datetime, timestamp: bytes | None = None) -> bytes:
    avl = sim.teltonika_avl(fixes(2, start=start))
    data = bytearray(avl[8:-4])
    if timestamp is not None:  # the first record's 8-byte time
        data[2:10] = timestamp
    body = (0xCAFE).to_bytes(2, "big") + b"\x01\x09" + len(imei).to_bytes(2, "big")
    body += imei.encode() + bytes(data)
    return len(body).to_bytes(2, "big") + body


async def udp_exchange(port: int, datagrams: list[bytes]) -> list[bytes]:
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            replies.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Peer, remote_addr=("127.0.0.1", port))
    try:
        for datagram in datagrams:
            transport.sendto(datagram)
            await asyncio.sleep(0.3)
        await asyncio.sleep(1.0)
        return [replies.get_nowait() for _ in range(replies.qsize())]
    finally:
        transport.close()


# -- HTTP: OsmAnd JSON, OwnTracks HTTP, Overland ----------------------------------------------


def osmand_json(device: str, t: datetime, speed: str = "1.5", extras: str = "{}") -> bytes:
    return (
        f'{{"device_id":"{device}","location":{{"timestamp":"{t.isoformat()}",'
        f'"coords":{{"latitude":52.5,"longitude":13.4,"speed":{speed}}},"extras":{extras}}}}}'
    ).encode()


def owntracks_json(t: datetime, lat: str = "52.5", extra: str = '"x"') -> bytes:
    return (
        f'{{"_type":"location","tst":{int(t.timestamp())},"lat":{lat},"lon":13.4,"extra":{extra}}}'
    ).encode()


def overland_json(t: datetime, speed: str = "2", extra: str = '"x"', lat: str = "52.5") -> bytes:
    return (
        '{"locations":[{"type":"Feature","geometry":{"type":"Point","coordinates":[13.4,'
        f'{lat}]}},"properties":{{"timestamp":"{t.isoformat()}","speed":{speed},'
        f'"extra":{extra}}}}}]}}'
    ).encode()


async def http_statuses(requests: list[tuple[str, bytes, dict[str, str]]]) -> list[int]:
    out = []
    async with aiohttp.ClientSession() as http:
        for url, body, headers in requests:
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
                out.append(resp.status)
    return out


# -- MQTT: OwnTracks --------------------------------------------------------------------------


async def mqtt_publish(topic: str, payloads: list[bytes]) -> None:
    async with services.mqtt_client("alice") as phone:
        for payload in payloads:
            await phone.publish(topic, payload, qos=1)


async def test_poison_values_on_every_listener_while_a_good_tracker_is_served(
    db_url: str,
) -> None:
    s = services.settings(db_url)
    good_imei, udp_imei = services.unique_imei(), services.unique_imei()
    h02_imei, tk_imei = services.unique_imei(), services.unique_imei()
    watch_id = str(services.unique_imei())[:10]
    osm, ovl = services.unique("osm"), services.unique("ovl")
    ot_http, ot_mqtt = f"alice/{services.unique('h')}", f"alice/{services.unique('m')}"
    ids = {
        "good": services.provision("teltonika", good_imei),
        "udp": services.provision("teltonika", udp_imei),
        "h02": services.provision("h02", h02_imei),
        "tk103": services.provision("tk103", tk_imei),
        "watch": services.provision("watch", watch_id),
        "ot_mqtt": services.provision("owntracks", ot_mqtt),
    }
    # the phones on HTTP authenticate with their device's secret (docs/mqtt.md)
    ids["osmand"], osm_key = services.provision_phone("osmand", osm)
    ids["overland"], ovl_token = services.provision_phone("overland", ovl)
    ids["ot_http"], ot_secret = services.provision_phone("owntracks", ot_http)
    before = rejected(PROTOCOLS)
    t1, t2 = when(30), when(20)
    api = f"http://127.0.0.1:{s.http.port}"
    osmand_url = f"http://127.0.0.1:{s.ports.osmand}/?key={osm_key}"
    as_json = {"Content-Type": "application/json"}
    basic = base64.b64encode(f"alice:{ot_secret}".encode()).decode()
    limit_headers = {
        **as_json,
        "X-Limit-U": "alice",
        "X-Limit-D": ot_http.split("/")[1],
        "Authorization": f"Basic {basic}",
    }
    overland_headers = {**as_json, "Authorization": f"Bearer {ovl_token}"}
    osmand_poison = [
        osmand_json(osm, t1, speed="NaN"),
        osmand_json(osm, t1, speed="Infinity"),
        *(osmand_json(osm, t1, extras=nested(d)) for d in DEPTHS),
    ]
    owntracks_poison = [
        owntracks_json(t1, lat="NaN"),
        owntracks_json(t1, lat="-Infinity"),
        *(owntracks_json(t1, extra=nested(d)) for d in DEPTHS),
    ]
    overland_poison = [
        overland_json(t1, speed="NaN"),
        overland_json(t1, speed="Infinity"),
        *(overland_json(t1, extra=nested(d)) for d in DEPTHS),
    ]
    http_requests = [
        (osmand_url, osmand_json(osm, t1), as_json),
        *((osmand_url, body, as_json) for body in osmand_poison),
        (osmand_url, osmand_json(osm, t2), as_json),
        (f"{api}/owntracks", owntracks_json(t1), limit_headers),
        *((f"{api}/owntracks", body, limit_headers) for body in owntracks_poison),
        (f"{api}/owntracks", owntracks_json(t2), limit_headers),
        (f"{api}/overland?device={ovl}", overland_json(t1), overland_headers),
        *((f"{api}/overland?device={ovl}", body, overland_headers) for body in overland_poison),
        (f"{api}/overland?device={ovl}", overland_json(t2), overland_headers),
    ]
    gw: Gateway
    async with services.running_gateway(s) as gw:
        stop = asyncio.Event()
        good = asyncio.create_task(good_tracker(s.ports.teltonika, good_imei, stop))
        await asyncio.sleep(0.2)  # the tracker is mid-stream when the poison arrives
        results = await asyncio.wait_for(
            asyncio.gather(
                tcp_exchange(
                    s.ports.h02,
                    [
                        h02_frame(h02_imei, t1, "1.00"),
                        h02_frame(h02_imei, t1 + timedelta(seconds=5), "NaN"),
                        h02_frame(h02_imei, t2, "2.00"),
                    ],
                ),
                tcp_exchange(
                    s.ports.tk103,
                    [
                        f"##,imei:{tk_imei},A;".encode(),
                        tk103_frame(tk_imei, t1, "tracker"),
                        tk103_frame(tk_imei, t1 + timedelta(minutes=1), "help\x00me"),
                        tk103_frame(tk_imei, t2, "tracker"),
                    ],
                ),
                tcp_exchange(
                    s.ports.watch,
                    [
                        watch_frame(watch_id, t1, "6"),
                        watch_frame(watch_id, t1 + timedelta(seconds=5), "9" * 20),
                        watch_frame(watch_id, t2, "7"),
                    ],
                ),
                udp_exchange(
                    s.ports.teltonika_udp,
                    [
                        udp_datagram(udp_imei, t1),
                        udp_datagram(udp_imei, t1 + timedelta(minutes=1), b"\xff" * 8),
                        udp_datagram(udp_imei, t2),
                    ],
                ),
                http_statuses(http_requests),
                mqtt_publish(
                    f"owntracks/{ot_mqtt}",
                    [owntracks_json(t1), *owntracks_poison, owntracks_json(t2)],
                ),
            ),
            60,
        )
        h02_open, tk_open, watch_open, udp_replies, statuses, _ = results
        await services.wait_until(lambda: services.count_positions(ids["ot_mqtt"]) >= 2, 15)
        stop.set()
        acked = await asyncio.wait_for(good, 30)
        assert gw.writer.healthy
        await asyncio.sleep(0.5)  # the last poison counted
        after = rejected(PROTOCOLS)

    # the good tracker: every record it was told was stored is stored
    assert len(acked) >= 20
    assert services.count_positions(ids["good"]) == len(acked)
    # TCP: the poison frame refused, both good frames around it stored, connection kept
    assert (h02_open, tk_open, watch_open) == (True, True, True)
    for name in ("h02", "tk103", "watch"):
        assert services.count_positions(ids[name]) == 2, name
        assert after[name] - before[name] == 1, name
    # UDP: the datagram with the out-of-range time gets no acknowledgement; the others do
    assert len(udp_replies) == 2
    assert services.count_positions(ids["udp"]) == 4
    assert after["teltonika"] - before["teltonika"] >= 1
    # HTTP: every poison request a 400, the good ones around them 200 and stored
    n = 2 + len(DEPTHS)
    assert statuses == ([200] + [400] * n + [200]) * 3
    for name in ("osmand", "ot_http", "overland"):
        assert services.count_positions(ids[name]) == 2, name
    assert after["osmand"] - before["osmand"] == n
    assert after["overland"] - before["overland"] == n
    # MQTT: the same poison as HTTP's OwnTracks, refused and counted; both good ones stored
    assert services.count_positions(ids["ot_mqtt"]) == 2
    assert after["owntracks"] - before["owntracks"] == 2 * n


async def test_an_all_rejected_overland_batch_is_answered_ok_and_counted(db_url: str) -> None:
    """Overland's app resends a batch until it reads {"result":"ok"}: points that can never
    be stored are dropped (counted), and the batch is answered so it is not resent forever."""
    s = services.settings(db_url)
    device = services.unique("ovl")
    device_id, token = services.provision_phone("overland", device)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    bad = (
        '{"locations":['
        + ",".join(
            f'{{"type":"Feature","geometry":{{"type":"Point","coordinates":[13.4,{lat}]}},'
            f'"properties":{{"timestamp":"2024-05-01T08:00:0{i}Z"}}}}'
            for i, lat in enumerate((91, 500, -95))
        )
        + "]}"
    ).encode()
    before = rejected(["overland"])["overland"]
    async with services.running_gateway(s), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{s.http.port}/overland?device={device}"
        async with http.post(url, data=bad, headers=headers) as r:
            assert r.status == 200
            assert json.loads(await r.read()) == {"result": "ok"}
        # a body that is not a batch at all is still a 400
        async with http.post(url, data=b'{"no":"locations"}', headers=headers) as r:
            assert r.status == 400
    assert rejected(["overland"])["overland"] - before == 4
    assert services.count_positions(device_id) == 0


async def test_retained_messages_on_ingest_topics_are_ignored(db_url: str) -> None:
    """A retained fix the broker replays for the gateway's SUBSCRIBE is not stored, and it is
    acknowledged (counted as reason="Retained"); a live publish is stored as usual."""
    from gateway import metrics

    s = services.settings(db_url)
    key = f"alice/{services.unique('r')}"
    device_id = services.provision("owntracks", key)
    topic = f"owntracks/{key}"
    old, live = when(50), when(40)
    async with services.mqtt_client("alice") as phone:
        await phone.publish(topic, owntracks_json(old), qos=1, retain=True)
    label = metrics.frames_rejected.labels("owntracks", "Retained")
    before = label._value.get()
    try:
        async with services.running_gateway(s):
            await services.wait_until(lambda: label._value.get() - before >= 1, 10)
            await mqtt_publish(topic, [owntracks_json(live)])
            await services.wait_until(lambda: services.count_positions(device_id) == 1, 10)
        with services.connect() as conn:
            row = conn.execute(
                "select fix_time from positions where device_id = %s", (device_id,)
            ).fetchone()
        assert row is not None
        assert row[0] == live
    finally:
        async with services.mqtt_client("alice") as phone:  # clear the retained message
            await phone.publish(topic, b"", qos=1, retain=True)


async def test_refused_and_malformed_mqtt_messages_are_acknowledged_not_redelivered(
    db_url: str,
) -> None:
    """docs/limits.md, "What is acknowledged": a message from an unknown device and a poison
    message are PUBACKed although nothing was stored, so when the gateway's persistent session
    reconnects the broker has nothing of them to redeliver."""
    from gateway import metrics

    s = services.settings(db_url)
    stranger = f"alice/{services.unique('stranger')}"
    known = f"alice/{services.unique('known')}"
    services.provision("owntracks", known)
    refused_label = metrics.devices_refused.labels("owntracks", "unknown")

    def counts() -> tuple[float, float]:
        return refused_label._value.get(), rejected(["owntracks"])["owntracks"]

    before = counts()
    async with services.running_gateway(s) as gw:
        assert gw.mqtt is not None
        await mqtt_publish(f"owntracks/{stranger}", [owntracks_json(when(10))])
        await mqtt_publish(f"owntracks/{known}", [owntracks_json(when(10), lat="NaN")])
        await mqtt_publish(f"owntracks/{known}", [owntracks_json(when(9), extra=nested(1000))])
        await services.wait_until(lambda: counts() == (before[0] + 1, before[1] + 2), 10)
        await asyncio.sleep(1.0)  # the PUBACKs written
        gw.mqtt.client.disconnect()  # the session persists (clean_session=False)
        await services.wait_until(lambda: not gw.mqtt.connected.is_set(), 5)  # type: ignore[union-attr]
        await asyncio.wait_for(gw.mqtt.connected.wait(), 20)  # reconnected by the listener
        await asyncio.sleep(2.0)  # a redelivery would arrive now
        assert counts() == (before[0] + 1, before[1] + 2)
