"""The per-(device, place) transition state machine, and the state the gateway keeps.

All state logic lives in this module; it knows nothing about geometry. The engine
turns each fix into an observation of one place (see ``docs/geofencing.md``):

- ``OUT``: the fix's uncertainty circle lies wholly outside the place (with margin);
- ``IN``: it lies wholly inside (with margin);
- anything else (straddling the edge, accuracy too poor for the place, a late fix)
  is not an observation at all and never reaches this table.

A change of side is pending until confirmed (:mod:`geofence.confirm`): by a run of
consecutive observations on the new side, or by time. So IN seen from outside is
``EARLY`` (not confirmed yet) or ``SETTLED`` (confirmed: enough fixes, long enough,
and the dwell served; or the fix ended a flight); OUT seen from inside is ``OUT``
(not confirmed yet) or ``GONE`` (confirmed). ``DUE`` is no fix: the time rule's due
instant has come with nothing contrary (:func:`confirm_pending`). One table decides,
per phase and observation, the next phase and the event:

===========  ========  ===========  ==========  ==============================
phase        obs       next phase   event       row change
===========  ========  ===========  ==========  ==============================
OUTSIDE      OUT/GONE  OUTSIDE      --          --
OUTSIDE      EARLY     DWELLING     --          dwell_since = t, run = 1
OUTSIDE      SETTLED   INSIDE       enter       since = t
DWELLING     OUT/GONE  OUTSIDE      --          dwell_since cleared
DWELLING     EARLY     DWELLING     --          run + 1
DWELLING     SETTLED   INSIDE       enter       since = dwell_since (arrival)
DWELLING     DUE       INSIDE       enter       since = dwell_since (arrival)
INSIDE       OUT       LEAVING      --          exit_since = t, run = 1
INSIDE       GONE      OUTSIDE      exit        since = t
INSIDE       EARLY     INSIDE       --          --
INSIDE       SETTLED   INSIDE       --          --
LEAVING      OUT       LEAVING      --          run + 1
LEAVING      GONE      OUTSIDE      exit        since = exit_since (departure)
LEAVING      EARLY     INSIDE       --          exit_since cleared
LEAVING      SETTLED   INSIDE       --          exit_since cleared
LEAVING      DUE       OUTSIDE      exit        since = exit_since (departure)
===========  ========  ===========  ==========  ==============================

(OUTSIDE+DUE and INSIDE+DUE change nothing: nothing is pending there.
DWELLING is the pending enter; its row is ``inside=False`` with ``dwell_since``.
LEAVING is the pending exit: ``inside=True`` with ``exit_since``.)

:class:`GeofenceState` is the mutable holder (one owner: the pipeline's geofence
stage) of :class:`~geofence.records.PlaceState` rows and each device's newest fix.
The engine only reads it; :meth:`GeofenceState.apply` folds an evaluation in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from .confirm import DEFAULT_CONFIRM, Confirm
from .records import DeviceFix, PlaceState, from_us, to_us

if TYPE_CHECKING:
    from .engine import Evaluation

__all__ = [
    "NO_TIME",
    "TABLE",
    "GeofenceState",
    "Observation",
    "Phase",
    "confirm_pending",
    "due_us",
    "step",
]

#: "no fix yet" in integer-microsecond time arrays.
NO_TIME = np.iinfo(np.int64).min


class Phase(enum.Enum):
    OUTSIDE = "outside"
    DWELLING = "dwelling"
    INSIDE = "inside"
    LEAVING = "leaving"


class Observation(enum.Enum):
    OUT = "out"
    GONE = "gone"
    EARLY = "early"
    SETTLED = "settled"
    DUE = "due"


class Event(enum.Enum):
    ENTER = "enter"
    EXIT = "exit"


_O, _D, _I, _L = Phase.OUTSIDE, Phase.DWELLING, Phase.INSIDE, Phase.LEAVING

#: (phase, observation) -> (next phase, event or None). The whole hysteresis rule.
TABLE: dict[tuple[Phase, Observation], tuple[Phase, Event | None]] = {
    (_O, Observation.OUT): (_O, None),
    (_O, Observation.GONE): (_O, None),
    (_O, Observation.DUE): (_O, None),
    (_O, Observation.EARLY): (_D, None),
    (_O, Observation.SETTLED): (_I, Event.ENTER),
    (_D, Observation.OUT): (_O, None),
    (_D, Observation.GONE): (_O, None),
    (_D, Observation.EARLY): (_D, None),
    (_D, Observation.SETTLED): (_I, Event.ENTER),
    (_D, Observation.DUE): (_I, Event.ENTER),
    (_I, Observation.OUT): (_L, None),
    (_I, Observation.GONE): (_O, Event.EXIT),
    (_I, Observation.EARLY): (_I, None),
    (_I, Observation.SETTLED): (_I, None),
    (_I, Observation.DUE): (_I, None),
    (_L, Observation.OUT): (_L, None),
    (_L, Observation.GONE): (_O, Event.EXIT),
    (_L, Observation.EARLY): (_I, None),
    (_L, Observation.SETTLED): (_I, None),
    (_L, Observation.DUE): (_O, Event.EXIT),
}


def phase_of(record: PlaceState | None) -> Phase:
    if record is None:
        return Phase.OUTSIDE
    if record.inside:
        return Phase.LEAVING if record.exit_since is not None else Phase.INSIDE
    return Phase.DWELLING if record.dwell_since is not None else Phase.OUTSIDE


def _run_length(record: PlaceState | None) -> int:
    """Observations so far in the record's pending run (a stored row without the count: 1)."""
    return 0 if record is None else max(record.pending_fixes, 1)


def due_us(record: PlaceState, confirm: Confirm = DEFAULT_CONFIRM, dwell_us: int = 0) -> int | None:
    """When the record's pending transition is confirmed by time (µs), or ``None``.

    A pending enter is due ``enter_s`` after its first fix, or once the dwell is served
    when its run already has ``enter_fixes`` fixes; a pending exit ``exit_s`` after its.
    """
    if record.inside:
        if record.exit_since is None:
            return None
        return to_us(record.exit_since) + confirm.exit_us
    if record.dwell_since is None:
        return None
    start = to_us(record.dwell_since)
    if _run_length(record) >= confirm.enter_fixes:
        return start + max(dwell_us, 0)
    return start + max(confirm.enter_us, dwell_us)


def _observe(
    phase: Phase,
    record: PlaceState | None,
    inside: bool,
    time_us: int,
    confirm: Confirm,
    dwell_us: int,
    forced: bool,
) -> Observation:
    if phase is Phase.INSIDE or phase is Phase.LEAVING:
        if inside:
            return Observation.SETTLED
        if forced:
            return Observation.GONE
        if phase is Phase.INSIDE:
            n, elapsed = 1, 0
        else:
            assert record is not None
            assert record.exit_since is not None
            n, elapsed = _run_length(record) + 1, time_us - to_us(record.exit_since)
        gone = n >= confirm.exit_fixes or elapsed >= confirm.exit_us
        return Observation.GONE if gone else Observation.OUT
    if not inside:
        return Observation.OUT
    if forced:
        return Observation.SETTLED
    if phase is Phase.OUTSIDE:
        n, elapsed = 1, 0
    else:
        assert record is not None
        assert record.dwell_since is not None
        n, elapsed = _run_length(record) + 1, time_us - to_us(record.dwell_since)
    settled = (n >= confirm.enter_fixes and elapsed >= dwell_us) or elapsed >= max(
        confirm.enter_us, dwell_us
    )
    return Observation.SETTLED if settled else Observation.EARLY


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
    confirm: Confirm = DEFAULT_CONFIRM,
) -> tuple[PlaceState | None, Event | None]:
    """Apply one observation (``inside`` = IN, else OUT) at ``time_us`` to a pair.

    ``force_settled`` confirms the observation at once, whatever ``confirm`` and the
    dwell say (a landing: IN at the arrival airport, OUT of any other). The caller
    first confirms a pending transition already due at ``time_us``
    (:func:`due_us`, :func:`confirm_pending`): ``step`` only applies the fix.
    Returns the new record (``record`` itself when nothing changed; ``None`` only when
    there was none and none is needed) and the event, if any.
    """
    phase = phase_of(record)
    obs = _observe(phase, record, inside, time_us, confirm, dwell_us, force_settled)
    return _transit(record, phase, obs, device_id, place_id, airport, time_us, force_settled)


def confirm_pending(record: PlaceState, time_us: int) -> tuple[PlaceState, Event]:
    """Confirm the record's pending enter or exit by time, decided at ``time_us``.

    The caller checks that it is due (``due_us(record, ...) <= time_us``).
    """
    phase = phase_of(record)
    if phase is not Phase.DWELLING and phase is not Phase.LEAVING:
        raise ValueError(f"nothing is pending for {record.device_id!r} at {record.place_id!r}")
    new, event = _transit(
        record,
        phase,
        Observation.DUE,
        record.device_id,
        record.place_id,
        record.airport,
        time_us,
        False,
    )
    assert new is not None
    assert event is not None
    return new, event


def _transit(
    record: PlaceState | None,
    phase: Phase,
    obs: Observation,
    device_id: str,
    place_id: str,
    airport: bool,
    time_us: int,
    forced: bool,
) -> tuple[PlaceState | None, Event | None]:
    new_phase, event = TABLE[(phase, obs)]
    if new_phase is phase and phase is not Phase.DWELLING and phase is not Phase.LEAVING:
        return record, event
    # The new row's (inside, since, dwell_since, exit_since, pending_fixes); built once.
    row: tuple[bool, datetime, datetime | None, datetime | None, int]
    if record is None:
        row = (False, from_us(time_us), None, None, 0)
    else:
        row = (record.inside, record.since, record.dwell_since, record.exit_since, 0)
    if new_phase is phase:  # one more fix in the pending run
        row = (*row[:4], _run_length(record) + 1)
    elif new_phase is Phase.INSIDE:
        if phase is Phase.LEAVING:  # the pending exit is cancelled
            row = (True, row[1], None, None, 0)
        else:
            since = from_us(time_us) if phase is Phase.OUTSIDE or forced else _dwell_since(record)
            row = (True, since, None, None, 0)
    elif new_phase is Phase.DWELLING:
        row = (False, row[1], from_us(time_us), None, 1)
    elif new_phase is Phase.LEAVING:
        row = (True, row[1], None, from_us(time_us), 1)
    elif phase is Phase.DWELLING:  # OUTSIDE: the pending enter is cancelled
        row = (False, row[1], None, None, 0)
    else:  # OUTSIDE: the exit, at the first outside fix of the run
        left = row[3] if phase is Phase.LEAVING else None
        row = (False, left or from_us(time_us), None, None, 0)
    inside, since, dwell_since, exit_since, n = row
    return PlaceState(
        device_id=device_id,
        place_id=place_id,
        inside=inside,
        since=since,
        dwell_since=dwell_since,
        airport=airport,
        exit_since=exit_since,
        pending_fixes=n,
    ), event


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

    def pending(self) -> Iterator[PlaceState]:
        """The rows with an enter or exit pending (for :func:`geofence.engine.confirm_due`)."""
        for rows in self._active.values():
            for r in rows:
                if r.pending_since is not None:
                    yield r

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
