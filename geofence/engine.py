"""Evaluate a batch of fixes against places and airports: ``evaluate(batch, state, zones)``.

This is the one entry point the gateway and ``trackgw geofence replay`` share::

    zones = Zones(places=PlaceIndex(places), airports=airport_index(), rules=Rules(dwell_s=60))
    state = GeofenceState.from_records(rows_from_geofence_state, rows_from_latest_positions)
    batch = Batch.from_fixes(device_ids, fix_times, lats, lons, accuracies)
    result = evaluate(batch, state, zones,
                      places_by_device={"dev-1": {"home", "school"}},   # from entitlements
                      airport_devices=np.array([...], dtype=bool))      # per batch.device_ids
    # in the batch's transaction: insert result.transitions as events,
    # upsert result.changed into geofence_state; after commit:
    state.apply(result)

How a batch is evaluated, all vectorised over the batch:

1. Late fixes: a fix not newer than the device's newest earlier fix (from the state or
   earlier in this batch, in arrival order) is ignored; an older fix never undoes a
   newer state.
2. Candidates: the grid prefilter (:class:`~geofence.index.PlaceIndex`) pairs each
   fix with the places it may lie in; pairs outside the device's active places are
   dropped. Airport zones are queried only for devices in ``airport_devices``.
3. The (device, place) pairs to run are those with a surely-inside candidate fix,
   plus those the state holds as inside or dwelling. Each is paired with *every*
   fresh fix of its device in the batch, and measured: signed distance to the edge.
4. Observation per fix: with ``u = max(accuracy or unknown_accuracy_m, accuracy_floor_m)``,
   IN if ``d + u <= -margin_m``, OUT if ``d - u >= margin_m``; nothing if the
   uncertainty circle straddles the edge or ``u > max_accuracy_ratio * size_m``.
5. The state table (:mod:`geofence.state`) runs over those observations in time order:
   a change of side is pending until confirmed (:mod:`geofence.confirm`, ``Rules.confirm``
   and a place's own ``confirm``), by a run of fixes or by time; a pending transition
   whose due instant comes before a fix is confirmed at that instant first.
6. Airports: a fresh fix surely inside an airport, at least ``flight_min_km`` from the
   device's previous fix with an implied ground speed in ``[flight_min_kmh,
   flight_max_kmh]``, is a landing: ``flight_landed`` at the nearest such airport,
   then its ``airport_arrival`` at once (dwell does not apply).

The Python-level loop is only over the pairs of step 5 with an observation.

A device that stops reporting while a transition is pending gets it from
:func:`confirm_due`, which the gateway calls on a timer::

    result = confirm_due(state, zones, now - settle, places_by_device=..., airport_devices=...)
    # in one transaction: result.transitions -> events (fix == NO_FIX: take the position
    # from latest_positions), result.changed -> upsert geofence_state; after commit:
    state.apply(result)

It only confirms what is due at or before the given instant, at its due instant, so
calling it often, rarely, twice or never (the next fix then confirms it, at the same
instant) gives the same transitions. Pass an instant that fixes still in flight cannot
precede: the clock minus the batcher's flush interval and ingest lag (``settle``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from ._run import History, Run, confirm_due_records
from .confirm import DEFAULT_CONFIRM, Confirm
from .index import PlaceIndex
from .records import PlaceState, Transition, TransitionKind, to_us
from .state import NO_TIME, GeofenceState

__all__ = ["Batch", "Evaluation", "Rules", "Zones", "confirm_due", "evaluate"]

#: Order of transitions decided by the same fix: leave, land, arrive.
_KIND_RANK = {
    TransitionKind.EXIT: 0,
    TransitionKind.AIRPORT_DEPARTURE: 0,
    TransitionKind.FLIGHT_LANDED: 1,
    TransitionKind.ENTER: 2,
    TransitionKind.AIRPORT_ARRIVAL: 2,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """The tunable numbers; the defaults are those documented in docs/geofencing.md."""

    #: A fix is never taken as more precise than this (GPS rarely is), metres.
    accuracy_floor_m: float = 10.0
    #: Accuracy assumed when a device reports none (typical GPS tag fix), metres.
    unknown_accuracy_m: float = 20.0
    #: Extra clearance beyond the uncertainty circle before a side counts, metres.
    margin_m: float = 5.0
    #: A fix whose accuracy exceeds this times the place's size_m is ignored for it.
    max_accuracy_ratio: float = 1.0
    #: How a change of side is confirmed, for user places (:mod:`geofence.confirm`);
    #: a place's ``confirm`` overrides it field by field.
    confirm: Confirm = DEFAULT_CONFIRM
    #: The same for airport zones.
    airport_confirm: Confirm = DEFAULT_CONFIRM
    #: Seconds a device must stay surely inside a place before ``enter`` (a minimum
    #: stay on top of ``confirm``; 0: none).
    dwell_s: float = 0.0
    #: The same for airport zones.
    airport_dwell_s: float = 0.0
    #: A landing is at least this far from the previous fix, km.
    flight_min_km: float = 150.0
    #: ... with an implied ground speed within these bounds, km/h.
    flight_min_kmh: float = 150.0
    flight_max_kmh: float = 1100.0

    def __post_init__(self) -> None:
        for name in (
            "accuracy_floor_m",
            "unknown_accuracy_m",
            "margin_m",
            "dwell_s",
            "airport_dwell_s",
            "flight_min_km",
            "flight_min_kmh",
        ):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not (self.max_accuracy_ratio > 0 and self.flight_max_kmh > self.flight_min_kmh):
            raise ValueError("max_accuracy_ratio must be > 0 and flight_max_kmh > flight_min_kmh")
        for name in ("confirm", "airport_confirm"):
            if not isinstance(getattr(self, name), Confirm):
                raise TypeError(f"{name} must be a Confirm, got {getattr(self, name)!r}")


@dataclass(frozen=True, slots=True)
class Zones:
    """What fixes are checked against: user places, optional airports, and the rules."""

    places: PlaceIndex
    airports: PlaceIndex | None = None
    rules: Rules = field(default_factory=Rules)


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Fixes as columns. Fix ``i`` is of device ``device_ids[device[i]]``.

    Arrays are in arrival order; ``accuracy_m`` is NaN where unknown. Build from
    Python values with :meth:`from_fixes`.
    """

    device_ids: tuple[str, ...]
    device: NDArray[np.intp]
    time_us: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    accuracy_m: NDArray[np.float64]

    def __post_init__(self) -> None:
        n = len(self.device)
        if any(len(a) != n for a in (self.time_us, self.lat, self.lon, self.accuracy_m)):
            raise ValueError("batch columns must all have the same length")
        if n and (self.device.min() < 0 or self.device.max() >= len(self.device_ids)):
            raise ValueError("batch.device holds an index outside device_ids")
        if not (np.all(np.abs(self.lat) <= 90.0) and np.all(np.isfinite(self.lon))):
            raise ValueError("batch has a latitude outside [-90, 90] or a non-finite longitude")

    def __len__(self) -> int:
        return len(self.device)

    @classmethod
    def from_fixes(
        cls,
        device_ids: Sequence[str],
        times: Sequence[datetime],
        lat: Sequence[float],
        lon: Sequence[float],
        accuracy_m: Sequence[float | None],
    ) -> Batch:
        """One entry per fix, in arrival order (times must be aware)."""
        codes: dict[str, int] = {}
        device = np.array([codes.setdefault(d, len(codes)) for d in device_ids], dtype=np.intp)
        return cls(
            device_ids=tuple(codes),
            device=device,
            time_us=np.array([to_us(t) for t in times], dtype=np.int64),
            lat=np.asarray(lat, dtype=np.float64),
            lon=np.asarray(lon, dtype=np.float64),
            accuracy_m=np.array([np.nan if a is None else a for a in accuracy_m], dtype=np.float64),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """What a batch did.

    Attributes:
        transitions: events in time order (ties: exit, flight_landed, enter).
        changed: place-state rows whose value changed, as they stand after the batch.
        late: per fix, True when it was ignored as not newer than the device's newest.
        device_ids: the batch's devices; the ``newest_*`` arrays follow them: each
            device's newest fix after the batch (``NO_TIME``/NaN if it has none).
    """

    transitions: tuple[Transition, ...]
    changed: tuple[PlaceState, ...]
    late: NDArray[np.bool_]
    device_ids: tuple[str, ...]
    newest_time_us: NDArray[np.int64]
    newest_lat: NDArray[np.float64]
    newest_lon: NDArray[np.float64]


def evaluate(
    batch: Batch,
    state: GeofenceState,
    zones: Zones,
    *,
    places_by_device: Mapping[str, Collection[str]] | None = None,
    airport_devices: NDArray[np.bool_] | None = None,
) -> Evaluation:
    """Evaluate a batch; ``state`` is only read (see :meth:`GeofenceState.apply`).

    Args:
        places_by_device: device id -> ids of the places active for it (the places of
            its circles that its plans allow); a device absent from it has none.
            ``None``: every place applies to every device.
        airport_devices: one flag per ``batch.device_ids``: evaluate airports for it.
            ``None``: every device, when ``zones.airports`` is set.
    """
    history = History.of(batch, state)
    run = Run(batch, state, zones.rules, np.flatnonzero(~history.late))
    run.zone_set(zones.places, airport=False, scope=places_by_device, history=None)
    if zones.airports is not None:
        mask = (
            np.ones(len(batch.device_ids), dtype=bool)
            if airport_devices is None
            else np.asarray(airport_devices, dtype=bool)
        )
        if mask.shape != (len(batch.device_ids),):
            raise ValueError("airport_devices needs one flag per batch.device_ids entry")
        run.zone_set(zones.airports, airport=True, scope=mask, history=history)
    transitions = sorted(
        run.transitions,
        key=lambda tr: (batch.time_us[tr.fix], tr.fix, _KIND_RANK[tr.kind], tr.place_id),
    )
    return Evaluation(
        transitions=tuple(transitions),
        changed=tuple(run.changed.values()),
        late=history.late,
        device_ids=batch.device_ids,
        newest_time_us=history.newest_t,
        newest_lat=history.newest_lat,
        newest_lon=history.newest_lon,
    )


def confirm_due(
    state: GeofenceState,
    zones: Zones,
    now: datetime,
    *,
    places_by_device: Mapping[str, Collection[str]] | None = None,
    airport_devices: Collection[str] | None = None,
) -> Evaluation:
    """Confirm by time the pending transitions due at or before ``now`` (module docstring).

    ``state`` is only read; apply the result like an evaluation's. Its transitions
    carry their due instant and ``fix == NO_FIX``; it holds no fixes (``late`` and the
    ``newest_*`` arrays are empty). ``places_by_device`` as for :func:`evaluate`;
    ``airport_devices``: the ids of the devices with airport alerts (``None``: all).
    A row of a place no longer in ``zones`` or out of the device's scope stays pending.
    """
    now_us = to_us(now)
    rules = zones.rules
    transitions: list[Transition] = []
    changed: list[PlaceState] = []

    def in_scope(device_id: str, place_id: str) -> bool:
        return places_by_device is None or place_id in places_by_device.get(device_id, ())

    def airport_scope(device_id: str, place_id: str) -> bool:
        return airport_devices is None or device_id in airport_devices

    sets = [(zones.places, False, rules.confirm, rules.dwell_s, in_scope)]
    if zones.airports is not None:
        sets.append(
            (zones.airports, True, rules.airport_confirm, rules.airport_dwell_s, airport_scope)
        )
    for index, airport, base, dwell_s, allowed in sets:
        found, rows = confirm_due_records(
            state,
            index,
            airport=airport,
            now_us=now_us,
            base=base,
            dwell_us=round(dwell_s * 1e6),
            allowed=allowed,
        )
        transitions.extend(found)
        changed.extend(rows)
    transitions.sort(key=lambda tr: (tr.time, _KIND_RANK[tr.kind], tr.device_id, tr.place_id))
    return Evaluation(
        transitions=tuple(transitions),
        changed=tuple(changed),
        late=np.zeros(0, dtype=bool),
        device_ids=(),
        newest_time_us=np.full(0, NO_TIME, dtype=np.int64),
        newest_lat=np.zeros(0),
        newest_lon=np.zeros(0),
    )
