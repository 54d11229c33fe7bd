"""msgpack_phone: our own schema (docs/protocols.md, "msgpack"): examples, version rules,
errors, and encode/decode round trips (hypothesis)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import registry
from protocols.base import Session, SessionState
from protocols.errors import FrameTooLarge, Malformed, NotIdentified, UnsupportedMessage
from protocols.model import Position, Rejected, Reply
from protocols.msgpack_phone import MAX_MESSAGE, SPEC, Fix, decode_frame, encode_batch
from tests.unit.protocols.helpers import feed_three_ways

T0 = datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
FULL = Fix(
    time=T0,
    lat=52.5200066,
    lon=13.4049540,
    accuracy_m=4.2,
    altitude_m=34.5,
    speed_kmh=18.0,
    course_deg=271.25,
    battery_pct=87,
    charging=True,
    moving=False,
)
SPARSE = Fix(time=T0 + timedelta(seconds=30), lat=-33.8688197, lon=151.2092955)


def mqtt_session() -> Session:
    return SPEC.new_session("mqtt", "jane/phone")


def test_spec() -> None:
    assert registry.get("msgpack_phone") is SPEC
    assert SPEC.transports == frozenset({"mqtt", "http"})


def test_wire_layout_of_a_two_fix_batch() -> None:
    data = encode_batch([FULL, SPARSE], device_id="jane/phone")
    assert msgpack.unpackb(data) == {
        "v": 1,
        "d": "jane/phone",
        "t": 1714552200000,
        "f": [
            [0, 525200066, 134049540, 42, 345, 500, 27125, 87, 1],
            [30000, -338688197, 1512092955],
        ],
    }
    assert len(data) < 70  # two fixes, one of them complete, with the device id


def test_decode_full_and_sparse_fixes_over_mqtt_without_reply() -> None:
    full, sparse = feed_three_ways(mqtt_session, encode_batch([FULL, SPARSE]), stream=False)
    assert isinstance(full, Position)
    assert full.speed_kmh == pytest.approx(18.0)
    assert dataclasses.replace(full, speed_kmh=18.0) == Position(
        device_key="jane/phone",
        protocol="msgpack_phone",
        fix_time=T0,
        lat=52.5200066,
        lon=13.404954,
        accuracy_m=4.2,
        altitude_m=34.5,
        speed_kmh=18.0,
        course_deg=271.25,
        battery_pct=87.0,
        attributes={"charge": True, "motion": False},
    )
    assert isinstance(sparse, Position)
    assert (sparse.fix_time, sparse.accuracy_m, sparse.speed_kmh) == (SPARSE.time, None, None)
    assert sparse.attributes == {}


def test_http_gets_an_empty_ack_and_device_from_d() -> None:
    session = SPEC.new_session("http", None)
    position, ack = session.receive(encode_batch([SPARSE], device_id="tag-1"))
    assert isinstance(position, Position)
    assert position.device_key == "tag-1"
    assert ack == Reply(data=b"", acks_data=True)


def test_forward_compatible_within_version_1() -> None:
    data = msgpack.packb({"v": 1, "t": 0, "f": [[5, 1, 2, None, None, None, None, None, 4, 99]],
                          "new_key": [1, 2]})  # fmt: skip
    (position,) = mqtt_session().receive(data)
    assert isinstance(position, Position)
    assert position.fix_time == datetime(1970, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)
    assert position.attributes == {"charge": False, "motion": False}  # unknown bit 2 ignored


def test_empty_batch() -> None:
    assert mqtt_session().receive(encode_batch([])) == []


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"v": 2, "t": 0, "f": []}, UnsupportedMessage),
        ({"t": 0, "f": []}, Malformed),
        ({"v": 0, "t": 0, "f": []}, Malformed),
        ({"v": True, "t": 0, "f": []}, Malformed),
        ({"v": 1, "f": []}, Malformed),
        ({"v": 1, "t": 0, "f": {}}, Malformed),
        ({"v": 1, "t": 0, "f": [[0, 1]]}, Malformed),
        ({"v": 1, "t": 0, "f": [[0, 900000001, 0]]}, Malformed),
        ({"v": 1, "t": 0, "f": [[-1, 0, 0]]}, Malformed),
        ({"v": 1, "t": 0, "f": [[0, 0, 0, 1.5]]}, Malformed),
        ({"v": 1, "t": 0, "f": [[0, 0, 0, None, None, None, 36000]]}, Malformed),
        ({"v": 1, "t": 0, "f": [[0, 0, 0, None, None, None, None, 101]]}, Malformed),
        ({"v": 1, "t": 10**18, "f": [[0, 0, 0]]}, Malformed),
        ({"v": 1, "t": 0, "f": ["fix"]}, Malformed),
        ({"v": 1, "d": "other/phone", "t": 0, "f": []}, Malformed),
        ({"v": 1, "d": 7, "t": 0, "f": []}, Malformed),
        ({"v": 1, "t": 0, "f": [[0, 0, 0]] * 1001}, Malformed),
    ],
)
def test_bad_messages(message: dict[str, object], error: type[Exception]) -> None:
    session = mqtt_session()
    (rejected,) = session.receive(msgpack.packb(message))
    assert isinstance(rejected, Rejected)
    assert type(rejected.error) is error
    assert not session.failed


@pytest.mark.parametrize("data", [b"\xc1", b"\x93\x01", b"\x81\x01\x02", b"[]", b"\x92\x01\x02"])
def test_not_a_message(data: bytes) -> None:
    (rejected,) = mqtt_session().receive(data)
    assert isinstance(rejected, Rejected)
    assert type(rejected.error) is Malformed


def test_unidentified_and_oversized() -> None:
    (rejected,) = SPEC.new_session("mqtt", None).receive(encode_batch([SPARSE]))
    assert isinstance(rejected, Rejected)
    assert isinstance(rejected.error, NotIdentified)
    (too_big,) = mqtt_session().receive(b"\x00" * (MAX_MESSAGE + 1))
    assert isinstance(too_big, Rejected)
    assert isinstance(too_big.error, FrameTooLarge)
    assert not too_big.fatal


# -- round trips ---------------------------------------------------------------------------

times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


def fixes() -> st.SearchStrategy[Fix]:
    flags = st.one_of(st.tuples(st.none(), st.none()), st.tuples(st.booleans(), st.booleans()))
    return st.builds(
        lambda time, lat, lon, acc, alt, spd, crs, batt, fl: Fix(
            time=time, lat=lat, lon=lon, accuracy_m=acc, altitude_m=alt, speed_kmh=spd,
            course_deg=crs, battery_pct=batt, charging=fl[0], moving=fl[1],
        ),
        times,
        st.floats(-90, 90),
        st.floats(-180, 180),
        st.one_of(st.none(), st.floats(0.1, 10_000)),
        st.one_of(st.none(), st.floats(-500, 9_000)),
        st.one_of(st.none(), st.floats(0, 1_200)),
        st.one_of(st.none(), st.floats(0, 359.99)),
        st.one_of(st.none(), st.integers(0, 100)),
        flags,
    )  # fmt: skip


#: device ids the model accepts: printable text (no control, format or separator characters)
PRINTABLE = st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"))


@given(
    st.lists(fixes(), max_size=20),
    st.one_of(st.none(), st.text(PRINTABLE, min_size=1, max_size=20)),
)
def test_decode_of_encode_matches_within_quantisation(
    batch: list[Fix], device_id: str | None
) -> None:
    state = SessionState(transport="mqtt", device_key=device_id or "preset")
    positions = decode_frame(encode_batch(batch, device_id=device_id), state)
    assert len(positions) == len(batch)
    for fix, position in zip(batch, positions, strict=True):
        assert isinstance(position, Position)
        assert position.fix_time == fix.time
        assert position.lat == pytest.approx(fix.lat, abs=1e-7)
        assert position.lon == pytest.approx(fix.lon, abs=1e-7)
        for got, want, step in (
            (position.accuracy_m, fix.accuracy_m, 0.05),
            (position.altitude_m, fix.altitude_m, 0.05),
            (position.speed_kmh, fix.speed_kmh, 0.036 / 2 + 1e-9),
            (position.battery_pct, fix.battery_pct, 0),
        ):
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert got == pytest.approx(want, abs=step + 1e-9)
        if fix.course_deg is not None:
            assert position.course_deg is not None
            delta = abs(position.course_deg - fix.course_deg) % 360
            assert min(delta, 360 - delta) <= 0.005 + 1e-9
        if fix.charging is not None:
            assert position.attributes == {"charge": fix.charging, "motion": fix.moving}


@given(st.lists(fixes(), max_size=20))
def test_encoding_is_stable_after_one_round_trip(batch: list[Fix]) -> None:
    state = SessionState(transport="mqtt", device_key="d")
    first = encode_batch(batch)
    positions = decode_frame(first, state)
    again = [
        Fix(
            time=p.fix_time, lat=p.lat, lon=p.lon, accuracy_m=p.accuracy_m,
            altitude_m=p.altitude_m, speed_kmh=p.speed_kmh, course_deg=p.course_deg,
            battery_pct=None if p.battery_pct is None else int(p.battery_pct),
            charging=p.attributes.get("charge"),  # type: ignore[arg-type]
            moving=p.attributes.get("motion"),  # type: ignore[arg-type]
        )
        for p in positions
        if isinstance(p, Position)
    ]  # fmt: skip
    assert encode_batch(again) == first


@given(st.binary(max_size=256))
def test_arbitrary_bytes_decode_or_raise_protocol_errors_only(data: bytes) -> None:
    for message in mqtt_session().receive(data):
        assert isinstance(message, Position | Rejected)
