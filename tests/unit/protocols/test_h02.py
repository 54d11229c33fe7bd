"""H02 decoder tests.

Source of the text samples: "G20LS Protocol Document (2023 CANTRACK PROTOCOL)" —
§1.2.2 / §2.1 (V1 example), §2.2 (V3 example), §2.4 (HTBT example and server response),
§2.5 (ICCID example), §3.2 (V4 "reset" command reply); "GPS Tracker Platform Communication
Protocol V1.0.5" (Shenzhen HuaSunTeK, 2017, listed for h02 on traccar.org/protocols; "the
HuaSunTeK document") — its examples of VP1, V1, XT, VI1, ALRM, S20, CR and V4; the H02
"Protocol" document of the SinoTrack ST-901 family (scribd 470158848; "the ST-901
document") — its binary "standard mode record" and its S20/D1/R1 commands. Further REAL
samples are device output users pasted in public threads (named beside each constant).
``BIN_V1``, ``BIN_SW``, ``V1_MOVING`` and ``V1_SOUTH_WEST`` are BUILT from documented field
layouts, and say so; ``BIN_REAL`` is a captured binary frame.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from protocols.base import Session
from protocols.errors import FrameTooLarge, Malformed, UnsupportedMessage
from protocols.h02 import (
    SPEC,
    H02Framer,
    encode_command,
    engine_resume,
    engine_stop,
    locate_now,
    reboot,
    set_interval,
)
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

# --- "GPS Tracker Platform Communication Protocol V1.0.5" (HuaSunTeK): the document's own
# examples, with the PDF's line breaks removed ----------------------------------------------

#: §三.0 VP1, GPS form (the status and the power after the date)
VP1_HST_FIX = b"*HQ,353505910449999,VP1,A,2239.4210,N,11400.8825,E,0.00,348,180814,FFFFFFFF,90#"
#: §三.0 VP1, LBS form: mcc, mnc, then lac,cid,level cells each ended by ``Y``
VP1_HST_LBS = b"*HQ,353505910449999,VP1,V,460,0,9376,8532,99Y9876,4357,99Y0,0,99Y#"
#: §三.1 V1 with power, cell count and three cells (the blank before ``#`` is the document's)
V1_HST = (
    b"*HQ,353505910449999,V1,052825,A,2239.4210,N,11400.8825,E,0.00,348,180814,FFFFFFFF,90,3,"
    b"460,0,9376,8532,9876,4357,0,0 #"
)
#: §三.2 XT heartbeat
XT_HST = b"*HQ,353505910449999,XT#"
#: §三.3 VI1 "Location request": the coding scheme ``0`` where V1 has the validity letter
VI1_HST = (
    b"*HQ,353505910449999,VI1,052825,0,2239.4210,N,11400.8825,E,0.00,348,180814,FFFFFFFF,1CC,"
    b"0,25FC,F48,90,  25FC-F48-10|  25FC-F48-6| 25FC-F48-7#"
)
#: §三.5 ALRM (SOS alarm): documented, not decoded
ALRM_HST = (
    b"*HQ,353505910449999,ALRM,1,052825,0,2239.4210,N,11400.8825,E,0.00,348,180814,FFFFFFFF,"
    b"1CC,0,25FC,F48,90,  5FC-F48-10|  25FC-F48-6| 25FC-F48-7#"
)
#: §四.1 the device's V4 after cutting fuel and power (ret 80 = success) with its position
V4_S20_HST = (
    b"*HQ,2020916012,V4,S20,80,130305,050316,A,2212.8745,N,11346.6574,E,14.28,028,220902,"
    b"F7FFFBFF, 460,000,27A6,0F70#"
)
#: §四.2 the answer to CR (the document writes the id as YYYYYYYYYY; its examples' id here)
V4_CR_HST = b"*HQ,353505910449999,V4,CR#"

#: ST-901 document, "standard mode record (binary system V1 general message)" example: id
#: 1030731001, 05:03:16 22-09-02, 22°12.8745' N, 113°46.6574' E, nibble C, 14 knots, course
#: 028, status FFFFFBFF, user alarm flag FF, reserved 00; the record number is not given in
#: the example (00 here, BUILT)
BIN32_ST901_DOC = bytes.fromhex("2410307310010503162209022212874500113466574c014028fffffbffff0000")

#: REAL, traccar/traccar issue #981: a device's text V1 and its 32-byte binary frame
V1_981_REAL = b"*HQ,4300249211,V1,085849,A,2346.8586,N,09024.7544,E,0.00,000,181114,FFE7FBFF#"
BIN32_981_REAL = bytes.fromhex("2443002492110858591811142346858600090247544e000000ffe7fbffff0000")
#: traccar/traccar issue #5417 (CJ730 Plus 4G, 2024-09-21 log): a 51-byte binary frame and the
#: device's V4 to an S20 command; the issue masks id and degree digits with ``x`` -- filled
#: with ``0`` here (BUILT digits), everything else as logged
BIN51_5417 = bytes.fromhex(
    "2473400000002343152009240032143600000213275e000176f7ffffffff041f000000000001cc00ff000015"
    "007d0000000035"
)
V4_S20_5417 = b"*HQ,7340000000,V4,S20,034313,1,1#"


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


def test_v5_wifi() -> None:
    (info,) = feed_three_ways(session, V5)
    assert isinstance(info, DeviceInfo)
    assert (info.kind, info.device_key) == ("wifi", "135790246811220")
    assert (info.attributes["wifi_count"], info.attributes["status"]) == (8, "FFFFFBFF")


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


def test_real_v1_without_time_is_a_no_fix_report() -> None:
    (info,) = feed_three_ways(session, V1_NO_TIME_REAL)
    assert isinstance(info, DeviceInfo)
    assert (info.kind, info.device_key) == ("no_fix", "353505220873067")
    assert info.attributes["status"] == "FFFFFFEF"
    s = session()
    s.receive(V1_NO_TIME_REAL)
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


# --- protocol breadth (issue 13): more REAL captures, each with its public source -----------

#: REAL, traccar/traccar issue #56 (2012-10-13, hex in the log): longitude ``2117.4683`` is
#: 21°17.4683' E written without its leading zero
V1_NO_LEADING_ZERO_REAL = bytes.fromhex(
    "2A48512C3335343138383034353433313035382C56312C3135353835302C412C353231342E353334362C4E2C"
    "323131372E343638332C452C302E30302C3237302E39302C3133313031322C66666666666666662C3030303030"
    "302C3030303030302C3030303030302C30303030303023"
)
#: REAL, traccar/traccar-web issue #357: latitude ``344.9999`` S (3°44.9999') and a
#: 14-digit id, speed 0.9 knots
V1_SHORT_LAT_REAL = (
    b"*HQ,13069100123456,V1,114218,A,344.9999,S,3222.4453,W,0.9,0.0,131216,FFFFFBFF#"
)
#: REAL, traccar/traccar issue #337: 10-digit id, S and W, no fix
V1_10_DIGIT_ID_REAL = bytes.fromhex(
    "2a48512c323730353137303839332c56312c3138313632392c562c323132342e383338342c532c303432"
    "31312e353434312c572c302e30302c3030302c3139303731332c464645374642464623"
)
#: REAL, traccar/traccar issue #2131: a V1 whose validity field is empty (and CR LF after it)
V1_EMPTY_VALIDITY_REAL = bytes.fromhex(
    "2a48512c3335353438383032303739333937342c56312c3039333330302c2c313634372e35333537342c4e"
    "2c30393630372e34313738352c452c302e30302c302c3230303731362c4546453646424646230d0a"
)
#: REAL, traccar/traccar issue #2010 (Hz-Tx-5): an LBS-only V1, every GPS field empty
V1_LBS_ONLY_REAL = bytes.fromhex(
    "2a48512c3335333530363035303535313031362c56312c2c562c2c4e2c2c452c302e30302c302c2c4646"
    "4646464646462c3265342c302c353230392c32373364230d0a"
)
#: REAL, traccar/traccar issue #586: time and date ``000000`` (no GPS time yet), space CR LF
V1_ZERO_DATE_REAL = bytes.fromhex(
    "2a48512c3335363832333033363737373630302c56312c3030303030302c562c323833332e313337362c4e"
    "2c30373731342e363031322c452c302e30302c302c3030303030302c46464642464646462c3139352c3332"
    "2c313365642c6632643323200d0a"
)
#: REAL, traccar/traccar issue #2131 and #3076: ``XT`` frames with fields after the type
#: (the HuaSunTeK document's heartbeat has none)
XT_V_REAL = bytes.fromhex("2a48512c3335353438383032303739333937342c58542c562c302c30230d0a")
XT_REAL = bytes.fromhex("2a48512c3335333530363131323435373636382c58542c3223")
#: REAL, traccar/traccar issue #2482 (TK-909): one TCP read holding an NBR and a V19 frame
#: (V19: the V1 fields, then SIM data with the ICCID, then the status), and the same
#: device's 45-byte binary frame 11 s later (09°57.8620' N, 84°07.1210' W, flag 4: north,
#: west, no fix; MCC 0x02c8 = 712 Costa Rica in its tail, as in the NBR)
NBR_V19_REAL = bytes.fromhex(
    "2a48512c393130363134333138382c4e42522c3136303132382c3731322c332c302c312c323030362c3132"
    "3934332c32312c3234313031362c46464646464246462c36232a48512c393130363134333138382c563139"
    "2c3136303132372c562c303935372e383632342c4e2c30383430372e313231352c572c3030302e30302c30"
    "30302c3234313031362c2c38393932303134372c383935303630333031363830393938313433393f2c4646"
    "46464642464623"
)
BIN45_TK909_REAL = bytes.fromhex(
    "24910614318816013824101609578620060840712104000000fffffbffff000b000000000002c8030000000081"
)
#: REAL, traccar/traccar issue #2780: 45-byte binary frames of two devices, with the
#: positions traccar logged for them (55.63438, 12.26770, course 269; 55.68293, 12.39752,
#: 30 knots, course 198), and an NBR frame with 7 cells and a trailing ``,6``
BIN45_A_REAL = bytes.fromhex(
    "2442061143090947021101175538063006012160620c000269ffffdfffff00140500000e3900ee01000000009b"
)
BIN45_B_REAL = bytes.fromhex(
    "2442061154420947161101175540976006012238510e030198ffffdfffff00130b00002ee100ee0100000000d5"
)
NBR7_REAL = bytes.fromhex(
    "2a48512c343230363130313636342c4e42522c3039343731342c3233382c312c302c372c3534312c333933"
    "392c36332c3534312c333933382c35302c3534312c333934302c33392c313132312c3637322c33312c3534"
    "312c313536312c32382c3534312c31343139362c32372c3534312c313537302c32352c3131303131372c46"
    "464646444646462c3623"
)
#: REAL, traccar/traccar issue #1145: a text V1 and two 32-byte binary frames of the same
#: device (4300249398): N and W in both forms; the binary flag nibble 4 (north, west,
#: invalid) then 6 (north, west, valid) -- the west and invalid bits confirmed by a device
V1_1145_REAL = bytes.fromhex(
    "2a48512c343330303234393339382c56312c3138313832342c562c343033312e393736362c4e2c303033"
    "35332e383632382c572c302e30302c3039392c3239303331352c464645374642464623"
)
BIN32_INVALID_REAL = bytes.fromhex(
    "24430024939818183229031540319766000035386284000098ffe7fbffff0000"
)
BIN32_VALID_REAL = bytes.fromhex("24430024939818190329031540319766000035386966001019ffe7fbffff0000")
#: REAL, traccar/traccar issue #3077: a heartbeat without battery, CR LF after it
HTBT_BARE_REAL = bytes.fromhex("2a48512c3836353230353033303138303633312c48544254230d0a")


@pytest.mark.parametrize(
    ("frame", "key", "when", "lat", "lon", "valid", "knots", "course"),
    [
        (V1_NO_LEADING_ZERO_REAL, "354188045431058", datetime(2012, 10, 13, 15, 58, 50),
         52 + 14.5346 / 60, 21 + 17.4683 / 60, True, 0.0, 270.9),
        (V1_SHORT_LAT_REAL, "13069100123456", datetime(2016, 12, 13, 11, 42, 18),
         -(3 + 44.9999 / 60), -(32 + 22.4453 / 60), True, 0.9, 0.0),
        (V1_10_DIGIT_ID_REAL, "2705170893", datetime(2013, 7, 19, 18, 16, 29),
         -(21 + 24.8384 / 60), -(42 + 11.5441 / 60), False, 0.0, 0.0),
        (V1_EMPTY_VALIDITY_REAL, "355488020793974", datetime(2016, 7, 20, 9, 33, 0),
         16 + 47.53574 / 60, 96 + 7.41785 / 60, False, 0.0, 0.0),
        (V1_1145_REAL, "4300249398", datetime(2015, 3, 29, 18, 18, 24),
         40 + 31.9766 / 60, -(3 + 53.8628 / 60), False, 0.0, 99.0),
    ],
)  # fmt: skip
def test_real_v1_coordinate_forms(
    frame: bytes,
    key: str,
    when: datetime,
    lat: float,
    lon: float,
    valid: bool,
    knots: float,
    course: float,
) -> None:
    (pos,) = feed_three_ways(session, frame)
    assert isinstance(pos, Position)
    assert (pos.device_key, pos.fix_time) == (key, when.replace(tzinfo=UTC))
    assert pos.lat == pytest.approx(lat)
    assert pos.lon == pytest.approx(lon)
    assert pos.valid is valid
    assert pos.speed_kmh == pytest.approx(knots * 1.852)
    assert pos.course_deg == course


def test_real_v1_lbs_fields_kept_raw() -> None:
    (pos,) = feed_three_ways(session, V1_SOUTH_WEST_REAL)
    assert isinstance(pos, Position)
    assert pos.attributes["data"] == "0002d4,00000b,005385,0052aa,25"


@pytest.mark.parametrize(
    ("frame", "key", "status"),
    [
        (V1_LBS_ONLY_REAL, "353506050551016", "FFFFFFFF"),
        (V1_ZERO_DATE_REAL, "356823036777600", "FFFBFFFF"),
    ],
)
def test_real_v1_without_gps_time_is_a_no_fix_report(frame: bytes, key: str, status: str) -> None:
    (info,) = feed_three_ways(session, frame)
    assert isinstance(info, DeviceInfo)
    assert (info.kind, info.device_key, info.attributes["status"]) == ("no_fix", key, status)


def test_real_nbr_and_v19_in_one_read() -> None:
    nbr, v19 = feed_three_ways(session, NBR_V19_REAL)
    assert isinstance(nbr, DeviceInfo)
    assert (nbr.kind, nbr.attributes["mcc"], nbr.attributes["mnc"]) == ("cell", 712, 3)
    assert nbr.attributes["cell_count"] == 1
    assert isinstance(v19, Position)
    assert v19.device_key == "9106143188"
    assert v19.fix_time == datetime(2016, 10, 24, 16, 1, 27, tzinfo=UTC)
    assert v19.lat == pytest.approx(9 + 57.8624 / 60)
    assert v19.lon == pytest.approx(-(84 + 7.1215 / 60))
    assert v19.valid is False
    assert v19.attributes["status"] == "FFFFFBFF"
    assert v19.attributes["iccid"] == "8950603016809981439"
    assert v19.attributes["type"] == "V19"


def test_real_nbr_with_seven_cells_and_trailing_field() -> None:
    (info,) = feed_three_ways(session, NBR7_REAL)
    assert isinstance(info, DeviceInfo)
    assert info.device_key == "4206101664"
    assert (info.attributes["mcc"], info.attributes["mnc"]) == (238, 1)
    assert info.attributes["cell_count"] == 7


@pytest.mark.parametrize(
    ("frame", "key", "when", "lat", "lon", "valid", "knots", "course"),
    [
        (BIN45_A_REAL, "4206114309", datetime(2017, 1, 11, 9, 47, 2),
         55 + 38.0630 / 60, 12 + 16.0620 / 60, False, 0, 269.0),
        (BIN45_B_REAL, "4206115442", datetime(2017, 1, 11, 9, 47, 16),
         55 + 40.9760 / 60, 12 + 23.8510 / 60, True, 30, 198.0),
        (BIN45_TK909_REAL, "9106143188", datetime(2016, 10, 24, 16, 1, 38),
         9 + 57.8620 / 60, -(84 + 7.1210 / 60), False, 0, 0.0),
        (BIN32_INVALID_REAL, "4300249398", datetime(2015, 3, 29, 18, 18, 32),
         40 + 31.9766 / 60, -(3 + 53.8628 / 60), False, 0, 98.0),
        (BIN32_VALID_REAL, "4300249398", datetime(2015, 3, 29, 18, 19, 3),
         40 + 31.9766 / 60, -(3 + 53.8696 / 60), True, 1, 19.0),
    ],
)  # fmt: skip
def test_real_binary_frames_of_32_and_45_bytes(
    frame: bytes,
    key: str,
    when: datetime,
    lat: float,
    lon: float,
    valid: bool,
    knots: int,
    course: float,
) -> None:
    (pos,) = feed_three_ways(session, frame)
    assert isinstance(pos, Position)
    assert (pos.device_key, pos.fix_time) == (key, when.replace(tzinfo=UTC))
    assert pos.lat == pytest.approx(lat)
    assert pos.lon == pytest.approx(lon)
    assert (pos.valid, pos.course_deg) == (valid, course)
    assert pos.speed_kmh == pytest.approx(knots * 1.852)
    framer = H02Framer()
    assert framer.feed(frame * 2) == [frame[:32]] * 2
    assert framer.skipped == 0


def test_real_bare_heartbeat_is_echoed() -> None:
    beat, reply = feed_three_ways(session, HTBT_BARE_REAL)
    assert beat == Heartbeat(device_key="865205030180631", protocol="h02", attributes={})
    assert reply == Reply(data=HTBT_BARE_REAL[:-2], acks_data=False)


# issue 9: the hemisphere check compared against the string "NSEW", so "NS", "" or "E" for a
# latitude passed; each axis now takes only its own two letters.
@pytest.mark.parametrize(
    "frame",
    [
        V1.replace(b",N,", b",NS,"),
        V1.replace(b",N,", b",,"),
        V1.replace(b",N,", b",E,"),
        V1.replace(b",E,", b",N,"),
        V1.replace(b",E,", b",SEW,"),
    ],
)
def test_hemisphere_must_be_one_letter_of_its_axis(frame: bytes) -> None:
    (rejected,) = feed_three_ways(session, frame)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert "hemisphere" in str(rejected.error)


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        # BUILT from the V1 layout: the dash form and the no-point form of the same point
        (b"-22-40.5518", b"-113-58.3238", (22 + 40.5518 / 60, 113 + 58.3238 / 60)),
        (b"22405518", b"113583238", (22 + 40.5518 / 60, 113 + 58.3238 / 60)),
        (b"0022.5", b"00000.0", (22.5 / 60, 0.0)),
    ],
)
def test_coordinate_forms(lat: bytes, lon: bytes, expected: tuple[float, float]) -> None:
    frame = V1.replace(b"2240.55181", lat).replace(b"11358.32389", lon)
    (pos,) = feed_three_ways(session, frame)
    assert isinstance(pos, Position)
    assert pos.lat == pytest.approx(expected[0])
    assert pos.lon == pytest.approx(expected[1])


@pytest.mark.parametrize(
    "bad",
    [
        V1.replace(b"0.00,0,100815", b"nan,0,100815"),  # NaN speed (issue 9)
        V1.replace(b"0.00,0,100815", b"inf,0,100815"),
        V1.replace(b"0.00,0,100815", b"0.00,1e3,100815"),
        V1.replace(b"2240.55181", b"2260.5518"),  # 60 minutes
        V1.replace(b"2240.55181", b"9100.0000"),  # 91 degrees
        V1.replace(b"2240.55181", b"-22-4x.55"),
        V1.replace(b"145452", b"14545"),
        V1.replace(b"FFFFFBFF", b"FF\x00FFBFF"),  # NUL in text (issue 9)
    ],
)
def test_poison_values_are_malformed(bad: bytes) -> None:
    s = session()
    (rejected,) = s.receive(bad)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert not s.failed


def test_vp1_fix_from_the_document() -> None:
    # HuaSunTeK §三.0 "Real-time location (Simple Version-New)": no time of day in the frame
    (pos,) = feed_three_ways(session, VP1_HST_FIX)
    assert isinstance(pos, Position)
    assert pos.device_key == "353505910449999"
    assert pos.fix_time == datetime(2014, 8, 18, tzinfo=UTC)
    assert pos.lat == pytest.approx(22 + 39.4210 / 60)
    assert pos.lon == pytest.approx(114 + 0.8825 / 60)
    assert (pos.valid, pos.speed_kmh, pos.course_deg) == (True, 0.0, 348.0)
    assert pos.attributes == {
        "type": "VP1",
        "date_only": True,
        "status": "FFFFFFFF",
        "data": "90",
    }


def test_vp1_lbs_from_the_document() -> None:
    # HuaSunTeK §三.0: "GSM BaseStation data separated by Y", each cell lac,cid,level
    (info,) = feed_three_ways(session, VP1_HST_LBS)
    assert isinstance(info, DeviceInfo)
    assert (info.kind, info.device_key) == ("cell", "353505910449999")
    assert (info.attributes["mcc"], info.attributes["mnc"]) == (460, 0)
    assert info.attributes["cell_count"] == 3
    assert info.attributes["data"] == "9376,8532,99Y9876,4357,99Y0,0,99Y"
    # cells that are not three numbers each are kept raw, uncounted
    (odd,) = session().receive(VP1_HST_LBS.replace(b"99Y0,0,99Y", b"99Y0,99Y"))
    assert isinstance(odd, DeviceInfo)
    assert "cell_count" not in odd.attributes


def test_vi1_with_a_coding_scheme_where_v1_has_the_validity() -> None:
    # HuaSunTeK §三.3: VI1,HHmmss,Code,latitude,... -- Code 0 = GB2312 (of the address the
    # server may send back); the frame does not say whether the fix is valid
    (pos,) = feed_three_ways(session, VI1_HST)
    assert isinstance(pos, Position)
    assert pos.device_key == "353505910449999"
    assert pos.fix_time == datetime(2014, 8, 18, 5, 28, 25, tzinfo=UTC)
    assert pos.lat == pytest.approx(22 + 39.4210 / 60)
    assert pos.lon == pytest.approx(114 + 0.8825 / 60)
    assert (pos.valid, pos.course_deg) == (False, 348.0)
    assert (pos.attributes["type"], pos.attributes["code"]) == ("VI1", 0)
    assert pos.attributes["status"] == "FFFFFFFF"
    assert str(pos.attributes["data"]).startswith("1CC,0,25FC,F48,90,")
    # a VI1 with the validity letter (as V1) still reads it; any other letter is malformed
    (valid,) = session().receive(VI1_HST.replace(b"052825,0,", b"052825,A,"))
    assert isinstance(valid, Position)
    assert valid.valid is True
    assert "code" not in valid.attributes
    (bad,) = session().receive(VI1_HST.replace(b"052825,0,", b"052825,X,"))
    assert isinstance(bad, Rejected)
    assert isinstance(bad.error, Malformed)


def test_v1_of_the_huasuntek_document() -> None:
    # §三.1: power, the cell count and three cells after the status (raw); a blank before '#'
    (pos,) = feed_three_ways(session, V1_HST)
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2014, 8, 18, 5, 28, 25, tzinfo=UTC)
    assert pos.valid is True
    assert pos.attributes["status"] == "FFFFFFFF"
    assert pos.attributes["data"] == "90,3,460,0,9376,8532,9876,4357,0,0 "


def test_binary_standard_record_of_the_st901_document() -> None:
    # ST-901 document, "standard mode record" example: N, E and the A/V bit 0 (nibble C)
    (pos,) = feed_three_ways(session, BIN32_ST901_DOC)
    assert isinstance(pos, Position)
    assert pos.device_key == "1030731001"
    assert pos.fix_time == datetime(2002, 9, 22, 5, 3, 16, tzinfo=UTC)
    assert pos.lat == pytest.approx(22 + 12.8745 / 60)
    assert pos.lon == pytest.approx(113 + 46.6574 / 60)
    assert pos.valid is False
    assert pos.speed_kmh == pytest.approx(14 * 1.852)
    assert pos.course_deg == 28.0
    # user alarm flag FF, reserved 00, record number (not given in the example) 00
    assert pos.attributes == {
        "type": "binary",
        "battery": 0,
        "status": "FFFFFBFF",
        "tail": "FF0000",
    }


def test_real_binary_beside_its_text_frame() -> None:
    # traccar/traccar#981: the same device's text V1 and 32-byte binary frame 10 s later
    (text,) = feed_three_ways(session, V1_981_REAL)
    (binary,) = feed_three_ways(session, BIN32_981_REAL)
    assert isinstance(text, Position)
    assert isinstance(binary, Position)
    assert text.device_key == binary.device_key == "4300249211"
    assert binary.fix_time == datetime(2014, 11, 18, 8, 58, 59, tzinfo=UTC)
    assert binary.lat == pytest.approx(text.lat)
    assert binary.lon == pytest.approx(text.lon)
    assert binary.valid is text.valid is True
    assert (binary.attributes["status"], text.attributes["status"]) == ("FFE7FBFF",) * 2
    assert binary.attributes["tail"] == "FF0000"


def test_51_byte_binary_frames_leave_no_garbage() -> None:
    # traccar/traccar#5417 (CJ730 Plus 4G): a 51-byte binary frame; the issue masks some id
    # and coordinate digits, filled with 0 here (those digits are BUILT, the rest is real)
    (pos,) = feed_three_ways(session, BIN51_5417)
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2024, 9, 20, 23, 43, 15, tzinfo=UTC)
    assert (pos.valid, pos.speed_kmh, pos.course_deg) == (True, 0.0, 176.0)
    assert pos.attributes["status"] == "F7FFFFFF"
    # traccar logged xx.53573, xx.35546 for it: the unmasked minutes
    assert pos.lat % 1 == pytest.approx(0.53573, abs=1e-5)
    assert pos.lon % 1 == pytest.approx(0.35546, abs=1e-5)
    framer = H02Framer()
    assert len(BIN51_5417) == 51
    assert framer.feed(BIN51_5417 * 3 + V4_S20_5417) == [BIN51_5417[:32]] * 3 + [V4_S20_5417]
    assert framer.skipped == 0
    # past 51 bytes the tail ends: further bytes are garbage again
    framer = H02Framer()
    assert framer.feed(BIN51_5417 + b"\x00\x01" + V4_S20_5417) == [BIN51_5417[:32], V4_S20_5417]
    assert framer.skipped == 2


def test_real_short_v4_reply() -> None:
    # traccar/traccar#5417: the device's V4 to an S20 command (id digits masked: BUILT 0s)
    (reply,) = feed_three_ways(session, V4_S20_5417)
    assert isinstance(reply, DeviceInfo)
    assert reply.kind == "command_reply"
    assert (reply.attributes["command"], reply.attributes["text"]) == ("S20,034313", "1,1")


# --- commands (issue 13) ----------------------------------------------------------------

AT = datetime(2020, 10, 14, 7, 52, 44, tzinfo=UTC)


def test_interval_command_matches_the_captured_one() -> None:
    # traccar.org forum "Parsing Issue H02 protocol": the server sent D1,075244,60,1 to
    # device 0000000000 and the device confirmed it with V4_D1_REAL
    assert set_interval("0000000000", 60, at=AT) == b"*HQ,0000000000,D1,075244,60,1#"
    (reply, _pos) = session().receive(V4_D1_REAL)
    assert isinstance(reply, DeviceInfo)
    assert reply.attributes["command"] == "D1,60"


def test_engine_commands_and_framing() -> None:
    assert engine_stop("4300249398", at=AT) == b"*HQ,4300249398,S20,075244,1,1#"
    assert engine_resume("4300249398", at=AT) == b"*HQ,4300249398,S20,075244,1,0#"
    assert encode_command("1", "R1", at=AT, maker="SZ") == b"*SZ,1,R1,075244#"
    with pytest.raises(ValueError):
        encode_command("12#", "D1", at=AT)
    with pytest.raises(ValueError):
        encode_command("12", "D1", "1,2", at=AT)
    with pytest.raises(ValueError):
        set_interval("12", 0, at=AT)
    # the encoded command is itself a well-formed H02 text frame for the framer
    assert H02Framer().feed(engine_stop("4300249398", at=AT)) == [b"*HQ,4300249398,S20,075244,1,1#"]


DOC_AT = datetime(2024, 1, 1, 13, 3, 5, tzinfo=UTC)


def test_engine_commands_are_the_documents_examples() -> None:
    # HuaSunTeK §四.1: "*HQ,0000000000,S20,130305,1,1#" cuts, "...,1,0#" recovers
    assert engine_stop("0000000000", at=DOC_AT) == b"*HQ,0000000000,S20,130305,1,1#"
    assert engine_resume("0000000000", at=DOC_AT) == b"*HQ,0000000000,S20,130305,1,0#"
    # and the device's confirmation, with the position it was at
    reply, pos = feed_three_ways(session, V4_S20_HST)
    assert isinstance(reply, DeviceInfo)
    assert (reply.kind, reply.attributes["command"]) == ("command_reply", "S20,80")
    assert isinstance(pos, Position)
    assert pos.fix_time == datetime(2002, 9, 22, 5, 3, 16, tzinfo=UTC)
    assert pos.lat == pytest.approx(22 + 12.8745 / 60)
    assert pos.speed_kmh == pytest.approx(14.28 * 1.852)
    assert pos.attributes == {"type": "V4", "status": "F7FFFBFF"}


def test_locate_now_is_cr_without_a_time() -> None:
    # HuaSunTeK §四.2: "*HQ,YYYYYYYYYY,CR#", answered "*HQ,YYYYYYYYYY,V4,CR#"
    assert locate_now("353505910449999") == b"*HQ,353505910449999,CR#"
    assert locate_now("1", maker="SZ") == b"*SZ,1,CR#"
    with pytest.raises(ValueError):
        locate_now("1#")
    (reply,) = feed_three_ways(session, V4_CR_HST)
    assert isinstance(reply, DeviceInfo)
    assert (reply.kind, reply.attributes["command"]) == ("command_reply", "CR")


def test_reboot_is_the_cold_start_r1() -> None:
    # ST-901 document, "Cold Start Command R1": "*XX,YYYYYYYYYY,R1,HHMMSS#",
    # e.g. "*TH,000000,R1,130305#" (the device sends no answer)
    assert reboot("000000", at=DOC_AT) == b"*HQ,000000,R1,130305#"
    assert encode_command("000000", "R1", at=DOC_AT, maker="TH") == b"*TH,000000,R1,130305#"
    # the server's UTC time, whatever the zone of ``at``
    assert reboot("1", at=DOC_AT.astimezone(timezone(timedelta(hours=8)))) == b"*HQ,1,R1,130305#"


@pytest.mark.parametrize(
    ("frame", "key", "attributes"),
    [
        (XT_HST, "353505910449999", {}),
        (XT_REAL, "353506112457668", {"data": "2"}),
        (XT_V_REAL, "355488020793974", {"data": "V,0,0"}),
    ],
)
def test_xt_is_a_heartbeat(frame: bytes, key: str, attributes: dict[str, str]) -> None:
    # HuaSunTeK §三.2: "HEARTBEAT PACKET (XT)", no reply; the captured devices add fields
    beat, *rest = feed_three_ways(session, frame)
    assert beat == Heartbeat(device_key=key, protocol="h02", attributes=attributes)
    assert rest == []  # "RESPOND FORMAT: no"


def test_unsupported_type_is_counted_and_keeps_the_session() -> None:
    s = session()
    (rejected,) = s.receive(ALRM_HST)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert "'ALRM'" in str(rejected.error)
    assert not rejected.fatal
    assert not s.failed
    (pos,) = s.receive(V1)
    assert isinstance(pos, Position)
