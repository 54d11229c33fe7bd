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

from datetime import UTC, datetime

import pytest

from protocols import registry
from protocols._common import CLOCK_KEY
from protocols.base import Detection, Session
from protocols.errors import FrameTooLarge, Malformed, UnsupportedMessage
from protocols.model import DeviceEvent, DeviceInfo, Heartbeat, Login, Position, Rejected, Reply
from protocols.tk103 import MAX_FRAME, SPEC, detect, fix_datetime
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
    assert reply == Reply(data=b"**,imei:359586015829802,E", acks_data=True)


def test_sos_without_fix_uses_receive_time() -> None:
    event, reply = feed_three_ways(new_session, SOS_NO_FIX, prelude=[LOGIN])
    assert isinstance(event, DeviceEvent)
    assert (event.kind, event.time, event.position) == ("sos", NOW, None)
    assert reply == Reply(data=b"**,imei:359586015829802,E", acks_data=True)


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
    # Constructed from the COBAN field layout with the "acc on"/"acc off" keywords of the
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
        (b"##,imei:12,A;", Malformed),
        # An OBD line (GPS103 OBD format): well-formed, not decoded.
        (b"imei:868683027758113,OBD,180905200218,,,,0,0,0.39%,70,9.41%,494,0.00,P0137,P0430,;",
         UnsupportedMessage),
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
