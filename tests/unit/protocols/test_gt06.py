"""GT06 (Concox) decoder tests on packets published in the vendor documents.

Sources (named beside each sample):
  [V181]  "GPS Tracker Communication Protocol (GT06)" v1.8.1, Shenzhen Concox Information
          Technology, section V examples and appendix B.
  [VL03]  "GPS Tracker Communication Protocol JM-VL03" V1.1.2, Concox, sections 1-9 examples.
Every sample's CRC-ITU was recomputed independently (see test_documented_crcs).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_x25
from protocols.errors import BadChecksum, NotIdentified, UnsupportedMessage
from protocols.gt06 import SPEC, Gt06Framer, encode_frame, encode_reply
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Login, Position, Rejected, Reply
from tests.unit.protocols.helpers import feed_three_ways

H = bytes.fromhex
#: [V181] §5.1.1 login, terminal id 0123456789012345, serial 1
LOGIN_V181 = H("78780D01012345678901234500018CDD0D0A")
#: [V181] §5.1.2 server response to that login
LOGIN_REPLY_V181 = H("787805010001D9DC0D0A")
#: [VL03] §1 login with type id 0x7000 and time zone 0x3201 (GMT+8), serial 5
LOGIN_VL03 = H("78781101075253367890024270003201000512790D0A")
#: [VL03] §1 server response (serial 5)
LOGIN_REPLY_VL03 = H("7878050100059FF80D0A")
#: [VL03] §2 heartbeat: info 0x40, voltage 4, GSM 4, language 0x0001, serial 0x000F
HEARTBEAT_VL03 = H("78780A134004040001000FDCEE0D0A")
#: [VL03] §2 server response example (serial 0x0100)
HEARTBEAT_REPLY_VL03 = H("787805130100E1A00D0A")
#: [VL03] §3 GPS location 0x22, 2015-12-29 02:51:05, 9 satellites, serial 0x0008
LOCATION_22 = H("787822220F0C1D023305C9027AC8180C46586000140001CC00287D001F71000001000820860D0A")
#: [V181] §5.2 location 0x12 as printed: its CRC field (0x8081) does not match its content
LOCATION_12_AS_PRINTED = H(
    "78781F120B081D112E10CC027AC7EB0C46584900148F01CC00287D001FB8000380810D0A"
)
#: the same [V181] §5.2 fields re-encoded with the CRC-ITU they should carry (built, not captured)
LOCATION_12 = encode_frame(0x12, LOCATION_12_AS_PRINTED[4:-6], 0x0003)
#: [V181] §5.4 alarm 0x16 (SOS), 2011-11-15 14:36:29, serial 0x0036
ALARM_16 = H("787825160B0B0F0E241DCF027AC8870C4657E60014020901CC00287D001F726506040101003656A40D0A")
#: [VL03] §5 alarm 0x26 (tamper 0x13), serial 0x000C
ALARM_26 = H("787825260F0C1D030B26C9027AC8180C4658600004000901CC00287D001F718004041302000C472A0D0A")
#: [VL03] §5 server response example to an 0x26 alarm (serial 0x001C)
ALARM_REPLY_VL03 = H("78780526001C9D860D0A")
#: [VL03] §5 multi-fence alarm 0x27 (power-on 0x0C, fence 0xFF), serial 0x0000
ALARM_27 = H(
    "78782627100419092D07C5027AC91C0C4658000005370900000000000000008002000C01FF00004DF60D0A"
)
#: [VL03] §8 time calibration request (answered: see test_gt06_breadth)
TIME_REQUEST = H("7878058A000688290D0A")
#: 0x15 string reply built from [VL03] §7 layout with the §7 command "sos#" (built)
STRING_15 = encode_frame(0x15, bytes([4 + 4]) + bytes(4) + b"OK!#" + b"\x00\x02", 0x0009)
#: 0x21 universal reply (0x7979) built from [VL03] §7 layout (built)
COMMAND_21 = encode_frame(0x21, bytes(4) + b"\x01" + b"SOS OK", 0x000A, long=True)
#: 0x94 external voltage 11.83 V built from [VL03] §9 type 0x00 example value (built)
INFO_94 = encode_frame(0x94, b"\x00\x04\x9f", 0x000B, long=True)


def session(device: str | None = None):  # type: ignore[no-untyped-def]
    return SPEC.new_session("tcp", device)


def test_documented_crcs() -> None:
    for frame in (
        LOGIN_V181,
        LOGIN_REPLY_V181,
        LOGIN_VL03,
        LOGIN_REPLY_VL03,
        HEARTBEAT_VL03,
        HEARTBEAT_REPLY_VL03,
        LOCATION_22,
        ALARM_16,
        ALARM_26,
        ALARM_REPLY_VL03,
        ALARM_27,
        TIME_REQUEST,
    ):
        assert crc16_x25(frame[2:-4]) == int.from_bytes(frame[-4:-2], "big"), frame.hex()
    assert crc16_x25(b"123456789") == 0x906E


def test_reply_encoder_matches_documented_replies() -> None:
    assert encode_reply(0x01, 0x0001) == LOGIN_REPLY_V181
    assert encode_reply(0x01, 0x0005) == LOGIN_REPLY_VL03
    assert encode_reply(0x13, 0x0100) == HEARTBEAT_REPLY_VL03
    assert encode_reply(0x26, 0x001C) == ALARM_REPLY_VL03


def test_login_v181() -> None:
    messages = feed_three_ways(session, LOGIN_V181)
    assert messages == [
        Login(device_key="123456789012345", protocol="gt06"),
        Reply(data=LOGIN_REPLY_V181, acks_data=False),
    ]


def test_login_vl03_with_time_zone() -> None:
    login, reply = feed_three_ways(session, LOGIN_VL03)
    assert isinstance(login, Login)
    assert login.device_key == "752533678900242"
    assert dict(login.attributes) == {"type_id": "7000", "timezone_min": 480}
    assert reply == Reply(data=LOGIN_REPLY_VL03, acks_data=False)


def test_heartbeat_and_reply_echoes_serial() -> None:
    beat, reply = feed_three_ways(session, HEARTBEAT_VL03, prelude=[LOGIN_VL03])
    assert isinstance(beat, Heartbeat)
    assert beat.attributes["gps_fixed"] is True
    assert beat.attributes["battery_level"] == 4
    assert beat.attributes["gsm_signal"] == 4
    assert reply == Reply(data=encode_reply(0x13, 0x000F), acks_data=False)
    assert reply.data == H("78780513000F008F0D0A")


def test_location_22() -> None:
    (pos,) = feed_three_ways(session, LOCATION_22, prelude=[LOGIN_VL03])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2015, 12, 29, 2, 51, 5, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x027AC818 / 1_800_000)  # 23.111693 N ([VL03] ref table)
    assert pos.lon == pytest.approx(0x0C465860 / 1_800_000)  # 114.409298 E
    assert pos.valid is True
    assert pos.satellites == 9
    assert pos.speed_kmh == 0.0
    assert pos.course_deg == 0.0
    assert pos.attributes["mcc"] == 460
    assert pos.attributes["cell_id"] == 0x001F71


def test_location_12_bad_crc_as_printed_then_corrected() -> None:
    (rejected,) = feed_three_ways(session, LOCATION_12_AS_PRINTED, prelude=[LOGIN_V181])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, BadChecksum)
    assert rejected.fatal is False
    (pos,) = feed_three_ways(session, LOCATION_12, prelude=[LOGIN_V181])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2011, 8, 29, 17, 46, 16, tzinfo=UTC)
    assert pos.lat == pytest.approx(0x027AC7EB / 1_800_000)  # 23.111668 N
    assert pos.lon == pytest.approx(0x0C465849 / 1_800_000)  # 114.409285 E
    assert pos.speed_kmh == 0.0
    assert pos.course_deg == 0x8F
    assert pos.satellites == 12


def test_alarm_16_sos_acknowledges_data() -> None:
    event, reply = feed_three_ways(session, ALARM_16, prelude=[LOGIN_V181])
    assert isinstance(event, DeviceEvent)
    assert event.kind == "sos"
    assert event.attributes["alarm_code"] == 1
    assert event.position is not None
    assert event.position.valid
    assert event.time == datetime(2011, 11, 15, 14, 36, 29, tzinfo=UTC)
    assert reply == Reply(data=H("78780516003695700D0A"), acks_data=True)
    assert reply.data == encode_reply(0x16, 0x0036)


def test_alarm_26_tamper() -> None:
    event, reply = feed_three_ways(session, ALARM_26, prelude=[LOGIN_VL03])
    assert isinstance(event, DeviceEvent)
    assert event.kind == "tamper"
    assert event.position is not None
    assert event.position.valid is False
    assert event.position.attributes["fuel_cut"] is True
    assert reply == Reply(data=encode_reply(0x26, 0x000C), acks_data=True)


def test_alarm_27_power_on_is_other_with_fence() -> None:
    event, reply = feed_three_ways(session, ALARM_27, prelude=[LOGIN_VL03])
    assert isinstance(event, DeviceEvent)
    assert event.kind == "other"
    assert event.attributes["alarm_code"] == 0x0C
    assert event.position is not None
    assert event.position.attributes["fence"] == 0xFF
    assert event.position.course_deg == 0x137
    assert reply == Reply(data=encode_reply(0x27, 0x0000), acks_data=True)


@pytest.mark.parametrize(("frame", "text"), [(STRING_15, "OK!#"), (COMMAND_21, "SOS OK")])
def test_string_replies(frame: bytes, text: str) -> None:
    (info,) = feed_three_ways(session, frame, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.attributes["text"] == text


def test_info_94_external_voltage() -> None:
    (info,) = feed_three_ways(session, INFO_94, prelude=[LOGIN_VL03])
    assert isinstance(info, DeviceInfo)
    assert info.attributes["external_voltage_v"] == pytest.approx(11.83)


def test_location_without_login_is_not_identified_but_preset_works() -> None:
    (rejected,) = feed_three_ways(session, LOCATION_22)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, NotIdentified)
    assert not rejected.fatal
    (pos,) = feed_three_ways(lambda: session("123456789012345"), LOCATION_22)
    assert isinstance(pos, Position)
    assert pos.device_key == "123456789012345"


def test_unknown_protocol_number_is_unsupported_and_keeps_the_session() -> None:
    # built: protocol number 0x99 (not in any of the documents) around a 2-byte content
    unknown = encode_frame(0x99, b"\x01\x02", 0x0007)
    s = session()
    (rejected,) = s.receive(unknown)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert not rejected.fatal
    assert not s.failed
    login, _ = s.receive(LOGIN_VL03)
    assert isinstance(login, Login)


def test_framer_resyncs_past_garbage_and_counts_it() -> None:
    framer = Gt06Framer()
    assert framer.feed(b"\x01\x02\x03\x04" + LOGIN_V181 + b"\x78") == [LOGIN_V181]
    assert framer.skipped == 4
    assert framer.buffered == 1


def test_frame_too_large_is_fatal() -> None:
    s = session()
    (rejected,) = s.receive(b"\x79\x79\xff\xff\x01")
    assert isinstance(rejected, Rejected)
    assert rejected.fatal
    assert s.failed
