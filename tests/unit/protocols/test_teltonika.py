"""Teltonika decoder tests on the packets published by Teltonika.

Source: Teltonika wiki, "Teltonika Data Sending Protocols" (formerly "Codec") page,
https://wiki.teltonika-gps.com/view/Teltonika_Data_Sending_Protocols — sections
"Codec 8" (examples 1-3), "Codec 8 Extended" (TCP example and UDP example), "Codec 16"
(example), "Codec 8 protocol sending over UDP" (example and server response), and
"Communication with server" (IMEI 356307042441013 handshake). The old UDP Codec 8
Extended example is from the page revision of 1 July 2019 (wiki Special:MobileDiff/38516).
The GH1201 (GH3000 codec 0x07) capture is from the traccar issue "Teltonika GH1201",
https://github.com/traccar/traccar/issues/207 (the server log quoted in its description).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from protocols._checks import crc16_ibm
from protocols.base import SessionState
from protocols.errors import BadChecksum, Malformed, NotIdentified, UnsupportedMessage
from protocols.model import Login, Position, Rejected, Reply
from protocols.teltonika import SPEC
from protocols.teltonika._decoder import _fast_records, decode_tcp_checked
from tests.unit.protocols.helpers import feed_three_ways

H = bytes.fromhex
#: "Communication with server": IMEI 356307042441013, answered 01
IMEI = H("000F333536333037303432343431303133")
#: "Codec 8" example 1: 1 record, 2019-06-10 10:04:46 UTC, IO 21=3, 1=1, 66=0x5E0F, 241, 78
C8_EX1 = H(
    "000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503"
    "010101425E0F01F10000601A014E0000000000000000010000C7CF"
)
#: "Codec 8" example 2: 1 record, IO 66 = 0x5E10
C8_EX2 = H(
    "000000000000002808010000016B40D9AD80010000000000000000000000000000000103021503"
    "010101425E100000010000F22A"
)
#: "Codec 8" example 3: 2 records, IO 1 = 0 then 1
C8_EX3 = H(
    "000000000000004308020000016B40D57B480100000000000000000000000000000001010101000000"
    "000000016B40D5C198010000000000000000000000000000000101010101000000020000252C"
)
#: "Codec 8 Extended" TCP example: IO 1, 17, 16, 11, 14 with 2-byte ids
C8E = H(
    "000000000000004A8E010000016B412CEE00010000000000000000000000000000000001000500010001"
    "0100010011001D00010010015E2C880002000B000000003544C87A000E000000001DD7E06A00000100002994"
)
#: "Codec 16" example: 2 records with generation type 5 (on change)
C16 = H(
    "000000000000005F10020000016BDBC7833000000000000000000000000000000000000B0504020001"
    "0000030002000B00270042563A00000000016BDBC7871800000000000000000000000000000000000B"
    "05040200010000030002000B00260042563A00000200005FB3"
)
#: "Codec 8 protocol sending over UDP" example (IMEI 352093086403655) and its response
UDP_C8 = H(
    "003DCAFE0105000F33353230393330383634303336353508010000016B4F815B300100000000000000"
    "00000000000000000103021503010101425DBC000001"
)
UDP_C8_REPLY = H("0005CAFE010501")
#: "Codec 8 Extended" UDP example; response per the same section: 0005CAFE010701
UDP_C8E = H(
    "005FCAFE0107000F3335323039333038363430333635358E010000016B4F831C6801000000000000"
    "00000000000000000000010005000100010100010011009D00010010015E2C880002000B00000000"
    "3544C87A000E000000001DD7E06A000001"
)
#: 2019 revision's UDP 8E example: its IO section mixes 1- and 2-byte ids (not decodable)
UDP_OLD = H(
    "00A1CAFE001B000F3335363330373034323434313031338E010000013FEBDD19C8000F0E9FF0209A71"
    "8000690000120000001E09010002000300040016014703F0001504C8000C0900910A00440B004D1300"
    "44431555440000B5000BB60005422E9B180000CD0386CE000107C700000000F10000601A4600000"
    "13C4800000BB84900000BB84A00000BB84C00000000024E0000000000000000CF000000000000000001"
)

#: traccar issue #207 ("Teltonika GH1201"): the device's IMEI handshake and its first AVL
#: packet, codec 0x07 (the GH3000 protocol), 59 records of 6 bytes; its CRC is right
GH1201_IMEI = H("000f333533393736303130313130333330")
GH1201_CODEC7 = H(
    "0000000000000165073b80001b62010080001b5d010080001b58010080001b53010080001b4e01008000"
    "1b49010080001b44010080001b3f010080001b3a010080001b35010080001b30010080001b2b01008000"
    "1b26010080001b21010080001b1c010080001b17010080001b12010080001b0d010080001b0801008000"
    "1b03010080001afe010080001af9010080001af4010080001aee010080001ae9010080001ae401008000"
    "1adf010080001ada010080001ad5010080001ad0010080001acb010080001ac6010080001ac101008000"
    "1abc010080001ab7010080001ab2010080001aad010080001aa8010080001aa3010080001a9e01008000"
    "1a99010080001a94010080001a8f010080001a8a010080001a85010080001a80010080001a7b01008000"
    "1a76010080001a71010080001a6c010080001a67010080001a62010080001a5d010080001a5801008000"
    "1a53010080001a4e010080001a49010080001a44010080001a3f01003b0000d8f5"
)


def _codec8_packet(records: list[bytes]) -> bytes:
    data = bytes([0x08, len(records)]) + b"".join(records) + bytes([len(records)])
    return b"\x00" * 4 + struct.pack(">I", len(data)) + data + struct.pack(">I", crc16_ibm(data))


#: built (not captured): one Codec 8 record re-encoding the GPS element documented in the
#: 2019 UDP example above (lon 25.2616688, lat 54.7976576, altitude 105 m, 18 satellites,
#: 2013-07-17 09:01:43.240 UTC), speed 42 km/h and angle 90 added, IO 239 = 1, 66 = 12500
VILNIUS_RECORD = struct.pack(
    ">QBiihHBH", 0x13FEBDD19C8, 0, 252616688, 547976576, 105, 90, 18, 42
) + bytes([239, 2, 1, 239, 1, 1, 66, 0x30, 0xD4, 0, 0])
VILNIUS = _codec8_packet([VILNIUS_RECORD])


def tcp(device: str | None = None):  # type: ignore[no-untyped-def]
    return SPEC.new_session("tcp", device)


def udp():  # type: ignore[no-untyped-def]
    return SPEC.new_session("udp", None)


def test_documented_crcs() -> None:
    for packet in (C8_EX1, C8_EX2, C8_EX3, C8E, C16):
        assert crc16_ibm(packet[8:-4]) == int.from_bytes(packet[-4:], "big")


def test_imei_handshake() -> None:
    assert feed_three_ways(tcp, IMEI) == [
        Login(device_key="356307042441013", protocol="teltonika"),
        Reply(data=b"\x01", acks_data=False),
    ]


def test_codec8_example1() -> None:
    pos, ack = feed_three_ways(tcp, C8_EX1, prelude=[IMEI])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2019, 6, 10, 10, 4, 46, tzinfo=UTC)
    assert (pos.lat, pos.lon, pos.satellites, pos.valid) == (0.0, 0.0, 0, False)
    assert pos.speed_kmh is None  # no fix: speed unknown
    a = pos.attributes
    assert (a["io21"], a["io1"], a["io66"], a["io241"], a["io78"]) == (3, 1, 0x5E0F, 0x601A, 0)
    assert a["external_voltage_v"] == pytest.approx(24.079)
    assert a["priority"] == 1
    assert ack == Reply(data=b"\x00\x00\x00\x01", acks_data=True)


def test_codec8_example2() -> None:
    pos, ack = feed_three_ways(tcp, C8_EX2, prelude=[IMEI])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2019, 6, 10, 10, 5, 36, tzinfo=UTC)
    assert pos.attributes["io66"] == 0x5E10
    assert ack.data == H("00000001")  # type: ignore[union-attr]


def test_codec8_example3_two_records() -> None:
    first, second, ack = feed_three_ways(tcp, C8_EX3, prelude=[IMEI])
    assert isinstance(first, Position)
    assert isinstance(second, Position)
    assert first.fix_time == datetime(2019, 6, 10, 10, 1, 1, tzinfo=UTC)
    assert second.fix_time == datetime(2019, 6, 10, 10, 1, 19, tzinfo=UTC)
    assert (first.attributes["io1"], second.attributes["io1"]) == (0, 1)
    assert ack == Reply(data=H("00000002"), acks_data=True)


def test_codec8_extended() -> None:
    pos, ack = feed_three_ways(tcp, C8E, prelude=[IMEI])
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2019, 6, 10, 11, 36, 32, tzinfo=UTC)
    a = pos.attributes
    assert (a["io1"], a["io17"], a["io16"], a["io11"], a["io14"]) == (
        1,
        0x1D,
        0x015E2C88,
        0x3544C87A,
        0x1DD7E06A,
    )
    assert a["odometer_m"] == 0x015E2C88
    assert ack == Reply(data=H("00000001"), acks_data=True)


def test_codec16() -> None:
    first, second, ack = feed_three_ways(tcp, C16, prelude=[IMEI])
    assert isinstance(first, Position)
    assert isinstance(second, Position)
    assert first.fix_time == datetime(2019, 7, 10, 12, 6, 54, tzinfo=UTC)
    assert first.attributes["generation_type"] == 5
    assert first.attributes["event_io"] == 0x0B
    assert (first.attributes["io11"], second.attributes["io11"]) == (0x27, 0x26)
    assert first.attributes["io66"] == 0x563A
    assert ack == Reply(data=H("00000002"), acks_data=True)


def test_udp_codec8_and_documented_response() -> None:
    pos, ack = feed_three_ways(udp, UDP_C8, stream=False)
    assert isinstance(pos, Position)
    assert pos.device_key == "352093086403655"
    assert pos.fix_time == datetime(2019, 6, 13, 6, 23, 26, tzinfo=UTC)
    assert pos.attributes["io66"] == 0x5DBC
    assert ack == Reply(data=UDP_C8_REPLY, acks_data=True)


def test_udp_codec8_extended() -> None:
    pos, ack = feed_three_ways(udp, UDP_C8E, stream=False)
    assert isinstance(pos, Position)
    assert pos.attributes["io17"] == 0x9D
    assert ack == Reply(data=H("0005CAFE010701"), acks_data=True)


def test_udp_old_revision_example_is_malformed_not_a_crash() -> None:
    (rejected,) = feed_three_ways(udp, UDP_OLD, stream=False)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)


def test_valid_fix_from_documented_gps_element() -> None:
    pos, ack = feed_three_ways(tcp, VILNIUS, prelude=[IMEI])
    assert isinstance(pos, Position)
    assert pos.lat == pytest.approx(54.7976576)
    assert pos.lon == pytest.approx(25.2616688)
    assert (pos.altitude_m, pos.satellites, pos.valid) == (105.0, 18, True)
    assert (pos.speed_kmh, pos.course_deg) == (42.0, 90.0)
    assert pos.fix_time == datetime(2013, 7, 17, 9, 1, 43, 240000, tzinfo=UTC)
    assert pos.attributes["ignition"] is True
    assert pos.attributes["external_voltage_v"] == pytest.approx(12.5)
    assert ack == Reply(data=H("00000001"), acks_data=True)


def test_bad_crc_and_missing_handshake() -> None:
    broken = C8_EX1[:-1] + b"\x00"
    (rejected,) = feed_three_ways(tcp, broken, prelude=[IMEI])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, BadChecksum)
    (rejected,) = feed_three_ways(tcp, C8_EX1)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, NotIdentified)
    pos, _ = feed_three_ways(lambda: tcp("356307042441013"), C8_EX1)
    assert isinstance(pos, Position)


def test_gh3000_codec7_capture_is_unsupported_costs_only_itself_and_gets_no_ack() -> None:
    assert crc16_ibm(GH1201_CODEC7[8:-4]) == int.from_bytes(GH1201_CODEC7[-4:], "big")
    (rejected,) = feed_three_ways(tcp, GH1201_CODEC7, prelude=[GH1201_IMEI])
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert not rejected.fatal
    session = tcp()
    session.receive(GH1201_IMEI)
    out = session.receive(GH1201_CODEC7 + C8_EX1)  # the next packet is still decoded
    assert [type(m) for m in out] == [Rejected, Position, Reply]
    pos = out[1]
    assert isinstance(pos, Position)
    assert pos.device_key == "353976010110330"
    assert not session.failed


@pytest.mark.parametrize(
    "packet",
    [C8_EX1, C8_EX2, C8_EX3, C8E, C16, VILNIUS],
    ids=["c8-1", "c8-2", "c8-3", "c8e", "c16", "vilnius"],
)
def test_documented_record_packets_take_the_fast_path(packet: bytes) -> None:
    """The fast path decodes them itself (a silent fall-back to the checked path would cost
    about three times as much per record) and gives what the checked path gives."""
    key = "356307042441013"
    fast = _fast_records(packet, 8, len(packet) - 4, key)
    assert fast is not None
    checked = decode_tcp_checked(packet, SessionState("tcp", key))
    assert fast == checked[:-1]
