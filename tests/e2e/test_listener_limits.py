"""Issue 9, bounded under abuse: slow HTTP clients are cut on both HTTP ports, idle TCP
connections are cut, the global TCP connection cap refuses connection N+1 (on any port), and
the MQTT inbox stops reading the socket when full, losing nothing. Loopback only, bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from gateway import metrics
from protocols import simulate as sim

from .. import services
from ..devices import fixes

pytestmark = pytest.mark.e2e

TIMEOUT_S = 1.0
CAP = 6


def refused(listener: str, reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "trackgw_connections_refused_total", {"listener": listener, "reason": reason}
    )
    return value or 0.0


async def drip(port: int, data: bytes, every_s: float, within_s: float) -> tuple[float, int]:
    """Send ``data`` a byte at a time; (seconds until the server closed, bytes sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    sent = 0
    try:
        for byte in data:
            if reader.at_eof() or writer.is_closing():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            sent += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every_s):
                    while chunk := await reader.read(4096):
                        del chunk  # a 408 answer, then EOF
                    break  # EOF: closed by the server
            if time.monotonic() - started > within_s:
                raise AssertionError(f"still open after {within_s} s")
        return time.monotonic() - started, sent
    finally:
        writer.close()


async def closed_within(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        async with asyncio.timeout(within):
            while await reader.read(4096):
                pass
        return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


async def test_slow_http_clients_are_cut_on_the_api_and_osmand_ports(db_url: str) -> None:
    s = services.settings(
        db_url, limits={"http_header_timeout_s": TIMEOUT_S, "http_body_timeout_s": TIMEOUT_S}
    )
    head = b"POST /owntracks HTTP/1.1\r\nHost: x\r\nX-Limit-U: a\r\nX-Limit-D: b\r\n" * 3
    # the body test needs a phone that gets past authentication (it comes before the body)
    _, token = services.provision_phone("overland", services.unique("ovl"))
    _, key = services.provision_phone("osmand", services.unique("osm"))
    body_heads = {
        s.http.port: f"POST /overland HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n",
        s.ports.osmand: f"POST /?key={key} HTTP/1.1\r\nHost: x\r\n",
    }
    async with services.running_gateway(s):
        for port in (s.http.port, s.ports.osmand):
            # a head sent a byte every 0.1 s never completes: cut after about TIMEOUT_S
            took, sent = await drip(port, head, 0.1, within_s=TIMEOUT_S + 5)
            assert TIMEOUT_S * 0.8 <= took <= TIMEOUT_S + 3
            assert sent < len(head)
            # a whole head, then a body that trickles: cut (408) after about TIMEOUT_S
            body_head = (
                body_heads[port] + "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
            ).encode()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(body_head + b"{")
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(64), TIMEOUT_S + 5)
            assert answer.startswith(b"HTTP/1.1 408")
            writer.close()
        # a connection that never sends anything is closed too
        reader, writer = await asyncio.open_connection("127.0.0.1", s.http.port)
        assert await closed_within(reader, TIMEOUT_S + 3)
        writer.close()
        # and a client that keeps up is served as before
        reader, writer = await asyncio.open_connection("127.0.0.1", s.http.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(64), 5)).startswith(b"HTTP/1.1 200")
        writer.close()


async def test_idle_tcp_connections_are_cut_and_the_global_cap_refuses_one_more(
    db_url: str,
) -> None:
    s = services.settings(db_url, limits={"idle_timeout_s": TIMEOUT_S, "max_connections": CAP})
    cap_before = sum(refused(n, "connection_limit") for n in ("gt06", "h02", "teltonika"))
    idle_before = refused("h02", "idle")
    async with services.running_gateway(s):
        # idle: connected, silent, closed after about idle_timeout_s
        reader, writer = await asyncio.open_connection("127.0.0.1", s.ports.h02)
        started = time.monotonic()
        assert await closed_within(reader, TIMEOUT_S + 3)
        assert time.monotonic() - started >= TIMEOUT_S * 0.8
        writer.close()
        assert refused("h02", "idle") - idle_before == 1

        # the cap: CAP connections spread over two ports are let in; one more, on a third
        # port, is closed at once; after one of the first goes, a new one is let in again
        opened = []
        for i in range(CAP):
            port = s.ports.gt06 if i % 2 else s.ports.h02
            opened.append(await asyncio.open_connection("127.0.0.1", port))
        await asyncio.sleep(0.2)
        extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", s.ports.teltonika)
        assert await closed_within(extra_reader, 2)
        extra_writer.close()
        for r, _ in opened:
            assert not await closed_within(r, 0.05)  # still open
        cap_after = sum(refused(n, "connection_limit") for n in ("gt06", "h02", "teltonika"))
        assert cap_after - cap_before == 1
        opened.pop()[1].close()
        await asyncio.sleep(0.3)
        imei = services.unique_imei()
        services.provision("teltonika", imei)
        reader, writer = await asyncio.open_connection("127.0.0.1", s.ports.teltonika)
        writer.write(sim.teltonika_imei(imei))
        assert await asyncio.wait_for(reader.readexactly(1), 5) == b"\x01"
        writer.close()
        for _, w in opened:
            w.close()


async def test_a_full_mqtt_inbox_stops_reading_and_loses_nothing(db_url: str) -> None:
    """With an inbox of 5, a burst of 300 fixes makes the listener take its socket off the
    loop (counted, reason="inbox_full"); every fix is stored."""
    s = services.settings(db_url, limits={"mqtt_inbox_max": 5})
    key = f"alice/{services.unique('q')}"
    device_id = services.provision("owntracks", key)
    track = fixes(300)
    before = refused("mqtt", "inbox_full")
    async with services.running_gateway(s):
        async with services.mqtt_client("alice") as phone:  # all at once: a burst
            await asyncio.gather(
                *(
                    phone.publish(f"owntracks/{key}", sim.owntracks_location(fix), qos=1)
                    for fix in track
                )
            )
        await services.wait_until(lambda: services.count_positions(device_id) == len(track), 30)
    assert refused("mqtt", "inbox_full") - before >= 1
