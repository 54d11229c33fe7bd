"""Issue 13 through ``trackgw serve`` (real TimescaleDB): a GT06 time request is answered
on the wire with the gateway's UTC time, an address request's fix and an LBS alarm are
stored and the alarm acknowledged after commit, an unknown packet costs only itself; a
Teltonika Codec 12 response gets no reply and the connection goes on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_x25
from protocols.gt06 import encode_frame, encode_reply
from tests.unit.protocols.test_gt06 import TIME_REQUEST
from tests.unit.protocols.test_gt06_breadth import ADDRESS_2A, LBS_ALARM_19
from tests.unit.protocols.test_teltonika_messages import C12_GETIO_RESPONSE

from .. import services
from ..devices import Gt06Client, TeltonikaClient, fixes

pytestmark = pytest.mark.integration


def _event_count(device_id: int) -> int:
    with services.connect() as conn:
        row = conn.execute("select count(*) from events where device_id = %s", (device_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


async def test_gt06_time_request_address_request_lbs_alarm(db_url: str) -> None:
    imei = services.unique_imei()
    device_id = services.provision("gt06", imei)
    s = services.settings(db_url)
    async with services.running_gateway(s):
        reader, writer = await Gt06Client("127.0.0.1", s.ports.gt06, imei).connect()
        before = datetime.now(UTC).replace(microsecond=0)
        writer.write(TIME_REQUEST)  # [VL03] §8, serial 6
        await writer.drain()
        reply = await asyncio.wait_for(reader.readexactly(16), 10)
        after = datetime.now(UTC)
        assert reply[:4] == bytes.fromhex("78780B8A")
        assert reply[-2:] == b"\r\n"
        assert reply[10:12] == b"\x00\x06"  # the request's serial echoed
        assert crc16_x25(reply[2:-4]) == int.from_bytes(reply[-4:-2], "big")
        answered = datetime(2000 + reply[4], *reply[5:10], tzinfo=UTC)
        assert before <= answered <= after

        writer.write(encode_frame(0x99, b"\x01", 0x0020))  # unsupported: only itself is lost
        writer.write(ADDRESS_2A)  # [VL03] §6: the fix is stored, nothing is answered
        writer.write(LBS_ALARM_19)  # SOS without a fix: stored, then acknowledged
        await writer.drain()
        ack = await asyncio.wait_for(reader.readexactly(10), 10)
        assert ack == encode_reply(0x19, 0x0011)
        assert services.count_positions(device_id) == 1
        assert _event_count(device_id) >= 1
        writer.close()


async def test_teltonika_codec12_response_then_records(db_url: str) -> None:
    imei = services.unique_imei()
    device_id = services.provision("teltonika", imei)
    s = services.settings(db_url)
    async with services.running_gateway(s):
        client = TeltonikaClient("127.0.0.1", s.ports.teltonika, imei)
        await client.connect()
        assert client.writer is not None
        assert client.reader is not None
        client.writer.write(C12_GETIO_RESPONSE)  # wiki "Codec 12": no answer is expected
        await client.writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.reader.read(1), 0.5)
        assert await client.send(fixes(3)) == 3  # the connection goes on
        await services.wait_until(lambda: services.count_positions(device_id) == 3)
        await client.close()
