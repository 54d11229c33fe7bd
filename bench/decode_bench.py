"""Decode throughput on one core: frames/s and records/s per protocol (CRC checked).

Prints figures only; never fails on time. Run: ``.venv/bin/python bench/decode_bench.py``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from protocols._checks import crc16_ibm
from protocols.gt06 import SPEC as GT06
from protocols.gt06 import encode_frame
from protocols.h02 import SPEC as H02
from protocols.model import Position
from protocols.teltonika import SPEC as TELTONIKA

GT06_LOGIN = bytes.fromhex("78781101075253367890024270003201000512790D0A")
TELTONIKA_IMEI = bytes.fromhex("000F333536333037303432343431303133")
BATCH = 2000


def gt06_stream() -> tuple[bytes, int]:
    frames = []
    for i in range(BATCH):
        content = (
            bytes([24, 5, 1, 10, i % 60, (i * 7) % 60, 0xC9])
            + struct.pack(">IIBH", 41625624 + i, 205938784 - i, 40 + i % 50, 0x1400 | (i % 360))
            + bytes.fromhex("01CC00287D001F71000001")
            + bytes(4)
        )
        frames.append(encode_frame(0x22, content, i & 0xFFFF))
    return b"".join(frames), BATCH


def teltonika_stream(records_per_packet: int = 20) -> tuple[bytes, int]:
    packets = []
    for p in range(BATCH // records_per_packet):
        recs = b"".join(
            struct.pack(
                ">QBiihHBH",
                1_714_557_600_000 + (p * 100 + r) * 1000,
                0,
                252616688 + r,
                547976576 - r,
                105,
                90,
                12,
                42,
            )
            + bytes([0, 5, 3, 239, 1, 240, 1, 21, 4, 1, 66, 0x30, 0xD4, 1, 16, 0, 1, 2, 3, 0])
            for r in range(records_per_packet)
        )
        data = bytes([0x08, records_per_packet]) + recs + bytes([records_per_packet])
        packets.append(
            b"\0\0\0\0" + struct.pack(">I", len(data)) + data + struct.pack(">I", crc16_ibm(data))
        )
    return b"".join(packets), (BATCH // records_per_packet) * records_per_packet


def h02_stream() -> tuple[bytes, int]:
    line = (
        "*HQ,865205030330012,V1,{:02d}{:02d}{:02d},A,2240.55181,N,11358.32389,E,"
        "10.00,180,100815,FFFFFBFF#"
    )
    return "".join(
        line.format(i // 3600 % 24, i // 60 % 60, i % 60) for i in range(BATCH)
    ).encode(), BATCH


def measure(
    name: str,
    new: Callable[[], object],
    prelude: bytes,
    stream: bytes,
    frames: int,
    records: int,
    seconds: float = 2.0,
) -> None:
    chunk = 4096
    rounds, elapsed, positions = 0, 0.0, 0
    while elapsed < seconds:
        session = new()
        session.receive(prelude)  # type: ignore[attr-defined]
        start = time.perf_counter()
        for i in range(0, len(stream), chunk):
            for m in session.receive(stream[i : i + chunk]):  # type: ignore[attr-defined]
                positions += isinstance(m, Position)
        elapsed += time.perf_counter() - start
        rounds += 1
    assert positions == records * rounds, (positions, records * rounds)
    print(
        f"{name:10s} {frames * rounds / elapsed:>12,.0f} frames/s "
        f"{records * rounds / elapsed:>12,.0f} records/s"
    )


def main() -> None:
    gt06, n = gt06_stream()
    measure("gt06", lambda: GT06.new_session("tcp", None), GT06_LOGIN, gt06, n, n)
    tel, recs = teltonika_stream()
    measure(
        "teltonika",
        lambda: TELTONIKA.new_session("tcp", None),
        TELTONIKA_IMEI,
        tel,
        BATCH // 20,
        recs,
    )
    h02, n = h02_stream()
    measure("h02", lambda: H02.new_session("tcp", None), b"", h02, n, n)


if __name__ == "__main__":
    main()
