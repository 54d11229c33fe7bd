"""H02 decoder tests.

Source of the text samples: "G20LS Protocol Document (2023 CANTRACK PROTOCOL)" —
§1.2.2 / §2.1 (V1 example), §2.2 (V3 example), §2.4 (HTBT example and server response),
§2.5 (ICCID example), §3.2 (V4 "reset" command reply). Further REAL samples are device
output users pasted in public threads (named beside each constant). ``BIN_V1``,
``BIN_SW``, ``V1_MOVING`` and ``V1_SOUTH_WEST`` are BUILT from documented field layouts,
and say so; ``BIN_REAL`` is a captured binary frame.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols.base import Session
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
#: REAL capture, traccar/traccar issue #438 (H06 device, Brazil): V1 in the southern and
#: western hemispheres, 2013-10-29 19:35:05, 8°09.0010' S, 34°54.8997' W, hex LBS fields
#: (MCC 0x2d4 = 724) after the status
V1_SOUTH_WEST_REAL = bytes.fromhex(
    "2a48512c3335333538383036303031353536382c56312c3139333530352c412c3830392e303031302c532c"
    "333435342e383939372c572c302e30302c302e30302c3239313031332c65666666666266662c3030303264"
    "342c3030303030622c3030353338352c3030353261612c323523"
)
#: REAL capture, traccar/traccar issue #4065 (G05 tracker, Brazil): 5-decimal minutes,
#: S and W, 2018-09-25 00:03:06, followed by CR LF
V1_G05_REAL = bytes.fromhex(
    "2a48512c3836353230353033313037313234332c56312c3030303330362c412c323032372e3330343031"
    "2c532c30343233392e39383336362c572c302e30302c302c3235303931382c4646464646424646230d0a"
)
#: REAL capture, traccar/traccar issue #2035: V1 without a fix and with empty time and
#: date fields (no position can be built), as logged in hex
V1_NO_TIME_REAL = bytes.fromhex(
    "2a48512c3335333530353232303837333036372c56312c2c562c343630352e37353733322c4e2c303134"
    "33302e37333836332c452c302e30302c302c2c46464646464645462c3132352c3139342c202036342c643323200d0a"
)
#: REAL capture, traccar/traccar issue #3076: lower-case maker ``hq``, V1 without a fix
#: (V, 0/0 coordinates) and decimal LBS fields
V1_LOWER_REAL = (
    b"*hq,353506112457668,V1,031000,V,0000.0000,N,00000.0000,E,000.00,0,160115,FFFFFFFF,"
    b"100,3,214,003,2120,450,0,2126,573,38,2120,7070,37#"
)
#: REAL capture, traccar/traccar issue #1390: LINK status report (rssi 70, 0 satellites,
#: battery 94 %, steps 0, turnovers 0)
LINK_REAL = b"*HQ,1505004264,LINK,045017,70,0,94,0,0,020915,FFFFFFFF#"
#: REAL capture, traccar/traccar issue #1173 (RF-V8S; the user reads 86 as battery %)
LINK_RF_V8S_REAL = b"*HQ,7310028651,LINK,073351,100,0,86,0,0,020815,FFFFFFFF#"
#: REAL capture, traccar/traccar issue #1390: NBR neighbour cells, MCC 732 (Colombia),
#: MNC 103, 4 cells of (lac, cid, rssi)
NBR_REAL = (
    b"*HQ,1505004264,NBR,043042,732,103,255,4,51511,20350,135,51509,10375,132,51303,20414,"
    b"129,51511,20166,128,020915,FFFFFFFF#"
)
#: REAL capture, traccar.org forum topic "Parsing Issue H02 protocol"
#: (https://www.traccar.org/forums/topic/parsing-issue-h02-protocol/), 2020-10-14 07:52:39
#: log line: a 37-byte binary frame (id 0000000000, 07:52:34 14-10-20, 52°24.7349' N,
#: 12°33.2841' E, flags e, 2 knots, course 118, status ffff7bff, 8 tail bytes)
BIN_REAL = bytes.fromhex(
    "2400000000000752341410205224734946012332841e002118ffff7bff0b00070000001799"
)
#: REAL capture, same forum post, 07:52:45: the device's V4 reply to the server's
#: ``D1,075244,60,1`` command, carrying a position 8 s after ``BIN_REAL`` (52°24.7385' N,
#: 12°33.2876' E) and LBS (MCC 262 = Germany)
V4_D1_REAL = (
    b"*HQ,0000000000,V4,D1,60,65535,075244,075242,A,5224.7385,N,01233.2876,E,000.00,307,"
    b"141020,FFFF7BFF,262,01,14082,51348#"
)
#: BUILT binary form of the §2.1 V1 values, device id 8652050303 (10 digits), flags E,N,valid
BIN_V1 = bytes.fromhex("2486520503031454521008152240551864113583238e000000fffffbffff0001")
#: BUILT binary southern/western variant: flags nibble 2 (valid only), 12 knots, course 270
BIN_SW = bytes.fromhex("24123456789001020331122433521234501511250002012270fffffbffff0002")


def session() -> Session:
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


def test_real_v1_south_west() -> None:
    (pos,) = feed_three_ways(session, V1_SOUTH_WEST_REAL)
    assert isinstance(pos, Position)
    assert pos.device_key == "353588060015568"
    assert pos.fix_time == datetime(2013, 10, 29, 19, 35, 5, tzinfo=UTC)
    assert pos.lat == pytest.approx(-(8 + 9.0010 / 60))
    assert pos.lon == pytest.approx(-(34 + 54.8997 / 60))
    assert pos.valid is True
    assert (pos.speed_kmh, pos.course_deg) == (0.0, 0.0)
    assert pos.attributes["status"] == "effffbff"


def test_real_v1_five_decimals_and_crlf() -> None:
    (pos,) = feed_three_ways(session, V1_G05_REAL)
    assert isinstance(pos, Position)
    assert pos.device_key == "865205031071243"
    assert pos.fix_time == datetime(2018, 9, 25, 0, 3, 6, tzinfo=UTC)
    assert pos.lat == pytest.approx(-(20 + 27.30401 / 60))
    assert pos.lon == pytest.approx(-(42 + 39.98366 / 60))
    assert pos.attributes["status"] == "FFFFFBFF"
    framer = H02Framer()
    assert framer.feed(V1_G05_REAL) == [V1_G05_REAL[:-2]]
    assert framer.skipped == 2


def test_real_v1_without_time_is_malformed_not_fatal() -> None:
    (rejected,) = feed_three_ways(session, V1_NO_TIME_REAL)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert rejected.fatal is False
    s = session()
    s.receive(V1_NO_TIME_REAL)
    assert not s.failed
    (pos,) = s.receive(V1)
    assert isinstance(pos, Position)


def test_real_v1_lower_case_maker_no_fix() -> None:
    (pos,) = feed_three_ways(session, V1_LOWER_REAL)
    assert isinstance(pos, Position)
    assert pos.device_key == "353506112457668"
    assert pos.fix_time == datetime(2015, 1, 16, 3, 10, 0, tzinfo=UTC)
    assert (pos.lat, pos.lon, pos.valid) == (0.0, 0.0, False)
    assert pos.attributes["status"] == "FFFFFFFF"


def test_real_link() -> None:
    (beat,) = feed_three_ways(session, LINK_REAL)
    assert beat == Heartbeat(
        device_key="1505004264",
        protocol="h02",
        attributes={
            "rssi": 70,
            "satellites": 0,
            "battery_pct": 94,
            "steps": 0,
            "turnovers": 0,
            "status": "FFFFFFFF",
        },
    )
    (beat,) = feed_three_ways(session, LINK_RF_V8S_REAL)
    assert isinstance(beat, Heartbeat)
    assert beat.device_key == "7310028651"
    assert beat.attributes["battery_pct"] == 86


def test_real_nbr() -> None:
    (info,) = feed_three_ways(session, NBR_REAL)
    assert isinstance(info, DeviceInfo)
    assert info.device_key == "1505004264"
    assert info.kind == "cell"
    assert info.attributes["type"] == "NBR"
    assert (info.attributes["mcc"], info.attributes["mnc"]) == (732, 103)
    assert info.attributes["cell_count"] == 4
    assert str(info.attributes["data"]).startswith("043042,732,103,255,4,51511,20350,135,")


def test_real_binary_37_bytes() -> None:
    (pos,) = feed_three_ways(session, BIN_REAL)
    assert isinstance(pos, Position)
    assert pos.device_key == "0000000000"
    assert pos.fix_time == datetime(2020, 10, 14, 7, 52, 34, tzinfo=UTC)
    assert pos.lat == pytest.approx(52 + 24.7349 / 60)
    assert pos.lon == pytest.approx(12 + 33.2841 / 60)
    assert pos.valid is True
    assert pos.speed_kmh == pytest.approx(2 * 1.852)
    assert pos.course_deg == 118.0
    assert pos.attributes["status"] == "FFFF7BFF"
    assert pos.attributes["battery"] == 0x46
    # the 5 bytes past 32 are the frame's tail, not garbage
    framer = H02Framer()
    assert framer.feed(BIN_REAL * 3) == [BIN_REAL[:32]] * 3
    assert framer.skipped == 0
    assert framer.buffered == 0


def test_binary_tail_bytes_do_not_start_false_frames() -> None:
    # BIN_REAL with its last tail bytes replaced by '$' and '*' (the values that open frames)
    tail_like_starts = BIN_REAL[:-2] + b"$*"
    framer = H02Framer()
    assert framer.feed(tail_like_starts + V4_D1_REAL + BIN_REAL) == [
        BIN_REAL[:32],
        V4_D1_REAL,
        BIN_REAL[:32],
    ]
    assert framer.skipped == 0


def test_real_v4_reply_with_position() -> None:
    reply, pos = feed_three_ways(session, V4_D1_REAL)
    assert isinstance(reply, DeviceInfo)
    assert reply.kind == "command_reply"
    assert reply.attributes["command"] == "D1,60"
    assert isinstance(pos, Position)
    assert pos.device_key == "0000000000"
    assert pos.fix_time == datetime(2020, 10, 14, 7, 52, 42, tzinfo=UTC)
    assert pos.lat == pytest.approx(52 + 24.7385 / 60)
    assert pos.lon == pytest.approx(12 + 33.2876 / 60)
    assert pos.valid is True
    assert (pos.speed_kmh, pos.course_deg) == (0.0, 307.0)
    assert pos.attributes == {"type": "V4", "status": "FFFF7BFF"}
    # the binary frame, then the reply, in one stream
    messages = session().receive(BIN_REAL + V4_D1_REAL)
    assert [type(m).__name__ for m in messages] == ["Position", "DeviceInfo", "Position"]
