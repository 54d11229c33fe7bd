"""The binary decoders' fast paths give exactly what their checked reference paths give.

``gt06.decode_frame`` reads a whole 0x22 packet with one unpack, and
``teltonika.decode_tcp`` reads records with one unpack per GPS element and per IO group;
``decode_frame_checked`` / ``decode_tcp_checked`` read every field through the checked
``Reader``. For the captured samples of ``test_gt06`` and ``test_teltonika``, and for
every truncation and every one-byte change of the Teltonika samples (CRC recomputed so the
change reaches the decoder), both give equal messages, or the same error and message.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_ibm
from protocols._common import CLOCK_KEY
from protocols.base import SessionState
from protocols.gt06 import encode_frame
from protocols.gt06._decoder import decode_frame, decode_frame_checked
from protocols.model import Message
from protocols.teltonika._decoder import decode_tcp, decode_tcp_checked
from tests.unit.protocols import (
    test_gt06,
    test_gt06_breadth,
    test_gt06_captures,
    test_teltonika,
    test_teltonika_messages,
)

Decode = Callable[[bytes, SessionState], list[Message]]
KEYS = ("356307042441013", None)
_CLOCK = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def outcome(decode: Decode, frame: bytes, key: str | None) -> object:
    try:
        # a fixed session clock: packets without a time of their own are timed by it
        return ("ok", decode(frame, SessionState("tcp", key, {CLOCK_KEY: lambda: _CLOCK})))
    except Exception as exc:  # the error itself: class and message must agree
        return ("error", type(exc).__name__, str(exc))


def _gt06_22(date: bytes, lat: int) -> bytes:
    gps = date + b"\xc9" + struct.pack(">IIBH", lat, 205938784, 40, 0x1400 | 90)
    return encode_frame(0x22, gps + bytes.fromhex("01CC00287D001F71000001") + bytes(4), 7)


GT06_FRAMES = [
    test_gt06.LOGIN_VL03,
    test_gt06.HEARTBEAT_VL03,
    test_gt06.LOCATION_22,
    test_gt06.LOCATION_12,
    test_gt06.ALARM_16,
    test_gt06.ALARM_26,
    test_gt06.ALARM_27,
    test_gt06.STRING_15,
    test_gt06.COMMAND_21,
    test_gt06.INFO_94,
    test_gt06.TIME_REQUEST,
    test_gt06_breadth.LBS_28,
    test_gt06_breadth.ADDRESS_2A,
    test_gt06_breadth.HEARTBEAT_23,
    test_gt06_breadth.LBS_ALARM_19,
    test_gt06_breadth.WIFI_2C,
    test_gt06_breadth.LBS_A1,
    test_gt06_captures.LOCATION_5734,
    test_gt06_captures.LOCATION_5361,
    test_gt06_captures.HEARTBEAT_5361,
    _gt06_22(bytes([24, 5, 1, 10, 20, 30]), 41625624),
    _gt06_22(bytes([24, 13, 1, 10, 20, 30]), 41625624),  # month 13
    _gt06_22(bytes([24, 5, 1, 10, 20, 30]), 170_000_000),  # latitude beyond 90
]


@pytest.mark.parametrize("frame", GT06_FRAMES)
@pytest.mark.parametrize("key", KEYS)
def test_gt06_fast_path_matches_checked(frame: bytes, key: str | None) -> None:
    assert outcome(decode_frame, frame, key) == outcome(decode_frame_checked, frame, key)


def _tcp(data: bytes) -> bytes:
    return b"\0\0\0\0" + struct.pack(">I", len(data)) + data + struct.pack(">I", crc16_ibm(data))


def _variants(packet: bytes) -> list[bytes]:
    data = packet[8:-4]
    out = [packet]
    out += [_tcp(data[:cut]) for cut in range(1, len(data))]
    out += [_tcp(data + b"\x00")]
    for at in range(len(data)):
        for new in (0x00, 0xFF, data[at] ^ 0x01):
            out.append(_tcp(data[:at] + bytes([new]) + data[at + 1 :]))
    return out


@pytest.mark.parametrize(
    "packet",
    [
        test_teltonika.C8_EX1,
        test_teltonika.C8_EX2,
        test_teltonika.C8_EX3,
        test_teltonika.C8E,
        test_teltonika.C16,
        test_teltonika.VILNIUS,
        test_teltonika_messages.FMB120_RECORD,
        test_teltonika_messages.C12_GETIO_RESPONSE,
        test_teltonika_messages.C13,
        test_teltonika_messages.C14_NACK,
        test_teltonika_messages.C15,
    ],
)
def test_teltonika_fast_path_matches_checked(packet: bytes) -> None:
    for frame in _variants(packet):
        for key in KEYS:
            expected = outcome(decode_tcp_checked, frame, key)
            assert outcome(decode_tcp, frame, key) == expected, frame.hex()
