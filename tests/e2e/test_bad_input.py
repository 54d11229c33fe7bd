"""Issue 4: hostile and broken input on every listener while a good tracker is being served.

Garbage and oversized frames on every TCP port, garbage on the OsmAnd HTTP port and the
Teltonika UDP port, a flood of connections from one address past ``max_connections_per_ip``
and clients that connect and never send. Meanwhile a well-behaved Teltonika tracker keeps
sending: every record it sends is acknowledged and stored, and the rejections are counted in
/metrics. Bounded: a few seconds of traffic, a fixed number of connections, every wait timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from gateway import metrics
from gateway.app import Gateway
from protocols import simulate as sim

from .. import services
from ..devices import TeltonikaClient, fixes

pytestmark = pytest.mark.e2e

TCP = ("gt06", "teltonika", "h02", "tk103", "watch", "auto")
PER_IP = 20
FLOOD = 60
IDLE_S = 1.5
MAX_BODY = 4096
#: frames declaring or growing past each framer's bound
OVERSIZED = {
    "gt06": b"\x79\x79\xff\xff" + b"\x01" * 3000,
    "teltonika": b"\x00\x0f356307042441013" + b"\x00\x00\x00\x00\x00\x10\x00\x00" + b"\x08" * 3000,
    "h02": b"*HQ," + b"A" * 3000,
    "tk103": b"(" + b"A" * 70_000,
    "watch": b"[SG*8800000015*FFFF*" + b"A" * 20_000,
    "auto": b"\x79\x79\xff\xff" + b"\x01" * 3000,
}
GARBAGE = random.Random(20240501).randbytes(4096)


def counted(name: str, label: str, values: Iterable[str]) -> dict[str, float]:
    """Sum of a counter's samples per value of ``label``."""
    wanted = set(values)
    out = dict.fromkeys(wanted, 0.0)
    for family in metrics.REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and sample.labels.get(label) in wanted:
                out[sample.labels[label]] += sample.value
    return out


def refused(listener: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "trackgw_connections_refused_total", {"listener": listener, "reason": reason}
    )
    return value or 0.0


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """True when the server ends the connection within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while await reader.read(65536):
                pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def send_and_see_closed(port: int, data: bytes) -> bool:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        return await closed_by_server(reader, IDLE_S + 3)
    finally:
        writer.close()


async def good_tracker(port: int, imei: str, stop: asyncio.Event) -> list[int]:
    """Send 10 records at a time until told to stop; the timestamps acknowledged."""
    client = TeltonikaClient("127.0.0.1", port, imei)
    await client.connect()
    track = fixes(5000)
    acked: list[int] = []
    try:
        for i in range(0, len(track), 10):
            packet = track[i : i + 10]
            assert await client.send(packet, timeout=5) == len(packet)
            acked.extend(int(f.time.timestamp()) for f in packet)
            if stop.is_set():
                break
            await asyncio.sleep(0.02)
    finally:
        await client.close()
    return acked


async def flood(port: int) -> tuple[int, int]:
    """FLOOD connections from 127.0.0.2 at once: (left open, closed at once)."""
    streams = []
    try:
        for _ in range(FLOOD):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.2", 0))
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
            streams.append(await asyncio.open_connection(sock=sock))
        closed = await asyncio.gather(*(closed_by_server(r, 0.5) for r, _ in streams))
        return closed.count(False), closed.count(True)
    finally:
        for _, writer in streams:
            writer.close()


async def silent_client(port: int, first: bytes = b"") -> bool:
    """Connect, send at most a fragment, then nothing: closed once idle?"""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if first:
            writer.write(first)
            await writer.drain()
        return await closed_by_server(reader, IDLE_S + 3)
    finally:
        writer.close()


def udp_datagram(imei: str) -> bytes:
    avl = sim.teltonika_avl(fixes(3))
    body = (
        (0xBEEF).to_bytes(2, "big")
        + b"\x01\x09"
        + len(imei).to_bytes(2, "big")
        + imei.encode()
        + avl[8:-4]
    )
    return len(body).to_bytes(2, "big") + body


async def udp_garbage_then_good(port: int, imei: str) -> tuple[list[bytes], bytes]:
    """Garbage datagrams (unanswered), then a good one: (replies to garbage, good reply)."""
    loop = asyncio.get_running_loop()
    replies: asyncio.Queue[bytes] = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            replies.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Peer, remote_addr=("127.0.0.1", port))
    try:
        rnd = random.Random(7)
        for size in (1, 2, 7, 64, 512, 1400):
            transport.sendto(rnd.randbytes(size))
        transport.sendto(struct.pack(">H", 60_000) + b"\x00" * 100)  # declares more than sent
        await asyncio.sleep(0.5)
        stray = []
        while not replies.empty():
            stray.append(replies.get_nowait())
        transport.sendto(udp_datagram(imei))
        good = await asyncio.wait_for(replies.get(), 10)
        return stray, good
    finally:
        transport.close()


async def http_bad_input(port: int, key: str) -> list[int]:
    """Bad bodies from an authenticated phone (its key in the URL), then not HTTP at all."""
    url = f"http://127.0.0.1:{port}/{key}"
    statuses = []
    async with aiohttp.ClientSession() as http:
        for body in (GARBAGE, b"id=x&lat=north&lon=", b"\xff" * (MAX_BODY + 1)):
            async with http.post(
                url, data=body, headers={"Content-Type": "application/octet-stream"}
            ) as resp:
                statuses.append(resp.status)
    # not HTTP at all: answered 400 and closed
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(GARBAGE[:512] + b"\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(12), 5)
        statuses.append(int(answer[9:12]))
    finally:
        writer.close()
    return statuses


async def test_bad_input_on_every_listener_while_a_good_tracker_is_served(db_url: str) -> None:
    s = services.settings(
        db_url,
        limits={
            "max_connections_per_ip": PER_IP,
            "idle_timeout_s": IDLE_S,
            "max_http_body_bytes": MAX_BODY,
        },
    )
    good_imei, udp_imei = services.unique_imei(), services.unique_imei()
    good_id = services.provision("teltonika", good_imei)
    udp_id = services.provision("teltonika", udp_imei)
    _, osmand_key = services.provision_phone("osmand", services.unique("osm"))
    protocols = (*TCP, "osmand")
    rejected_before = counted("trackgw_frames_rejected_total", "protocol", protocols)
    per_ip_before = refused("teltonika", "per_ip_limit")
    idle_before = sum(refused(name, "idle") for name in TCP)
    gw: Gateway
    async with services.running_gateway(s) as gw:
        stop = asyncio.Event()
        good = asyncio.create_task(good_tracker(s.ports.teltonika, good_imei, stop))
        await asyncio.sleep(0.2)  # the tracker is mid-stream when the abuse starts
        ports = [getattr(s.ports, name) for name in TCP]
        garbage = asyncio.gather(*(send_and_see_closed(p, GARBAGE) for p in ports))
        oversized = asyncio.gather(
            *(send_and_see_closed(getattr(s.ports, n), OVERSIZED[n]) for n in TCP)
        )
        silent = asyncio.gather(
            silent_client(s.ports.teltonika),
            silent_client(s.ports.gt06),
            silent_client(s.ports.teltonika, b"\x00\x0f35630"),  # half an IMEI, then silence
        )
        results = await asyncio.wait_for(
            asyncio.gather(
                garbage,
                oversized,
                silent,
                flood(s.ports.teltonika),
                udp_garbage_then_good(s.ports.teltonika_udp, udp_imei),
                http_bad_input(s.ports.osmand, osmand_key),
            ),
            30,
        )
        garbage_closed, oversized_closed, silent_closed, flooded, udp, http = results
        stop.set()
        acked = await asyncio.wait_for(good, 30)
        assert gw.writer.healthy
        # still serving: a new tracker connects and is acknowledged after all that
        late = TeltonikaClient("127.0.0.1", s.ports.teltonika, good_imei)
        await late.connect()
        earlier = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        assert await late.send(fixes(3, start=earlier)) == 3
        await late.close()

    # every TCP listener ended every abusive connection (rejection, error limit or idle)
    assert garbage_closed == [True] * len(TCP)
    assert oversized_closed == [True] * len(TCP)
    assert list(silent_closed) == [True, True, True]
    assert sum(refused(name, "idle") for name in TCP) - idle_before >= 3
    # the flood: exactly the per-address limit was let in, the rest refused and counted
    assert flooded == (PER_IP, FLOOD - PER_IP)
    assert refused("teltonika", "per_ip_limit") - per_ip_before == FLOOD - PER_IP
    # UDP garbage is never answered; a good datagram after it is
    stray, good_reply = udp
    assert stray == []
    assert good_reply == bytes.fromhex("0005BEEF010903")
    assert services.count_positions(udp_id) == 3
    # HTTP: garbage and a malformed query are 400, an oversized body 413, non-HTTP 400
    assert http == [400, 400, 413, 400]
    # the rejections are in the metrics, per protocol
    rejected = counted("trackgw_frames_rejected_total", "protocol", protocols)
    grew = {p for p in protocols if rejected[p] > rejected_before[p]}
    assert grew >= {"gt06", "teltonika", "h02", "tk103", "watch", "auto", "osmand"}
    # the good tracker: everything it was told was stored is stored, once
    assert len(acked) >= 50
    assert services.count_positions(good_id) == len(acked) + 3


async def test_a_garbage_stream_is_cut_off_and_counted(db_url: str) -> None:
    """Bytes that never form a frame (skipped by the framer's resync) are counted per protocol
    and close the connection past limits.max_garbage_bytes, long before the idle timeout."""
    s = services.settings(db_url, limits={"max_garbage_bytes": 1000, "idle_timeout_s": 60.0})
    before = metrics.garbage_bytes.labels("gt06")._value.get()
    async with services.running_gateway(s):
        reader, writer = await asyncio.open_connection("127.0.0.1", s.ports.gt06)
        writer.write(b"\x00not a gt06 frame " * 40)  # 720 bytes: still tolerated
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(b"\x00not a gt06 frame " * 40)  # past 1,000: closed
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 5) == b""
        writer.close()
    assert metrics.garbage_bytes.labels("gt06")._value.get() - before >= 1000
