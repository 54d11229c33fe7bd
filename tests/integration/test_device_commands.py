"""Issue 13, commands to devices, on the real gateway (TimescaleDB, Mosquitto): per family the
encoded command reaches a simulated device on its own connection and the device's answer
(a documented sample) is recorded; a command to an offline device is written when it
connects, and one whose device never connects expires.

Answers used (sources named beside them in the protocols' unit tests): GT06 0x21 "Relay ON
success" ([VL03] §7), Teltonika Codec 12 getinfo command and response (wiki "Codec 12"), H02
V4 reset reply (G20LS §3.2) and V4 CR reply (HuaSunTeK V1.0.5 §四.2), TK103 ``jt``
confirmation (eusonlito/GPS-Tracker#114), the watch's command echo (4P-Touch SeTracker
protocol, part II).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from gateway import app, cli
from gateway.store import commands as store
from protocols import simulate as sim
from protocols.gt06 import encode_command as gt06_command
from protocols.teltonika import encode_codec12_udp_command
from tests.unit.protocols.test_gt06_breadth import RESPONSE_21
from tests.unit.protocols.test_h02 import V1, V4_CR_HST, V4_RESET
from tests.unit.protocols.test_teltonika_messages import (
    C12_GETINFO,
    C12_GETINFO_RESPONSE,
    GETINFO_TEXT,
)
from tests.unit.protocols.test_tk103 import T114_JT

from .. import services
from ..devices import Gt06Client, TeltonikaClient, TextClient, fixes, teltonika_udp
from .member_client import Api

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-token"}


def _settings(db_url: str) -> Any:
    return services.settings(db_url, commands={"poll_s": 0.2})


async def queue(device_id: int, name: str, argument: str | None = None, within_s: int = 60) -> int:
    async with services.connect_async() as conn:
        expires = datetime.now(UTC) + timedelta(seconds=within_s)
        command = await store.queue(conn, device_id, name, argument, "test", expires)
    return command.id


def command(command_id: int) -> store.Command:
    async def read() -> store.Command | None:
        async with services.connect_async() as conn:
            return await store.get(conn, command_id)

    found = asyncio.run(read())
    assert found is not None
    return found


async def wait_state(command_id: int, state: str, within: float = 15.0) -> store.Command:
    await services.wait_until(lambda: command(command_id).state == state, within)
    return await asyncio.to_thread(command, command_id)


async def attached(gw: app.Gateway, device_id: int) -> None:
    for _ in range(200):
        if gw.connections.get(device_id) is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"device {device_id} never attached")


async def test_gt06_round_trip_through_the_member_api(db_url: str) -> None:
    s = _settings(db_url)
    imei = services.unique_imei()
    async with services.running_gateway(s) as gw, aiohttp.ClientSession() as http:
        api = Api(http, gw.http_port)
        _, token = await api.member("owner")
        device_id = await api.device(token, "gt06", imei)
        _, stranger = await api.member("stranger")
        await asyncio.sleep(0.3)  # the directory learns the new device by NOTIFY
        reader, writer = await Gt06Client("127.0.0.1", s.ports.gt06, imei).connect()
        await attached(gw, device_id)

        refused = await api.call(
            "POST", f"/v1/devices/{device_id}/commands", stranger, json={"command": "locate"}
        )
        assert refused.status == 404
        bad = await api.call(
            "POST", f"/v1/devices/{device_id}/commands", token, json={"command": "find"}
        )
        assert (bad.status, bad.problem) == (400, "invalid-request")  # not a GT06 command
        sent = await api.call(
            "POST", f"/v1/devices/{device_id}/commands", token, json={"command": "locate"}
        )
        assert sent.status == 201, sent.body
        assert sent.body["state"] == "queued"

        expected = gt06_command("WHERE#", 1, server_flag=1)  # the connection's first serial
        assert await asyncio.wait_for(reader.readexactly(len(expected)), 10) == expected
        writer.write(RESPONSE_21)
        await writer.drain()
        done = await wait_state(sent.body["id"], "answered")
        assert done.response is not None
        assert done.response["text"] == "Relay ON success"
        assert bytes(done.payload or b"") == expected

        listed = await api.call("GET", f"/v1/devices/{device_id}/commands", token)
        assert listed.status == 200
        (item,) = listed.body["items"]
        assert (item["state"], item["response"]["text"]) == ("answered", "Relay ON success")
        assert item["payload"] == expected.hex()
        other = await api.call("GET", f"/v1/devices/{device_id}/commands", stranger)
        assert other.status == 404
        writer.close()


async def test_teltonika_tcp_offline_command_waits_for_the_device(db_url: str) -> None:
    s = _settings(db_url)
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    never = services.provision("teltonika", services.unique_imei())
    async with services.running_gateway(s):
        waiting = await queue(device_id, "raw", "getinfo")
        lost = await queue(never, "reboot", within_s=1)
        await asyncio.sleep(0.5)
        assert (await asyncio.to_thread(command, waiting)).state == "queued"  # not connected

        client = TeltonikaClient("127.0.0.1", s.ports.teltonika, imei)
        await client.connect()
        assert client.reader is not None
        assert client.writer is not None
        # written once the IMEI handshake said who it is: the wiki's getinfo command, exactly
        got = await asyncio.wait_for(client.reader.readexactly(len(C12_GETINFO)), 10)
        assert got == C12_GETINFO
        client.writer.write(C12_GETINFO_RESPONSE)
        await client.writer.drain()
        done = await wait_state(waiting, "answered")
        assert done.response == {"codec": 12, "text": GETINFO_TEXT}
        assert await client.send(fixes(2)) == 2  # the connection goes on carrying data

        expired = await wait_state(lost, "expired")
        assert expired.sent_at is None
        assert expired.payload is None
        await client.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait(data)


async def test_teltonika_udp_command_goes_to_the_last_peer(db_url: str) -> None:
    s = _settings(db_url)
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    async with services.running_gateway(s) as gw, aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(
            _Udp, remote_addr=("127.0.0.1", s.ports.teltonika_udp)
        )
        try:
            transport.sendto(teltonika_udp(imei, sim.teltonika_avl(fixes(1))[8:-4]))
            ack = await asyncio.wait_for(peer.received.get(), 10)
            assert ack == bytes.fromhex("0005CAFE010101")  # wiki: length, id, 01, AVL id, count
            await attached(gw, device_id)
            async with http.post(
                f"http://127.0.0.1:{gw.http_port}/v1/admin/devices/{device_id}/commands",
                json={"command": "reboot"},
                headers=ADMIN,
            ) as resp:
                assert resp.status == 201
                sent = await resp.json()
            got = await asyncio.wait_for(peer.received.get(), 10)
            assert got == encode_codec12_udp_command(imei, "cpureset", 1)
            transport.sendto(teltonika_udp(imei, C12_GETINFO_RESPONSE[8:-4]))
            done = await wait_state(sent["id"], "answered")
            assert done.response is not None
            assert done.response["text"] == GETINFO_TEXT
            assert done.requested_by == "operator"
        finally:
            transport.close()


async def test_h02_round_trip_with_the_cli_waiting(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACKGW_DATABASE_URL", db_url)
    s = _settings(db_url)
    imei = services.unique_imei()
    device_id = services.provision("h02", imei)
    position = V1.replace(b"865205030330012", imei.encode())
    async with services.running_gateway(s) as gw:
        client = TextClient("127.0.0.1", s.ports.h02, b"#")
        await client.connect()
        await client.send(position)
        await attached(gw, device_id)
        argv = ["commands", "send", "--device", imei, "--command", "raw", "--text", "RESET"]
        run = asyncio.create_task(asyncio.to_thread(cli.main, [*argv, "--wait", "20"]))
        frame = await client.read_until(b"*HQ," + imei.encode() + b",RESET,", 15)
        assert re.fullmatch(rb"\*HQ,\d{15},RESET,\d{6}#", frame), frame
        await client.send(V4_RESET.replace(b"135790246811220", imei.encode()))
        assert await asyncio.wait_for(run, 25) == 0  # answered
        out = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert out["state"] == "answered"
        assert out["response"]["text"] == "RESET OK"
        assert await asyncio.to_thread(cli.main, ["commands", "list", "--device", imei]) == 0
        (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert (listed["id"], listed["state"]) == (out["id"], "answered")
        # a command the protocol has no encoder for is refused before it is queued
        refused = ["commands", "send", "--device", imei, "--command", "find"]
        assert await asyncio.to_thread(cli.main, refused) == 2
        # locate: CR without a time (HuaSunTeK V1.0.5 §四.2), answered by V4,CR
        locate = await queue(device_id, "locate")
        cr = b"*HQ," + imei.encode() + b",CR#"
        assert await client.read_until(cr, 15) == cr
        await client.send(V4_CR_HST.replace(b"353505910449999", imei.encode()))
        done = await wait_state(locate, "answered")
        assert done.response == {"command": "CR", "text": ""}
        await services.wait_until(lambda: services.count_positions(device_id) == 1)
        await client.close()


async def test_tk103_engine_stop_confirmed_by_jt(db_url: str) -> None:
    s = _settings(db_url)
    imei = services.unique_imei()
    device_id = services.provision("tk103", imei)
    async with services.running_gateway(s) as gw:
        client = TextClient("127.0.0.1", s.ports.tk103, b";")
        await client.connect()
        await client.send(b"##,imei:" + imei.encode() + b",A;")  # the documented log-on
        assert client.reader is not None
        assert await asyncio.wait_for(client.reader.readexactly(4), 10) == b"LOAD"
        await attached(gw, device_id)
        cut = await queue(device_id, "engine_stop")
        assert await client.read_frame() == b"**,imei:" + imei.encode() + b",J;"
        await client.send(T114_JT.replace(b"868166054696190", imei.encode()))
        done = await wait_state(cut, "answered")
        assert done.response == {"event": "jt"}
        await client.close()


async def test_watch_offline_find_in_its_own_vendor_code(db_url: str) -> None:
    s = _settings(db_url)
    watch_id = services.unique_imei()[:10]
    device_id = services.provision("watch", watch_id)
    async with services.running_gateway(s):
        ring = await queue(device_id, "find")
        client = TextClient("127.0.0.1", s.ports.watch, b"]")
        await client.connect()
        head = f"[SG*{watch_id}*".encode()
        await client.send(head + b"0002*LK]")  # a keep-alive says who it is
        assert await client.read_frame() == head + b"0002*LK]"
        # delivered on connect, in the vendor code the watch spoke (SG, not the default 3G)
        assert await client.read_frame() == head + b"0004*FIND]"
        await client.send(head + b"0004*FIND]")  # the watch echoes the command
        done = await wait_state(ring, "answered")
        assert done.response == {"command": "FIND", "text": ""}
        await client.close()


async def test_owntracks_report_location(db_url: str) -> None:
    s = _settings(db_url)
    key = f"alice/{services.unique('p')}"
    device_id = services.provision("owntracks", key)
    async with services.running_gateway(s), services.mqtt_client("alice") as phone:
        await phone.subscribe(f"owntracks/{key}/cmd", qos=1)
        asked = await queue(device_id, "locate")
        message = await asyncio.wait_for(anext(aiter(phone.messages)), 10)
        assert json.loads(bytes(message.payload)) == {"_type": "cmd", "action": "reportLocation"}
        await wait_state(asked, "sent")
        (fix,) = fixes(1, start=datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5))
        location = json.loads(sim.owntracks_location(fix))
        location["t"] = "r"  # booklet: a location sent in response to reportLocation
        await phone.publish(f"owntracks/{key}", json.dumps(location), qos=1)
        done = await wait_state(asked, "answered")
        assert done.response is not None
        assert done.response["t"] == "r"
        await services.wait_until(lambda: services.count_positions(device_id) == 1)
