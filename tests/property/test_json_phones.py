"""Property tests for the JSON phone decoders (OwnTracks, OsmAnd JSON, Overland): arbitrary
JSON — including what Python's parser would take but JSON forbids (NaN, Infinity), integers
past any column, NUL and lone surrogates in strings and keys, and nesting far past the limit —
gives only messages the store can hold, or ``Rejected``; never another exception."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import registry
from protocols.model import Rejected

from .test_protocol_fuzz import assert_storable

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PHONES = ("owntracks", "osmand", "overland")

#: numbers at and past every edge: NaN and the infinities, huge and negative integers
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(),
    st.sampled_from([10**20, -(10**20), 2**63, 2**64, 10**308, 10**400, 32768, -1, 0]),
)
TEXT = st.text(st.characters(codec=None), max_size=12) | st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "owntracks", "location", "Point", "2024-05-01T08:00:00Z"]
)
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=30,
)


def _dumps(value: Any) -> bytes:
    # allow_nan: write NaN/Infinity as Python's parser would read them back
    return json.dumps(value, allow_nan=True, ensure_ascii=True).encode()


def _template(protocol: str, lat: Any, lon: Any, extra: Any) -> Any:
    """A payload of the protocol's own shape with hostile values in it."""
    if protocol == "owntracks":
        return {"_type": "location", "tst": 1714550400, "lat": lat, "lon": lon, "x": extra}
    if protocol == "osmand":
        return {
            "device_id": "phone-1",
            "location": {
                "timestamp": "2024-05-01T08:00:00Z",
                "coords": {"latitude": lat, "longitude": lon, "speed": extra},
                "extras": {"e": extra},
            },
        }
    return {
        "locations": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"timestamp": "2024-05-01T08:00:00Z", "speed": extra, "p": extra},
            }
        ]
    }


def _decode(protocol: str, body: bytes) -> None:
    session = registry.get(protocol).new_session("http", "user/phone")
    for message in session.receive(body):
        assert_storable(message)


@SETTINGS
@given(protocol=st.sampled_from(PHONES), value=JSON)
def test_arbitrary_json(protocol: str, value: Any) -> None:
    _decode(protocol, _dumps(value))


@SETTINGS
@given(protocol=st.sampled_from(PHONES), lat=NUMBERS, lon=NUMBERS, extra=JSON)
def test_hostile_values_in_a_valid_shape(protocol: str, lat: Any, lon: Any, extra: Any) -> None:
    _decode(protocol, _dumps(_template(protocol, lat, lon, extra)))


@SETTINGS
@given(
    protocol=st.sampled_from(PHONES),
    depth=st.integers(1, 3000),
    opener=st.sampled_from(["[", '{"a":']),
)
def test_deep_nesting_is_rejected_not_a_crash(protocol: str, depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    nested = opener * depth + "1" + closer * depth
    body = json.dumps(_template(protocol, 52.5, 13.4, 0)).replace("0}", nested + "}", 1)
    session = registry.get(protocol).new_session("http", "user/phone")
    out = session.receive(body.encode())
    for message in out:
        assert_storable(message)
    if depth > 40:
        assert any(isinstance(m, Rejected) for m in out)
