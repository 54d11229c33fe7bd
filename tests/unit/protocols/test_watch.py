"""watch (3G/SeTracker): the examples of the vendor's protocol page, fed three ways.

Source of every sample unless noted: "Beesure GPS SeTracker Server Protocol", 4P-Touch
(Shenzhen Yushengchang), https://www.4p-touch.com/beesure-gps-setracker-server-protocol.html
(section named beside each sample; the 2021 revision of the page writes the vendor as
``SG``, the 2025 one as ``3G``). Every LEN was checked against its content (hex).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols import registry
from protocols.base import Detection, Session
from protocols.errors import FrameTooLarge, Malformed, UnsupportedMessage
from protocols.model import (
    AttributeValue,
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Position,
    Rejected,
    Reply,
)
from protocols.watch import (
    MAX_FRAME,
    SPEC,
    WatchFramer,
    detect,
    encode_command,
    encode_reply,
    find,
    locate_now,
    measure_heart_rate,
    power_off,
    reboot,
    set_interval,
    unescape,
)
from tests.unit.protocols.helpers import feed_three_ways

# "1. Link Keep" (1) and (2), 2025 revision (3G) and 2021 revision (SG).
LK = b"[3G*8800000015*0002*LK]"
LK_DATA = b"[3G*8800000015*000D*LK,50,100,100]"
LK_SG = b"[SG*8800000015*0002*LK]"
LK_SG_DATA = b"[SG*8800000015*000D*LK,50,100,100]"
# "2. Position data (UD string)". The page prints "9529, 63554" with a stray space; its own
# LEN 00CD (205) counts the content without it, so the space is left out here.
UD = (
    b"[3G*8800000015*00CD*UD,180916,025723,A,22.570733,N,113.8626083,E,0.00,249.5,0.0,6,100,"
    b"60,0,0,00000010,7,255,460,1,9529,21809,158,9529,63555,133,9529,63554,129,9529,21405,126,"
    b"9529,21242,124,9529,21151,120,9529,63556,119,0,40.7]"
)
# "3. Blind spot Data Supplements".
UD2 = (
    b"[3G*8800000015*00D0*UD2,180916,064032,A,22.570512,N,113.8623267,E,0.00,154.8,0.0,11,100,"
    b"100,0,0,00000010,7,255,460,1,9529,21809,157,9529,21405,131,9529,63555,130,9529,21242,129,"
    b"9529,63554,126,9529,63556,120,9529,21151,113,0,12.2]"
)
# "4. Alarm data report": status 00100018 = remove-watch alarm (bit 20) while worn/static.
AL = (
    b"[3G*8800000015*00CD*AL,180916,064153,A,22.570512,N,113.8623267,E,0.00,154.8,0.0,11,100,"
    b"100,0,0,00100018,7,0,460,1,9529,21809,155,9529,21242,132,9529,21405,131,9529,63554,131,"
    b"9529,63555,130,9529,63556,118,9529,21869,116,0,12.4]"
)
# "4. Alarm data report", 4G example: fall down (bit 21), no GPS fix, five Wi-Fi hotspots.
AL_LTE = (
    b"[3G*4504816162*010A*AL_LTE,241020,085353,V,0.0,N,0.0,E,22.0,0,-1,1,100,35,0,0,00200000,"
    b"1,1,460,11,30602,125639728,100,5,4P-Touch,bc:5f:f6:1e:07:be,-55,ChinaNet-a9Ld,"
    b"c4:b8:b5:c4:14:79,-53,ChinaNet-CX9r,f0:92:b4:95:3d:b9,-57,5B,08:31:8b:ae:ef:c8,-66,"
    b"TP-LINK_274E,50:bd:5f:80:27:4e,-63,0.0]"
)
# "III. Heart Rate and Blood Pressure protocol", 1 (device answer to hrtstart).
BPHRT = b"[3G*8800000015*0013*bphrt,112,73,67,,,,]"
# "26. Device checking the offline voice message" (format line, LEN filled in).
TKQ = b"[3G*8800000015*0003*TKQ]"
# "29. Touch to add friend" and "13. Check the version" (device reply): not decoded.
PP = (
    b"[3G*8800000015*00D4*PP,091046,180916,085033,A,22.570193,N,113.8621950,E,0.48,60.3,0.0,9,"
    b"100,100,0,0,00000010,7,255,460,1,9529,21809,160,9529,21405,133,9529,63555,133,9529,63554,"
    b"124,9529,21242,119,9529,21151,118,9529,63574,116,0,23.2]"
)
VERNO = b"[3G*8800000015*0028*VERNO,G29_BASE_V1.00_2014.04.23_17.46.49]"

ID = "8800000015"


def new_session() -> Session:
    return SPEC.new_session("tcp", None)


def test_spec_is_registered() -> None:
    assert registry.get("watch") is SPEC
    assert SPEC.default_port == 5093


@pytest.mark.parametrize(
    ("frame", "reply", "attributes"),
    [
        (LK, b"[3G*8800000015*0002*LK]", {}),
        (LK_DATA, b"[3G*8800000015*0002*LK]", {"steps": 50, "tumbles": 100, "battery_pct": 100}),
        (LK_SG, b"[SG*8800000015*0002*LK]", {}),
        (LK_SG_DATA, b"[SG*8800000015*0002*LK]", {"steps": 50, "tumbles": 100, "battery_pct": 100}),
    ],
)
def test_link_keep_answered_with_the_devices_vendor(
    frame: bytes, reply: bytes, attributes: dict[str, int]
) -> None:
    assert feed_three_ways(new_session, frame) == [
        Heartbeat(device_key=ID, protocol="watch", attributes=attributes),
        Reply(data=reply, acks_data=False),
    ]


def test_position_data_is_not_answered() -> None:
    (position,) = feed_three_ways(new_session, UD)
    assert isinstance(position, Position)
    assert position.fix_time == datetime(2016, 9, 18, 2, 57, 23, tzinfo=UTC)
    assert (position.lat, position.lon, position.valid) == (22.570733, 113.8626083, True)
    assert (position.speed_kmh, position.course_deg, position.altitude_m) == (0.0, 249.5, 0.0)
    assert (position.satellites, position.battery_pct, position.accuracy_m) == (6, 60.0, 40.7)
    attributes = dict(position.attributes)
    assert attributes["status"] == "00000010"
    assert attributes["motion"] is False  # bit 4: device not moving
    assert (attributes["gsm_signal"], attributes["steps"], attributes["tumbles"]) == (100, 0, 0)
    assert (attributes["cells"], attributes["mcc"], attributes["mnc"], attributes["wifi"]) == (
        7,
        460,
        1,
        0,
    )


def test_blind_spot_data() -> None:
    (position,) = feed_three_ways(new_session, UD2)
    assert isinstance(position, Position)
    assert position.fix_time == datetime(2016, 9, 18, 6, 40, 32, tzinfo=UTC)
    assert (position.lat, position.lon, position.satellites) == (22.570512, 113.8623267, 11)
    assert (position.course_deg, position.battery_pct, position.accuracy_m) == (154.8, 100.0, 12.2)


def test_alarm_is_an_event_with_its_fix_and_a_held_reply() -> None:
    event, reply = feed_three_ways(new_session, AL)
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.time) == ("removing", datetime(2016, 9, 18, 6, 41, 53, tzinfo=UTC))
    assert event.position is not None
    assert (event.position.lat, event.position.lon) == (22.570512, 113.8623267)
    assert event.position.attributes["worn"] is True  # bit 3
    assert reply == Reply(data=b"[3G*8800000015*0002*AL]", acks_data=True)


def test_lte_alarm_without_fix_with_wifi() -> None:
    # V at exactly 0, 0: a Wi-Fi/LBS report, so the alarm carries no position but its time
    # and the radio counts
    event, reply = feed_three_ways(new_session, AL_LTE)
    assert isinstance(event, DeviceEvent)
    assert event.kind == "fall_down"
    assert event.device_key == "4504816162"
    assert event.position is None
    assert event.time == datetime(2020, 10, 24, 8, 53, 53, tzinfo=UTC)
    assert dict(event.attributes) == {
        "status": "00200000",
        "cells": 1,
        "mcc": 460,
        "mnc": 11,
        "wifi": 5,
    }
    assert reply == Reply(data=b"[3G*4504816162*0002*AL]", acks_data=True)


def test_blood_pressure_and_heart_rate() -> None:
    assert feed_three_ways(new_session, BPHRT) == [
        DeviceInfo(
            device_key=ID,
            protocol="watch",
            kind="health",
            attributes={
                "type": "bphrt",
                "systolic_mmhg": 112,
                "diastolic_mmhg": 73,
                "heart_rate_bpm": 67,
            },
        ),
        Reply(data=b"[3G*8800000015*0005*bphrt]"),
    ]


def test_offline_voice_query_is_echoed() -> None:
    assert feed_three_ways(new_session, TKQ) == [Reply(data=TKQ)]


#: "4. SPO2 data sync protocol" (2025 revision of the page; LEN filled in): the server is to
#: rate the reading in its answer, which this gateway does not do, so it stays unsupported
OXYGEN = b"[3G*8800000015*000B*oxygen,0,98]"


@pytest.mark.parametrize("frame", [PP, VERNO, OXYGEN])
def test_other_types_are_unsupported_but_framed(frame: bytes) -> None:
    (rejected,) = feed_three_ways(new_session, frame)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert not rejected.fatal


def test_encode_reply_uses_hex_length() -> None:
    assert encode_reply("3G", ID, "x" * 162) == b"[3G*8800000015*00A2*" + b"x" * 162 + b"]"


def test_garbage_and_wrong_length_are_skipped() -> None:
    session = new_session()
    bad_length = b"[3G*8800000015*0003*LK]"  # LEN does not land on "]"
    messages = session.receive(b"\r\nxx" + bad_length + LK + b"zz" + LK_SG)
    assert [type(m) for m in messages] == [Heartbeat, Reply, Heartbeat, Reply]
    assert session._framer.skipped == len(b"\r\nxx") + len(bad_length) + len(b"zz")


@pytest.mark.parametrize(
    "frame",
    [
        UD.replace(b"180916,025723", b"320916,025723"),  # day 32
        UD.replace(b",A,22.570733", b",X,22.570733"),  # validity
        UD.replace(b"22.570733", b"92.570733"),  # latitude out of range
        UD.replace(b"00000010", b"0000001G"),  # status not hex
        b"[3G*8800000015*0006*UD,1,2]",  # too few fields
        b"[3G*8800000015*0004*LK,\xff]",  # not ASCII
    ],
)
def test_bad_frames_are_malformed_not_fatal(frame: bytes) -> None:
    session = new_session()
    (rejected,) = session.receive(frame)
    assert isinstance(rejected, Rejected)
    assert type(rejected.error) is Malformed
    assert not session.failed
    assert [type(m) for m in session.receive(LK)] == [Heartbeat, Reply]


def test_longest_length_is_held_for_voice_only() -> None:
    # LEN FFFF (65535 bytes) is valid for a voice message: held, bounded by LEN's own maximum
    session = new_session()
    assert session.receive(b"[3G*8800000015*FFFF*TK,") == []
    assert not session.failed
    assert 0xFFFF < MAX_FRAME <= 0xFFFF + 64
    # any other type claiming more than 16 KiB is fatal, whether its first bytes come whole
    # or one at a time
    for chunks in ([b"[3G*8800000015*FFFF*UD,"], [b"[3G*8800000015*FFFF*T", b"X"]):
        session = new_session()
        out = [m for chunk in chunks for m in session.receive(chunk)]
        (rejected,) = out
        assert isinstance(rejected, Rejected)
        assert isinstance(rejected.error, FrameTooLarge)
        assert session.failed


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (LK, Detection.YES),
        (b"[SG*8800000015*", Detection.YES),
        (b"[3G", Detection.MORE),
        (b"[3G*88000", Detection.MORE),
        (b"", Detection.MORE),
        (b"##,imei:359586015829802,A;", Detection.NO),
        (b"\x78\x78\x11\x01", Detection.NO),
    ],
)
def test_detect(first: bytes, expected: Detection) -> None:
    assert detect(first) is expected


# --- protocol breadth (issue 13): REAL captures from public threads ------------------------
#: traccar/traccar#5015 (LMHOME LM003, "K10S"): link keeps, SIM id, GS1 cell reports, two
#: valid short UD frames (no cell/Wi-Fi list) and a no-GPS UD with one cell
LK_99_REAL = b"[3G*9032074659*0009*LK,0,0,99]"
LK_100_REAL = b"[3G*9032074659*000A*LK,0,0,100]"
CCID_REAL = b"[3G*9032074659*0019*CCID,89882280666025486402]"
GS1_REAL = (
    b"[3G*9032074659*001B*GS1,1,5,206,1,9126,50317,19]",
    b"[3G*9032074659*0029*GS1,2,5,206,1,9126,50317,52,9126,50318,32]",
    b"[3G*9032074659*0036*GS1,3,5,206,1,9126,50317,30,9126,50318,30,9126,50319,2]",
)
UD_SHORT_REAL = (
    b"[3G*9032074659*004A*UD,080123,131944,A,51.219992,N,003.190249,E,0,0,7,9,64,90,0,0,"
    b"00000008,0,0]"
)
UD_SHORT_2_REAL = (
    b"[3G*9032074659*004A*UD,080123,131954,A,51.220004,N,003.190245,E,0,0,6,9,71,90,0,0,"
    b"00000008,0,0]"
)
UD_NO_GPS_REAL = (
    b"[3G*9032074659*0061*UD,080123,025556,V,00.000000,N,000.000000,E,0,0,0,0,100,94,0,0,"
    b"00000008,1,5,206,1,9126,50317,32,0]"
)
#: traccar/traccar#2702 (RF-V28): a link keep and the server's answer, both in hex in the log
LK_2702_REAL = bytes.fromhex("5b33472a323731363334313236392a303030392a4c4b2c302c302c32305d")
LK_2702_ANSWER = bytes.fromhex("5b33472a323731363334313236392a303030322a4c4b5d")
#: traccar/traccar#1864: an invalid (V) UD holding the last coordinates, a blank before the
#: longitude, 5 cells and 3 Wi-Fi hotspots with names, no trailing accuracy
UD_1864_REAL = bytes.fromhex(
    "5b33472a313530363432313631332a303131332a55442c3133303431362c3130353233342c562c35312e32"
    "37303237312c4e2c20302e353233393531362c452c302e30302c302e302c302e302c302c33352c37332c38"
    "2c302c30303030303030382c352c3235352c3233342c33302c323135332c33373530382c3132352c323135"
    "332c323937332c3133322c323033392c32303237322c3132312c323033392c393238392c3132312c323033"
    "392c32313237342c3131322c332c4469727479436f726e657232612c36343a37303a30323a61613a38663a"
    "33622c2d37332c5468654469727479436f726e65722c30303a30633a66363a33663a31663a62342c2d3831"
    "2c54502d4c494e4b5f53545544494f2c39303a66363a35323a33363a62303a63632c2d39325d"
)


@pytest.mark.parametrize(
    ("frame", "reply", "attributes"),
    [
        (LK_99_REAL, b"[3G*9032074659*0002*LK]", {"steps": 0, "tumbles": 0, "battery_pct": 99}),
        (LK_100_REAL, b"[3G*9032074659*0002*LK]", {"steps": 0, "tumbles": 0, "battery_pct": 100}),
        (LK_2702_REAL, LK_2702_ANSWER, {"steps": 0, "tumbles": 0, "battery_pct": 20}),
    ],
)
def test_real_link_keeps_get_the_answer_servers_send(
    frame: bytes, reply: bytes, attributes: dict[str, int]
) -> None:
    (heartbeat, answer) = feed_three_ways(new_session, frame)
    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.attributes == attributes
    assert answer == Reply(data=reply, acks_data=False)


def test_real_sim_id() -> None:
    (info,) = feed_three_ways(new_session, CCID_REAL)
    assert info == DeviceInfo(
        device_key="9032074659",
        protocol="watch",
        kind="info",
        attributes={"iccid": "89882280666025486402"},
    )


@pytest.mark.parametrize("frame", GS1_REAL)
def test_real_gs1_is_unsupported_counted_and_keeps_the_session(frame: bytes) -> None:
    session = new_session()
    (rejected,) = session.receive(frame)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, UnsupportedMessage)
    assert "'GS1'" in str(rejected.error)
    assert not session.failed
    assert [type(m) for m in session.receive(LK_99_REAL)] == [Heartbeat, Reply]


@pytest.mark.parametrize(
    ("frame", "when", "lat", "lon", "satellites"),
    [
        (UD_SHORT_REAL, datetime(2023, 1, 8, 13, 19, 44), 51.219992, 3.190249, 9),
        (UD_SHORT_2_REAL, datetime(2023, 1, 8, 13, 19, 54), 51.220004, 3.190245, 9),
    ],
)
def test_real_short_position_without_radio_lists(
    frame: bytes, when: datetime, lat: float, lon: float, satellites: int
) -> None:
    (position,) = feed_three_ways(new_session, frame)
    assert isinstance(position, Position)
    assert position.device_key == "9032074659"
    assert position.fix_time == when.replace(tzinfo=UTC)
    assert (position.lat, position.lon, position.valid) == (lat, lon, True)
    assert (position.satellites, position.battery_pct) == (satellites, 90.0)
    assert (position.attributes["cells"], position.attributes["wifi"]) == (0, 0)
    assert "tail_unparsed" not in position.attributes


def test_real_no_gps_position_is_a_no_fix_report() -> None:
    (info,) = feed_three_ways(new_session, UD_NO_GPS_REAL)
    assert isinstance(info, DeviceInfo)
    assert (info.kind, info.time) == ("no_fix", datetime(2023, 1, 8, 2, 55, 56, tzinfo=UTC))
    assert (info.attributes["cells"], info.attributes["mcc"], info.attributes["mnc"]) == (
        1,
        206,
        1,
    )
    assert info.attributes["battery_pct"] == 94.0


def test_real_invalid_position_with_last_coordinates_and_wifi() -> None:
    (position,) = feed_three_ways(new_session, UD_1864_REAL)
    assert isinstance(position, Position)
    assert position.device_key == "1506421613"
    assert position.fix_time == datetime(2016, 4, 13, 10, 52, 34, tzinfo=UTC)
    assert (position.lat, position.lon, position.valid) == (51.270271, 0.5239516, False)
    assert (position.battery_pct, position.attributes["steps"]) == (73.0, 8)
    assert (position.attributes["cells"], position.attributes["mcc"]) == (5, 234)
    assert position.attributes["wifi"] == 3
    assert position.accuracy_m is None


# --- health, alarms and headers (issue 13, round 2): REAL frames from public threads --------
#: traccar/traccar#3171 (hex in the traccar log; the vendor document's "32. Terminal heart
#: uploaded": [3G*8800000015*len*heart,x], x beats per minute): no reading (0) and 71 bpm
HEART_0_REAL = bytes.fromhex("5b33472a363030353431323930322a303030372a68656172742c305d")
HEART_71_REAL = bytes.fromhex("5b33472a363030353431323930322a303030382a68656172742c37315d")
#: traccar/traccar#4395 (Y7 watch, from the log): vendor ZJ, a 15-digit id, the message index
#: 000a before LEN 000f (both in lower-case hex) and the type written BPHRT
BPHRT_4395_REAL = b"[ZJ*357653059860416*000a*000f*BPHRT,109,71,53]"
#: traccar/traccar#5062 (FA66S 4G watch, SOS pressed indoors): AL_LTE with status 00010000 (SOS),
#: no fix at 0/0 with EMPTY hemisphere fields, 4 LTE cells and one Wi-Fi hotspot without name
AL_LTE_SOS_REAL = (
    b"[3G*8904355190*00C2*AL_LTE,050423,121656,V,00.000000,,00.0000000,,0.00,0.0,0.0,0,60,46,"
    b"206,0,00010000,4,0,262,2,45192,13842433,0,45192,12827668,-14,45192,12827650,-10,45192,"
    b"12827657,-21,1,,48:5d:35:56:38:63,-81,0.0]"
)
#: freshworkstudio/gps-tracking-nodejs#17 (Q50): a link keep and a blind-spot UD2 that ends
#: after its 7 cells (no Wi-Fi count, no accuracy), N32.180347 E34.8551140 as the poster read it
LK_N17_REAL = b"[3G*1452592884*0009*LK,0,0,97]"
UD2_N17_REAL = (
    b"[3G*1452592884*00CD*UD2,130418,133752,A,32.180347,N,34.8551140,E,2.78,278.5,0.0,6,100,95,"
    b"0,0,00000000,7,255,425,2,33576,11402,161,33576,12403,139,33576,11401,138,33552,11301,135,"
    b"33576,16283,131,33576,13862,129,33576,11881,129]"
)
#: traccar/traccar#2896 (Q50, the poster's log)
LK_2896_REAL = b"[3G*6105681707*000A*LK,0,0,100]"


@pytest.mark.parametrize(
    ("frame", "attributes"),
    [
        (HEART_0_REAL, {"type": "heart"}),  # 0: not measured
        (HEART_71_REAL, {"type": "heart", "heart_rate_bpm": 71}),
    ],
)
def test_real_heart_rate_uploads(frame: bytes, attributes: dict[str, AttributeValue]) -> None:
    assert feed_three_ways(new_session, frame) == [
        DeviceInfo(device_key="6005412902", protocol="watch", kind="health", attributes=attributes)
    ]


def test_real_upper_case_blood_pressure_with_index_is_answered_with_its_index() -> None:
    assert feed_three_ways(new_session, BPHRT_4395_REAL) == [
        DeviceInfo(
            device_key="357653059860416",
            protocol="watch",
            kind="health",
            attributes={
                "type": "bphrt",
                "systolic_mmhg": 109,
                "diastolic_mmhg": 71,
                "heart_rate_bpm": 53,
            },
        ),
        Reply(data=b"[ZJ*357653059860416*000a*0005*BPHRT]"),
    ]


def test_real_lte_sos_without_fix_and_empty_hemispheres() -> None:
    event, reply = feed_three_ways(new_session, AL_LTE_SOS_REAL)
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.position) == ("sos", None)
    assert event.time == datetime(2023, 4, 5, 12, 16, 56, tzinfo=UTC)
    assert dict(event.attributes) == {
        "status": "00010000",
        "cells": 4,
        "mcc": 262,
        "mnc": 2,
        "wifi": 1,
    }
    assert reply == Reply(data=b"[3G*8904355190*0002*AL]", acks_data=True)


def test_real_q50_link_keeps_and_blind_spot_without_wifi() -> None:
    for frame, key, battery in ((LK_N17_REAL, "1452592884", 97),
                                (LK_2896_REAL, "6105681707", 100)):  # fmt: skip
        heartbeat, reply = feed_three_ways(new_session, frame)
        assert heartbeat == Heartbeat(
            device_key=key,
            protocol="watch",
            attributes={"steps": 0, "tumbles": 0, "battery_pct": battery},
        )
        assert reply == Reply(data=b"[3G*" + key.encode() + b"*0002*LK]")
    (position,) = feed_three_ways(new_session, UD2_N17_REAL)
    assert isinstance(position, Position)
    assert position.fix_time == datetime(2018, 4, 13, 13, 37, 52, tzinfo=UTC)
    assert (position.lat, position.lon, position.valid) == (32.180347, 34.855114, True)
    assert (position.speed_kmh, position.course_deg, position.satellites) == (2.78, 278.5, 6)
    assert (position.battery_pct, position.accuracy_m) == (95.0, None)
    attributes = dict(position.attributes)
    assert (attributes["cells"], attributes["mcc"], attributes["mnc"]) == (7, 425, 2)
    assert "wifi" not in attributes
    assert "tail_unparsed" not in attributes
    assert attributes["motion"] is True  # status 00000000: bit 4 (static) clear


# --- more message types (BUILT from the documented layouts; no public capture found) ------


@pytest.mark.parametrize(
    ("frame", "attributes"),
    [
        (b"[3G*8800000015*0008*pulse,64]", {"type": "pulse", "heart_rate_bpm": 64}),
        # the spelling of traccar/traccar#2291 ([CS*YYYYYYYYYY*LEN*PULSE,72], ids left out)
        (b"[CS*8800000015*0008*PULSE,72]", {"type": "pulse", "heart_rate_bpm": 72}),
        (b"[3G*8800000015*000F*blood,120,80,70]",
         {"type": "blood", "systolic_mmhg": 120, "diastolic_mmhg": 80, "heart_rate_bpm": 70}),
    ],
)  # fmt: skip
def test_health_readings(frame: bytes, attributes: dict[str, AttributeValue]) -> None:
    assert feed_three_ways(new_session, frame) == [
        DeviceInfo(device_key=ID, protocol="watch", kind="health", attributes=attributes)
    ]


@pytest.mark.parametrize(
    ("frame", "attributes"),
    [
        # "VI. Body Temperature Measure" (2025 revision of the page): btemp2,<mode>,<temp>, mode
        # 0 forehead / 1 wrist; a temperature of 0 or 1 is an abnormal (low/high) measurement
        (b"[3G*8800000015*000D*btemp2,1,36.6]",
         {"type": "btemp2", "mode": "wrist", "temperature_c": 36.6}),
        (b"[3G*8800000015*000D*btemp2,0,37.4]",
         {"type": "btemp2", "mode": "forehead", "temperature_c": 37.4}),
        (b"[3G*8800000015*000A*btemp2,0,0]",
         {"type": "btemp2", "mode": "forehead", "temperature_abnormal": "low"}),
        (b"[3G*8800000015*000A*btemp2,1,1]",
         {"type": "btemp2", "mode": "wrist", "temperature_abnormal": "high"}),
    ],
)  # fmt: skip
def test_body_temperature_is_answered(frame: bytes, attributes: dict[str, AttributeValue]) -> None:
    # the page: "Server reply: [3G*YYYYYYYYYY*LEN*btemp2]"
    assert feed_three_ways(new_session, frame) == [
        DeviceInfo(device_key=ID, protocol="watch", kind="health", attributes=attributes),
        Reply(data=b"[3G*8800000015*0006*btemp2]"),
    ]


def test_config_is_answered_so_the_device_stops_repeating_it() -> None:
    # BUILT: "5. Config command" (2025 revision of the page) with its LEN (1E) filled in; the
    # page's server reply [3G*8800000015*len*CONFIG,1] ("1: Ok")
    frame = b"[3G*8800000015*001E*CONFIG,TY:G75,UL:600,SY:1,CM:1]"
    assert feed_three_ways(new_session, frame) == [
        DeviceInfo(
            device_key=ID,
            protocol="watch",
            kind="info",
            attributes={
                "type": "CONFIG",
                "config": "TY:G75,UL:600,SY:1,CM:1",
                "device_type": "G75",
                "upload_interval_s": 600,
            },
        ),
        Reply(data=b"[3G*8800000015*0008*CONFIG,1]"),
    ]


def test_voice_message_is_acknowledged_and_unescaped() -> None:
    audio = b"#!AMR\n" + bytes([0x7D, 0x01, 0x7D, 0x02, 0x7D, 0x03, 0x7D, 0x04, 0x7D, 0x05, 0x3C])
    content = b"TK," + audio
    frame = b"[3G*8800000015*%04X*" % len(content) + content + b"]"
    info, reply = feed_three_ways(new_session, frame)
    assert info == DeviceInfo(
        device_key=ID,
        protocol="watch",
        kind="voice",
        attributes={"audio_bytes": 12, "format": "amr"},
    )
    assert reply == Reply(data=b"[3G*8800000015*0004*TK,1]")
    assert unescape(audio) == b"#!AMR\n}[],*<"
    # the device's own answer to a voice message sent to it: recorded, not answered
    (answer,) = feed_three_ways(new_session, b"[3G*8800000015*0004*TK,1]")
    assert isinstance(answer, DeviceInfo)
    assert answer.attributes == {"command": "TK", "text": "1"}
    bad = b"[3G*8800000015*0005*TK,\x7d\x09]"
    (rejected,) = new_session().receive(bad)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)


def test_other_positions_and_init() -> None:
    ud3 = UD.replace(b"*00CD*UD,", b"*00CE*UD3,")
    wt = UD.replace(b"*00CD*UD,", b"*00CD*WT,")
    for frame in (ud3, wt):
        (position,) = feed_three_ways(new_session, frame)
        assert isinstance(position, Position)
        assert position.fix_time == datetime(2016, 9, 18, 2, 57, 23, tzinfo=UTC)
    info, reply = feed_three_ways(new_session, b"[3G*8800000015*0004*INIT]")
    assert isinstance(info, DeviceInfo)
    assert reply == Reply(data=b"[3G*8800000015*0006*INIT,1]")


def test_decimal_length() -> None:
    # BUILT: "0013" read as decimal (13 bytes) lands on "]"; read as hex (19) it would not
    decimal = b"[SG*8800000015*0013*LK,50,100,100]"
    heartbeat, reply = feed_three_ways(new_session, decimal)
    assert isinstance(heartbeat, Heartbeat)
    assert reply == Reply(data=b"[SG*8800000015*0002*LK]")
    # a header with a message index before LEN: real in traccar/traccar#4395 (above)


@pytest.mark.parametrize(
    "frame",
    [
        UD.replace(b"*00CD*UD,180916", b"*00CD*UD,18091x"),
        UD.replace(b",0.00,249.5", b",0nan,249.5"),  # NaN speed (issue 9), same LEN
        UD.replace(b"22.570733,N", b"22.570733,X"),  # hemisphere
        # 20-digit satellite count (issue 9): LEN 00DF counts the longer content
        UD.replace(b"*00CD*", b"*00E0*").replace(b",6,100,60,", b",99999999999999999999,100,60,"),
        UD.replace(b"00000010", b"0000\x00010"),  # NUL (issue 9)
        b"[3G*8800000015*000A*btemp2,1,x]",  # temperature not a number
        b"[3G*8800000015*000C*btemp2,1,nan]",
        b"[3G*8800000015*000D*CONFIG,UL:abc]",  # interval not a count
        b"[3G*8800000015*0008*heart,-5]",
    ],
)
def test_more_bad_values_are_malformed(frame: bytes) -> None:
    session = new_session()
    (rejected,) = session.receive(frame)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert not session.failed


# --- commands (issue 13) ----------------------------------------------------------------


def test_commands() -> None:
    # framing as the page's own examples: the same [vendor*id*LEN*content] with a hex LEN
    assert locate_now("3G", ID) == b"[3G*8800000015*0002*CR]"
    assert set_interval("SG", ID, 600) == b"[SG*8800000015*000A*UPLOAD,600]"
    assert reboot("3G", ID) == b"[3G*8800000015*0005*RESET]"
    assert power_off("3G", ID) == b"[3G*8800000015*0008*POWEROFF]"
    assert find("CS", ID) == b"[CS*8800000015*0004*FIND]"
    assert measure_heart_rate("3G", ID) == b"[3G*8800000015*000A*hrtstart,0]"
    with pytest.raises(ValueError):
        encode_command("3G", ID, "CR]")
    with pytest.raises(ValueError):
        encode_command("3GX", ID, "CR")
    with pytest.raises(ValueError):
        encode_command("3G", "88*1", "CR")
    with pytest.raises(ValueError):
        set_interval("3G", ID, 1)
    # every command is a frame our own framer cuts whole, and its echo is recorded
    assert WatchFramer().feed(locate_now("3G", ID) * 2) == [b"[3G*8800000015*0002*CR]"] * 2
    (echo,) = feed_three_ways(new_session, locate_now("3G", ID))
    assert echo == DeviceInfo(
        device_key=ID,
        protocol="watch",
        kind="command_reply",
        attributes={"command": "CR", "text": ""},
    )
