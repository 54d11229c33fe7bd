"""Properties of the geofence engine: batching and ordering do not matter; hysteresis holds."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from geofence import (
    Batch,
    Evaluation,
    GeofenceState,
    Place,
    PlaceIndex,
    PlaceState,
    Rules,
    Transition,
    TransitionKind,
    Zones,
    confirm_due,
    evaluate,
)
from geofence._geodesy import EARTH_RADIUS_M, haversine_m

T0 = datetime(2024, 5, 1, tzinfo=UTC)
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
# Anchors: two circles, a polygon with a hole, two airports 330 km apart.
ANCHORS = [(51.5, -0.1), (51.503, -0.1), (51.52, -0.12), (51.47, -0.46), (49.01, 2.55)]
_ring = [(-0.125, 51.518), (-0.115, 51.518), (-0.115, 51.522), (-0.125, 51.522), (-0.125, 51.518)]
_hole = [(-0.1205, 51.5195), (-0.1195, 51.5195), (-0.1195, 51.5205), (-0.1205, 51.5205)]
ZONES = Zones(
    places=PlaceIndex(
        [
            Place.circle("a", 51.5, -0.1, 150),
            Place.circle("b", 51.503, -0.1, 300),  # overlaps a
            Place.polygon("park", shapely.Polygon(_ring, [_hole])),
        ]
    ),
    airports=PlaceIndex(
        [
            Place.circle("LHR", 51.47, -0.46, 3000, airport=True),
            Place.circle("CDG", 49.01, 2.55, 3000, airport=True),
        ]
    ),
    rules=Rules(dwell_s=120),
)

fixes = st.lists(
    st.tuples(
        st.sampled_from(["d1", "d2", "d3"]),
        st.integers(0, 600),  # minute: repeats and disorder included
        st.sampled_from(range(len(ANCHORS))),
        st.floats(-400, 400),
        st.floats(-400, 400),
        st.sampled_from([None, 3.0, 30.0, 150.0, 5000.0]),
    ),
    max_size=40,
)


def to_batch(rows: list[tuple[str, int, int, float, float, float | None]]) -> Batch:
    lat = [ANCHORS[a][0] + n / M_PER_DEG for _, _, a, n, _, _ in rows]
    lon = [ANCHORS[a][1] + e / (M_PER_DEG * 0.62) for _, _, a, _, e, _ in rows]
    return Batch.from_fixes(
        [r[0] for r in rows],
        [T0 + timedelta(minutes=r[1]) for r in rows],
        lat,
        lon,
        [r[5] for r in rows],
    )


def key(t: Transition) -> tuple[str, str, str, datetime]:
    return (t.kind.value, t.device_id, t.place_id, t.time)


def final(state: GeofenceState) -> set[PlaceState]:
    return set(state.records())


def airports_for(batch: Batch) -> np.ndarray:
    return np.array([d != "d3" for d in batch.device_ids])  # d3's plan has no airport alerts


@settings(max_examples=300, deadline=None)
@given(fixes)
def test_one_batch_equals_fix_by_fix(
    rows: list[tuple[str, int, int, float, float, float | None]],
) -> None:
    scope = {"d1": {"a", "b", "park"}, "d2": {"a", "park"}, "d3": {"b"}}
    whole = GeofenceState()
    batch = to_batch(rows)
    result = evaluate(
        batch, whole, ZONES, places_by_device=scope, airport_devices=airports_for(batch)
    )
    whole.apply(result)
    single = GeofenceState()
    one_by_one: list[tuple[str, str, str, datetime]] = []
    for row in rows:
        b = to_batch([row])
        r = evaluate(b, single, ZONES, places_by_device=scope, airport_devices=airports_for(b))
        single.apply(r)
        one_by_one.extend(key(t) for t in r.transitions)
    assert sorted(map(key, result.transitions)) == sorted(one_by_one)
    assert final(whole) == final(single)
    assert set(whole.last_fixes()) == set(single.last_fixes())


@settings(max_examples=300, deadline=None)
@given(fixes, st.randoms(use_true_random=False))
def test_interleaving_devices_changes_nothing(rows, rnd) -> None:  # type: ignore[no-untyped-def]
    # Shuffle, then restore each device's own order: only the interleaving changes.
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    per_device = {d: [r for r in rows if r[0] == d] for d in {r[0] for r in rows}}
    mixed = [per_device[r[0]].pop(0) for r in shuffled]
    outcomes = []
    for order in (rows, mixed):
        state = GeofenceState()
        result = evaluate(to_batch(order), state, ZONES)
        state.apply(result)
        outcomes.append((sorted(map(key, result.transitions)), final(state)))
    assert outcomes[0] == outcomes[1]


CENTRE = (45.0, 7.0)
RADIUS = 200.0
RULES = Rules(dwell_s=60)  # and the confirmation defaults: what the gateway runs
CONFIRM = RULES.confirm


class Hysteresis(RuleBasedStateMachine):
    """One device, one circle, the default confirmation rule and a dwell, against a model.

    Events alternate, each is justified by its fixes or its due instant, and a timer
    (``confirm_due``) running at any instant the fixes have not passed changes nothing:
    the model has no timer at all.
    """

    def __init__(self) -> None:
        super().__init__()
        self.zones = Zones(places=PlaceIndex([Place.circle("p", *CENTRE, RADIUS)]), rules=RULES)
        self.state = GeofenceState()
        self.now = 0  # seconds after T0: the newest fix or timer run
        self.seen = False
        self.inside = False
        self.pending: tuple[int, int] | None = None  # model: (first fix of the run, fixes)

    def apply(self, result: Evaluation) -> list[tuple[TransitionKind, int]]:
        self.state.apply(result)
        return [(t.kind, round((t.time - T0).total_seconds())) for t in result.transitions]

    def feed(
        self, seconds: int, north_m: float, accuracy: float | None
    ) -> list[tuple[TransitionKind, int]]:
        batch = Batch.from_fixes(
            ["dev"],
            [T0 + timedelta(seconds=seconds)],
            [CENTRE[0] + north_m / M_PER_DEG],
            [CENTRE[1]],
            [accuracy],
        )
        return self.apply(evaluate(batch, self.state, self.zones))

    def due(self) -> int | None:
        if self.pending is None:
            return None
        start, n = self.pending
        if self.inside:
            return start + int(CONFIRM.exit_s)
        dwell = int(RULES.dwell_s)
        return start + (dwell if n >= CONFIRM.enter_fixes else max(int(CONFIRM.enter_s), dwell))

    def model_due(self, until: int) -> list[tuple[TransitionKind, int]]:
        due = self.due()
        if due is None or due > until:
            return []
        kind = TransitionKind.EXIT if self.inside else TransitionKind.ENTER
        self.inside, self.pending = not self.inside, None
        return [(kind, due)]

    @rule(
        dt=st.integers(1, 200),
        north=st.floats(-600, 600),
        acc=st.sampled_from([None, 5.0, 40.0, 250.0]),
    )
    def fix(self, dt: int, north: float, acc: float | None) -> None:
        self.now += dt
        self.seen = True
        got = self.feed(self.now, north, acc)
        d = (
            float(haversine_m(CENTRE[0], CENTRE[1], CENTRE[0] + north / M_PER_DEG, CENTRE[1]))
            - RADIUS
        )
        u = max(RULES.unknown_accuracy_m if acc is None else acc, RULES.accuracy_floor_m)
        usable = u <= RADIUS
        surely_in = usable and d + u <= -RULES.margin_m
        surely_out = usable and d - u >= RULES.margin_m
        if not (surely_in or surely_out):
            assert got == []  # no observation: nothing, not even what is due
            return
        expected = self.model_due(self.now)
        if surely_in == self.inside:  # the side we are on: a pending change is cancelled
            self.pending = None
        else:
            start, n = self.pending if self.pending is not None else (self.now, 0)
            n += 1
            self.pending = (start, n)
            elapsed = self.now - start
            if self.inside:
                done = n >= CONFIRM.exit_fixes or elapsed >= CONFIRM.exit_s
            else:
                done = (n >= CONFIRM.enter_fixes and elapsed >= RULES.dwell_s) or (
                    elapsed >= max(CONFIRM.enter_s, RULES.dwell_s)
                )
            if done:
                kind = TransitionKind.EXIT if self.inside else TransitionKind.ENTER
                expected.append((kind, self.now))
                self.inside, self.pending = not self.inside, None
        assert got == expected

    @rule(dt=st.integers(0, 400))
    def timer(self, dt: int) -> None:
        """The gateway's timer at an instant no fix has passed; later fixes come after it."""
        self.now += dt
        got = self.apply(confirm_due(self.state, self.zones, T0 + timedelta(seconds=self.now)))
        assert got == self.model_due(self.now)

    @precondition(lambda self: self.seen)
    @rule(back=st.integers(0, 600), north=st.floats(-600, 600))
    def late_fix(self, back: int, north: float) -> None:
        newest = max(f.time for f in self.state.last_fixes())
        late = min(self.now - back, round((newest - T0).total_seconds()))
        assert self.feed(late, north, 5.0) == []

    @rule()
    def restart(self) -> None:
        self.state = GeofenceState.from_records(self.state.records(), self.state.last_fixes())

    @invariant()
    def state_matches_model(self) -> None:
        record = self.state.get("dev", "p")
        assert (record is not None and record.inside) == self.inside
        pending = None if record is None else record.pending_since
        expected = None if self.pending is None else T0 + timedelta(seconds=self.pending[0])
        assert pending == expected
        if record is not None and self.pending is not None:
            assert record.pending_fixes == self.pending[1]


TestHysteresis = Hysteresis.TestCase
TestHysteresis.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
