"""Simulated device clients for tests (loopback only, bounded in count and time)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from protocols import simulate as sim


def fixes(
    n: int, start: datetime | None = None, lat: float = 52.52, lon: float = 13.40, step_s: int = 1
) -> list[sim.Fix]:
    """``n`` fixes a second apart walking north-east, all distinct in time."""
    start = start or (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    return [
        sim.Fix(
            start + timedelta(seconds=i * step_s),
            lat + i * 1e-5,
            lon + i * 1e-5,
            speed_kmh=5,
            course_deg=45,
        )
        for i in range(n)
    ]


class TeltonikaClient:
    """A Teltonika tracker over TCP: handshake, then AVL packets awaiting record counts."""

    def __init__(self, host: str, port: int, imei: str) -> None:
        self.host, self.port, self.imei = host, port, imei
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(sim.teltonika_imei(self.imei))
        await self.writer.drain()
        answer = await asyncio.wait_for(self.reader.readexactly(1), 10)
        if answer != b"\x01":
            raise ConnectionError(f"IMEI refused: {answer!r}")

    async def send(self, batch: Sequence[sim.Fix], timeout: float = 10) -> int:
        """Send one packet; the number of records the server says it accepted."""
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(sim.teltonika_avl(batch))
        await self.writer.drain()
        reply = await asyncio.wait_for(self.reader.readexactly(4), timeout)
        return int(struct.unpack(">I", reply)[0])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()


class Gt06Client:
    def __init__(self, host: str, port: int, imei: str) -> None:
        self.host, self.port, self.imei = host, port, imei
        self.serial = 0

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.serial += 1
            writer.write(sim.gt06_login(self.imei, self.serial))
            await writer.drain()
            reply = await asyncio.wait_for(reader.readexactly(10), 10)
            if reply[3] != 0x01:
                raise ConnectionError(f"login not answered: {reply.hex()}")
        except BaseException:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            raise
        return reader, writer

    def location(self, fix: sim.Fix) -> bytes:
        self.serial = (self.serial + 1) & 0xFFFF
        return sim.gt06_location(fix, self.serial)


class TextClient:
    """A tracker speaking a text protocol over TCP (H02 ``#``, TK103 ``;``, watch ``]``
    frames): writes frames, reads what the server writes up to the protocol's terminator."""

    def __init__(self, host: str, port: int, end: bytes) -> None:
        self.host, self.port, self.end = host, port, end
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, *frames: bytes) -> None:
        assert self.writer is not None
        for frame in frames:
            self.writer.write(frame)
        await self.writer.drain()

    async def read_frame(self, timeout: float = 10) -> bytes:
        """The next frame the server wrote, terminator included."""
        assert self.reader is not None
        return await asyncio.wait_for(self.reader.readuntil(self.end), timeout)

    async def read_until(self, wanted: bytes, timeout: float = 10) -> bytes:
        """Frames until one starting with ``wanted`` (replies before it are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.read_frame(max(0.1, deadline - loop.time()))
            if frame.startswith(wanted):
                return frame

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()


def teltonika_udp(imei: str, data_field: bytes, packet_id: int = 0xCAFE, avl_id: int = 1) -> bytes:
    """A Teltonika UDP datagram as the wiki's "Codec 8 protocol sending over UDP" lays it out:
    length, packet id, 01, AVL packet id, IMEI length and IMEI, then the data field (codec id
    .. number of data 2) of a TCP packet (``packet[8:-4]``)."""
    body = struct.pack(">HBBH", packet_id, 0x01, avl_id, len(imei)) + imei.encode() + data_field
    return struct.pack(">H", len(body)) + body
