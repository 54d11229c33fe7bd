"""owntracks: booklet examples and public captures of the apps' payloads.

Sources:
  BOOKLET  - OwnTracks booklet, "JSON" (https://owntracks.org/booklet/tech/json/): the
             transition and lwt examples, field lists; "Traccar" page
             (https://owntracks.org/booklet/features/traccar/): the HTTP location example.
  ANDROID  - OwnTracks Android app repository (owntracks/android), UI-test fixture
             ``locationResponse``: a payload in the app's own format.
  CEREBRO  - adrianlzt/cerebro electronica/domotica/home_assistant/tracker.md: a capture of
             what the phone published on owntracks/user/DEVICE_ID.
  IOS      - an iOS payload with SSID/BSSID/m/p quoted in a public Flink SQL job (GitHub code
             search "lon3r-5G").
  AUTOMATO - MQTT log in the docstring of an "automato" OwnTracks module (GitHub code search
             "owntracks/device/eric"): transition enter/leave and a location in a region.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols import registry
from protocols.base import Session
from protocols.errors import Malformed, NotIdentified, UnsupportedMessage
from protocols.model import DeviceInfo, Position, Rejected, Reply
from protocols.owntracks import SPEC, device_key_for_topic
from tests.unit.protocols.helpers import feed_three_ways

KEY = "jane/phone"
HTTP_ACK = Reply(data=b"[]", acks_data=True)

TRACCAR_PAGE = b'{"lon":2.29513,"lat":48.85833,"_type":"location","tst":1497476456, "tid":"JJ"}'
ANDROID = (
    b'{"_type":"location","acc":20,"al":0,"batt":100,"bs":0,"conn":"w","created_at":1610748273,'
    b'"lat":51.2,"lon":-4,"tid":"aa","tst":1610799026,"vac":40,"vel":7}'
)
CEREBRO = (
    b'{"_type":"location","tid":"og","acc":19,"batt":94,"conn":"w","doze":false,'
    b'"lat":25.120159,"lon":3.4075119,"t":"u","tst":1485682695}'
)
IOS = (
    b'{"_type":"location","acc":5,"alt":120,"batt":33,"bs":1,"BSSID":"dc:ef:9:e5:78:36",'
    b'"cog":31,"conn":"w","lat":41.702987,"lon":-74.082472,"m":2,"p":100.138,'
    b'"SSID":"lon3r-5G","t":"u","tid":"0E","tst":1657840848,"vac":3,"vel":0}'
)
AUTOMATO_ENTER = (
    b'{"_type":"transition","acc":77.6,"desc":"Casa","event":"enter","lat":44.2792575,'
    b'"lon":11.9055914,"t":"l","tid":"ic","tst":1546871106,"wtst":1546866906}'
)
AUTOMATO_IN_REGION = (
    b'{"_type":"location","acc":78,"alt":0,"batt":86,"conn":"w","inregions":["Casa"],'
    b'"lat":44.2792575,"lon":11.9055914,"tid":"ic","tst":1546871086,"vac":0,"vel":0}'
)
AUTOMATO_LEAVE = (
    b'{"_type":"transition","acc":14.907,"desc":"Genitori","event":"leave","lat":44.2789083,'
    b'"lon":11.9022358,"t":"l","tid":"ic","tst":1546871328,"wtst":1546866906}'
)
# BOOKLET transition example (its // comments removed) and lwt example.
BOOKLET_TRANSITION = (
    b'{"_type": "transition", "wtst": 1425042603, "lat": 12.34, "lon": 44.5, "tst": 1427634603,'
    b' "acc": 130, "tid": "JP", "event": "enter", "desc": "my Indian restaurant", "t": "b"}'
)
BOOKLET_LWT = b'{"_type":"lwt","tst": 1380738247}'
BOOKLET_CMD = b'{"_type":"cmd", "action":"reportLocation"}'


def mqtt_session() -> Session:
    return SPEC.new_session("mqtt", KEY)


def http_session() -> Session:
    return SPEC.new_session("http", KEY)


def location(frame: bytes) -> Position:
    (position,) = feed_three_ways(mqtt_session, frame, stream=False)
    assert isinstance(position, Position)
    assert position.device_key == KEY
    return position


def test_spec_and_topic_mapping() -> None:
    assert registry.get("owntracks") is SPEC
    assert SPEC.transports == frozenset({"mqtt", "http"})
    assert device_key_for_topic("owntracks/jane/phone") == KEY
    assert device_key_for_topic("owntracks/jane/phone/event") == KEY
    assert device_key_for_topic("owntracks/jane") is None


def test_minimal_location_has_unknown_accuracy() -> None:
    position = location(TRACCAR_PAGE)
    assert position.fix_time == datetime(2017, 6, 14, 21, 40, 56, tzinfo=UTC)
    assert (position.lat, position.lon, position.accuracy_m) == (48.85833, 2.29513, None)
    assert position.attributes == {"tid": "JJ"}


def test_android_payload() -> None:
    position = location(ANDROID)
    assert position.fix_time == datetime(2021, 1, 16, 12, 10, 26, tzinfo=UTC)
    assert (position.accuracy_m, position.speed_kmh, position.battery_pct) == (20.0, 7.0, 100.0)
    assert position.attributes == {
        "al": 0,
        "battery_status": "unknown",
        "conn": "w",
        "created_at": 1610748273,
        "tid": "aa",
        "vac": 40,
    }


def test_phone_capture_with_trigger() -> None:
    position = location(CEREBRO)
    assert (position.lat, position.lon, position.accuracy_m, position.battery_pct) == (
        25.120159,
        3.4075119,
        19.0,
        94.0,
    )
    assert (position.attributes["t"], position.attributes["doze"]) == ("u", False)


def test_ios_extended_data() -> None:
    position = location(IOS)
    assert (position.altitude_m, position.course_deg, position.speed_kmh) == (120.0, 31.0, 0.0)
    attributes = position.attributes
    assert attributes["battery_status"] == "unplugged"
    assert (attributes["SSID"], attributes["BSSID"]) == ("lon3r-5G", "dc:ef:9:e5:78:36")
    assert (attributes["m"], attributes["p"], attributes["vac"]) == (2, 100.138, 3)


def test_inregions_kept_as_json_text() -> None:
    position = location(AUTOMATO_IN_REGION)
    assert position.attributes["inregions"] == '["Casa"]'


def test_zero_accuracy_is_unknown_not_perfect() -> None:
    position = location(TRACCAR_PAGE.replace(b'"tid"', b'"acc":0,"tid"'))
    assert position.accuracy_m is None


@pytest.mark.parametrize(
    ("frame", "event", "desc", "when"),
    [
        (AUTOMATO_ENTER, "enter", "Casa", datetime(2019, 1, 7, 14, 25, 6, tzinfo=UTC)),
        (AUTOMATO_LEAVE, "leave", "Genitori", datetime(2019, 1, 7, 14, 28, 48, tzinfo=UTC)),
        (BOOKLET_TRANSITION, "enter", "my Indian restaurant",
         datetime(2015, 3, 29, 13, 10, 3, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_transitions(frame: bytes, event: str, desc: str, when: datetime) -> None:
    (info,) = feed_three_ways(mqtt_session, frame, stream=False)
    assert isinstance(info, DeviceInfo)
    assert (info.kind, info.time, info.device_key) == ("transition", when, KEY)
    assert (info.attributes["event"], info.attributes["desc"]) == (event, desc)


def test_lwt_waypoints_and_status() -> None:
    (lwt,) = mqtt_session().receive(BOOKLET_LWT)
    assert lwt == DeviceInfo(
        device_key=KEY,
        protocol="owntracks",
        kind="lwt",
        time=datetime(2013, 10, 2, 18, 24, 7, tzinfo=UTC),
        attributes={"tst": 1380738247},
    )
    waypoints = (
        b'{"_type":"waypoints","waypoints":[{"_type":"waypoint","desc":"Home","lat":52.1,'
        b'"lon":4.3,"rad":50,"tst":1600000000,"rid":"6da9cf"},{"_type":"waypoint","desc":"Work",'
        b'"tst":1600000001}]}'
    )
    home, work = mqtt_session().receive(waypoints)
    assert isinstance(home, DeviceInfo)
    assert isinstance(work, DeviceInfo)
    assert (home.kind, home.attributes["desc"], home.attributes["rid"]) == (
        "waypoint",
        "Home",
        "6da9cf",
    )
    assert work.time == datetime(2020, 9, 13, 12, 26, 41, tzinfo=UTC)
    (status,) = mqtt_session().receive(b'{"_type":"status","android":{"hib":1,"bo":0}}')
    assert isinstance(status, DeviceInfo)
    assert status.attributes == {"android.hib": 1, "android.bo": 0}


@pytest.mark.parametrize(
    "frame", [BOOKLET_CMD, b'{"_type":"card","name":"Jane"}', b'{"_type":"steps","steps":5}',
              b'{"_type":"something-new"}'],
)  # fmt: skip
def test_ignored_types_give_nothing_over_mqtt_and_an_ack_over_http(frame: bytes) -> None:
    assert mqtt_session().receive(frame) == []
    assert http_session().receive(frame) == [HTTP_ACK]


def test_http_location_is_acked_with_an_empty_array() -> None:
    position, ack = feed_three_ways(http_session, CEREBRO, stream=False)
    assert isinstance(position, Position)
    assert ack == HTTP_ACK


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"{not json", Malformed),
        (b"[1, 2]", Malformed),
        (b'{"lat": 1}', Malformed),
        (b'{"_type":"location","lat":1,"lon":2}', Malformed),  # no tst
        (b'{"_type":"location","lat":"north","lon":2,"tst":1}', Malformed),
        (b'{"_type":"location","lat":95,"lon":2,"tst":1}', Malformed),
        (b'{"_type":"waypoints","waypoints":3}', Malformed),
        (b'{"_type":"encrypted","data":"AAAA"}', UnsupportedMessage),
    ],
)
def test_bad_payloads_are_rejected_not_fatal(frame: bytes, error: type[Exception]) -> None:
    session = mqtt_session()
    (rejected,) = session.receive(frame)
    assert isinstance(rejected, Rejected)
    assert type(rejected.error) is error
    assert not session.failed


def test_no_preset_identity() -> None:
    (rejected,) = SPEC.new_session("http", None).receive(CEREBRO)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, NotIdentified)
