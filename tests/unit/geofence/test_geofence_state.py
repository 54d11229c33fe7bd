"""The transition table and the state holder, without geometry."""

from __future__ import annotations

import pytest

from geofence import IMMEDIATE, DeviceFix, GeofenceState, PlaceState
from geofence.records import from_us, to_us
from geofence.state import TABLE, Event, Observation, Phase, step

from .geofence_helpers import at

MIN = 60_000_000  # one minute in microseconds


def test_table_covers_every_phase_and_observation() -> None:
    assert set(TABLE) == {(p, o) for p in Phase for o in Observation}
    fired = {key: ev for key, (_, ev) in TABLE.items() if ev is not None}
    # Confirmation: an exit needs a confirmed OUT (GONE), and a pending enter or exit
    # is also confirmed when due (DUE); an unconfirmed OUT from inside only starts one.
    assert fired == {
        (Phase.OUTSIDE, Observation.SETTLED): Event.ENTER,
        (Phase.DWELLING, Observation.SETTLED): Event.ENTER,
        (Phase.DWELLING, Observation.DUE): Event.ENTER,
        (Phase.INSIDE, Observation.GONE): Event.EXIT,
        (Phase.LEAVING, Observation.GONE): Event.EXIT,
        (Phase.LEAVING, Observation.DUE): Event.EXIT,
    }


def _step(record: PlaceState | None, minute: int, inside: bool, dwell_min: int = 0):  # type: ignore[no-untyped-def]
    t = to_us(at(0)) + minute * MIN
    return step(
        record,
        device_id="d",
        place_id="p",
        airport=False,
        time_us=t,
        inside=inside,
        dwell_us=dwell_min * MIN,
        confirm=IMMEDIATE,  # these tests are about dwell and the recorded times
    )


def test_enter_without_dwell_sets_since_to_the_fix() -> None:
    record, event = _step(None, 3, True)
    assert event is Event.ENTER
    assert record == PlaceState(device_id="d", place_id="p", inside=True, since=at(180))


def test_dwell_enters_only_after_the_stay_and_keeps_the_arrival_time() -> None:
    r1, e1 = _step(None, 0, True, dwell_min=5)
    assert e1 is None
    assert r1 is not None
    assert r1.dwell_since == at(0)
    r2, e2 = _step(r1, 4, True, dwell_min=5)
    assert e2 is None  # the row now also counts the run's fixes (confirmation)
    assert r2 == PlaceState(
        device_id="d", place_id="p", inside=False, since=at(0), dwell_since=at(0), pending_fixes=2
    )
    r3, e3 = _step(r2, 5, True, dwell_min=5)
    assert e3 is Event.ENTER
    assert r3 == PlaceState(device_id="d", place_id="p", inside=True, since=at(0))


def test_leaving_during_dwell_cancels_it_without_events() -> None:
    r1, _ = _step(None, 0, True, dwell_min=5)
    r2, e2 = _step(r1, 2, False, dwell_min=5)
    assert e2 is None
    assert r2 is not None
    assert not r2.active
    r3, e3 = _step(r2, 6, True, dwell_min=5)  # a new stay starts its own clock
    assert e3 is None
    assert r3 is not None
    assert r3.dwell_since == at(360)


def test_exit_records_the_exit_time() -> None:
    inside = PlaceState(device_id="d", place_id="p", inside=True, since=at(0))
    record, event = _step(inside, 9, False)
    assert event is Event.EXIT
    assert record == PlaceState(device_id="d", place_id="p", inside=False, since=at(540))


def test_state_round_trips_through_plain_records() -> None:
    rows = [
        PlaceState(device_id="a", place_id="home", inside=True, since=at(0)),
        PlaceState(device_id="a", place_id="LHR", inside=False, since=at(5), airport=True),
        PlaceState(device_id="b", place_id="work", inside=False, since=at(1), dwell_since=at(9)),
    ]
    fixes = [DeviceFix(device_id="a", time=at(30), lat=51.5, lon=-0.1)]
    state = GeofenceState.from_records(rows, fixes)
    again = GeofenceState.from_records(state.records(), state.last_fixes())
    assert sorted(again.records(), key=repr) == sorted(rows, key=repr)
    assert again.last_fixes() == fixes
    assert [r.place_id for r in state.active("a")] == ["home"]
    assert [r.place_id for r in state.active("b")] == ["work"]
    assert state.get("a", "LHR") is None  # user place and airport ids are kept apart
    assert state.get("a", "LHR", airport=True) == rows[1]
    state.discard_place("home")
    assert state.active("a") == ()


def test_records_reject_naive_times_and_dwelling_inside() -> None:
    with pytest.raises(ValueError, match="naive"):
        PlaceState(device_id="d", place_id="p", inside=False, since=at(0).replace(tzinfo=None))
    with pytest.raises(ValueError, match="dwell_since"):
        PlaceState(device_id="d", place_id="p", inside=True, since=at(0), dwell_since=at(0))


def test_microsecond_time_conversion_is_exact() -> None:
    when = at(0.000001 + 86400 * 365)
    assert from_us(to_us(when)) == when
