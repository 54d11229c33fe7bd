"""GT06 packets captured from devices in the field and posted publicly, with the server
replies shown in the same logs (issue threads named beside each sample).

  [T5734]  github.com/traccar/traccar/issues/5734 (2025-12-26): a GT06 0x12 location with
           the reporter's own field-by-field breakdown.
  [T5361]  github.com/traccar/traccar/issues/5361: a session log of a GT06 device (login,
           heartbeat, locations) with the server's replies.
  [T1566]  github.com/traccar/traccar/issues/1566 (2015-12-02): a GT02A/GT06 session log
           (login, heartbeat, location).
  [T4036]  github.com/traccar/traccar/issues/4036 (2018-09-04): a 0x12 location of 40 bytes,
           four bytes longer than the document's ("4 bits extra", the reporter wrote).
  [E45]    github.com/eusonlito/GPS-Tracker/issues/45 (2024-02-28): a Concox GT08 in Iran,
           each packet with the server's receive time: login, heartbeat, 0x22 locations
           without the mileage field.
  [T1039]  github.com/traccar/traccar/issues/1039 (2015-01-22): after login and heartbeat a
           GT06 sent a 0x8B packet, a number no document at hand defines.
Only the bytes are taken (facts of what the devices sent); every expected value is read off
the packet layout of "GPS Tracker Communication Protocol (GT06)" v1.8.1.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_x25
from protocols.errors import UnsupportedMessage
from protocols.gt06 import SPEC, encode_reply
from protocols.model import Heartbeat, Login, Position, Rejected, Reply
from tests.unit.protocols.helpers import feed_three_ways

H = bytes.fromhex
#: [T5734] 0x12: 25/12/26 04:57:45, 5 satellites, N 25.1165155555556, E 75.86009, 33 km/h,
#: course 353, MCC 404, MNC 70, LAC 927, cell 15152, serial 0x068A
LOCATION_5734 = H("78781f12190c1a04392dc502b1d88008238f42215561019446039f003b30068a5ffd0d0a")
#: [T5361] login of IMEI 860470067873061 (serial 0x05D4) and the server's reply in the log
LOGIN_5361 = H("78780d01086047006787306105d4e2970d0a")
LOGIN_REPLY_5361 = H("7878050105d426440d0a")
#: [T5361] heartbeat (info 0x42, voltage level 0x92 — beyond the documented 0-6, kept raw —,
#: GSM 5, alarm/language 0x0002, serial 0x05CC)
#: and the server's reply in the log
HEARTBEAT_5361 = H("78780a13429205000205ccdab20d0a")
HEARTBEAT_REPLY_5361 = H("7878051305cc8aa00d0a")
#: [T5361] 0x12 location, 2024-08-13 10:00:34, MCC 232 (Austria), serial 0x05CD
LOCATION_5361 = H("78781f1218080d0a0022c8052d11000186f1d00034e900e80527f7024e0a05cd79ff0d0a")
#: [T1566] login of IMEI 358911020176596 (serial 0x0041), heartbeat (serial 0x0042),
#: 0x12 location 2015-12-02 18:46:38 (serial 0x0043)
LOGIN_1566 = H("78780d0103589110201765960041f35a0d0a")
HEARTBEAT_1566 = H("78780a1344060400020042cd4b0d0a")
LOCATION_1566 = H("78781f120f0c02122e26c701faec0a07eba7b9001444019400276e0016450043fb990d0a")
#: [T4036] 0x12 with four zero bytes after the LBS block: 2018-09-04 13:35:47, 6 satellites,
#: no fix, MCC 404, MNC 13, LAC 0x27DD, cell 0x00624C, serial 0x0005
LOCATION_LONG_4036 = H(
    "787823121209040d232fc601e690ea08f08f6200440001940d27dd00624c000000000005d6a80d0a"
)
#: [T1039] the 0x8B packet (serial 0x000A), the device's third after login and heartbeat
UNKNOWN_8B_1039 = H("78780d8b01945a0c21007beb000a2f140d0a")
#: [E45] login of IMEI 351742101981019, type 0x2203, time zone 0x3201 (GMT+8), serial 0x55
LOGIN_E45 = H("787811010351742101981019220332010055d1c00d0a")
#: [E45] heartbeat: info 0x46 (ACC, charging, GPS fixed), level 6, GSM 4, serial 0x56
HEARTBEAT_E45 = H("78780a1346060400020056ac550d0a")
#: [E45] 0x22 received 07:22:30: fix 2024-02-28 07:22:30, 9 satellites, 39 km/h, 243 deg,
#: MCC 432, MNC 35, LAC 0x7F85, cell 0x00A60F, ACC 1, upload mode 0, re-upload 0
LOCATION_E45 = H("7878222218021c07161ec9032bee6805a3a86827d4f301b0237f8500a60f01000000528c4a0d0a")
#: [E45] 0x22 received 07:24:02: fix 07:24:01, 10 satellites, 16 km/h, upload mode 2
LOCATION_E45_LATER = H(
    "7878222218021c071801ca032be10805a34df810d47f01b0237f85007c06010200005ede160d0a"
)

CAPTURED = (
    LOGIN_E45,
    HEARTBEAT_E45,
    LOCATION_E45,
    LOCATION_E45_LATER,
    LOCATION_5734,
    LOCATION_LONG_4036,
    UNKNOWN_8B_1039,
    LOGIN_5361,
    LOGIN_REPLY_5361,
    HEARTBEAT_5361,
    HEARTBEAT_REPLY_5361,
    LOCATION_5361,
    LOGIN_1566,
    HEARTBEAT_1566,
    LOCATION_1566,
)


def session(device: str | None = None):  # type: ignore[no-untyped-def]
    return SPEC.new_session("tcp", device)


def test_captured_crcs() -> None:
    for frame in CAPTURED:
        assert crc16_x25(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big"), frame.hex()


def test_location_with_the_reporters_breakdown() -> None:
    (pos,) = feed_three_ways(lambda: session("123456789012345"), LOCATION_5734)
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2025, 12, 26, 4, 57, 45, tzinfo=UTC)
    assert pos.lat == pytest.approx(25.1165155555556)
    assert pos.lon == pytest.approx(75.86009)
    assert (pos.speed_kmh, pos.course_deg, pos.satellites, pos.valid) == (33.0, 353.0, 5, True)
    a = pos.attributes
    assert (a["mcc"], a["mnc"], a["lac"], a["cell_id"]) == (404, 70, 927, 15152)


def test_session_5361_login_heartbeat_location_and_replies() -> None:
    login, reply = feed_three_ways(session, LOGIN_5361)
    assert login == Login(device_key="860470067873061", protocol="gt06")
    assert reply == Reply(data=LOGIN_REPLY_5361, acks_data=False)
    beat, reply = feed_three_ways(session, HEARTBEAT_5361, prelude=[LOGIN_5361])
    assert isinstance(beat, Heartbeat)
    assert beat.attributes["charging"] is False
    assert beat.attributes["ignition"] is True
    assert beat.attributes["gps_fixed"] is True
    assert (beat.attributes["battery_level"], beat.attributes["gsm_signal"]) == (0x92, 5)
    assert reply == Reply(data=HEARTBEAT_REPLY_5361, acks_data=False)
    (pos,) = feed_three_ways(session, LOCATION_5361, prelude=[LOGIN_5361])
    assert isinstance(pos, Position)
    assert pos.device_key == "860470067873061"
    assert pos.fix_time == datetime(2024, 8, 13, 10, 0, 34, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x052D1100 / 1_800_000)  # 48.3 N
    assert pos.lon == pytest.approx(0x0186F1D0 / 1_800_000)  # 14.2 E
    assert (pos.speed_kmh, pos.course_deg, pos.satellites) == (0.0, 0x0E9, 8)
    assert pos.attributes["differential"] is True
    assert (pos.attributes["mcc"], pos.attributes["mnc"]) == (232, 5)
    assert (pos.attributes["lac"], pos.attributes["cell_id"]) == (0x27F7, 0x024E0A)


def test_session_1566() -> None:
    login, reply = feed_three_ways(session, LOGIN_1566)
    assert login == Login(device_key="358911020176596", protocol="gt06")
    assert reply == Reply(data=encode_reply(0x01, 0x0041), acks_data=False)
    beat, reply = feed_three_ways(session, HEARTBEAT_1566, prelude=[LOGIN_1566])
    assert isinstance(beat, Heartbeat)
    assert beat.attributes["gps_fixed"] is True
    assert beat.attributes["charging"] is True
    assert (beat.attributes["battery_level"], beat.attributes["gsm_signal"]) == (6, 4)
    assert beat.attributes["alarm_language"] == 0x0002
    assert reply == Reply(data=encode_reply(0x13, 0x0042), acks_data=False)
    (pos,) = feed_three_ways(session, LOCATION_1566, prelude=[LOGIN_1566])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2015, 12, 2, 18, 46, 38, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x01FAEC0A / 1_800_000)  # 18.5 N (Pune)
    assert pos.lon == pytest.approx(0x07EBA7B9 / 1_800_000)  # 73.8 E
    assert (pos.speed_kmh, pos.course_deg, pos.satellites, pos.valid) == (0.0, 68.0, 7, True)
    assert (pos.attributes["mcc"], pos.attributes["lac"]) == (404, 0x276E)


def test_location_with_bytes_past_the_documented_layout() -> None:
    """[T4036]: what follows the LBS block is not read; the fix is the document's fields."""
    (pos,) = feed_three_ways(lambda: session("123456789012345"), LOCATION_LONG_4036)
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2018, 9, 4, 13, 35, 47, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x01E690EA / 1_800_000)  # 17.7 N (Visakhapatnam)
    assert pos.lon == pytest.approx(0x08F08F62 / 1_800_000)  # 83.3 E
    # course/status 0x4400: north, no fix (bit 12 clear), course 0
    assert (pos.valid, pos.speed_kmh, pos.course_deg, pos.satellites) == (False, 0.0, 0.0, 6)
    a = pos.attributes
    assert (a["mcc"], a["mnc"], a["lac"], a["cell_id"]) == (404, 13, 0x27DD, 0x00624C)


def test_an_undocumented_packet_is_counted_and_the_session_goes_on() -> None:
    """[T1039]: 0x8B is refused as ``UnsupportedMessage`` (not fatal, no reply), and the
    location after it on the same connection is decoded."""
    s = session("123456789012345")
    (rejected,) = s.receive(UNKNOWN_8B_1039)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert not rejected.error.fatal
    assert "0x8b" in str(rejected.error)
    assert not s.failed
    (pos,) = s.receive(LOCATION_5734)
    assert isinstance(pos, Position)
    assert pos.speed_kmh == 33.0


def test_session_e45_the_fix_times_match_the_servers_receive_times() -> None:
    """[E45]: the device's UTC fix times are those the server logged the packets at (to the
    second, and one second before), so the time zone of the login is not applied to them."""
    login, reply = feed_three_ways(session, LOGIN_E45)
    assert isinstance(login, Login)
    assert login.device_key == "351742101981019"
    assert dict(login.attributes) == {"type_id": "2203", "timezone_min": 480}
    assert reply == Reply(data=encode_reply(0x01, 0x0055), acks_data=False)
    beat, reply = feed_three_ways(session, HEARTBEAT_E45, prelude=[LOGIN_E45])
    assert isinstance(beat, Heartbeat)
    assert beat.attributes["ignition"] is True
    assert beat.attributes["gps_fixed"] is True
    assert reply == Reply(data=encode_reply(0x13, 0x0056), acks_data=False)
    (first,) = feed_three_ways(session, LOCATION_E45, prelude=[LOGIN_E45])
    (later,) = feed_three_ways(session, LOCATION_E45_LATER, prelude=[LOGIN_E45])
    assert isinstance(first, Position)
    assert isinstance(later, Position)
    assert first.fix_time == datetime(2024, 2, 28, 7, 22, 30, tzinfo=UTC)
    assert later.fix_time == datetime(2024, 2, 28, 7, 24, 1, tzinfo=UTC)
    assert first.lat == pytest.approx(0x032BEE68 / 1_800_000)  # 29.56 N (Shiraz)
    assert first.lon == pytest.approx(0x05A3A868 / 1_800_000)  # 52.56 E
    assert (first.valid, first.speed_kmh, first.course_deg, first.satellites) == (
        True,
        39.0,
        243.0,
        9,
    )
    assert dict(first.attributes) == {
        "mcc": 432,
        "mnc": 35,
        "lac": 0x7F85,
        "cell_id": 0x00A60F,
        "ignition": True,
        "upload_mode": 0,
        "reupload": False,
    }
    assert (later.speed_kmh, later.course_deg, later.satellites) == (16.0, 127.0, 10)
    assert later.attributes["upload_mode"] == 2
