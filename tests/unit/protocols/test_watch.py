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
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Position, Rejected, Reply
from protocols.watch import MAX_FRAME, SPEC, detect, encode_reply
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


@pytest.mark.parametrize("frame", [PP, VERNO])
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


def test_longest_length_is_held_within_the_bound() -> None:
    # LEN FFFF (65535 bytes of voice) is a valid frame: it is held, never refused, and the
    # bound is LEN's own maximum plus a header
    session = new_session()
    assert session.receive(b"[3G*8800000015*FFFF*TK,") == []
    assert not session.failed
    assert session.buffered <= MAX_FRAME
    assert 0xFFFF < MAX_FRAME <= 0xFFFF + 64


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
