"""H02 decoder tests.

Source of the text samples: "G20LS Protocol Document (2023 CANTRACK PROTOCOL)" —
§1.2.2 / §2.1 (V1 example), §2.2 (V3 example), §2.4 (HTBT example and server response),
§2.5 (ICCID example), §3.2 (V4 "reset" command reply). No vendor document with a binary
``$`` example was found: the binary samples below are BUILT by re-encoding the §2.1 V1
field values (and a southern/western variant) into the 32-byte BCD layout described in
protocols/h02.py, and say so.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.errors import FrameTooLarge, Malformed, UnsupportedMessage
from protocols.h02 import SPEC, H02Framer
from protocols.model import DeviceInfo, Heartbeat, Position, Rejected, Reply
from tests.unit.protocols.helpers import feed_three_ways

#: §2.1 V1 example: 2015-08-10 14:54:52, 22°40.55181' N, 113°58.32389' E, 0 knots
V1 = b"*HQ,865205030330012,V1,145452,A,2240.55181,N,11358.32389,E,0.00,0,100815,FFFFFBFF#"
#: §2.1 fields with speed 10.00 knots and course 180 (built from the documented format)
V1_MOVING = b"*HQ,865205030330012,V1,145452,A,2240.55181,N,11358.32389,E,10.00,180,100815,FFFFFBFF#"
#: §2.1 format, southern/western hemispheres, invalid fix (built)
V1_SOUTH_WEST = b"*HQ,865205030330012,V1,010203,V,3352.1234,S,15112.5000,W,1.50,45,311224,FFFFFBFF#"
#: §2.2 V3 (LBS) example
V3 = (
    b"*HQ,865205030330012,V3,000201,46000,07,009350,004022,132,-88,009350,004032,140,,"
    b"009350,004031,139,,009350,004023,133,,009350,004033,127,,009350,004021,124,,010351,"
    b"003942,118,,0256,0,X,010915,FFFFFBFF#"
)
#: §2.4 HTBT example; the server answers with the same frame
HTBT = b"*HQ,135790246811220,HTBT,100#"
#: §2.5 ICCID example
ICCID = b"*HQ,865770062606670,ICCID,89860121801609042193#"
#: §3.2 V4 reply to "reset"
V4_RESET = b"*HQ,135790246811220,V4,CMD,reset,RESET OK#"
#: a type this decoder does not handle (§2.3 V5 WiFi example)
V5 = (
    b"*HQ,135790246811220,V5,8,11223344556677,11223344556677,11223344556677,11223344556677,"
    b"11223344556677,11223344556677,11223344556677,11223344556677,0256,010815,FFFFFBFF#"
)
#: BUILT binary form of the §2.1 V1 values, device id 8652050303 (10 digits), flags E,N,valid
BIN_V1 = bytes.fromhex("2486520503031454521008152240551864113583238e000000fffffbffff0001")
#: BUILT binary southern/western variant: flags nibble 2 (valid only), 12 knots, course 270
BIN_SW = bytes.fromhex("24123456789001020331122433521234501511250002012270fffffbffff0002")


def session():  # type: ignore[no-untyped-def]
    return SPEC.new_session("tcp", None)


def test_v1() -> None:
    (pos,) = feed_three_ways(session, V1)
    assert isinstance(pos, Position)
    assert pos.device_key == "865205030330012"
    assert pos.fix_time == datetime(2015, 8, 10, 14, 54, 52, tzinfo=UTC)
    assert pos.lat == pytest.approx(22 + 40.55181 / 60)
    assert pos.lon == pytest.approx(113 + 58.32389 / 60)
    assert pos.valid is True
    assert (pos.speed_kmh, pos.course_deg) == (0.0, 0.0)
    assert pos.attributes["status"] == "FFFFFBFF"


def test_v1_knots_to_kmh() -> None:
    (pos,) = feed_three_ways(session, V1_MOVING)
    assert isinstance(pos, Position)
    assert pos.speed_kmh == pytest.approx(18.52)
    assert pos.course_deg == 180.0


def test_v1_south_west_invalid() -> None:
    (pos,) = feed_three_ways(session, V1_SOUTH_WEST)
    assert isinstance(pos, Position)
    assert pos.lat == pytest.approx(-(33 + 52.1234 / 60))
    assert pos.lon == pytest.approx(-(151 + 12.5 / 60))
    assert pos.valid is False
    assert pos.fix_time == datetime(2024, 12, 31, 1, 2, 3, tzinfo=UTC)


def test_heartbeat_is_echoed() -> None:
    beat, reply = feed_three_ways(session, HTBT)
    assert beat == Heartbeat(
        device_key="135790246811220", protocol="h02", attributes={"battery_pct": 100}
    )
    assert reply == Reply(data=HTBT, acks_data=False)


def test_v3_lbs() -> None:
    (info,) = feed_three_ways(session, V3)
    assert isinstance(info, DeviceInfo)
    assert info.kind == "cell"
    assert str(info.attributes["data"]).startswith("000201,46000,07,009350,004022")


def test_iccid_and_v4() -> None:
    (info,) = feed_three_ways(session, ICCID)
    assert isinstance(info, DeviceInfo)
    assert info.attributes["iccid"] == "89860121801609042193"
    (reply,) = feed_three_ways(session, V4_RESET)
    assert isinstance(reply, DeviceInfo)
    assert reply.kind == "command_reply"
    assert reply.attributes["text"] == "RESET OK"


def test_unsupported_type() -> None:
    (rejected,) = feed_three_ways(session, V5)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)


def test_binary_v1_values() -> None:
    (pos,) = feed_three_ways(session, BIN_V1)
    assert isinstance(pos, Position)
    assert pos.device_key == "8652050303"
    assert pos.fix_time == datetime(2015, 8, 10, 14, 54, 52, tzinfo=UTC)
    assert pos.lat == pytest.approx(22 + 40.5518 / 60)
    assert pos.lon == pytest.approx(113 + 58.3238 / 60)
    assert pos.valid is True
    assert pos.speed_kmh == 0.0


def test_binary_south_west() -> None:
    (pos,) = feed_three_ways(session, BIN_SW)
    assert isinstance(pos, Position)
    assert pos.lat == pytest.approx(-(33 + 52.1234 / 60))
    assert pos.lon == pytest.approx(-(151 + 12.5 / 60))
    assert pos.speed_kmh == pytest.approx(12 * 1.852)
    assert pos.course_deg == 270.0


def test_bad_fields_are_malformed() -> None:
    (rejected,) = feed_three_ways(session, V1.replace(b"2240.55181", b"22x0.5518"))
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    (rejected,) = feed_three_ways(session, V1.replace(b"100815", b"321399"))
    assert isinstance(rejected, Rejected)


def test_framer_skips_garbage_and_bounds_text() -> None:
    framer = H02Framer()
    assert framer.feed(b"\r\nxx" + HTBT + b"*HQ") == [HTBT]
    assert framer.skipped == 4
    assert framer.buffered == 3
    s = session()
    (rejected,) = s.receive(b"*" + b"A" * 2000)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, FrameTooLarge)
    assert s.failed
