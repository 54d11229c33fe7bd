"""Real-looking tracks through ``geofence.evaluate``."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geofence import (
    IMMEDIATE,
    GeofenceState,
    Place,
    PlaceIndex,
    Rules,
    Zones,
    airport_index,
    evaluate,
)

from .geofence_helpers import Fix, batch_of, events, offset, run

HOME = (51.5074, -0.1278)
HOME_R = 100.0
#: These tests are about the geometric rule (IN/OUT per fix), so they ask for no
#: confirmation: the first fix on the new side decides. Confirmation has its own tests
#: (test_geofence_confirm.py).
GEOMETRY = Rules(confirm=IMMEDIATE, airport_confirm=IMMEDIATE)


def home_zones(**rules: float) -> Zones:
    return Zones(
        places=PlaceIndex([Place.circle("home", *HOME, HOME_R)]),
        rules=Rules(confirm=IMMEDIATE, airport_confirm=IMMEDIATE, **rules),
    )


def walk(
    rng: np.random.Generator, start_s: float, north_m: list[float], jitter_m: float
) -> list[Fix]:
    """One fix every 10 s at the given distances north of home, with GPS jitter."""
    fixes: list[Fix] = []
    for k, north in enumerate(north_m):
        jn, je = rng.uniform(-jitter_m, jitter_m, 2)
        fixes.append(
            ("phone", start_s + 10 * k, *offset(*HOME, north + jn, je), float(rng.uniform(10, 25)))
        )
    return fixes


@pytest.mark.parametrize("seed", range(5))
def test_walk_home_with_jitter_enters_once_and_exits_once(seed: int) -> None:
    rng = np.random.default_rng(seed)
    approach = list(np.linspace(600, 0, 60))  # 600 m in 10 min
    stay = [0.0] * 60  # ten minutes at home, jittering
    leave = list(np.linspace(0, 600, 60))
    track = walk(rng, 0, approach + stay + leave, jitter_m=30)
    got = events(run(track, home_zones()))
    assert [(kind, place) for kind, _, place, _ in got] == [("enter", "home"), ("exit", "home")]
    enter_s, exit_s = got[0][3], got[1][3]
    # IN needs the measured distance <= 100 - 25 - 5 = 70 m, so the true one is 40-100 m
    # (the walk is there at 490-550 s); OUT needs >= 130 m measured: 100-160 m true.
    assert 480 <= enter_s <= 560
    assert 1290 <= exit_s <= 1370


def test_standing_on_the_boundary_with_jitter_does_not_toggle() -> None:
    rng = np.random.default_rng(1)
    inside = [("phone", 0.0, *HOME, 10.0)]
    # 100 fixes on the edge itself, scattered up to 20 m each way, reported accuracy 20 m.
    edge = walk(rng, 10, [HOME_R] * 100, jitter_m=20)
    edge = [(d, t, la, lo, 20.0) for d, t, la, lo, _ in edge]
    assert events(run(inside + edge, home_zones())) == [("enter", "phone", "home", 0.0)]
    # The naive rule (inside = distance < radius) would have flickered on this track.
    from geofence._geodesy import haversine_m

    dist = haversine_m(HOME[0], HOME[1], [f[2] for f in edge], [f[3] for f in edge])
    assert np.count_nonzero(np.diff(dist < HOME_R)) > 20


def test_a_fix_less_precise_than_the_place_changes_nothing() -> None:
    state = GeofenceState()
    zones = home_zones()
    assert run([("phone", 0, *HOME, 10.0)], zones, state)[0].kind == "enter"
    far = offset(*HOME, 2000, 0)
    # Cell-tower fixes: 2 km away with 500 m accuracy, and on the spot with 150 m.
    assert run([("phone", 60, *far, 500.0), ("phone", 120, *HOME, 150.0)], zones, state) == []
    assert state.get("phone", "home") is not None
    assert state.get("phone", "home").inside  # type: ignore[union-attr]
    fresh = GeofenceState()
    assert run([("phone", 0, *HOME, 150.0)], zones, fresh) == []


def test_unknown_accuracy_uses_the_documented_default() -> None:
    # 20 m assumed + 5 m margin: 70 m from the centre is surely inside a 100 m circle,
    # 80 m is not.
    assert run([("tag", 0, *offset(*HOME, 80, 0), None)], home_zones()) == []
    assert events(run([("tag", 0, *offset(*HOME, 70, 0), None)], home_zones())) == [
        ("enter", "tag", "home", 0.0)
    ]


def drive_past(speed_kmh: float, stop_s: float = 0.0) -> list[Fix]:
    """A car on a straight road through home (radius 100 m), a fix every 5 s."""
    step = speed_kmh / 3.6 * 5
    fixes: list[Fix] = []
    t, north, stopped = 0.0, -500.0, False
    while north <= 500:
        fixes.append(("car", t, *offset(*HOME, north, 0), 8.0))
        if north >= 0 and stop_s and not stopped:  # park where the first fix past home is
            fixes.extend(
                ("car", t + 5 * k, *offset(*HOME, north, 0), 8.0)
                for k in range(1, int(stop_s // 5) + 1)
            )
            t, stopped = t + stop_s, True
        t += 5
        north += step
    return fixes


def test_drive_past_without_dwell_enters_and_exits() -> None:
    got = events(run(drive_past(50), home_zones()))
    assert [kind for kind, *_ in got] == ["enter", "exit"]
    assert got[1][3] - got[0][3] <= 15


def test_drive_past_with_dwell_gives_nothing_but_a_stop_does() -> None:
    assert run(drive_past(50), home_zones(dwell_s=60)) == []
    got = events(run(drive_past(50, stop_s=120), home_zones(dwell_s=60)))
    # Fixes every 69 m: the first surely inside (<= 85 m out) is 83 m before home at
    # t=30 s; the car parks 56 m past home from t=40 s; enter is due at 30 + 60 s.
    assert got[0][:3] == ("enter", "car", "home")
    assert got[0][3] == 90.0
    assert got[1][:3] == ("exit", "car", "home")


def test_polygon_with_a_hole() -> None:
    # A park of ~400 m x 400 m with a 120 m x 120 m private building in the middle.
    lat0, lon0 = 48.8566, 2.3522
    corner = [
        offset(lat0, lon0, n, e) for n, e in ((-200, -200), (-200, 200), (200, 200), (200, -200))
    ]
    hole = [offset(lat0, lon0, n, e) for n, e in ((-60, -60), (-60, 60), (60, 60), (60, -60))]
    park = Place.polygon(
        "park", shapely.Polygon([(lo, la) for la, lo in corner], [[(lo, la) for la, lo in hole]])
    )
    zones = Zones(places=PlaceIndex([park]), rules=GEOMETRY)
    path = [-400, -300, -150, -130, -100, 0, 0, 100, 130, 150, 300, 400]
    track = [("p", 10.0 * k, *offset(lat0, lon0, n, 0), 10.0) for k, n in enumerate(path)]
    assert events(run(track, zones)) == [
        ("enter", "p", "park", 20.0),  # 50 m from the outer edge, 90 m from the hole
        ("exit", "p", "park", 50.0),  # in the building, 60 m from its walls
        ("enter", "p", "park", 70.0),
        ("exit", "p", "park", 100.0),
    ]


def test_circle_across_the_antimeridian() -> None:
    # Taveuni, Fiji: the 180° meridian runs across the island.
    zones = Zones(
        places=PlaceIndex([Place.circle("taveuni", -16.85, 179.995, 2000)]), rules=GEOMETRY
    )
    track = [
        ("boat", 0, -16.85, -179.9, 10.0),  # ~10 km east, across the line
        ("boat", 60, -16.85, -179.99, 10.0),  # 1.6 km east of the centre: inside
        ("boat", 120, -16.85, 179.99, 10.0),  # 530 m west: inside
        ("boat", 180, -16.85, 179.95, 10.0),  # 4.8 km west: outside
    ]
    assert events(run(track, zones)) == [
        ("enter", "boat", "taveuni", 60.0),
        ("exit", "boat", "taveuni", 180.0),
    ]


def test_polygon_near_the_antimeridian() -> None:
    ring = [
        (179.98, -16.86),
        (180.02, -16.86),
        (180.02, -16.84),
        (179.98, -16.84),
        (179.98, -16.86),
    ]
    zones = Zones(
        places=PlaceIndex([Place.polygon("strip", shapely.Polygon(ring))]), rules=GEOMETRY
    )
    track = [("p", 0, -16.85, -179.99, 10.0), ("p", 60, -16.85, -179.97, 10.0)]
    assert events(run(track, zones)) == [("enter", "p", "strip", 0.0), ("exit", "p", "strip", 60.0)]


def test_places_at_the_poles() -> None:
    south = Place.circle("amundsen-scott", -90.0, 0.0, 1000)
    # A camp polygon 10 km from the north pole, 20° of longitude wide.
    ring = [(0, 89.9), (20, 89.9), (20, 89.92), (0, 89.92), (0, 89.9)]
    north = Place.polygon("camp", shapely.Polygon(ring))
    zones = Zones(places=PlaceIndex([south, north]), rules=GEOMETRY)
    track = [
        ("s", 0, -89.995, 0.0, 10.0),  # 556 m from the pole
        ("s", 60, -89.995, 179.0, 10.0),  # other side of the pole, still 556 m
        ("s", 120, -89.995, -90.0, 10.0),
        ("s", 180, -89.98, 45.0, 10.0),  # 2.2 km out
        ("n", 0, 89.91, 10.0, 10.0),
        ("n", 60, 89.91, 30.0, 10.0),  # same latitude, outside the 20° wedge
    ]
    assert events(run(track, zones)) == [
        ("enter", "s", "amundsen-scott", 0.0),  # ties in time: batch order
        ("enter", "n", "camp", 0.0),
        ("exit", "n", "camp", 60.0),
        ("exit", "s", "amundsen-scott", 180.0),
    ]


LHR = (51.4706, -0.46194)
CDG = (49.0128, 2.55)
JFK = (40.63983, -73.77874)


def airport_zones(**rules: float) -> Zones:
    return Zones(
        places=PlaceIndex([]),
        airports=airport_index(),
        rules=Rules(confirm=IMMEDIATE, airport_confirm=IMMEDIATE, **rules),
    )


def test_flight_lhr_to_cdg() -> None:
    track = [
        ("phone", 0, *offset(*LHR, 8000, 0), 15.0),  # on the M4
        ("phone", 600, *offset(*LHR, 300, 200), 15.0),  # at the terminal
        ("phone", 3000, *offset(*LHR, 0, -800), 15.0),  # boarding; then flight mode
        ("phone", 3000 + 4800, *offset(*CDG, 500, 0), 20.0),  # 1 h 20 min later
        ("phone", 3000 + 6600, *offset(*CDG, 9000, 0), 20.0),  # in a taxi
    ]
    assert events(run(track, airport_zones())) == [
        ("airport_arrival", "phone", "LHR", 600.0),
        ("airport_departure", "phone", "LHR", 7800.0),
        ("flight_landed", "phone", "CDG", 7800.0),
        ("airport_arrival", "phone", "CDG", 7800.0),
        ("airport_departure", "phone", "CDG", 9600.0),
    ]


def test_long_haul_across_batches_lands_even_with_airport_dwell() -> None:
    state, zones = GeofenceState(), airport_zones(airport_dwell_s=600)
    run([("p", 0, *LHR, 10.0), ("p", 900, *LHR, 10.0)], zones, state)
    # 5,540 km in 7 h 40 min: 723 km/h.
    got = events(run([("p", 900 + 7 * 3600 + 2400, *JFK, 10.0)], zones, state))
    assert [(k, p) for k, _, p, _ in got] == [
        ("airport_departure", "LHR"),
        ("flight_landed", "JFK"),
        ("airport_arrival", "JFK"),
    ]


def test_a_drive_to_the_airport_is_no_flight() -> None:
    paris = (48.8566, 2.3522)  # 25 km from CDG
    got = events(run([("p", 0, *paris, 10.0), ("p", 2400, *CDG, 10.0)], airport_zones()))
    assert got == [("airport_arrival", "p", "CDG", 2400.0)]


def test_airports_only_for_devices_with_airport_alerts() -> None:
    zones = Zones(
        places=PlaceIndex([Place.circle("LHR", *LHR, 500)]),
        airports=airport_index(),
        rules=GEOMETRY,
    )
    batch = batch_of([("gold", 0, *LHR, 10.0), ("platinum", 0, *LHR, 10.0)])
    result = evaluate(batch, GeofenceState(), zones, airport_devices=np.array([False, True]))
    assert events(result.transitions) == [
        ("enter", "gold", "LHR", 0.0),  # a user place that happens to be called LHR
        ("enter", "platinum", "LHR", 0.0),
        ("airport_arrival", "platinum", "LHR", 0.0),
    ]
    assert {(r.device_id, r.place_id, r.airport) for r in result.changed} == {
        ("gold", "LHR", False),
        ("platinum", "LHR", False),
        ("platinum", "LHR", True),
    }


def test_out_of_order_fixes_never_undo_a_newer_state() -> None:
    away = offset(*HOME, 1000, 0)
    state, zones = GeofenceState(), home_zones()
    assert [
        t.kind for t in run([("p", 0, *HOME, 10.0), ("p", 600, *away, 10.0)], zones, state)
    ] == [
        "enter",
        "exit",
    ]
    # A fix from t=300 at home arrives late, alone and inside a later batch.
    result = evaluate(batch_of([("p", 300, *HOME, 10.0)]), state, zones)
    assert result.transitions == ()
    assert result.late.tolist() == [True]
    result = evaluate(batch_of([("p", 700, *away, 10.0), ("p", 650, *HOME, 10.0)]), state, zones)
    assert result.transitions == ()
    assert result.late.tolist() == [False, True]
    # Same instant twice: the first one counts.
    assert run([("p", 800, *HOME, 10.0), ("p", 800, *away, 10.0)], zones, state)[0].kind == "enter"


def test_only_the_device_s_active_places_apply() -> None:
    work = offset(*HOME, 3000, 0)
    zones = Zones(
        places=PlaceIndex([Place.circle("home", *HOME, 100), Place.circle("work", *work, 100)]),
        rules=GEOMETRY,
    )
    state = GeofenceState()
    scope = {"a": {"home", "work"}, "b": {"work"}}
    got = run(
        [("a", 0, *HOME, 10.0), ("b", 0, *HOME, 10.0), ("c", 0, *HOME, 10.0)],
        zones,
        state,
        places_by_device=scope,
    )
    assert events(got) == [("enter", "a", "home", 0.0)]
    # The plan drops "home" for a while a is inside: no exit is published for it.
    got = run([("a", 60, *work, 10.0)], zones, state, places_by_device={"a": {"work"}})
    assert events(got) == [("enter", "a", "work", 60.0)]


def test_evaluation_leaves_the_state_untouched_until_applied() -> None:
    state, zones = GeofenceState(), home_zones()
    result = evaluate(batch_of([("p", 0, *HOME, 10.0)]), state, zones)
    assert state.records() == []
    assert state.last_fixes() == []
    state.apply(result)
    assert [r.inside for r in state.records()] == [True]
    assert len(state.last_fixes()) == 1


def test_batch_rejects_misuse() -> None:
    from geofence import Batch

    with pytest.raises(ValueError, match="same length"):
        Batch(
            device_ids=("a",),
            device=np.zeros(2, dtype=np.intp),
            time_us=np.zeros(1, dtype=np.int64),
            lat=np.zeros(2),
            lon=np.zeros(2),
            accuracy_m=np.zeros(2),
        )
    with pytest.raises(ValueError, match="latitude"):
        batch_of([("a", 0, 91.0, 0.0, None)])
