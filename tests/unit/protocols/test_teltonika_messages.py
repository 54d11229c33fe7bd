"""Teltonika GPRS messages (Codec 12, 13, 14, 15) and the command encoders, on the examples
published by Teltonika.

Source: Teltonika wiki, "Teltonika Data Sending Protocols" (formerly "Codec"),
https://wiki.teltonika-gps.com/view/Teltonika_Data_Sending_Protocols — sections
"Codec 12" (the getinfo and getio examples: command and response), "Codec 13" (example),
"Codec 14" (getver to IMEI 352093081452251: command, ACK response and nACK response) and
"Codec 15" (example); the getinfo command is also on the wiki page "Sending Codec12
commands using Hercules". Every sample's data size and CRC-16/IBM is checked in
test_documented_sizes_and_crcs. One field capture of an FMB120 (a public issue thread,
named beside it) checks the named IO table.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_ibm
from protocols.errors import BadChecksum, Malformed, NotIdentified, UnsupportedMessage
from protocols.model import DeviceInfo, Rejected
from protocols.teltonika import SPEC, encode_codec12_command, encode_codec14_command
from protocols.teltonika._encoder import (
    engine_command,
    interval_command,
    locate_command,
    reboot_command,
)
from tests.unit.protocols.helpers import feed_three_ways
from tests.unit.protocols.test_teltonika import IMEI

H = bytes.fromhex
#: "Codec 12": server command getinfo
C12_GETINFO = H("000000000000000F0C010500000007676574696E666F0100004312")
#: "Codec 12": the device's response to getinfo
C12_GETINFO_RESPONSE = H(
    "00000000000000900C010600000088494E493A323031392F372F323220373A3232205254433A323031392F37"
    "2F323220373A3533205253543A32204552523A312053523A302042523A302043463A302046473A3020464C3A"
    "302054553A302F302055543A3020534D533A30204E4F4750533A303A3330204750533A31205341543A302052"
    "533A332052463A36352053463A31204D443A30010000C78F"
)
GETINFO_TEXT = (
    "INI:2019/7/22 7:22 RTC:2019/7/22 7:53 RST:2 ERR:1 SR:0 BR:0 CF:0 FG:0 FL:0 TU:0/0 UT:0 "
    "SMS:0 NOGPS:0:30 GPS:1 SAT:0 RS:3 RF:65 SF:1 MD:0"
)
#: "Codec 12": server command getio
C12_GETIO = H("000000000000000D0C010500000005676574696F01000000CB")
#: "Codec 12": the device's response to getio
C12_GETIO_RESPONSE = H(
    "00000000000000370C01060000002F4449313A31204449323A30204449333A302041494E313A302041494E32"
    "3A313639323420444F313A3020444F323A3101000066E3"
)
#: "Codec 13": a response with timestamp 0x64E83281 (2023-08-25 04:48:01 UTC)
C13 = H("000000000000001D0D01060000001564E8328168656C6C6F206C65747320746573740D0A0100003548")
#: "Codec 14": getver addressed to IMEI 352093081452251
C14_GETVER = H("00000000000000160E01050000000E0352093081452251676574766572010000D2C1")
#: "Codec 14": the ACK response (type 0x06) of device 352093081452251
C14_ACK = H(
    "00000000000000AB0E0106000000A303520930814522515665723A30332E31382E31345F3034204750533A41"
    "584E5F352E31305F333333332048773A464D42313230204D6F643A313520494D45493A333532303933303831"
    "34353232353120496E69743A323031382D31312D323220373A313320557074696D653A3137323334204D4143"
    "3A363042444430303136323631205350433A312830292041584C3A30204F42443A3020424C3A312E36204254"
    "3A340100007AAE"
)
GETVER_TEXT = (
    "Ver:03.18.14_04 GPS:AXN_5.10_3333 Hw:FMB120 Mod:15 IMEI:352093081452251 "
    "Init:2018-11-22 7:13 Uptime:17234 MAC:60BDD0016261 SPC:1(0) AXL:0 OBD:0 BL:1.6 BT:4"
)
#: "Codec 14": the nACK response (type 0x11): the IMEI did not match, nothing was run
C14_NACK = H("00000000000000100E011100000008035209308145225101000032AC")
#: "Codec 15": "Hello!\n" at 0x654B65A4 (2023-11-08 10:40:36 UTC) from IMEI 123456789123456
C15 = H("000000000000001b0f010b00000013654b65a4012345678912345648656c6c6f210a01000093d6")

DOCUMENTED = (
    C12_GETINFO,
    C12_GETINFO_RESPONSE,
    C12_GETIO,
    C12_GETIO_RESPONSE,
    C13,
    C14_GETVER,
    C14_ACK,
    C14_NACK,
    C15,
)


def tcp(device: str | None = None):  # type: ignore[no-untyped-def]
    return SPEC.new_session("tcp", device)


def _udp(data_field: bytes, imei: bytes = b"352093081452251") -> bytes:
    """A UDP datagram around ``data_field`` (built: "UDP channel header" + AVL packet
    header of the wiki, holding a Codec 12 data field instead of records)."""
    body = struct.pack(">HBBH", 0xCAFE, 0x01, 0x05, len(imei)) + imei + data_field
    return struct.pack(">H", len(body)) + body


def test_documented_sizes_and_crcs() -> None:
    for packet in DOCUMENTED:
        data = packet[8:-4]
        assert int.from_bytes(packet[4:8], "big") == len(data), packet.hex()
        assert crc16_ibm(data) == int.from_bytes(packet[-4:], "big"), packet.hex()


def test_command_encoders_match_the_wiki() -> None:
    assert encode_codec12_command("getinfo") == C12_GETINFO
    assert encode_codec12_command("getio") == C12_GETIO
    assert encode_codec14_command("352093081452251", "getver") == C14_GETVER
    with pytest.raises(ValueError):
        encode_codec14_command("35209308145225", "getver")  # 14 digits
    with pytest.raises(ValueError):
        encode_codec12_command("")


def test_command_texts() -> None:
    assert locate_command() == "getrecord"
    assert reboot_command() == "cpureset"
    assert (engine_command(True), engine_command(False)) == ("setdigout 1", "setdigout 0")
    assert interval_command(30, 300) == "setparam 10050:30;10000:300"
    packet = encode_codec12_command(engine_command(True))
    assert packet[15 : 15 + 11] == b"setdigout 1"
    assert crc16_ibm(packet[8:-4]) == int.from_bytes(packet[-4:], "big")


@pytest.mark.parametrize(
    ("packet", "text"),
    [
        (C12_GETINFO_RESPONSE, GETINFO_TEXT),
        (C12_GETIO_RESPONSE, "DI1:1 DI2:0 DI3:0 AIN1:0 AIN2:16924 DO1:0 DO2:1"),
    ],
)
def test_codec12_responses(packet: bytes, text: str) -> None:
    (info,) = feed_three_ways(tcp, packet, prelude=[IMEI])
    assert info == DeviceInfo(
        device_key="356307042441013",
        protocol="teltonika",
        kind="command_reply",
        attributes={"codec": 12, "text": text},
    )


def test_codec13_response_carries_its_time() -> None:
    (info,) = feed_three_ways(tcp, C13, prelude=[IMEI])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "command_reply"
    assert info.time == datetime(2023, 8, 25, 4, 48, 1, tzinfo=UTC)
    assert info.attributes["text"] == "hello lets test\r\n"


def test_codec14_ack_and_nack() -> None:
    device = "352093081452251"
    (ack,) = feed_three_ways(lambda: tcp(device), C14_ACK)
    assert isinstance(ack, DeviceInfo)
    assert dict(ack.attributes) == {
        "codec": 14,
        "imei": device,
        "imei_match": True,
        "ack": True,
        "text": GETVER_TEXT,
    }
    (nack,) = feed_three_ways(lambda: tcp(device), C14_NACK)
    assert isinstance(nack, DeviceInfo)
    assert dict(nack.attributes) == {"codec": 14, "imei": device, "imei_match": True, "ack": False}


def test_codec15_serial_data() -> None:
    (info,) = feed_three_ways(tcp, C15, prelude=[IMEI])
    assert isinstance(info, DeviceInfo)
    assert info.kind == "serial_data"
    assert info.time == datetime(2023, 11, 8, 10, 40, 36, tzinfo=UTC)
    assert info.attributes["imei"] == "123456789123456"
    assert info.attributes["text"] == "Hello!\n"


def test_command_from_the_device_is_unsupported_not_fatal() -> None:
    s = tcp("356307042441013")
    (rejected,) = s.receive(C12_GETINFO)  # a server command coming back from a device
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert not s.failed
    (info,) = s.receive(C12_GETIO_RESPONSE)
    assert isinstance(info, DeviceInfo)


def test_broken_messages() -> None:
    (rejected,) = feed_three_ways(tcp, C12_GETIO_RESPONSE[:-1] + b"\x00", prelude=[IMEI])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, BadChecksum)
    (rejected,) = feed_three_ways(tcp, C12_GETIO_RESPONSE)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, NotIdentified)
    # built: the getio response's size field one larger than its payload
    data = bytearray(C12_GETIO_RESPONSE[8:-4])
    data[6] += 1
    bad = (
        b"\0" * 4 + struct.pack(">I", len(data)) + bytes(data) + struct.pack(">I", crc16_ibm(data))
    )
    (rejected,) = feed_three_ways(tcp, bad, prelude=[IMEI])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)


def test_codec12_response_over_udp_is_decoded_without_ack() -> None:
    datagram = _udp(C12_GETIO_RESPONSE[8:-4])
    (info,) = feed_three_ways(lambda: SPEC.new_session("udp", None), datagram, stream=False)
    assert isinstance(info, DeviceInfo)
    assert info.device_key == "352093081452251"
    assert info.attributes["text"].startswith("DI1:1")  # type: ignore[union-attr]


def test_named_io_elements_on_the_documented_8e_record() -> None:
    from tests.unit.protocols.test_teltonika import C8E, _codec8_packet

    pos, _ = feed_three_ways(tcp, C8E, prelude=[IMEI])
    a = pos.attributes  # type: ignore[union-attr]
    # "Codec 8 Extended" example: IO 17 (Axis X) = 0x1D, 16 odometer, 11/14 ICCID parts
    assert (a["axis_x_mg"], a["odometer_m"]) == (0x1D, 0x015E2C88)
    assert (a["iccid1"], a["iccid2"]) == (0x3544C87A, 0x1DD7E06A)
    assert a["din1"] is True
    # built: IO 17 = 0xFFE0 is a negative axis value (-32 mG), IO 68 = 1500 mA, IO 199 trip
    record = struct.pack(">QBiihHBH", 1_700_000_000_000, 0, 0, 0, 0, 0, 0, 0) + bytes(
        [0, 4, 0, 3, 17, 0xFF, 0xE0, 68, 0x05, 0xDC, 24, 0, 42, 1, 199, 0, 0, 0x30, 0x39, 0]
    )
    pos, _ = feed_three_ways(tcp, _codec8_packet([record]), prelude=[IMEI])
    a = pos.attributes  # type: ignore[union-attr]
    assert (a["io17"], a["axis_x_mg"]) == (0xFFE0, -32)
    assert a["battery_current_a"] == pytest.approx(1.5)
    assert a["speed_kmh"] == 42
    assert a["trip_odometer_m"] == 12345


#: a field capture of an FMB120, posted in github.com/eusonlito/GPS-Tracker/issues/63
#: (2024-05-15, the maintainer's comment quoting a device log of 2024-04-16): its IMEI
#: handshake (864636061979403) and one Codec 8 record
FMB120_IMEI = H("000f383634363336303631393739343033")
FMB120_RECORD = H(
    "000000000000004408010000018ee5bdc4f80003f91be11cd610eb012701620c0000000c05ef00f000150"
    "3c800450105b5000bb60007423188430fe244000002f10000514a1000076d30000100001603"
)


def test_fmb120_field_capture_with_named_io() -> None:
    assert crc16_ibm(FMB120_RECORD[8:-4]) == int.from_bytes(FMB120_RECORD[-4:], "big")
    pos, ack = feed_three_ways(tcp, FMB120_RECORD, prelude=[FMB120_IMEI])
    assert pos.device_key == "864636061979403"  # type: ignore[union-attr]
    assert pos.fix_time == datetime(2024, 4, 16, 7, 10, 3, tzinfo=UTC)  # type: ignore[union-attr]
    assert pos.lat == pytest.approx(48.3791083)  # type: ignore[union-attr]
    assert pos.lon == pytest.approx(6.6657249)  # type: ignore[union-attr]
    assert (pos.altitude_m, pos.course_deg, pos.satellites) == (295.0, 354.0, 12)  # type: ignore[union-attr]
    a = pos.attributes  # type: ignore[union-attr]
    assert (a["ignition"], a["movement"], a["gsm_signal"], a["sleep_mode"]) == (False, False, 3, 0)
    assert (a["gnss_status"], a["pdop"], a["hdop"]) == (1, 1.1, 0.7)
    assert a["external_voltage_v"] == pytest.approx(12.68)
    assert a["battery_voltage_v"] == pytest.approx(4.066)
    assert a["battery_current_a"] == 0.0
    assert a["gsm_operator"] == 20810  # MCC 208 (France), MNC 10
    assert a["odometer_m"] == 486704
    assert ack.data == H("00000001")  # type: ignore[union-attr]
