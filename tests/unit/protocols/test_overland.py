"""overland: the batch of the Overland-iOS README ("API"), and variations of it.

Source: https://github.com/aaronpk/Overland-iOS README, section "API" (request body),
"Response" (``{"result": "ok"}``) and "Current Trip" (trip fields).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from protocols import registry
from protocols.base import Session
from protocols.errors import Malformed, NotIdentified
from protocols.model import DeviceInfo, Position, Rejected, Reply
from protocols.overland import SPEC
from tests.unit.protocols.helpers import feed_three_ways

ACK = Reply(data=b'{"result":"ok"}', acks_data=True)
README_FEATURE: dict[str, object] = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [-122.030581, 37.331800]},
    "properties": {
        "timestamp": "2015-10-01T08:00:00-0700",
        "altitude": 0,
        "speed": 4,
        "horizontal_accuracy": 30,
        "vertical_accuracy": -1,
        "motion": ["driving", "stationary"],
        "pauses": False,
        "activity": "other_navigation",
        "desired_accuracy": 100,
        "deferred": 1000,
        "significant_change": "disabled",
        "locations_in_payload": 1,
        "battery_state": "charging",
        "battery_level": 0.89,
        "device_id": "",
        "wifi": "",
    },
}
README_BODY = json.dumps({"locations": [README_FEATURE]}).encode()


def preset_session() -> Session:
    return SPEC.new_session("http", "overland-token-7")


def anonymous_session() -> Session:
    return SPEC.new_session("http", None)


def with_properties(**changes: object) -> dict[str, object]:
    properties = dict(README_FEATURE["properties"])  # type: ignore[call-overload]
    properties.update(changes)
    return {**README_FEATURE, "properties": properties}


def test_spec() -> None:
    assert registry.get("overland") is SPEC
    assert SPEC.transports == frozenset({"http"})


def test_readme_batch_with_preset_device() -> None:
    position, ack = feed_three_ways(preset_session, README_BODY, stream=False)
    assert ack == ACK
    assert isinstance(position, Position)
    assert position.device_key == "overland-token-7"
    assert position.fix_time == datetime(2015, 10, 1, 15, 0, tzinfo=UTC)
    assert (position.lat, position.lon) == (37.3318, -122.030581)
    assert position.speed_kmh == pytest.approx(4 * 3.6)
    assert (position.accuracy_m, position.altitude_m) == (30.0, 0.0)
    assert position.battery_pct == pytest.approx(89.0)
    assert position.attributes["motion"] == '["driving","stationary"]'
    assert position.attributes["battery_state"] == "charging"
    assert position.attributes["vertical_accuracy"] == -1


def test_device_id_property_names_the_device() -> None:
    body = json.dumps({"locations": [with_properties(device_id="iphone-jane")]}).encode()
    position, _ = feed_three_ways(anonymous_session, body, stream=False)
    assert isinstance(position, Position)
    assert position.device_key == "iphone-jane"


def test_negative_values_are_unknown_and_course_is_kept() -> None:
    feature = with_properties(speed=-1, horizontal_accuracy=-1, course=271.5, battery_level=-1)
    position, _ = feed_three_ways(
        preset_session, json.dumps({"locations": [feature]}).encode(), stream=False
    )
    assert isinstance(position, Position)
    assert (position.speed_kmh, position.accuracy_m, position.battery_pct) == (None, None, None)
    assert position.course_deg == 271.5


def test_trip_and_current() -> None:
    trip: dict[str, str | float] = {
        "distance": 1234.5,
        "mode": "bicycle",
        "start": "2015-10-01T07:00:00-0700",
    }
    body = {"locations": [README_FEATURE], "current": README_FEATURE, "trip": trip}
    position, info, ack = feed_three_ways(preset_session, json.dumps(body).encode(), stream=False)
    assert isinstance(position, Position)  # "current" is not added again
    assert info == DeviceInfo(
        device_key="overland-token-7", protocol="overland", kind="trip", attributes=trip
    )
    assert ack == ACK


def test_one_bad_feature_is_rejected_in_place_and_the_batch_acked() -> None:
    bad = with_properties(timestamp="yesterday")
    body = json.dumps({"locations": [README_FEATURE, bad]}).encode()
    position, rejected, ack = preset_session().receive(body)
    assert isinstance(position, Position)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, Malformed)
    assert ack == ACK


def test_unidentified_batch_is_not_acked() -> None:
    session = anonymous_session()
    (rejected,) = session.receive(README_BODY)
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, NotIdentified)
    assert not session.failed


@pytest.mark.parametrize(
    "body",
    [b"[]", b'{"locations": 3}', b"\xff\xfe", b'{"locations": [' * 5000],
)
def test_bad_bodies_are_malformed(body: bytes) -> None:
    (rejected,) = preset_session().receive(body)
    assert isinstance(rejected, Rejected)
    assert type(rejected.error) is Malformed


def test_non_point_geometry_is_rejected() -> None:
    feature = {**README_FEATURE, "geometry": {"type": "LineString", "coordinates": [[0, 0]]}}
    rejected, ack = preset_session().receive(json.dumps({"locations": [feature]}).encode())
    assert isinstance(rejected, Rejected)
    assert ack == ACK
