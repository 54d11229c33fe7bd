"""GT06 family breadth: LBS multi-base, address request, time calibration, the AT4/X3
heartbeat, LBS alarm, WiFi, 0x94 sub-types, command responses, and the 0x80 online command.

Sources (named beside each sample):
  [VL03]  "GPS Tracker Communication Protocol JM-VL03" V1.1.2, Shenzhen Concox, examples of
          §4 (0x28), §6 (0x2A), §7 (0x80), §8 (0x8A request and server response).
  [SIM]   github.com/anirban983/concox-device-simulator, Readme.md "Overview" (the login and
          0x23 heartbeat packets its simulated Concox device sends).
  [V5]    Concox "V5" communication protocol manual (X3/AT4/GT800 family): §5 WiFi (0x2C)
          and §7.1 LBS alarm (0x19) layouts. No example bytes were available: the frames
          marked "built" are encoded here from those layouts (CRC computed, not captured).
  [INT]   github.com/Intugine-Technologies/concox, tcp/parser/test.js: an 0x2C packet of a
          device in India (MCC 404), quoted there as a parser input (taken as a capture).
Every captured sample's CRC-ITU is checked in test_captured_crcs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_x25
from protocols._common import CLOCK_KEY
from protocols.base import Session
from protocols.errors import Malformed
from protocols.gt06 import SPEC, encode_command, encode_frame, encode_reply, encode_time_reply
from protocols.gt06._encoder import engine_command, interval_command, locate_command
from protocols.gt06._types import Language
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Login, Position, Rejected, Reply
from tests.unit.protocols.helpers import feed_three_ways
from tests.unit.protocols.test_gt06 import LOGIN_VL03, TIME_REQUEST

H = bytes.fromhex
#: [VL03] §4 LBS multi-base 0x28: 2016-01-13 02:02:02, MCC 460, MNC 0, LAC 0x287D, CI 0x1F71
LBS_28 = H(
    "78783B2810010D02020201CC00287D001F713E287D001F7231287D001E232D287D001F40180000000000000000"
    "00000000000000000000FF00020005B14B0D0A"
)
#: [VL03] §6 GPS address request 0x2A: 2015-12-29 07:17:57, phone 1252013532177079
ADDRESS_2A = H(
    "78782E2A0F0C1D071139CA027AC8000C4658000014D83132353230313335333231373730373900000000000001"
    "002A6ECE0D0A"
)
#: [VL03] §7 online command "sos#", server flag 0, serial 1 (server -> terminal)
COMMAND_80 = H("78780E800800000000736F732300016D6A0D0A")
#: [VL03] §8 server response to the §8 request (serial 6): 2015-12-29 00:00:21 UTC
TIME_REPLY = H("78780B8A0F0C1D0000150006F0860D0A")
#: [SIM] login: IMEI 351608080779288, type id 0x2203, time zone 0x3201 (GMT+8), serial 0x01AA
LOGIN_SIM = H("7878110103516080807792882203320101AA53360D0A")
#: [SIM] 0x23 heartbeat: info 0xC0, voltage 0x0122 (2.90 V), GSM 4, language 1, serial 8
HEARTBEAT_23 = H("78780B23C00122040001000818720D0A")

CLOCK = datetime(2015, 12, 29, 0, 0, 21, tzinfo=UTC)
#: built from [V5] §7.1: MCC 460, MNC 0, LAC 0x287D, CI 0x1F71, info 0x44, voltage 4, GSM 3,
#: alarm 0x01 (SOS), language 2, serial 0x0011
LBS_ALARM_19 = encode_frame(0x19, H("01CC00287D001F71") + H("4404030102"), 0x0011)
#: [INT] 0x2C WiFi: 2019-10-23 08:57:04, MCC 404, MNC 45, LAC 0x6219, cell 0x005FDE, RSSI
#: 0x25, four neighbours, TA 0xFF, eight access points, serial 0x000B (a device packet quoted
#: in github.com/Intugine-Technologies/concox, tcp/parser/test.js)
WIFI_2C = H(
    "7878722C130A1708390401942D6219005FDE2562190017862462190003192262190017871C621900A6C31A"
    "000000000000000000000000FF08989C57810C2936802689033CD942C4E98445D20D47F2D5BFFBC76E49D8"
    "C771053191496466B35F54044A989C5780AF254B60146611CEF651000BE7440D0A"
)
#: built from [V5] §5, the firmware form with network names: the head of WIFI_2C through the
#: timing advance, two access points each followed by SSID length + SSID ("home", "")
WIFI_2C_SSID = encode_frame(
    0x2C,
    WIFI_2C[4:-6][: 6 + 9 + 36 + 1]
    + b"\x02"
    + H("A0B1C2D3E4F5")
    + b"\x3c\x04home"
    + H("001122334455")
    + b"\x50\x00",
    0x0016,
)
#: built from [VL03] §10/§11: 0xA1 4G multi-base, MCC 0x81CC (bit 15: 2-byte MNC) -> 460,
#: MNC 0x0001, LAC 0x00001234, CI 0x000000000AB3C4D5, RSSI 0x40, no neighbours, TA 1
LBS_A1 = encode_frame(
    0xA1,
    H("18050110141E")
    + H("81CC000100001234000000000AB3C4D540")
    + bytes(13 * 6)
    + H("01")
    + H("0002"),
    0x0013,
)
#: built from [VL03] §9 type 0x05 door status: door on, trigger low, I/O high (0b101)
INFO_DOOR = encode_frame(0x94, H("0505"), 0x0014, long=True)
#: built from [VL03] §7 0x21 layout: server flag 0x00000001, ASCII, "Relay ON success"
RESPONSE_21 = encode_frame(0x21, H("00000001") + b"\x01" + b"Relay ON success", 0x0015, long=True)


def session() -> Session:
    s = SPEC.new_session("tcp", None)
    s.state.values[CLOCK_KEY] = lambda: CLOCK
    return s


def test_captured_crcs() -> None:
    for frame in (LBS_28, ADDRESS_2A, COMMAND_80, TIME_REPLY, LOGIN_SIM, HEARTBEAT_23, WIFI_2C):
        assert crc16_x25(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big"), frame.hex()


def test_online_command_encoder_matches_document() -> None:
    assert encode_command("sos#", 0x0001) == COMMAND_80
    framed = encode_command("WHERE#", 0x0102, server_flag=0xA1B2C3D4, language=Language.ENGLISH)
    assert framed[4] == len("WHERE#") + 4
    assert framed[5:9] == H("A1B2C3D4")
    assert framed[9:15] == b"WHERE#"
    assert framed[15:17] == H("0002")
    assert framed[17:19] == H("0102")
    assert crc16_x25(framed[2:-4]) == int.from_bytes(framed[-4:-2], "big")


def test_command_texts() -> None:
    assert locate_command() == "WHERE#"
    assert interval_command(30, 600) == "TIMER,30,600#"
    assert engine_command(True) == "RELAY,1#"
    assert engine_command(False) == "RELAY,0#"
    assert engine_command(True, style="dyd", password="123456") == "DYD,123456#"
    assert engine_command(False, style="dyd") == "HFYD,000000#"
    with pytest.raises(ValueError):
        interval_command(5)
    with pytest.raises(ValueError):
        encode_command("é", 1)
    with pytest.raises(ValueError):
        engine_command(True, style="dyd", password="12#")


def test_time_request_answered_with_session_clock() -> None:
    (reply,) = feed_three_ways(session, TIME_REQUEST)
    assert reply == Reply(data=TIME_REPLY, acks_data=False)
    assert encode_time_reply(CLOCK, 0x0006) == TIME_REPLY


def test_lbs_multi_base_28() -> None:
    (info,) = feed_three_ways(session, LBS_28, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "lbs"
    assert info.time == datetime(2016, 1, 13, 2, 2, 2, tzinfo=UTC)
    assert dict(info.attributes) == {
        "mcc": 460,
        "mnc": 0,
        "lac": 0x287D,
        "cell_id": 0x1F71,
        "rssi": 0x3E,
        "neighbours": "10365:8050:49;10365:7715:45;10365:8000:24",
        "timing_advance": 0xFF,
        "language": 2,
    }


def test_address_request_2a_keeps_the_fix() -> None:
    (pos,) = feed_three_ways(session, ADDRESS_2A, prelude=[LOGIN_VL03])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2015, 12, 29, 7, 17, 57, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x027AC800 / 1_800_000)  # 23.111680 N
    assert pos.lon == pytest.approx(0x0C465800 / 1_800_000)  # 114.409244 E
    assert (pos.valid, pos.satellites, pos.speed_kmh, pos.course_deg) == (True, 10, 0.0, 216.0)
    assert pos.attributes["phone"] == "1252013532177079"
    assert pos.attributes["language"] == 1


def test_simulator_login_and_heartbeat_23() -> None:
    login, reply = feed_three_ways(session, LOGIN_SIM)
    assert login == Login(
        device_key="351608080779288",
        protocol="gt06",
        attributes={"type_id": "2203", "timezone_min": 480},
    )
    assert reply == Reply(data=encode_reply(0x01, 0x01AA), acks_data=False)
    beat, reply = feed_three_ways(session, HEARTBEAT_23, prelude=[LOGIN_SIM])
    assert isinstance(beat, Heartbeat)
    assert beat.device_key == "351608080779288"
    assert beat.attributes["battery_voltage_v"] == pytest.approx(2.90)
    assert beat.attributes["gps_fixed"] is True
    assert beat.attributes["fuel_cut"] is True
    assert beat.attributes["ignition"] is False
    assert beat.attributes["gsm_signal"] == 4
    assert reply == Reply(data=H("7878052300 08F29E0D0A".replace(" ", "")), acks_data=False)
    assert reply.data == encode_reply(0x23, 0x0008)


def test_lbs_alarm_19_is_timed_by_the_clock_and_acknowledged() -> None:
    event, reply = feed_three_ways(session, LBS_ALARM_19, prelude=[LOGIN_VL03])
    assert isinstance(event, DeviceEvent)
    assert event.kind == "sos"
    assert event.time == CLOCK
    assert event.position is None
    assert event.attributes["cell_id"] == 0x1F71
    assert event.attributes["gps_fixed"] is True
    assert reply == Reply(data=encode_reply(0x19, 0x0011), acks_data=True)


def test_wifi_2c() -> None:
    (info,) = feed_three_ways(session, WIFI_2C, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "wifi"
    assert info.time == datetime(2019, 10, 23, 8, 57, 4, tzinfo=UTC)
    assert dict(info.attributes) == {
        "mcc": 404,
        "mnc": 45,
        "lac": 0x6219,
        "cell_id": 0x005FDE,
        "rssi": 0x25,
        "neighbours": "25113:6022:36;25113:793:34;25113:6023:28;25113:42691:26",
        "timing_advance": 0xFF,
        "wifi_count": 8,
        "wifi": (
            "98:9c:57:81:0c:29,54;80:26:89:03:3c:d9,66;c4:e9:84:45:d2:0d,71;"
            "f2:d5:bf:fb:c7:6e,73;d8:c7:71:05:31:91,73;64:66:b3:5f:54:04,74;"
            "98:9c:57:80:af:25,75;60:14:66:11:ce:f6,81"
        ),
    }


def test_wifi_2c_with_ssids_and_broken_tail() -> None:
    (info,) = feed_three_ways(session, WIFI_2C_SSID, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.attributes["wifi"] == "a0:b1:c2:d3:e4:f5,60,home;00:11:22:33:44:55,80,"
    broken = encode_frame(0x2C, WIFI_2C_SSID[4:-6] + b"\x99", 0x0017)
    (rejected,) = feed_three_ways(session, broken, prelude=[LOGIN_VL03])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)


def test_lbs_multi_base_4g_a1() -> None:
    (info,) = feed_three_ways(session, LBS_A1, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "lbs"
    assert info.time == datetime(2024, 5, 1, 16, 20, 30, tzinfo=UTC)
    a = info.attributes
    assert (a["mcc"], a["mnc"], a["lac"], a["cell_id"], a["rssi"]) == (
        460,
        1,
        0x1234,
        0xAB3C4D5,
        0x40,
    )
    assert a["neighbours"] == ""
    assert a["timing_advance"] == 1


def test_info_door_and_command_reply() -> None:
    (door,) = feed_three_ways(session, INFO_DOOR, prelude=[LOGIN_VL03])
    assert isinstance(door, DeviceInfo)
    assert (door.attributes["door"], door.attributes["trigger_high"]) == (True, False)
    assert door.attributes["io_high"] is True
    (response,) = feed_three_ways(session, RESPONSE_21, prelude=[LOGIN_VL03])
    assert isinstance(response, DeviceInfo)
    assert response.kind == "command_reply"
    assert response.attributes["server_flag"] == 1
    assert response.attributes["text"] == "Relay ON success"


def test_truncated_new_packets_are_malformed_not_crashes() -> None:
    for frame in (LBS_28, WIFI_2C, LBS_A1, ADDRESS_2A, HEARTBEAT_23, LBS_ALARM_19):
        body = frame[4:-6]
        short = encode_frame(frame[3], body[: len(body) // 2], 0x0001)
        s = session()
        s.state.device_key = "123456789012345"
        (rejected,) = s.receive(short)
        assert isinstance(rejected, Rejected), frame.hex()
        assert isinstance(rejected.error, Malformed)
        assert not rejected.fatal
