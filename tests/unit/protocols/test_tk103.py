"""tk103 (GPS103/Coban): real lines from public documents and captures, fed three ways.

Sources (named beside each sample):
  COBAN  - Coban "GPS102, GPS103, GPS104 GPRS data protocol", section "GPRS command sent by
           tracker" (https://www.scribd.com/document/168734588/Coban-TK102-GPRS-Data-Protocol;
           the same lines are in "TK102/TK102B/TK103/TK103B/TK104/TK106/TK106B GPRS Data
           Protocol", https://www.scribd.com/doc/267545994/GPRS-Data-Protocol).
  BRENT  - device log "tk102 data from Brent's device" in GpsTracker servers/tk103/readme.md
           (https://gitbucket.mfnd.ru/sasha_lomz/GpsTracker/blob/9231d3588b05ba377e3f1e5c3a55dda5272189fb/servers/tk103/readme.md).
  GEOGATE- device captures listed in fulup-bzh/GeoGate server/adapters/Gps103Tk102-adapter.js
           (its test table stores lines without the ";" terminator, added here).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from protocols import registry
from protocols._common import CLOCK_KEY
from protocols.base import Detection, Session
from protocols.errors import FrameTooLarge, Malformed, UnsupportedMessage
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Login, Position, Rejected, Reply
from protocols.tk103 import (
    MAX_FRAME,
    SPEC,
    cancel_sos,
    detect,
    encode_command,
    engine_resume,
    engine_stop,
    fix_datetime,
    locate_now,
    set_interval,
    set_overspeed,
)
from tests.unit.protocols.helpers import feed_three_ways, feed_whole

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# COBAN: "Log on request" and "Heartbeat package".
LOGIN = b"##,imei:359586015829802,A;"
HEARTBEAT = b"359586015829802;"
# COBAN: SOS alarm with and without a GPS fix; low battery, geo-fence, move, over speed.
SOS = b"imei:359586015829802,help me,0809231429,13554900601,F,062947.294,A,2234.4026,N,11354.3277,E,0.00,;"  # noqa: E501
SOS_NO_FIX = b"imei:359586015829802,help me,000000000,13554900601,L,;"
LOW_BATTERY = b"imei:359586015829802,low battery,0809231429,13554900601,F,062947.294,A,2234.4026,N,11354.3277,E,0.00,;"  # noqa: E501
STOCKADE = b"imei:359586015829802,stockade,0809231429,13554900601,F,062947.294,A,2234.4026,N,11354.3277,E,0.00,;"  # noqa: E501
MOVE = b"imei:359586015829802,move,0809231429,13554900601,F,062947.294,A,2234.4026,N,11354.3277,E,0.00,;"  # noqa: E501
SPEED = b"imei:359586015829802,speed,0809231429,13554900601,F,062947.294,A,2234.4026,N,11354.3277,E,0.00,;"  # noqa: E501
# COBAN: "No GPS signal" report.
NO_FIX = b"imei:359586015829802,tracker,000000000,13554900601,L,;"
# BRENT: login and a position whose local date (UTC+8 device clock) is the next day.
BRENT_LOGIN = b"##,imei:359710049095095,A;"
BRENT = b"imei:359710049095095,tracker,151006010036,,F,170036.000,A,5105.9768,N,11404.9571,W,0.00,322.56,,0,0,,,;"  # noqa: E501
# GEOGATE: door, acc, sensor alarms and an engine-resume confirmation ("kt").
DOOR = b"imei:012497000419790,door alarm,1010181112,00420777123456,F,101216.000,A,5004.5502,N,01426.7268,E,0.00,;"  # noqa: E501
ACC = b"imei:012497000419790,acc alarm,1010181112,00420777123456,F,101256.000,A,5004.5485,N,01426.7260,E,0.00,;"  # noqa: E501
SENSOR = b"imei:359710043551135,sensor alarm,1409070008,,F,160844.000,A,4737.0465,N,00245.6099,W,21.21,306.75;"  # noqa: E501
RESUME = b"imei:012497000419790,kt,1010181052,00420777123456,F,095256.000,A,5004.5635,N,01426.7346,E,0.58,;"  # noqa: E501

SOS_TIME = datetime(2008, 9, 23, 6, 29, 47, 294000, tzinfo=UTC)
SOS_LAT, SOS_LON = 22 + 34.4026 / 60, 113 + 54.3277 / 60


def new_session() -> Session:
    session = SPEC.new_session("tcp", None)
    session.state.values[CLOCK_KEY] = lambda: NOW
    return session


def check_fix(position: Position | None, **expected: object) -> None:
    assert position is not None
    for name, value in expected.items():
        actual = getattr(position, name)
        if isinstance(value, float):
            assert actual == pytest.approx(value, abs=1e-6), name
        else:
            assert actual == value, name


def test_spec_is_registered() -> None:
    assert registry.get("tk103") is SPEC
    assert SPEC.default_port == 5001
    assert SPEC.transports == frozenset({"tcp"})


def test_login_answered_load() -> None:
    key = "359586015829802"
    assert feed_three_ways(new_session, LOGIN) == [
        Login(device_key=key, protocol="tk103"),
        Reply(data=b"LOAD", acks_data=False),
    ]


def test_heartbeat_answered_on() -> None:
    messages = feed_three_ways(new_session, HEARTBEAT, prelude=[LOGIN])
    assert messages == [
        Heartbeat(device_key="359586015829802", protocol="tk103"),
        Reply(data=b"ON", acks_data=False),
    ]


def test_sos_with_fix_is_an_event_carrying_the_position_and_held_cancel_reply() -> None:
    event, reply = feed_three_ways(new_session, SOS, prelude=[LOGIN])
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.time, event.device_key) == ("sos", SOS_TIME, "359586015829802")
    assert event.attributes["code"] == "help me"
    check_fix(event.position, fix_time=SOS_TIME, lat=SOS_LAT, lon=SOS_LON, valid=True)
    check_fix(event.position, speed_kmh=0.0, course_deg=None, altitude_m=None)
    assert reply == Reply(data=b"**,imei:359586015829802,E;", acks_data=True)


def test_sos_without_fix_uses_receive_time() -> None:
    event, reply = feed_three_ways(new_session, SOS_NO_FIX, prelude=[LOGIN])
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.time, event.position) == ("sos", NOW, None)
    assert reply == Reply(data=b"**,imei:359586015829802,E;", acks_data=True)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (LOW_BATTERY, "low_battery"),
        (STOCKADE, "geofence_exit"),
        (MOVE, "movement"),
        (SPEED, "overspeed"),
    ],
)
def test_alarm_keywords(line: bytes, kind: str) -> None:
    (event,) = feed_three_ways(new_session, line, prelude=[LOGIN])
    assert isinstance(event, DeviceEvent)
    assert event.kind == kind
    check_fix(event.position, fix_time=SOS_TIME, lat=SOS_LAT, lon=SOS_LON)


def test_report_without_fix() -> None:
    assert feed_three_ways(new_session, NO_FIX, prelude=[LOGIN]) == [
        DeviceInfo(device_key="359586015829802", protocol="tk103", kind="no_fix")
    ]


def test_position_date_follows_local_clock_across_midnight() -> None:
    (position,) = feed_three_ways(new_session, BRENT, prelude=[BRENT_LOGIN])
    assert isinstance(position, Position)
    check_fix(
        position,
        fix_time=datetime(2015, 10, 5, 17, 0, 36, tzinfo=UTC),
        lat=51 + 5.9768 / 60,
        lon=-(114 + 4.9571 / 60),
        speed_kmh=0.0,
        course_deg=322.56,
        valid=True,
    )
    assert position.attributes == {"ignition": False, "door": False}


@pytest.mark.parametrize(
    ("line", "kind", "code", "when", "lat", "lon"),
    [
        (DOOR, "door", "door alarm", datetime(2010, 10, 18, 10, 12, 16, tzinfo=UTC),
         50 + 4.5502 / 60, 14 + 26.7268 / 60),
        (ACC, "other", "acc alarm", datetime(2010, 10, 18, 10, 12, 56, tzinfo=UTC),
         50 + 4.5485 / 60, 14 + 26.7260 / 60),
    ],
)  # fmt: skip
def test_door_and_acc_alarms(
    line: bytes, kind: str, code: str, when: datetime, lat: float, lon: float
) -> None:
    (event,) = feed_three_ways(new_session, line)
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.attributes["code"], event.time) == (kind, code, when)
    check_fix(event.position, lat=lat, lon=lon, fix_time=when)


def test_sensor_alarm_converts_knots_and_takes_previous_utc_day() -> None:
    (event,) = feed_three_ways(new_session, SENSOR)
    assert isinstance(event, DeviceEvent)
    assert event.kind == "vibration"
    check_fix(
        event.position,
        fix_time=datetime(2014, 9, 6, 16, 8, 44, tzinfo=UTC),
        lat=47 + 37.0465 / 60,
        lon=-(2 + 45.6099 / 60),
        speed_kmh=21.21 * 1.852,
        course_deg=306.75,
    )


def test_command_confirmation_is_a_position_with_its_keyword() -> None:
    (position,) = feed_three_ways(new_session, RESUME)
    assert isinstance(position, Position)
    assert position.attributes == {"event": "kt"}
    check_fix(
        position, speed_kmh=0.58 * 1.852, fix_time=datetime(2010, 10, 18, 9, 52, 56, tzinfo=UTC)
    )


def test_acc_on_off_set_ignition() -> None:
    # BUILT from the COBAN field layout with the "acc on"/"acc off" keywords of the
    # GPS103 keyword list (no public capture of these two was found).
    on = SOS.replace(b"help me", b"acc on")
    off = SOS.replace(b"help me", b"acc off")
    (event_on,) = feed_whole(new_session, on)
    (event_off,) = feed_whole(new_session, off)
    assert isinstance(event_on, DeviceEvent)
    assert isinstance(event_off, DeviceEvent)
    assert event_on.attributes == {"code": "acc on", "ignition": True}
    assert event_off.attributes == {"code": "acc off", "ignition": False}


def test_stream_of_several_lines_and_garbage_resync() -> None:
    session = new_session()
    stream = b"\x00\xffjunk" + LOGIN + b"\r\n" + b"noise;" + HEARTBEAT + BRENT
    messages = session.receive(stream)
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["Login", "Reply", "Heartbeat", "Reply", "Position"]
    assert session._framer.skipped == len(b"\x00\xffjunk") + len(b"noise")


def test_fix_date_candidates() -> None:
    assert fix_datetime("0809231429", "062947.294") == SOS_TIME
    assert fix_datetime("13/02/27 23:40", "125952.000") == datetime(
        2013, 2, 27, 12, 59, 52, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (SOS.replace(b"2234.4026", b"2299.4026"), Malformed),  # 99 minutes
        (SOS.replace(b"0809231429", b"99999"), Malformed),  # no local date
        (SOS.replace(b",A,", b",X,"), Malformed),  # validity
        (SOS.replace(b"062947.294", b"256947.294"), Malformed),  # hour 25
        (b"imei:35958601582980x,tracker,;", Malformed),  # IMEI
        (b"imei:\xff\xfe,tracker;", Malformed),  # not ASCII
        (b"##,imei:,A;", Malformed),
        (b"##,imei:12x,A;", Malformed),
        # A report whose fifth field is neither F nor L (photo data): well-formed, not decoded.
        (b"imei:359586015829802,vr,0809231429,,X,;", UnsupportedMessage),
        (b"imei:359586015829802,OBD,180905200218,,,,x,0,0.39%,70,9.41%,494,0.00,;", Malformed),
        (b"imei:359586015829802,T:hot,0809231429,,L,;", Malformed),
        (b"imei:359586015829802,tracker,0809231429,,F,062947.294,A,2234.4026,N,11354.3277,E,"
         b"nan,;", Malformed),  # NaN speed (issue 9)
        (b"imei:359586015829802,tr\x00acker,;", Malformed),  # NUL (issue 9)
    ],
)  # fmt: skip
def test_bad_lines_are_rejected_without_failing_the_session(
    line: bytes, error: type[Exception]
) -> None:
    session = new_session()
    (rejected,) = session.receive(line)
    assert isinstance(rejected, Rejected)
    assert type(rejected.error) is error
    assert not rejected.fatal
    assert not session.failed
    assert [type(m) for m in session.receive(HEARTBEAT)] == [Heartbeat, Reply]


def test_overflow_without_terminator_is_fatal() -> None:
    session = new_session()
    (rejected,) = session.receive(b"imei:" + b"1" * MAX_FRAME)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, FrameTooLarge)
    assert rejected.fatal
    assert session.failed
    assert session.receive(HEARTBEAT) == []


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (LOGIN, Detection.YES),
        (SOS, Detection.YES),
        (HEARTBEAT, Detection.YES),
        (b"##,im", Detection.MORE),
        (b"3595860", Detection.MORE),
        (b"", Detection.MORE),
        (b"\x78\x78\x11\x01", Detection.NO),  # GT06 start bits
        (b"*HQ,865205030330012,V1", Detection.NO),  # H02
        (b"[3G*8800000015*0002*LK]", Detection.NO),  # watch
        (b"12;", Detection.NO),
    ],
)
def test_detect(first: bytes, expected: Detection) -> None:
    assert detect(first) is expected


# --- protocol breadth (issue 13): more REAL captures, each with its public source -----------
#: traccar/traccar#2385 (Coban TK103, Chile; hex in the log): 12-digit local time with
#: seconds, S and W, the heartbeat and the server's ``ON`` (4f4e) answer to it
T2385 = bytes.fromhex(
    "696d65693a3836383638333032353133383434312c747261636b65722c3136303932393132303934382c2c"
    "462c3136303934342e3030302c412c333634352e393839322c532c30373330342e383737352c572c302e30"
    "302c303b"
)
T2385_HEARTBEAT = bytes.fromhex("3836383638333032353133383434313b")
#: traccar/traccar#1205 (OBD II tracker): device id ``7``, its log-on (answered LOAD,
#: 4c4f4144 in the log), its heartbeat ``7;`` and a report
T1205_LOGIN = bytes.fromhex("23232c696d65693a372c413b")
T1205_HEARTBEAT = bytes.fromhex("373b")
T1205 = bytes.fromhex(
    "696d65693a372c747261636b65722c3135303531333230303332372c2c462c3132303332362e3030302c41"
    "2c333135372e353239392c4e2c30333535352e313532322c452c302e30322c32372e31382c2c302c302c2c"
    "2c3b"
)
#: traccar/traccar#1632: a report and the OBD line sent a second later, with the issue's own
#: reading of it (ODO 17887, FLI 0.00, AF 17.06, Dtime 0, speed 0, Pload 0.00%, TEMP 0,
#: ATP 0.00%, RPM 16383, BAT 10.82, no DTC)
T1632 = bytes.fromhex(
    "696d65693a3335393731303034393036343339382c747261636b65722c3136303130313033353135352c2c"
    "462c3139353135362e3030302c412c333735382e353336312c4e2c31323232382e353736352c572c302e30"
    "332c3136352e38352c2c312c2c302e3030252c31373838372c3b"
)
T1632_OBD = bytes.fromhex(
    "696d65693a3335393731303034393036343339382c4f42442c3136303130313033353135362c3137383837"
    "2c302e30302c31372e30362c302c302c302e3030252c302c302e3030252c31363338332c31302e38322c2c"
    "2c2c3b"
)
#: traccar/traccar#1590: no GPS, LAC and cell id (hex) after ``L``; empty local time
T1590 = bytes.fromhex(
    "696d65693a3435393731303034303533373532352c747261636b65722c2c2c4c2c2c2c3737382c2c333633"
    "322c2c2c3b"
)
T1590_AC = b"imei:459710040537525,ac alarm,,,L,,,778,,3632,,,;"
#: traccar/traccar#1954 (Coban 103A): an ``ac alarm`` with a blank phone field and a stray
#: ``|`` after the terminator
T1954_AC = (
    b"imei:868683021509447,ac alarm,160718000158, ,F,040155.000,A,0819.5862,N,07205.0376,W,0.00,0;|"
)
#: eusonlito/GPS-Tracker#51 (Coban, Iran; device log printed without the ";", added here):
#: 5-decimal minutes, 2-digit second fractions, ignition on, fuel 0.00%
T51 = (
    b"imei:864893035975666,tracker,240330205512,,F,172512.00,A,2937.16612,N,05231.38756,E,"
    b"3.664,105.51,,1,0,0.00%,,;"
)
#: eusonlito/GPS-Tracker#114: confirmations of the J (cut power: ``jt``) and L (``lt``, no
#: speed and course) commands and an over-speed alarm
T114_JT = (
    b"imei:868166054696190,jt,231226105556,,F,105556.000,A,3518.59664,N,04658.22381,E,0.00,13.26;"
)
T114_LT = b"imei:868166054696190,lt,231226100620,,F,100620.000,A,3518.59895,N,04700.04843,E,,;"
T114_SPEED = (
    b"imei:868166054696190,speed,231226122138,,F,122138.000,A,3517.56899,N,04700.16955,E,"
    b"44.31,353.47;"
)
#: traccar/traccar#230: log-on and heartbeat of a TK103 with the server's LOAD (4c4f4144) and
#: ON (4f4e) answers in the log
T230_LOGIN = bytes.fromhex("23232c696d65693a3031323439373030303330343232342c413b")
T230_HEARTBEAT = bytes.fromhex("3031323439373030303330343232343b")
#: traccar/traccar#1733: the heartbeat IMEI sent WITHOUT ";" (3335...3232), then a report
T1733_BARE_HEARTBEAT = bytes.fromhex("333539373639303331383738333232")
T1733 = bytes.fromhex(
    "696d65693a3335393736393033313837383332322c747261636b65722c313630323136303635362c322c46"
    "2c3231353634322e3030302c412c313635352e333634302c532c31343534362e363232302c452c302e3030"
    "2c2c3b"
)
#: traccar/traccar#503 (TK103-B+ with two fuel sensors, seen with wireshark), with the
#: issue's decoded coordinates 24.9221466666667, 67.0975616666667
T503 = (
    b"imei:359710041961583,tracker,1312170400,,F,230030.000,A,2455.3288,N,06705.8537,E,0.00,0,"
    b",0,0,0.00%,,;"
)


@pytest.mark.parametrize(
    ("line", "key", "when", "lat", "lon", "knots", "course"),
    [
        (T2385, "868683025138441", datetime(2016, 9, 29, 16, 9, 44),
         -(36 + 45.9892 / 60), -(73 + 4.8775 / 60), 0.0, 0.0),
        (T1205, "7", datetime(2015, 5, 13, 12, 3, 26),
         31 + 57.5299 / 60, 35 + 55.1522 / 60, 0.02, 27.18),
        (T1632, "359710049064398", datetime(2015, 12, 31, 19, 51, 56),
         37.97560, -122.47628, 0.03, 165.85),
        (T51, "864893035975666", datetime(2024, 3, 30, 17, 25, 12),
         29 + 37.16612 / 60, 52 + 31.38756 / 60, 3.664, 105.51),
        (T1733, "359769031878322", datetime(2016, 2, 15, 21, 56, 42),
         -(16 + 55.3640 / 60), 145 + 46.6220 / 60, 0.0, None),
        (T503, "359710041961583", datetime(2013, 12, 16, 23, 0, 30),
         24.9221466666667, 67.0975616666667, 0.0, 0.0),
    ],
)  # fmt: skip
def test_real_reports(
    line: bytes,
    key: str,
    when: datetime,
    lat: float,
    lon: float,
    knots: float,
    course: float | None,
) -> None:
    (position,) = feed_three_ways(new_session, line)
    assert isinstance(position, Position)
    assert position.device_key == key
    check_fix(position, fix_time=when.replace(tzinfo=UTC), valid=True, course_deg=course)
    # abs 6e-6: traccar's log (#1632) prints 5 decimals
    assert position.lat == pytest.approx(lat, abs=6e-6)
    assert position.lon == pytest.approx(lon, abs=6e-6)
    assert position.speed_kmh == pytest.approx(knots * 1.852)


def test_real_report_extras() -> None:
    (position,) = feed_three_ways(new_session, T51)
    assert isinstance(position, Position)
    assert position.attributes == {"ignition": True, "door": False, "fuel1_pct": 0.0}
    (position,) = feed_three_ways(new_session, T1632)
    assert isinstance(position, Position)
    assert position.attributes == {"ignition": True, "fuel1_pct": 0.0}  # 17887 is no %


def test_real_login_and_heartbeat_replies() -> None:
    session = new_session()
    assert session.receive(T230_LOGIN) == [
        Login(device_key="012497000304224", protocol="tk103"),
        Reply(data=bytes.fromhex("4c4f4144")),
    ]
    assert session.receive(T230_HEARTBEAT) == [
        Heartbeat(device_key="012497000304224", protocol="tk103"),
        Reply(data=bytes.fromhex("4f4e")),
    ]
    assert feed_three_ways(new_session, T2385_HEARTBEAT) == [
        Heartbeat(device_key="868683025138441", protocol="tk103"),
        Reply(data=b"ON"),
    ]


def test_real_one_digit_id_with_its_heartbeat() -> None:
    assert feed_three_ways(new_session, T1205_HEARTBEAT, prelude=[T1205_LOGIN]) == [
        Heartbeat(device_key="7", protocol="tk103"),
        Reply(data=b"ON"),
    ]
    # a short heartbeat that is not the session's device is refused, the session goes on
    session = new_session()
    (rejected,) = session.receive(T1205_HEARTBEAT)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert not session.failed


def test_real_heartbeat_without_terminator_before_the_next_report() -> None:
    messages = feed_three_ways(new_session, T1733_BARE_HEARTBEAT + T1733)
    heartbeat, reply, position = messages
    assert heartbeat == Heartbeat(device_key="359769031878322", protocol="tk103")
    assert reply == Reply(data=b"ON")
    assert isinstance(position, Position)


def test_real_obd_line() -> None:
    (info,) = feed_three_ways(new_session, T1632_OBD)
    assert info == DeviceInfo(
        device_key="359710049064398",
        protocol="tk103",
        kind="obd",
        attributes={
            "local_time": "160101035156",
            "odometer": 17887.0,
            "fuel_remaining": 0.0,
            "fuel_average": 17.06,
            "driving_time": 0.0,
            "obd_speed_kmh": 0.0,
            "engine_load_pct": 0.0,
            "coolant_temp_c": 0.0,
            "throttle_pct": 0.0,
            "rpm": 16383.0,
            "battery_v": 10.82,
        },
    )


#: traccar/traccar#2401 (TK306A, hex in the log): an OBD line with two trouble codes and
#: empty fuel fields, with traccar's reading of it (odometer 1785, hours 0, obd-speed 54,
#: temp1 75, throttle 20.00%, rpm 1892, battery 0.00)
T2401_OBD = bytes.fromhex(
    "696d65693a3335393731303034393035373739382c4f42442c3136313030333139323735322c313738352c"
    "2c2c302c35342c39362e3437252c37352c32302e3030252c313839322c302e30302c50303133342c503035"
    "37312c2c3b"
)
#: traccar/traccar#1672 (GPS306 OBD, the poster's hex-decoder output, ";" included): a report
#: and the OBD line a second later, whose coolant field is a lone "+" (no reading)
T1672 = (
    b"imei:862106025096131,tracker,160120101247,,F,091310.000,A,3934.3780,N,00236.8443,E,0.01,"
    b"162.18,,0,0,0.0%,,;"
)
T1672_OBD = b"imei:862106025096131,OBD,160120101248,13,,38823.5,,000,0.0%,+,0.0%,00000,12.9,,,,;"


def test_real_obd_line_with_trouble_codes() -> None:
    (info,) = feed_three_ways(new_session, T2401_OBD)
    assert info == DeviceInfo(
        device_key="359710049057798",
        protocol="tk103",
        kind="obd",
        attributes={
            "local_time": "161003192752",
            "odometer": 1785.0,
            "driving_time": 0.0,
            "obd_speed_kmh": 54.0,
            "engine_load_pct": 96.47,
            "coolant_temp_c": 75.0,
            "throttle_pct": 20.0,
            "rpm": 1892.0,
            "battery_v": 0.0,
            "dtc": "P0134 P0571",
        },
    )


def test_real_obd_line_with_a_lone_sign_and_its_report() -> None:
    (info,) = feed_three_ways(new_session, T1672_OBD)
    assert isinstance(info, DeviceInfo)
    assert dict(info.attributes) == {
        "local_time": "160120101248",
        "odometer": 13.0,
        "fuel_average": 38823.5,
        "obd_speed_kmh": 0.0,
        "engine_load_pct": 0.0,
        "throttle_pct": 0.0,
        "rpm": 0.0,
        "battery_v": 12.9,
    }  # "+" (coolant) and the empty fields are left out
    (position,) = feed_three_ways(new_session, T1672)
    assert isinstance(position, Position)
    # local 10:12:47 (UTC+1), fix 09:13:10 UTC the same day
    check_fix(position, fix_time=datetime(2016, 1, 20, 9, 13, 10, tzinfo=UTC), course_deg=162.18)
    check_fix(position, lat=39 + 34.3780 / 60, lon=2 + 36.8443 / 60, speed_kmh=0.01 * 1.852)
    assert position.attributes == {"ignition": False, "door": False, "fuel1_pct": 0.0}


def test_real_no_gps_with_cell() -> None:
    assert feed_three_ways(new_session, T1590) == [
        DeviceInfo(
            device_key="459710040537525",
            protocol="tk103",
            kind="no_fix",
            attributes={"lac": 0x778, "cid": 0x3632},
        )
    ]
    (event,) = feed_three_ways(new_session, T1590_AC)
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.time, event.position) == ("power_cut", NOW, None)
    assert (event.attributes["lac"], event.attributes["cid"]) == (0x778, 0x3632)


def test_real_ac_alarm_with_blank_phone_and_trailing_garbage() -> None:
    session = new_session()
    (event,) = session.receive(T1954_AC)
    assert isinstance(event, DeviceEvent)
    assert event.kind == "power_cut"
    check_fix(
        event.position,
        fix_time=datetime(2016, 7, 18, 4, 1, 55, tzinfo=UTC),
        lat=8 + 19.5862 / 60,
        lon=-(72 + 5.0376 / 60),
    )
    assert session.buffered == 1  # the "|" waits for a terminator, then is skipped


def test_real_command_confirmations_and_overspeed() -> None:
    (jt,) = feed_three_ways(new_session, T114_JT)
    assert isinstance(jt, Position)
    assert jt.attributes == {"event": "jt"}
    check_fix(jt, fix_time=datetime(2023, 12, 26, 10, 55, 56, tzinfo=UTC), course_deg=13.26)
    (lt,) = feed_three_ways(new_session, T114_LT)
    assert isinstance(lt, Position)
    assert (lt.speed_kmh, lt.course_deg) == (None, None)
    (event,) = feed_three_ways(new_session, T114_SPEED)
    assert isinstance(event, DeviceEvent)
    assert event.kind == "overspeed"
    check_fix(event.position, speed_kmh=44.31 * 1.852, lat=35 + 17.56899 / 60)


@pytest.mark.parametrize(
    ("keyword", "attributes"),
    [
        # BUILT: the SOS line of the COBAN document with the other documented keywords
        (b"DTC", {"code": "fault", "keyword": "DTC"}),
        (b"oil", {"code": "fuel", "keyword": "oil"}),
        (b"oil 35.5", {"code": "fuel", "keyword": "oil 35.5", "fuel_level": 35.5}),
        (b"T:+40.5", {"code": "temperature", "keyword": "T:+40.5", "temperature_c": 40.5}),
    ],
)
def test_fault_fuel_and_temperature_alarms(keyword: bytes, attributes: dict[str, object]) -> None:
    (event,) = feed_three_ways(new_session, SOS.replace(b"help me", keyword))
    assert isinstance(event, DeviceEvent)
    assert event.kind == "other"
    assert event.attributes == attributes
    check_fix(event.position, fix_time=SOS_TIME)


def test_rfid_keyword_carries_the_driver_tag() -> None:
    # BUILT: the "rfid" keyword puts the tag where the phone number goes (GPS103 layout)
    (event,) = feed_three_ways(new_session, SOS.replace(b"help me", b"rfid").replace(
        b"13554900601", b"0012345678"))  # fmt: skip
    assert isinstance(event, DeviceEvent)
    assert (event.attributes["code"], event.attributes["driver_id"]) == ("rfid", "0012345678")


def test_empty_local_time_uses_the_receive_date() -> None:
    # BUILT: a fix without the device's local timestamp; NOW is 2024-05-01 12:00 UTC
    line = SOS.replace(b",help me,0809231429,", b",tracker,,")
    (position,) = feed_three_ways(new_session, line)
    assert isinstance(position, Position)
    assert position.fix_time == datetime(2024, 5, 1, 6, 29, 47, 294000, tzinfo=UTC)


def test_alternative_layout_with_full_utc_date() -> None:
    # BUILT from the alternative layout (full UTC time and date, decimal degrees, km/h)
    line = (
        b"imei:359586015829802,V1,vibration,A1B2,3.7,062947,230908,25,1,22.573376,-113.905456,"
        b"36,275,12,0.9,8,1,0,-;"
    )
    (position,) = feed_three_ways(new_session, line)
    assert isinstance(position, Position)
    assert position.fix_time == datetime(2008, 9, 23, 6, 29, 47, tzinfo=UTC)
    assert (position.lat, position.lon, position.valid) == (22.573376, -113.905456, True)
    assert (position.speed_kmh, position.course_deg, position.altitude_m) == (36.0, 275.0, 12.0)
    assert position.satellites == 8
    assert position.attributes == {
        "rssi": 25,
        "hdop": 0.9,
        "ignition": True,
        "charge": False,
        "event": "vibration",
        "sensor_id": "A1B2",
        "sensor_v": "3.7",
    }


# --- more REAL lines (issue 13, round 2): alarms, confirmations, variants ---------------
#: vitalidze/traccar-web#972 (Coban, hex in the traccar log): an "ac alarm" that traccar read
#: as time 2016-11-29 16:44:57 (its server's local time, UTC-4), lat 10.17131, lon -64.68379
T972_AC = bytes.fromhex(
    "696d65693a3836323130363032313233373731362c616320616c61726d2c313631313239313634352c2c46"
    "2c3230343435372e3030302c412c313031302e323738332c4e2c30363434312e303237342c572c302e3030"
    "2c2c3b"
)
#: eusonlito/GPS-Tracker#37 (Coban, server log): the answers to the "111" (arm) command, "111"
#: when armed and "511" when refused; 12-digit local time at UTC+3:30, door 0 and 1
E37_111 = (
    b"imei:868166054696190,111,240112185257,,F,152257.000,A,3531.37056,N,04610.27195,E,,,,0,0,"
    b"0.00%,,;"
)
E37_511 = (
    b"imei:868166056076334,511,240112151902,,F,151902.000,A,3528.51503,N,04611.84315,E,,,,0,1,"
    b"0.00%,,;"
)
#: traccar/traccar#1205 (Coban GPS306, hex in the log): the log-on (answered LOAD, 4c4f4144),
#: a report without GPS carrying LAC 6a4 and cell 3ed5 followed by empty and 0 fields, and the
#: heartbeat (answered ON, 4f4e)
T1205B_LOGIN = bytes.fromhex("23232c696d65693a3335393731303034393039343634332c413b")
T1205B_NO_FIX = bytes.fromhex(
    "696d65693a3335393731303034393039343634332c747261636b65722c3135303531333137333330382c2c"
    "4c2c2c2c3661342c2c336564352c2c2c2c2c302c302c2c2c3b"
)
T1205B_HEARTBEAT = bytes.fromhex("3335393731303034393039343634333b")
#: traccar/traccar#1665 (GPS303 on the GPS103 port): a heartbeat answered ON (4f4e) in the log
T1665_HEARTBEAT = bytes.fromhex("3435393731303034303132313232313b")
#: traccar/traccar#373 (TK203): phone "0", 5-decimal minutes, S and W, an altitude of 4.4 m
T373 = (
    b"imei:860153000426318,tracker,1308291434,0,F,143453.000,A,3453.15215,S,5603.41707,W,0.0,,4.4,;"
)
#: traccar/traccar#1829 (TK103 seen by GPSGate): local time UTC+8; GPSGate's reading of the
#: same line: 3/29/2016 7:02:48 AM, Speed=19.42 (m/s)
T1829 = (
    b"imei:359713342337114,tracker,1603291502,,F,070248.000,A,0118.9176,N,10337.7497,E,37.74,"
    b"200.47;"
)
#: traccar/traccar#140 (hex in the log): local time 09:48 is UTC-5, the fix 14:48:07 UTC
T140 = bytes.fromhex(
    "696d65693a3335333435313034373537303236302c747261636b65722c313330323131303934382c2c462c"
    "3134343830372e3030302c412c303830352e363631352c532c30373835392e393736332c572c302e30302c"
    "2c3b"
)
#: fvdm/nodejs-tk102#22 (GPS103A): a log-on with a 22-digit id; the device waits for LOAD
FVDM22_LOGIN = b"##,imei:8686830534662313142206,A;"


def test_real_ac_alarm_as_traccar_read_it() -> None:
    (event,) = feed_three_ways(new_session, T972_AC)
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.attributes["code"]) == ("power_cut", "ac alarm")
    assert event.position is not None
    assert event.time == datetime(2016, 11, 29, 20, 44, 57, tzinfo=UTC)  # 16:44:57 at UTC-4
    assert (round(event.position.lat, 5), round(event.position.lon, 5)) == (10.17131, -64.68379)
    assert event.position.course_deg is None


@pytest.mark.parametrize(
    ("line", "key", "when", "door"),
    [
        (E37_111, "868166054696190", datetime(2024, 1, 12, 15, 22, 57), False),
        (E37_511, "868166056076334", datetime(2024, 1, 12, 15, 19, 2), True),
    ],
)
def test_real_numeric_command_answers(line: bytes, key: str, when: datetime, door: bool) -> None:
    (position,) = feed_three_ways(new_session, line)
    assert isinstance(position, Position)
    assert position.device_key == key
    assert position.fix_time == when.replace(tzinfo=UTC)
    assert (position.speed_kmh, position.course_deg, position.altitude_m) == (None, None, None)
    event = line.split(b",")[1].decode()
    assert position.attributes == {
        "event": event,
        "ignition": False,
        "door": door,
        "fuel1_pct": 0.0,
    }


def test_real_session_log_on_no_fix_with_cell_and_heartbeat() -> None:
    session = new_session()
    assert session.receive(T1205B_LOGIN) == [
        Login(device_key="359710049094643", protocol="tk103"),
        Reply(data=bytes.fromhex("4c4f4144")),
    ]
    assert feed_three_ways(new_session, T1205B_NO_FIX, prelude=[T1205B_LOGIN]) == [
        DeviceInfo(
            device_key="359710049094643",
            protocol="tk103",
            kind="no_fix",
            attributes={"lac": 0x6A4, "cid": 0x3ED5},
        )
    ]
    for heartbeat, key in ((T1205B_HEARTBEAT, "359710049094643"),
                           (T1665_HEARTBEAT, "459710040121221")):  # fmt: skip
        assert feed_three_ways(new_session, heartbeat) == [
            Heartbeat(device_key=key, protocol="tk103"),
            Reply(data=bytes.fromhex("4f4e")),
        ]


@pytest.mark.parametrize(
    ("line", "when", "lat", "lon", "knots", "course", "altitude"),
    [
        (T373, datetime(2013, 8, 29, 14, 34, 53),
         -(34 + 53.15215 / 60), -(56 + 3.41707 / 60), 0.0, None, 4.4),
        (T1829, datetime(2016, 3, 29, 7, 2, 48),
         1 + 18.9176 / 60, 103 + 37.7497 / 60, 37.74, 200.47, None),
        (T140, datetime(2013, 2, 11, 14, 48, 7),
         -(8 + 5.6615 / 60), -(78 + 59.9763 / 60), 0.0, None, None),
    ],
)  # fmt: skip
def test_more_real_reports(
    line: bytes,
    when: datetime,
    lat: float,
    lon: float,
    knots: float,
    course: float | None,
    altitude: float | None,
) -> None:
    (position,) = feed_three_ways(new_session, line)
    assert isinstance(position, Position)
    check_fix(
        position,
        fix_time=when.replace(tzinfo=UTC),
        lat=lat,
        lon=lon,
        speed_kmh=knots * 1.852,
        course_deg=course,
        altitude_m=altitude,
        valid=True,
    )


def test_real_speed_matches_the_other_servers_reading() -> None:
    (position,) = feed_three_ways(new_session, T1829)
    assert isinstance(position, Position)
    assert position.speed_kmh is not None
    assert round(position.speed_kmh / 3.6, 2) == 19.42  # GPSGate: Speed=19.42 (m/s)


def test_real_long_id_log_on_is_answered() -> None:
    session = new_session()
    assert session.receive(FVDM22_LOGIN) == [
        Login(device_key="8686830534662313142206", protocol="tk103"),
        Reply(data=b"LOAD"),
    ]
    # its heartbeat (BUILT: the id then ";") is the whole id, not its last digits
    assert session.receive(b"8686830534662313142206;") == [
        Heartbeat(device_key="8686830534662313142206", protocol="tk103"),
        Reply(data=b"ON"),
    ]
    # a run of more than 24 digits is no frame: skipped and counted, not cut to 24
    session = new_session()
    assert session.receive(b"1" * 30 + b";") == []
    assert session._framer.skipped == 30
    assert not session.failed


def test_day_before_month_local_time() -> None:
    # BUILT: the COBAN SOS line with the local time traccar/traccar#517 quotes, "1416011324
    # which would be January 16 2014 13:24" (yyddmm), and a UTC time an hour earlier
    line = SOS.replace(b"0809231429", b"1416011324").replace(b"062947.294", b"122400.000")
    event, reply = feed_three_ways(new_session, line)
    assert reply == Reply(data=b"**,imei:359586015829802,E;", acks_data=True)
    assert isinstance(event, DeviceEvent)
    assert event.time == datetime(2014, 1, 16, 12, 24, tzinfo=UTC)
    # yymmdd wins whenever it is a date
    assert fix_datetime("1401051324", "122400.000") == datetime(2014, 1, 5, 12, 24, tzinfo=UTC)


# --- commands (issue 13) ----------------------------------------------------------------


def test_commands() -> None:
    imei = "868166054696190"
    # eusonlito/GPS-Tracker#114 shows the command letters K and H,080 sent to this device
    assert engine_resume(imei) == b"**,imei:868166054696190,K;"
    assert set_overspeed(imei, 80) == b"**,imei:868166054696190,H,080;"
    assert engine_stop(imei) == b"**,imei:868166054696190,J;"
    assert locate_now(imei) == b"**,imei:868166054696190,B;"
    assert set_interval(imei, 30) == b"**,imei:868166054696190,C,30s;"
    assert set_interval(imei, 300) == b"**,imei:868166054696190,C,05m;"
    assert set_interval(imei, 7200) == b"**,imei:868166054696190,C,02h;"
    assert cancel_sos(imei) == b"**,imei:868166054696190,E;"
    bad: list[Callable[[], bytes]] = [
        lambda: set_interval(imei, 90),
        lambda: encode_command("86a", "B"),
        lambda: encode_command(imei, "B;C"),
        lambda: set_overspeed(imei, 0),
    ]
    for call in bad:
        with pytest.raises(ValueError):
            call()
