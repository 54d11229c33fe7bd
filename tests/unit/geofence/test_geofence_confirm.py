"""Confirmation of transitions (geofence.confirm): a phone at home with multipath, sparse
tags, silent devices (``confirm_due``), per-place and global settings, and replay."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from gateway.cli import main
from geofence import (
    DEFAULT_CONFIRM,
    IMMEDIATE,
    NO_FIX,
    Confirm,
    GeofenceState,
    InvalidGeometry,
    Place,
    PlaceConfirm,
    PlaceIndex,
    PlaceState,
    Rules,
    Zones,
    airport_index,
    confirm_due,
    evaluate,
    place_from_feature,
)

from .geofence_helpers import Fix, at, batch_of, events, offset, run

HOME = (51.5074, -0.1278)
HOME_R = 100.0


def home(rules: Rules | None = None, **props: float) -> Zones:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [HOME[1], HOME[0]]},
        "properties": {"id": "home", "radius_m": HOME_R, **props},
    }
    return Zones(places=PlaceIndex([place_from_feature(feature)]), rules=rules or Rules())


def an_hour_at_home(seed: int) -> tuple[list[Fix], float, int]:
    """A phone walks home, stays an hour, walks off: (fixes, departure s, outliers).

    Fixes every 30-60 s with reported accuracy 10-30 m and position errors of that size
    while at home (it sits 0-40 m from the centre); every 5-10 minutes one confident fix
    (10-15 m) lands 40-60 m outside the 100 m fence, and once two in a row do.
    """
    rng = np.random.default_rng(seed)
    fixes: list[Fix] = []
    t = 0.0
    for north in np.arange(800.0, 0.0, -40.0):  # walking home, 40 m per 30 s
        fixes.append(("phone", t, *offset(*HOME, north, 0.0), 12.0))
        t += 30
    leave_at = t + 3600
    next_outlier = t + rng.uniform(300, 600)
    outliers, double_done = 0, False
    while t < leave_at:
        t += float(rng.uniform(30, 60))
        if t >= next_outlier:
            bursts = 1 if double_done else 2
            double_done = True
            for _ in range(bursts):
                angle = rng.uniform(0, 2 * math.pi)
                r = HOME_R + rng.uniform(40, 60)
                acc = float(rng.uniform(10, 15))
                fixes.append(
                    ("phone", t, *offset(*HOME, r * math.cos(angle), r * math.sin(angle)), acc)
                )
                outliers += 1
                t += float(rng.uniform(30, 60))
            next_outlier = t + rng.uniform(300, 600)
        acc = float(rng.uniform(10, 30))
        jn, je = rng.normal(0, acc / 2, 2)
        sit_n, sit_e = rng.uniform(-30, 30, 2)
        fixes.append(("phone", t, *offset(*HOME, sit_n + jn, sit_e + je), acc))
    departure = t
    for k in range(1, 30):  # walking off at 1.3 m/s, a fix every 30 s
        fixes.append(("phone", departure + 30 * k, *offset(*HOME, 40.0 * k, 0.0), 15.0))
    return fixes, departure, outliers


@pytest.mark.parametrize("seed", range(6))
def test_an_hour_at_home_with_multipath_gives_one_enter_and_one_real_exit(seed: int) -> None:
    fixes, departure, outliers = an_hour_at_home(seed)
    assert outliers >= 6
    got = events(run(fixes, home()))
    assert [kind for kind, *_ in got] == ["enter", "exit"]
    # arrival: the walk is 40 m from the centre at 19 x 30 = 570 s; two fixes inside
    assert 540 <= got[0][3] <= 660
    # the real exit: OUT needs >= 120 m from the centre (100 + 15 + 5): the walk is there
    # at departure + 90 s; the third outside fix is 60 s later (times are whole µs)
    assert departure + 149 <= got[1][3] <= departure + 151
    # The rule without confirmation on the same track: an exit/enter pair per outlier.
    naive = events(run(fixes, home(Rules(confirm=IMMEDIATE))))
    assert len(naive) >= 2 + 2 * (outliers - 1)


def test_the_same_hour_through_trackgw_geofence_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fixes, departure, _ = an_hour_at_home(3)
    rows = ["device,time,lat,lon,accuracy_m,speed_kmh"]
    rows += [f"{d},{at(s).isoformat()},{la:.7f},{lo:.7f},{a:.1f}," for d, s, la, lo, a in fixes]
    (tmp_path / "track.csv").write_text("\n".join(rows) + "\n")
    place = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [HOME[1], HOME[0]]},
        "properties": {"id": "home", "radius_m": HOME_R},
    }
    (tmp_path / "places.geojson").write_text(json.dumps(place))
    args = ["geofence", "replay", "--places", str(tmp_path / "places.geojson")]
    args += ["--track", str(tmp_path / "track.csv")]
    assert main(args) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["type"], e["place"]) for e in out] == [("enter", "home"), ("exit", "home")]
    assert datetime.fromisoformat(out[1]["time"]) > at(departure)
    # exactly what the engine gives the gateway, through the same defaults
    direct = events(run(fixes, home()))
    assert [e["time"] for e in out] == [
        at(s).isoformat().replace("+00:00", "Z") for _, _, _, s in direct
    ]
    assert main([*args, "--no-confirm"]) == 0
    assert len(capsys.readouterr().out.splitlines()) > 2


def test_a_sparse_tag_exits_by_time_not_after_three_ten_minute_fixes() -> None:
    away = offset(*HOME, 2000, 0)
    track: list[Fix] = [("tag", 600 * k, *HOME, None) for k in range(4)]
    track += [("tag", 2400 + 600 * k, *away, None) for k in range(3)]
    got = events(run(track, home()))
    # enter: the second fix (600 s) comes after the 3-minute due instant: 180 s
    # exit: first outside at 2400, confirmed 5 minutes later, revealed by the 3000 s fix
    assert got == [("enter", "tag", "home", 180.0), ("exit", "tag", "home", 2700.0)]


def test_a_device_that_stops_reporting_gets_its_pending_exit_by_time() -> None:
    zones, state = home(), GeofenceState()
    inside: list[Fix] = [("p", 30 * k, *HOME, 10.0) for k in range(4)]
    assert [k for k, *_ in events(run(inside, zones, state))] == ["enter"]
    result = evaluate(batch_of([("p", 200, *offset(*HOME, 500, 0), 10.0)]), state, zones)
    assert result.transitions == ()  # one outside fix: an exit is pending
    state.apply(result)
    (row,) = result.changed
    assert (row.inside, row.exit_since, row.pending_fixes) == (True, at(200), 1)
    # The timer: nothing before the due instant (200 + 300 s), once at or after it.
    assert confirm_due(state, zones, at(499)).transitions == ()
    due = confirm_due(state, zones, at(900))
    (exit_,) = due.transitions
    assert (exit_.kind, exit_.time, exit_.since, exit_.fix) == ("exit", at(500), at(200), NO_FIX)
    (done,) = due.changed
    assert (done.inside, done.since, done.exit_since, done.pending_fixes) == (
        False,
        at(200),
        None,
        0,
    )
    assert len(due.late) == 0
    state.apply(due)
    assert confirm_due(state, zones, at(10_000)).transitions == ()  # never twice
    # The device's next fix, outside, changes nothing more.
    assert run([("p", 1000, *offset(*HOME, 600, 0), 10.0)], zones, state) == []


def test_pending_enter_of_a_phone_that_sleeps_on_arrival() -> None:
    zones, state = home(), GeofenceState()
    assert run([("p", 0, *offset(*HOME, 500, 0), 10.0), ("p", 60, *HOME, 10.0)], zones, state) == []
    (enter,) = confirm_due(state, zones, at(60 + 180)).transitions
    assert (enter.kind, enter.time, enter.since) == ("enter", at(240), at(60))


def test_the_timer_only_confirms_places_in_scope_and_known() -> None:
    zones, state = home(), GeofenceState()
    run([("p", 0, *HOME, 10.0)], zones, state)
    assert confirm_due(state, zones, at(999), places_by_device={"p": set()}).transitions == ()
    empty = Zones(places=PlaceIndex([]))
    assert confirm_due(state, empty, at(999)).transitions == ()
    assert len(confirm_due(state, zones, at(999)).transitions) == 1


def test_a_row_stored_without_the_run_count_counts_its_first_fix() -> None:
    # What the gateway stores today (no pending_fixes column): a pending enter reloads
    # with dwell_since only, taken as one fix; the next inside fix confirms it.
    zones = home()
    row = PlaceState(device_id="p", place_id="home", inside=False, since=at(0), dwell_since=at(0))
    state = GeofenceState.from_records([row])
    assert events(run([("p", 30, *HOME, 10.0)], zones, state)) == [("enter", "p", "home", 30.0)]


def test_per_place_properties_override_the_global_setting() -> None:
    track: list[Fix] = [("p", 0, *HOME, 10.0), ("p", 30, *offset(*HOME, 400, 0), 10.0)]
    assert run(track, home()) == []
    assert [
        k for k, *_ in events(run(track, home(confirm_enter_fixes=1, confirm_exit_fixes=1)))
    ] == [
        "enter",
        "exit",
    ]
    # global: exits at once, enters after 3 fixes; the place keeps the global exit rule
    rules = Rules(confirm=Confirm(enter_fixes=3, enter_s=900, exit_fixes=1, exit_s=0))
    three_in: list[Fix] = [("p", 30 * k, *HOME, 10.0) for k in range(3)]
    out: list[Fix] = [("p", 100, *offset(*HOME, 400, 0), 10.0)]
    assert events(run(three_in + out, home(rules))) == [
        ("enter", "p", "home", 60.0),
        ("exit", "p", "home", 100.0),
    ]
    assert events(run(three_in + out, home(rules, confirm_enter_fixes=2))) == [
        ("enter", "p", "home", 30.0),
        ("exit", "p", "home", 100.0),
    ]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"confirm_exit_fixes": 0}, "exit_fixes must be in [1, 100]"),
        ({"confirm_exit_fixes": 2.5}, "must be a whole number"),
        ({"confirm_enter_s": -1}, "enter_s must be in [0, 86400]"),
        ({"confirm_enter_s": "60"}, "must be a number"),
        ({"confirm_exit_s": True}, "must be a number"),
    ],
)
def test_bad_place_confirm_properties_name_the_feature(
    props: dict[str, object], message: str
) -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [0, 0]},
        "properties": {"id": "home", "radius_m": 50, **props},
    }
    with pytest.raises(InvalidGeometry, match="feature 0 \\(id 'home'\\)") as info:
        place_from_feature(feature)
    assert message in str(info.value)


def test_settings_are_validated_and_immediate_is_the_old_rule() -> None:
    with pytest.raises(ValueError, match="enter_fixes"):
        Confirm(enter_fixes=0)
    with pytest.raises(TypeError, match="exit_fixes"):
        Confirm(exit_fixes=2.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exit_s"):
        Confirm(exit_s=math.inf)
    with pytest.raises(TypeError, match="confirm"):
        Rules(confirm=3)  # type: ignore[arg-type]
    assert PlaceConfirm(exit_s=60).over(DEFAULT_CONFIRM) == Confirm(exit_s=60)
    assert Rules().confirm == DEFAULT_CONFIRM == Rules().airport_confirm
    assert Place.circle("x", 0, 0, 10).confirm is None
    one = [("p", 0, *HOME, 10.0), ("p", 30, *offset(*HOME, 400, 0), 10.0)]
    assert len(run(one, home(Rules(confirm=IMMEDIATE)))) == 2


def test_a_flight_with_the_default_confirmation() -> None:
    lhr, cdg = (51.4706, -0.46194), (49.0128, 2.55)
    track: list[Fix] = [
        ("phone", 0, *offset(*lhr, 8000, 0), 15.0),
        ("phone", 600, *offset(*lhr, 300, 200), 15.0),
        ("phone", 900, *offset(*lhr, 0, -800), 15.0),
        ("phone", 900 + 4800, *offset(*cdg, 500, 0), 20.0),
        ("phone", 900 + 4860, *offset(*cdg, 600, 0), 20.0),
    ]
    zones = Zones(places=PlaceIndex([]), airports=airport_index())
    assert events(run(track, zones)) == [
        ("airport_arrival", "phone", "LHR", 780.0),  # by time, 3 min after 600 s
        ("airport_departure", "phone", "LHR", 5700.0),  # the landing confirms it at once
        ("flight_landed", "phone", "CDG", 5700.0),
        ("airport_arrival", "phone", "CDG", 5700.0),
    ]


def test_confirmation_by_a_later_fix_equals_the_timer() -> None:
    # The same fixes with and without a timer run in between: the same transitions.
    zones = home()
    track: list[Fix] = [("p", 0, *HOME, 10.0), ("p", 30, *HOME, 10.0)]
    later: list[Fix] = [("p", 100, *offset(*HOME, 500, 0), 10.0), ("p", 700, *HOME, 10.0)]
    a = GeofenceState()
    plain = run(track + later, zones, a)
    b = GeofenceState()
    timed = run(track + later[:1], zones, b)
    r = confirm_due(b, zones, at(650))
    b.apply(r)
    timed += list(r.transitions) + run(later[1:], zones, b)
    key = [(t.kind, t.time, t.since) for t in plain]
    assert key == [(t.kind, t.time, t.since) for t in timed]
    assert [k for k, _, _ in key] == ["enter", "exit"]
    assert key[1][1] == at(400)
    # without a timer the fix that revealed it (the 700 s one, inside) is named
    assert (plain[1].fix, timed[1].fix) == (3, NO_FIX)
