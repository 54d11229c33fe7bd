"""Decode throughput on one core: frames/s and records/s per protocol (CRC checked).

Each binary protocol is also measured, in the same run, through its checked reference
decoder, and the ratio printed: ``decode_frame_checked`` (gt06: every block through the
checked ``Reader``, no one-unpack 0x22 shortcut) and ``decode_tcp_checked`` (teltonika: the
field-by-field record loop with the validating ``Position`` constructor, as before the fast
path). Every frame/record carries its own time, so no cache
keyed by time could inflate the figures.

Prints figures only; never fails on time. Run: ``.venv/bin/python bench/decode_bench.py``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from protocols._checks import crc16_ibm
from protocols.base import Session, SessionState
from protocols.gt06 import SPEC as GT06
from protocols.gt06 import Gt06Framer, encode_frame
from protocols.gt06._decoder import decode_frame_checked
from protocols.h02 import SPEC as H02
from protocols.model import Position
from protocols.teltonika import SPEC as TELTONIKA
from protocols.teltonika import TeltonikaFramer
from protocols.teltonika._decoder import decode_tcp_checked
from protocols.tk103 import SPEC as TK103
from protocols.watch import SPEC as WATCH

GT06_LOGIN = bytes.fromhex("78781101075253367890024270003201000512790D0A")
TELTONIKA_IMEI = bytes.fromhex("000F333536333037303432343431303133")
BATCH = 2000


def gt06_stream() -> tuple[bytes, int]:
    frames = []
    start = datetime(2024, 5, 1, tzinfo=UTC)
    for i in range(BATCH):
        t = start + timedelta(seconds=37 * i)  # every frame its own time, across a day
        content = (
            bytes([t.year - 2000, t.month, t.day, t.hour, t.minute, t.second, 0xC9])
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
                1_714_557_600_000 + (p * 100 + r) * 1000 + (r * 37) % 1000,
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


def tk103_stream() -> tuple[bytes, int]:
    line = (
        "imei:359710049095095,tracker,15100601{:02d},,F,{:02d}{:02d}{:02d}.000,A,5105.9768,N,"
        "11404.9571,W,0.00,322.56,,0,0,,,;"
    )
    return "".join(
        line.format(i % 60, i // 3600 % 24, i // 60 % 60, i % 60) for i in range(BATCH)
    ).encode(), BATCH


def watch_stream() -> tuple[bytes, int]:
    frames = []
    for i in range(BATCH):
        content = (
            f"UD,180916,{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d},A,22.570733,N,"
            "113.8626083,E,0.00,249.5,0.0,6,100,60,0,0,00000010,7,255,460,1,9529,21809,158,"
            "9529,63555,133,9529,63554,129,9529,21405,126,9529,21242,124,9529,21151,120,"
            "9529,63556,119,0,40.7"
        )
        frames.append(f"[3G*8800000015*{len(content):04X}*{content}]")
    return "".join(frames).encode(), BATCH


def measure(
    new: Callable[[], Session],
    prelude: bytes,
    stream: bytes,
    records: int,
    seconds: float = 1.5,
) -> float:
    """Rounds per second of decoding ``stream`` (fed in 4 KiB chunks) in fresh sessions."""
    chunk = 4096
    rounds, elapsed, positions = 0, 0.0, 0
    while elapsed < seconds:
        session = new()
        session.receive(prelude)
        start = time.perf_counter()
        for i in range(0, len(stream), chunk):
            for m in session.receive(stream[i : i + chunk]):
                positions += isinstance(m, Position)
        elapsed += time.perf_counter() - start
        rounds += 1
    assert positions == records * rounds, (positions, records * rounds)
    return rounds / elapsed


def report(
    name: str, frames: int, records: int, rate: float, baseline: float | None = None
) -> None:
    line = f"{name:10s} {frames * rate:>12,.0f} frames/s {records * rate:>12,.0f} records/s"
    if baseline is not None:
        line += f"   baseline {records * baseline:>10,.0f} records/s   x{rate / baseline:.2f}"
    print(line)


def main() -> None:
    print("baseline: the checked reference decoders (decode_frame_checked, decode_tcp_checked)")
    gt06, n = gt06_stream()
    fast = measure(lambda: GT06.new_session("tcp", None), GT06_LOGIN, gt06, n)
    base = measure(
        lambda: Session("gt06", Gt06Framer(), decode_frame_checked, SessionState("tcp")),
        GT06_LOGIN,
        gt06,
        n,
    )
    report("gt06", n, n, fast, base)
    tel, recs = teltonika_stream()
    fast = measure(lambda: TELTONIKA.new_session("tcp", None), TELTONIKA_IMEI, tel, recs)
    base = measure(
        lambda: Session("teltonika", TeltonikaFramer(), decode_tcp_checked, SessionState("tcp")),
        TELTONIKA_IMEI,
        tel,
        recs,
    )
    report("teltonika", BATCH // 20, recs, fast, base)
    h02, n = h02_stream()
    report("h02", n, n, measure(lambda: H02.new_session("tcp", None), b"", h02, n))
    tk103, n = tk103_stream()
    report("tk103", n, n, measure(lambda: TK103.new_session("tcp", None), b"", tk103, n))
    watch, n = watch_stream()
    report("watch", n, n, measure(lambda: WATCH.new_session("tcp", None), b"", watch, n))


if __name__ == "__main__":
    main()
