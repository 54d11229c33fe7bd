"""The model refuses what the store cannot hold (issue 9): each value names its field, is a
``BadValue`` (a ``Malformed``, so a session rejects just that frame) and a ``ValueError``."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from protocols import registry
from protocols._common import MAX_JSON_DEPTH, json_depth, load_json
from protocols.errors import BadValue, Malformed
from protocols.model import (
    MAX_ATTRIBUTES,
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Login,
    Position,
    Rejected,
)

T = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
GOOD: dict[str, Any] = {
    "device_key": "356307042441013",
    "protocol": "test",
    "fix_time": T,
    "lat": 52.5,
    "lon": 13.4,
}


FIELD_CASES = [
    ("speed_kmh", math.nan),
    ("speed_kmh", math.inf),
    ("course_deg", -math.inf),
    ("altitude_m", 1e39),  # past PostgreSQL real
    ("accuracy_m", math.nan),
    ("battery_pct", -1e300),
    ("satellites", 10**19),  # a 20-digit count
    ("satellites", 32768),  # past smallint
    ("satellites", -1),
    ("device_key", "35630704\x0024"),
    ("device_key", "x" * 129),
    ("device_key", ""),
    ("device_key", "\ud800"),
]
#: what ``Position.trusted`` still checks (its float fields come from fixed-width integers)
TRUSTED_CHECKS = {"satellites", "device_key"}


@pytest.mark.parametrize(
    ("build", "field", "value"),
    [(Position, f, v) for f, v in FIELD_CASES]
    + [(Position.trusted, f, v) for f, v in FIELD_CASES if f in TRUSTED_CHECKS],
)
def test_a_field_the_store_cannot_hold_is_refused_by_name(
    build: Any, field: str, value: object
) -> None:
    with pytest.raises(BadValue, match=field.split("_")[0]) as info:
        build(**{**GOOD, field: value})
    assert isinstance(info.value, Malformed)
    assert isinstance(info.value, ValueError)
    assert info.value.protocol == "test"


@pytest.mark.parametrize(
    "attributes",
    [
        {"note": "a\x00b"},
        {"a\x00": 1},
        {"note": "\udc80"},
        {"x": math.nan},
        {"x": math.inf},
        {"n": 2**64},
        {"n": -(2**63) - 1},
        {"blob": b"bytes"},
        {"t": "x" * 5000},
        {f"k{i}": i for i in range(MAX_ATTRIBUTES + 1)},
        {"k" * 200: 1},
    ],
)
def test_attributes_the_store_cannot_hold_are_refused(attributes: dict[str, Any]) -> None:
    for build in (
        lambda: Position(**GOOD, attributes=attributes),
        lambda: DeviceEvent(
            device_key="d", protocol="test", time=T, kind="sos", attributes=attributes
        ),
        lambda: Heartbeat(device_key="d", protocol="test", attributes=attributes),
        lambda: Login(device_key="d", protocol="test", attributes=attributes),
        lambda: DeviceInfo(device_key="d", protocol="test", kind="info", attributes=attributes),
    ):
        with pytest.raises(BadValue, match="attribute"):
            build()


def test_ordinary_values_pass_and_trusted_equals_checked() -> None:
    values: dict[str, Any] = {
        **GOOD,
        "speed_kmh": 42.0,
        "course_deg": 359.9,
        "altitude_m": -400.0,
        "satellites": 12,
        "battery_pct": 87.0,
        "attributes": {"ignition": True, "io66": 12500, "odometer": 2**63, "note": "Grüße"},
    }
    assert Position(**values) == Position.trusted(**values)


def test_nul_in_a_device_key_of_every_message_type() -> None:
    for build in (
        lambda: Login(device_key="a\x00", protocol="tk103"),
        lambda: Heartbeat(device_key="a\x00", protocol="tk103"),
        lambda: DeviceInfo(device_key="a\x00", protocol="tk103", kind="info"),
        lambda: DeviceEvent(device_key="a\x00", protocol="tk103", time=T, kind="sos"),
    ):
        with pytest.raises(BadValue, match="device_key"):
            build()


@pytest.mark.parametrize("text", [b'{"a": NaN}', b"[Infinity]", b'{"x": -Infinity}'])
def test_json_without_nan_or_infinity(text: bytes) -> None:
    with pytest.raises(Malformed, match="not a JSON number"):
        load_json(text, "test")


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100, 500, 1000, 2000, 100_000])
def test_deep_json_is_malformed_before_parsing(depth: int) -> None:
    with pytest.raises(Malformed, match="nested"):
        load_json(b'{"a":' * depth + b"1" + b"}" * depth, "test")


def test_brackets_in_strings_do_not_count_towards_depth() -> None:
    text = b'{"a": "' + b"[" * 500 + b'\\"]]"}'
    assert json_depth(text) == 1
    assert load_json(text, "test") == {"a": "[" * 500 + '"]]'}


def test_a_huge_integer_where_a_number_belongs_is_malformed() -> None:
    body = b'{"_type":"location","tst":1714550400,"lat":' + b"9" * 400 + b',"lon":13.4}'
    [rejected] = registry.get("owntracks").new_session("http", "u/d").receive(body)
    assert isinstance(rejected, Rejected)
    assert "lat" in str(rejected.error)


def _watch_length_fixed(frame: bytes) -> bytes:
    """A watch frame with its LEN field recomputed after a field was replaced."""
    head, _, rest = frame.partition(b"*")
    device, _, rest = rest.partition(b"*")
    _length, _, content = rest.partition(b"*")
    content = content.removesuffix(b"]")
    return b"%s*%s*%04X*%s]" % (head, device, len(content), content)


@pytest.mark.parametrize("value", [b"NaN", b"inf", b"-inf", b"1e999", b"9" * 30, b"9" * 5000])
def test_hostile_numbers_in_every_field_of_the_text_trackers(value: bytes) -> None:
    """Each comma-separated field of real captured frames (the samples of the protocols' own
    tests, sources named there) replaced by a NaN, infinite or huge number: messages the store
    can hold, or Rejected — never another exception (H02 coordinates used to raise a bare
    ValueError)."""
    from tests.property.test_protocol_fuzz import assert_storable
    from tests.unit.protocols import test_h02, test_tk103, test_watch

    samples = {
        "h02": [test_h02.V1, test_h02.V1_MOVING, test_h02.V1_SOUTH_WEST, test_h02.HTBT],
        "tk103": [test_tk103.BRENT, test_tk103.SOS, test_tk103.SENSOR],
        "watch": [test_watch.UD, test_watch.UD2, test_watch.AL, test_watch.BPHRT],
    }
    for protocol, frames in samples.items():
        for frame in frames:
            parts = frame.split(b",")
            for i in range(1, len(parts)):
                hostile = b",".join([*parts[:i], value, *parts[i + 1 :]])
                if protocol == "watch":
                    hostile = _watch_length_fixed(hostile)
                session = registry.get(protocol).new_session("tcp", None)
                if protocol == "tk103":
                    session.receive(test_tk103.LOGIN)
                for message in session.receive(hostile):
                    assert_storable(message)
