"""GT06 family, the older GT03 packets and the 4G / information additions: LBS (0x11), LBS
address request (0x17 / 0xA7), LBS extension (0x18), GPS address request (0x1A), WiFi over 4G
(0xA2), LBS alarm over 4G (0xA5), 0x94 satellites and real 0x94 / 0x10 captures.

Captured samples (the bytes are facts of what devices sent; every expected value is read off
the documents' layouts, not off another decoder):
  [T554]   github.com/traccar/traccar/issues/554 (2014-02-10): a GT06 session log (Bolivia,
           MCC 736) with an 0x11 LBS packet, an 0x17 LBS + phone packet and 0x18 packets.
  [T608]   github.com/traccar/traccar/issues/608 (2014-03-17): 0x18 LBS extension packets of
           a device with no clock yet (zero date-time).
  [T2690]  github.com/traccar/traccar/issues/2690 (2016-12-15): 0x18 LBS extension packets
           (India, MCC 405) with a date.
  [T3295]  github.com/traccar/traccar/issues/3295 (2017-06-26): an 0x94 type 0x0A packet.
  [E113]   github.com/eusonlito/GPS-Tracker/issues/113 (2025-03-22): a Concox C5 session
           log with 0x94 type 0x00 external-voltage packets.
  [INT]    github.com/Intugine-Technologies/concox, tcp/testdata.json: 0x10 packets logged
           from an "A80" device (India, 2019-06-21).
Layouts: "GT03A/B Communication protocol" V1.82 (Concox) §5.3 (0x11), §5.6 (0x17), §5.7
(0x18), §5.9 (0x1A), as the captures show their fields; "GPS Tracker Communication Protocol
JM-VL03" V1.1.2 §6 (phone number + language), §9 (0x94 types), §10-§11 (the 4G cell fields);
the JM-LL301 v1.0 contents (0xA2, 0xA5, 0xA7: the 2G packet with 4G cells). Frames marked
BUILT are encoded here from those layouts (CRC computed, not captured).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_x25
from protocols._common import CLOCK_KEY
from protocols.base import Session
from protocols.errors import Malformed, UnsupportedMessage
from protocols.gt06 import SPEC, encode_frame, encode_reply
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Position, Rejected, Reply
from tests.unit.protocols.helpers import feed_three_ways
from tests.unit.protocols.test_gt06 import LOGIN_VL03

H = bytes.fromhex
#: [T554] 0x11: zero date-time, MCC 736, MNC 3, LAC 0x433A, cell 0x002FED, then 00 02
LBS_11 = H("7878151100000000000002e003433a002fed0002000372710d0a")
#: [T554] 0x17: the same cell, phone "75260701" (NUL padded to 21), language 2, serial 6
LBS_PHONE_17 = H(
    "7878241702e003433a002fed37353236303730310000000000000000000000000000020006876e0d0a"
)
#: [T2690] 0x18: 2016-12-15 18:01:01, MCC 405, MNC 39, cell 0x1784/0x005AB6 RSSI 0x36, six
#: neighbours, TA 0xFF, language 2, serial 0x0122; the log's server reply followed it
LBS_EXTEND_18 = H(
    "78783b18100c0f1201010195271784005ab63617840002fa47178400ff8f4817840019f3491784005ab54b"
    "178400ff8e4c17840019f24cff0002012287c80d0a"
)
#: [T608] 0x18 with a zero date-time, four neighbours used, serial 0x011C
LBS_EXTEND_18_NO_DATE = H(
    "78783b1800000000000002e003433a002fed40433a0056104b433a0056e15043320056cd54433a002eed55"
    "0000000000ff0000000000ffff0002011ccfa20d0a"
)
#: [E113] 0x94 type 0x00: external battery 0x04F2 = 12.66 V, serial 0x04A6
INFO_VOLTAGE_E113 = H("79790008940004f204a6e61d0d0a")
#: [T3295] 0x94 type 0x0A: IMEI, IMSI, ICCID (BCD), serial 0x002E
INFO_ICCID_T3295 = H("79790020940a08681201562093520460041215703040898607b20917005430400002e0a70d0a")
#: [INT] 0x10 GPS: 2019-06-21 08:33:17, 10 satellites, 18 km/h, course 0x97, then 00 02
GPS_10_INT = H("78781910130615082111ca030b144008454aa01214970002056aec380d0a")

CAPTURED = (
    LBS_11,
    LBS_PHONE_17,
    LBS_EXTEND_18,
    LBS_EXTEND_18_NO_DATE,
    INFO_VOLTAGE_E113,
    INFO_ICCID_T3295,
    GPS_10_INT,
)

CLOCK = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
#: BUILT from [GT03] §5.9 (= the [VL03] §6 0x2A layout): the [VL03] §6 GPS block, phone
#: "+8613800138000", language 2, serial 0x0021
GPS_PHONE_1A = encode_frame(
    0x1A,
    H("0F0C1D071139CA027AC8000C4658000014D8") + b"+8613800138000".ljust(21, b"\x00") + H("0002"),
    0x0021,
)
#: a 4G serving cell ([VL03] §10): MCC 0x81CC (bit 15: 2-byte MNC) -> 460, MNC 0x0001,
#: LAC 0x00001234, cell 0x000000000AB3C4D5
CELL_4G = H("81CC000100001234000000000AB3C4D5")
#: BUILT from [LL301] §11 (0x2C with 4G cells): 2024-05-01 10:20:30, cell as CELL_4G,
#: RSSI 0x40, one 4G neighbour (LAC 0x1235, cell 0x0AB3C4D6, RSSI 0x30), TA 1, two APs
WIFI_A2 = encode_frame(
    0xA2,
    H("18050110141E")
    + CELL_4G
    + H("40")
    + H("00001235000000000AB3C4D630")
    + bytes(13 * 5)
    + H("01")
    + H("02")
    + H("A0B1C2D3E4F5B4")
    + H("001122334455C8"),
    0x0022,
    long=True,
)
#: BUILT from [LL301] §18 (0x19 with a 4G cell): info 0x46 (GPS fixed, charging, ACC on),
#: voltage level 5, GSM 4, alarm 0x02 (power cut), language 2, serial 0x0023
LBS_ALARM_A5 = encode_frame(0xA5, CELL_4G + H("4605040202"), 0x0023)
#: the same with alarm code 0x00 and no alarm bits: a status report, not an alarm (BUILT)
LBS_STATUS_A5 = encode_frame(0xA5, CELL_4G + H("4005040002"), 0x0024)
#: BUILT from [LL301] §16 (0x17 with a 4G cell): phone "13800138000", language 1
LBS_PHONE_A7 = encode_frame(0xA7, CELL_4G + b"13800138000".ljust(21, b"\x00") + H("0001"), 0x0025)
#: BUILT from [VL03] §9 type 0x09: GPS 3D fix, 3 in fix (strengths 40, 38, 35), 2 visible
#: (20, 18); BDS searching, 0 in fix, 1 visible (25); extension length 0
INFO_SATELLITES = encode_frame(
    0x94,
    H("09") + H("0303282623021412") + H("01000119") + H("00"),
    0x0026,
    long=True,
)


def session() -> Session:
    s = SPEC.new_session("tcp", None)
    s.state.values[CLOCK_KEY] = lambda: CLOCK
    return s


def test_captured_crcs() -> None:
    for frame in CAPTURED:
        assert crc16_x25(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big"), frame.hex()


def test_lbs_11_without_a_clock_has_no_time_and_no_reply() -> None:
    (info,) = feed_three_ways(session, LBS_11, prelude=[LOGIN_VL03])
    assert info == DeviceInfo(
        device_key="752533678900242",
        protocol="gt06",
        kind="lbs",
        time=None,
        attributes={"mcc": 736, "mnc": 3, "lac": 0x433A, "cell_id": 0x2FED},
    )


def test_lbs_address_request_17_keeps_the_cell_and_phone() -> None:
    (info,) = feed_three_ways(session, LBS_PHONE_17, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "lbs"
    assert dict(info.attributes) == {
        "mcc": 736,
        "mnc": 3,
        "lac": 0x433A,
        "cell_id": 0x2FED,
        "phone": "75260701",
        "language": 2,
        "address_request": True,
    }


def test_lbs_extension_18_is_the_multi_base_layout() -> None:
    (info,) = feed_three_ways(session, LBS_EXTEND_18, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "lbs"
    assert info.time == datetime(2016, 12, 15, 18, 1, 1, tzinfo=UTC)
    assert dict(info.attributes) == {
        "mcc": 405,
        "mnc": 39,
        "lac": 0x1784,
        "cell_id": 0x005AB6,
        "rssi": 0x36,
        "neighbours": (
            "6020:762:71;6020:65423:72;6020:6643:73;6020:23221:75;6020:65422:76;6020:6642:76"
        ),
        "timing_advance": 0xFF,
        "language": 2,
    }


def test_lbs_extension_18_zero_date_and_empty_slots() -> None:
    (info,) = feed_three_ways(session, LBS_EXTEND_18_NO_DATE, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.time is None
    assert info.attributes["rssi"] == 0x40
    assert info.attributes["neighbours"] == (
        "17210:22032:75;17210:22241:80;17202:22221:84;17210:12013:85"
    )


def test_a_half_zero_date_is_still_malformed() -> None:
    bad = encode_frame(0x18, H("000000000001") + LBS_EXTEND_18[10:-6], 0x0001)
    (rejected,) = feed_three_ways(session, bad, prelude=[LOGIN_VL03])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert not rejected.fatal


def test_real_info_94_voltage_and_iccid() -> None:
    (volts,) = feed_three_ways(session, INFO_VOLTAGE_E113, prelude=[LOGIN_VL03])
    assert isinstance(volts, DeviceInfo)
    assert dict(volts.attributes) == {"info_type": 0, "external_voltage_v": pytest.approx(12.66)}
    (iccid,) = feed_three_ways(session, INFO_ICCID_T3295, prelude=[LOGIN_VL03])
    assert isinstance(iccid, DeviceInfo)
    assert dict(iccid.attributes) == {
        "info_type": 0x0A,
        "imei": "0868120156209352",
        "imsi": "0460041215703040",
        "iccid": "898607b2091700543040",
    }


def test_real_gps_10_with_trailing_bytes() -> None:
    (pos,) = feed_three_ways(session, GPS_10_INT, prelude=[LOGIN_VL03])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2019, 6, 21, 8, 33, 17, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x030B1440 / 1_800_000)  # 28.365 N (Gurgaon)
    assert pos.lon == pytest.approx(0x08454AA0 / 1_800_000)  # 77.088 E
    assert (pos.valid, pos.satellites, pos.speed_kmh, pos.course_deg) == (True, 10, 18.0, 151.0)
    assert dict(pos.attributes) == {}


def test_gps_address_request_1a() -> None:
    (pos,) = feed_three_ways(session, GPS_PHONE_1A, prelude=[LOGIN_VL03])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2015, 12, 29, 7, 17, 57, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x027AC800 / 1_800_000)
    assert dict(pos.attributes) == {
        "phone": "+8613800138000",
        "language": 2,
        "address_request": True,
    }


def test_wifi_4g_a2_long_start() -> None:
    (info,) = feed_three_ways(session, WIFI_A2, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "wifi"
    assert info.time == datetime(2024, 5, 1, 16, 20, 30, tzinfo=UTC)
    assert dict(info.attributes) == {
        "mcc": 460,
        "mnc": 1,
        "lac": 0x1234,
        "cell_id": 0x0AB3C4D5,
        "rssi": 0x40,
        "neighbours": f"{0x1235}:{0x0AB3C4D6}:{0x30}",
        "timing_advance": 1,
        "wifi_count": 2,
        "wifi": "a0:b1:c2:d3:e4:f5,180;00:11:22:33:44:55,200",
    }


def test_lbs_alarm_4g_a5_event_and_held_reply() -> None:
    event, reply = feed_three_ways(session, LBS_ALARM_A5, prelude=[LOGIN_VL03])
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.time, event.position) == ("power_cut", CLOCK, None)
    a = event.attributes
    assert (a["mcc"], a["mnc"], a["lac"], a["cell_id"]) == (460, 1, 0x1234, 0x0AB3C4D5)
    assert (a["ignition"], a["charging"], a["gps_fixed"]) == (True, True, True)
    assert (a["battery_level"], a["gsm_signal"], a["alarm_code"]) == (5, 4, 2)
    assert reply == Reply(data=encode_reply(0xA5, 0x0023), acks_data=True)
    crc = crc16_x25(H("05a50023")).to_bytes(2, "big")
    assert reply.data == H("787805a50023") + crc + H("0d0a")
    beat, reply = feed_three_ways(session, LBS_STATUS_A5, prelude=[LOGIN_VL03])
    assert isinstance(beat, Heartbeat)
    assert beat.attributes["cell_id"] == 0x0AB3C4D5
    assert reply == Reply(data=encode_reply(0xA5, 0x0024), acks_data=True)


def test_lbs_address_request_4g_a7() -> None:
    (info,) = feed_three_ways(session, LBS_PHONE_A7, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert dict(info.attributes) == {
        "mcc": 460,
        "mnc": 1,
        "lac": 0x1234,
        "cell_id": 0x0AB3C4D5,
        "phone": "13800138000",
        "language": 1,
        "address_request": True,
    }


def test_info_94_satellites() -> None:
    (info,) = feed_three_ways(session, INFO_SATELLITES, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert dict(info.attributes) == {
        "info_type": 9,
        "gps_status": 3,
        "gps_in_fix": 3,
        "gps_in_fix_strengths": "40,38,35",
        "gps_visible": 2,
        "gps_visible_strengths": "20,18",
        "bds_status": 1,
        "bds_in_fix": 0,
        "bds_in_fix_strengths": "",
        "bds_visible": 1,
        "bds_visible_strengths": "25",
        "extension": "",
    }


@pytest.mark.parametrize(
    "frame",
    [
        encode_frame(0xA2, WIFI_A2[5:-6] + b"\x00", 0x0030, long=True),
        encode_frame(0xA5, LBS_ALARM_A5[4:-6] + b"\x00", 0x0031),
        encode_frame(0xA7, LBS_PHONE_A7[4:-6] + b"\x00", 0x0032),
        # a 2G cell and status block sent as 0xA5: too short for the 4G cell fields
        encode_frame(0xA5, H("01CC00287D001F71") + H("4404030102"), 0x0033),
        encode_frame(0x94, INFO_SATELLITES[5:-6] + b"\x07", 0x0034, long=True),
    ],
)
def test_inferred_layouts_must_use_up_the_packet(frame: bytes) -> None:
    (rejected,) = feed_three_ways(session, frame, prelude=[LOGIN_VL03])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert not rejected.fatal


def test_truncated_new_packets_are_malformed_not_crashes() -> None:
    for frame in (LBS_11, LBS_PHONE_17, LBS_EXTEND_18, GPS_PHONE_1A, LBS_ALARM_A5, LBS_PHONE_A7):
        body = frame[4:-6]
        short = encode_frame(frame[3], body[: len(body) // 2], 0x0001)
        s = session()
        s.state.device_key = "123456789012345"
        (rejected,) = s.receive(short)
        assert isinstance(rejected, Rejected), frame.hex()
        assert isinstance(rejected.error, Malformed), frame.hex()
        assert not rejected.fatal


@pytest.mark.parametrize("number", [0x32, 0x33, 0x34, 0x37, 0x69, 0x8D, 0x36])
def test_still_undocumented_numbers_are_counted_unsupported(number: int) -> None:
    # BUILT: well-formed frames of numbers with no layout at hand; the session carries on
    s = session()
    s.receive(LOGIN_VL03)
    (rejected,) = s.receive(encode_frame(number, bytes(20), 0x0040))
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert not rejected.fatal
    assert not s.failed
    (info,) = s.receive(LBS_11)
    assert isinstance(info, DeviceInfo)
