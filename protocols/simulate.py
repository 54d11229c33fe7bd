"""Synthetic device traffic: the bytes a GT06 tag, a Teltonika tracker or an OwnTracks phone
would send for given fixes. Pure (bytes out); used by tests, benchmarks and load tools.

The layouts are the ones the decoders read (GT06 v1.8.1 §5.1/§5.2; Teltonika wiki "Codec 8").
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from protocols._checks import crc16_ibm
from protocols.gt06._encoder import encode_frame
from protocols.gt06._types import COORDINATE_DIVISOR, CourseStatus, MessageType

__all__ = [
    "Fix",
    "gt06_location",
    "gt06_login",
    "owntracks_location",
    "teltonika_avl",
    "teltonika_imei",
]


@dataclass(frozen=True, slots=True)
class Fix:
    time: datetime
    lat: float
    lon: float
    speed_kmh: int = 0
    course_deg: int = 0
    altitude_m: int = 0
    satellites: int = 8


def gt06_login(imei: str, serial: int = 1) -> bytes:
    """Login packet (0x01): the IMEI as 8 BCD bytes with a leading zero nibble."""
    if len(imei) != 15 or not imei.isdigit():
        raise ValueError(f"an IMEI has 15 digits, got {imei!r}")
    return encode_frame(MessageType.LOGIN, bytes.fromhex("0" + imei), serial)


def gt06_location(fix: Fix, serial: int) -> bytes:
    """GPS/LBS location packet (0x12) for ``fix`` (times in UTC)."""
    t = fix.time.astimezone(UTC)
    flags = CourseStatus.POSITIONED | (fix.course_deg & CourseStatus.COURSE_MASK)
    if fix.lat >= 0:
        flags |= CourseStatus.NORTH
    if fix.lon < 0:
        flags |= CourseStatus.WEST
    content = struct.pack(
        ">6BBIIBH",
        t.year % 100,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        0xC0 | min(fix.satellites, 15),
        round(abs(fix.lat) * COORDINATE_DIVISOR),
        round(abs(fix.lon) * COORDINATE_DIVISOR),
        min(fix.speed_kmh, 255),
        flags,
    ) + bytes.fromhex("01CC00287D001FB8")  # MCC 460, MNC 0, LAC, cell id (LBS block)
    return encode_frame(MessageType.GPS_LBS, content, serial)


def teltonika_imei(imei: str) -> bytes:
    """The TCP handshake: 2-byte length and the IMEI in ASCII."""
    return struct.pack(">H", len(imei)) + imei.encode()


def teltonika_avl(fixes: Sequence[Fix], io: dict[int, int] | None = None) -> bytes:
    """A Codec 8 AVL data packet with one record per fix and 1-byte IO elements ``io``."""
    if not 1 <= len(fixes) <= 255:
        raise ValueError("a Codec 8 packet holds 1 to 255 records")
    io = io or {}
    records = bytearray()
    for fix in fixes:
        records += struct.pack(
            ">QBiihHBH",
            round(fix.time.timestamp() * 1000),
            0,
            round(fix.lon * 1e7),
            round(fix.lat * 1e7),
            fix.altitude_m,
            fix.course_deg,
            fix.satellites,
            fix.speed_kmh,
        )
        records += struct.pack(">BBB", 0, len(io), len(io))
        for io_id, value in io.items():
            records += struct.pack(">BB", io_id, value)
        records += b"\x00\x00\x00"  # no 2-, 4- or 8-byte elements
    data = bytes((0x08, len(fixes))) + bytes(records) + bytes((len(fixes),))
    return struct.pack(">II", 0, len(data)) + data + struct.pack(">I", crc16_ibm(data))


def owntracks_location(fix: Fix, accuracy_m: int = 10, battery_pct: int = 80) -> bytes:
    """An OwnTracks ``_type: location`` payload."""
    return json.dumps(
        {
            "_type": "location",
            "tst": int(fix.time.timestamp()),
            "lat": fix.lat,
            "lon": fix.lon,
            "acc": accuracy_m,
            "alt": fix.altitude_m,
            "vel": fix.speed_kmh,
            "cog": fix.course_deg,
            "batt": battery_pct,
            "tid": "sm",
        },
        separators=(",", ":"),
    ).encode()
