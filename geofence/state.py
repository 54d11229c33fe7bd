"""The per-(device, place) transition state machine, and the state the gateway keeps.

All state logic lives in this module; it knows nothing about geometry. The engine
turns each fix into an observation of one place (see ``docs/geofencing.md``):

- ``OUT``: the fix's uncertainty circle lies wholly outside the place (with margin);
- ``IN``: it lies wholly inside (with margin);
- anything else (straddling the edge, accuracy too poor for the place, a late fix)
  is not an observation at all and never reaches this table.

``IN`` is split by the dwell rule into ``EARLY`` (the stay has lasted less than the
dwell time) and ``SETTLED`` (it has, or no dwell is asked, or the fix ended a flight).
Then one table decides, per phase and observation, the next phase and the event:

===========  ========  ===========  ==========  ==============================
phase        obs       next phase   event       since / dwell_since
===========  ========  ===========  ==========  ==============================
OUTSIDE      OUT       OUTSIDE      --          unchanged
OUTSIDE      EARLY     DWELLING     --          dwell_since = t
OUTSIDE      SETTLED   INSIDE       enter       since = t
DWELLING     OUT       OUTSIDE      --          dwell_since cleared
DWELLING     EARLY     DWELLING     --          unchanged
DWELLING     SETTLED   INSIDE       enter       since = dwell_since (arrival)
INSIDE       OUT       OUTSIDE      exit        since = t
INSIDE       EARLY     INSIDE       --          unchanged
INSIDE       SETTLED   INSIDE       --          unchanged
===========  ========  ===========  ==========  ==============================

:class:`GeofenceState` is the mutable holder (one owner: the pipeline's geofence
stage) of :class:`~geofence.records.PlaceState` rows and each device's newest fix.
The engine only reads it; :meth:`GeofenceState.apply` folds an evaluation in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .records import DeviceFix, PlaceState, from_us, to_us

if TYPE_CHECKING:
    from .engine import Evaluation

__all__ = ["NO_TIME", "TABLE", "GeofenceState", "Observation", "Phase", "step"]

#: "no fix yet" in integer-microsecond time arrays.
NO_TIME = np.iinfo(np.int64).min


class Phase(enum.Enum):
    OUTSIDE = "outside"
    DWELLING = "dwelling"
    INSIDE = "inside"


class Observation(enum.Enum):
    OUT = "out"
    EARLY = "early"
    SETTLED = "settled"


class Event(enum.Enum):
    ENTER = "enter"
    EXIT = "exit"


#: (phase, observation) -> (next phase, event or None). The whole hysteresis rule.
TABLE: dict[tuple[Phase, Observation], tuple[Phase, Event | None]] = {
    (Phase.OUTSIDE, Observation.OUT): (Phase.OUTSIDE, None),
    (Phase.OUTSIDE, Observation.EARLY): (Phase.DWELLING, None),
    (Phase.OUTSIDE, Observation.SETTLED): (Phase.INSIDE, Event.ENTER),
    (Phase.DWELLING, Observation.OUT): (Phase.OUTSIDE, None),
    (Phase.DWELLING, Observation.EARLY): (Phase.DWELLING, None),
    (Phase.DWELLING, Observation.SETTLED): (Phase.INSIDE, Event.ENTER),
    (Phase.INSIDE, Observation.OUT): (Phase.OUTSIDE, Event.EXIT),
    (Phase.INSIDE, Observation.EARLY): (Phase.INSIDE, None),
    (Phase.INSIDE, Observation.SETTLED): (Phase.INSIDE, None),
}


def phase_of(record: PlaceState | None) -> Phase:
    if record is None or not (record.inside or record.dwell_since is not None):
        return Phase.OUTSIDE
    return Phase.INSIDE if record.inside else Phase.DWELLING


def step(
    record: PlaceState | None,
    *,
    device_id: str,
    place_id: str,
    airport: bool,
    time_us: int,
    inside: bool,
    dwell_us: int,
    force_settled: bool = False,
) -> tuple[PlaceState | None, Event | None]:
    """Apply one observation (``inside`` = IN, else OUT) at ``time_us`` to a pair.

    ``force_settled`` makes an IN observation SETTLED regardless of dwell (a landing).
    Returns the new record (``record`` itself when nothing changed; ``None`` only when
    there was none and none is needed) and the event, if any.
    """
    phase = phase_of(record)
    if not inside:
        obs = Observation.OUT
    elif force_settled or dwell_us <= 0 or phase is Phase.INSIDE:
        obs = Observation.SETTLED
    else:
        assert record is not None or phase is Phase.OUTSIDE
        start = time_us if phase is Phase.OUTSIDE else to_us(_dwell_since(record))
        obs = Observation.SETTLED if time_us - start >= dwell_us else Observation.EARLY
    new_phase, event = TABLE[(phase, obs)]
    if new_phase is phase:
        return record, event
    t = from_us(time_us)
    if new_phase is Phase.INSIDE:
        since = _dwell_since(record) if phase is Phase.DWELLING and not force_settled else t
        new = PlaceState(
            device_id=device_id, place_id=place_id, inside=True, since=since, airport=airport
        )
    elif new_phase is Phase.DWELLING:
        since = record.since if record is not None else t
        new = PlaceState(
            device_id=device_id,
            place_id=place_id,
            inside=False,
            since=since,
            dwell_since=t,
            airport=airport,
        )
    else:
        assert record is not None
        new = replace(
            record, inside=False, dwell_since=None, since=t if record.inside else record.since
        )
    return new, event


def _dwell_since(record: PlaceState | None) -> datetime:
    assert record is not None
    assert record.dwell_since is not None
    return record.dwell_since


class GeofenceState:
    """Place states and newest fixes of devices, keyed for the engine's look-ups.

    Load it from the database with :meth:`from_records`; after each batch's
    transaction commits, :meth:`apply` the evaluation (or, if it fails, reload).
    Rows for deleted places can be dropped with :meth:`discard_place`.
    """

    __slots__ = ("_active", "_last_lat", "_last_lon", "_last_t", "_slot", "_zones")

    def __init__(self) -> None:
        self._zones: dict[str, dict[tuple[bool, str], PlaceState]] = {}
        self._active: dict[str, list[PlaceState]] = {}
        self._slot: dict[str, int] = {}
        self._last_t = np.full(16, NO_TIME, dtype=np.int64)
        self._last_lat = np.full(16, np.nan)
        self._last_lon = np.full(16, np.nan)

    @classmethod
    def from_records(
        cls, places: Iterable[PlaceState] = (), fixes: Iterable[DeviceFix] = ()
    ) -> GeofenceState:
        """A state holding these rows (e.g. ``geofence_state`` and ``latest_positions``)."""
        state = cls()
        state.put(places)
        fixes = list(fixes)
        if fixes:
            state._store_fixes(
                [f.device_id for f in fixes],
                np.array([to_us(f.time) for f in fixes], dtype=np.int64),
                np.array([f.lat for f in fixes]),
                np.array([f.lon for f in fixes]),
            )
        return state

    def put(self, records: Iterable[PlaceState]) -> None:
        """Insert or replace place-state rows."""
        touched = set()
        for r in records:
            self._zones.setdefault(r.device_id, {})[(r.airport, r.place_id)] = r
            touched.add(r.device_id)
        for device_id in touched:
            self._refresh_active(device_id)

    def _refresh_active(self, device_id: str) -> None:
        active = [r for r in self._zones[device_id].values() if r.active]
        if active:
            self._active[device_id] = active
        else:
            self._active.pop(device_id, None)

    def get(self, device_id: str, place_id: str, *, airport: bool = False) -> PlaceState | None:
        return self._zones.get(device_id, {}).get((airport, place_id))

    def active(self, device_id: str) -> Sequence[PlaceState]:
        """The device's rows that are inside or dwelling."""
        return self._active.get(device_id, ())

    def records(self) -> list[PlaceState]:
        """Every place-state row, to dump."""
        return [r for zones in self._zones.values() for r in zones.values()]

    def last_fixes(self) -> list[DeviceFix]:
        return [
            DeviceFix(
                device_id=d,
                time=from_us(int(self._last_t[i])),
                lat=float(self._last_lat[i]),
                lon=float(self._last_lon[i]),
            )
            for d, i in self._slot.items()
        ]

    def discard_place(self, place_id: str, *, airport: bool = False) -> None:
        """Forget every device's row for a deleted place."""
        for device_id, zones in self._zones.items():
            if zones.pop((airport, place_id), None) is not None:
                self._refresh_active(device_id)

    def last_fix_arrays(
        self, device_ids: Sequence[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
        """Newest (time_us, lat, lon) per device; ``NO_TIME``/NaN for unknown devices."""
        get = self._slot.get
        slots = np.fromiter((get(d, -1) for d in device_ids), dtype=np.intp, count=len(device_ids))
        known = slots >= 0
        s = np.where(known, slots, 0)
        t = np.where(known, self._last_t[s], NO_TIME)
        return (
            t,
            np.where(known, self._last_lat[s], np.nan),
            np.where(known, self._last_lon[s], np.nan),
        )

    def apply(self, evaluation: Evaluation) -> None:
        """Fold an evaluation's changed rows and newest fixes into this state."""
        self.put(evaluation.changed)
        self._store_fixes(
            evaluation.device_ids,
            evaluation.newest_time_us,
            evaluation.newest_lat,
            evaluation.newest_lon,
        )

    def _store_fixes(
        self,
        device_ids: Sequence[str],
        t: NDArray[np.int64],
        lat: NDArray[np.float64],
        lon: NDArray[np.float64],
    ) -> None:
        slot = self._slot
        for d in device_ids:
            if d not in slot:
                slot[d] = len(slot)
        if len(slot) > len(self._last_t):
            size = max(len(slot), 2 * len(self._last_t))
            grow = size - len(self._last_t)
            self._last_t = np.concatenate([self._last_t, np.full(grow, NO_TIME, dtype=np.int64)])
            self._last_lat = np.concatenate([self._last_lat, np.full(grow, np.nan)])
            self._last_lon = np.concatenate([self._last_lon, np.full(grow, np.nan)])
        s = np.fromiter((slot[d] for d in device_ids), dtype=np.intp, count=len(device_ids))
        newer = t > self._last_t[s]
        s = s[newer]
        self._last_t[s] = t[newer]
        self._last_lat[s] = lat[newer]
        self._last_lon[s] = lon[newer]
