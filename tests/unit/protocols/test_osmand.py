"""osmand (OsmAnd / Traccar Client over HTTP): documented requests and captures.

Sources:
  TRACCAR - https://www.traccar.org/osmand/ (parameter list, JSON format example).
  ISSUE459 - parameters Traccar Client for Android sends, quoted from
             traccar-client-android issue 459 in https://traccar.org/forums/topic/units-of-speed-of-accuracy-in-osmand-url
  BLOG    - "OsmAnd 协议发送数据 示例", https://blog.1okk.com/archives/434.html, examples 1 and 2.
  SPEC    - "OsmAnd Protocol Specification", https://kbeigl.github.io/bm/bm-tracker/gps-osmand-tracker/src/asciidoc/OsmAndProtocolSpecification.html
  MESH    - https://github.com/joshpirihi/meshtastic-mqtt/issues/11 (a request with extras).
  SDK     - a location captured from the Transistorsoft background-geolocation SDK (the SDK
            Traccar Client 9 uses), wchanchavac/google-maps data.js, wrapped in the body
            shape of TRACCAR's JSON format.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocols import registry
from protocols._common import CLOCK_KEY
from protocols.base import Session
from protocols.errors import Malformed, NotIdentified
from protocols.model import Heartbeat, Position, Rejected, Reply
from protocols.osmand import SPEC
from tests.unit.protocols.helpers import feed_three_ways

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ACK = Reply(data=b"", acks_data=True)

BLOG_1 = (
    b"/?id=123456&lat=34.0522&lon=-118.2437&timestamp=2024-07-30T14:30:00Z&hdop=1.2"
    b"&altitude=100&speed=50"
)
BLOG_2 = BLOG_1 + b"&cell=310,410,12345,67890,-70"
SPEC_EXAMPLE = (
    b"/track?id=phone1&lat=52.5200&lon=13.4050&timestamp=1678886400&speed=25.0&bearing=90.0"
    b"&altitude=50.0&batt=85.0"
)
MESH = (
    b"?id=2901897364&lat=58.8613911&lon=20.4433516&altitude=84&battery_level=0&hdop=0"
    b"&accuracy=0.0&short_name=lnY&snr=-12.0&hop_limit=2"
)
# ISSUE459 field set with values; a form (POST) body without a leading "?".
CLIENT_FORM = (
    b"id=864895030279986&timestamp=1700000000123&lat=-33.86&lon=151.21&speed=10&bearing=270"
    b"&altitude=12.5&accuracy=8.0&batt=42&charge=true&valid=1&driverUniqueId=D7"
)
TRACCAR_JSON = (
    b'{"location": {"timestamp": "2000-01-01T00:00:00.000Z", "coords": {"latitude": 0.0,'
    b' "longitude": 0.0, "accuracy": 0, "speed": 0, "heading": 0, "altitude": 0},'
    b' "is_moving": false, "odometer": 0, "event": "motionchange", "battery": {"level": 1,'
    b' "is_charging": false}, "activity": {"type": "still"}, "extras": {}},'
    b' "device_id": "48241179"}'
)
SDK_JSON = (
    b'{"device_id": "48241179", "location": {"uuid": "2abe3959-0041-4fb9-9a2b-4970015aa419",'
    b' "coords": {"speed": 9.45, "heading": 54.14, "accuracy": 54.5, "altitude": 1540.3,'
    b' "latitude": 14.6055938, "longitude": -90.9198331, "speed_accuracy": 2.91},'
    b' "extras": {"model": "moto g(6)", "platform": "android"},'
    b' "battery": {"level": 0.89, "is_charging": false},'
    b' "activity": {"type": "in_vehicle", "confidence": 100}, "odometer": 14351.9,'
    b' "is_moving": true, "timestamp": "2021-03-20T14:10:57.000Z"}}'
)


def new_session() -> Session:
    session = SPEC.new_session("http", None)
    session.state.values[CLOCK_KEY] = lambda: NOW
    return session


def only_position(frame: bytes) -> Position:
    position, ack = feed_three_ways(new_session, frame, stream=False)
    assert ack == ACK
    assert isinstance(position, Position)
    return position


def test_spec() -> None:
    assert registry.get("osmand") is SPEC
    assert SPEC.default_port == 5055
    assert SPEC.transports == frozenset({"http"})


def test_blog_example_iso_time_and_knots() -> None:
    position = only_position(BLOG_1)
    assert position.device_key == "123456"
    assert position.fix_time == datetime(2024, 7, 30, 14, 30, tzinfo=UTC)
    assert (position.lat, position.lon, position.altitude_m) == (34.0522, -118.2437, 100.0)
    assert position.speed_kmh == pytest.approx(50 * 1.852)
    assert position.accuracy_m is None
    assert position.attributes == {"hdop": 1.2}


def test_cell_is_kept_as_text() -> None:
    assert only_position(BLOG_2).attributes["cell"] == "310,410,12345,67890,-70"


def test_path_with_query_epoch_seconds_bearing_and_battery() -> None:
    position = only_position(SPEC_EXAMPLE)
    assert (position.device_key, position.fix_time) == (
        "phone1",
        datetime(2023, 3, 15, 13, 20, tzinfo=UTC),
    )
    assert (position.course_deg, position.battery_pct) == (90.0, 85.0)
    assert position.speed_kmh == pytest.approx(25 * 1.852)


def test_zero_accuracy_is_unknown_and_extras_become_attributes() -> None:
    position = only_position(MESH)
    assert position.accuracy_m is None
    assert position.fix_time == NOW  # no timestamp: receive time
    assert position.attributes == {
        "battery_level": 0.0,
        "hdop": 0.0,
        "short_name": "lnY",
        "snr": -12.0,
        "hop_limit": 2.0,
    }


def test_form_body_with_milliseconds_charge_and_valid() -> None:
    position = only_position(CLIENT_FORM)
    assert position.fix_time == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert (position.lat, position.lon, position.valid) == (-33.86, 151.21, True)
    assert (position.course_deg, position.altitude_m, position.accuracy_m) == (270.0, 12.5, 8.0)
    assert position.battery_pct == 42.0
    assert position.attributes == {"charge": True, "driverUniqueId": "D7"}


def test_location_parameter_and_legacy_time_and_invalid() -> None:
    frame = b"deviceid=abc&location=48.1,-2.5&timestamp=2024-01-02 03:04:05&valid=false&heading=7"
    position = only_position(frame)
    assert (position.device_key, position.lat, position.lon) == ("abc", 48.1, -2.5)
    assert position.fix_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (position.valid, position.course_deg) == (False, 7.0)


def test_request_without_location_is_a_heartbeat() -> None:
    assert feed_three_ways(new_session, b"?id=123456&batt=77", stream=False) == [
        Heartbeat(device_key="123456", protocol="osmand", attributes={"battery_pct": 77.0}),
        ACK,
    ]


def test_traccar_json_template_units() -> None:
    position = only_position(TRACCAR_JSON)
    assert position.device_key == "48241179"
    assert position.fix_time == datetime(2000, 1, 1, tzinfo=UTC)
    assert (position.accuracy_m, position.speed_kmh, position.battery_pct) == (None, 0.0, 100.0)
    assert position.attributes == {
        "is_moving": False,
        "odometer": 0,
        "event": "motionchange",
        "charge": False,
        "activity": "still",
    }


def test_sdk_capture_converts_mps_and_fraction() -> None:
    position = only_position(SDK_JSON)
    assert position.fix_time == datetime(2021, 3, 20, 14, 10, 57, tzinfo=UTC)
    assert position.speed_kmh == pytest.approx(9.45 * 3.6)
    assert position.battery_pct == pytest.approx(89.0)
    assert (position.course_deg, position.accuracy_m, position.altitude_m) == (54.14, 54.5, 1540.3)
    assert position.attributes["extras.model"] == "moto g(6)"
    assert position.attributes["activity"] == "in_vehicle"


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"?lat=1&lon=2", NotIdentified),
        (b"?id=1&lat=north&lon=2", Malformed),
        (b"?id=1&lat=91&lon=2", Malformed),
        (b"?id=1&lat=1&lon=2&timestamp=yesterday", Malformed),
        (b"?id=1&lat=1&lon=2&valid=maybe", Malformed),
        (b'{"device_id": "1", "location": {"coords": {}}}', Malformed),
        (b'{"device_id": "1", "location": {"timestamp": 5, "coords": {"latitude": 1,'
         b' "longitude": 2}}}', Malformed),
        (b'{"location": {}}', NotIdentified),
        (b"{not json", Malformed),
    ],
)  # fmt: skip
def test_bad_requests(frame: bytes, error: type[Exception]) -> None:
    session = new_session()
    (rejected,) = session.receive(frame)
    assert isinstance(rejected, Rejected)
    assert type(rejected.error) is error
    assert not session.failed


def test_a_coordinate_without_its_pair_is_malformed_not_a_heartbeat() -> None:
    # Built: a client that sends only one coordinate (or garbage in it) sent a broken fix,
    # not a status-only request; answering 200 would make the app drop the fix.
    from protocols import registry
    from protocols.errors import Malformed
    from protocols.model import Rejected

    for query in (b"id=abc&lat=north", b"id=abc&lon=13.4", b"id=abc&lat=52.5"):
        (item,) = registry.get("osmand").new_session("http", None).receive(query)
        assert isinstance(item, Rejected)
        assert isinstance(item.error, Malformed)
