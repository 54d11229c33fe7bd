"""The inner workings of :func:`geofence.engine.evaluate`, vectorised per batch."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ._geodesy import haversine_m
from .confirm import Confirm
from .index import PlaceIndex, expand_ranges
from .records import NO_FIX, PlaceState, Transition, TransitionKind, from_us
from .state import NO_TIME, Event, GeofenceState, Phase, confirm_pending, due_us, phase_of, step

if TYPE_CHECKING:
    from .engine import Batch, Rules

_RANK_BITS = 40
_RANK_MASK = (1 << _RANK_BITS) - 1
_EMPTY: frozenset[str] = frozenset()
_EVENT_KIND = {
    (False, Event.ENTER): TransitionKind.ENTER,
    (False, Event.EXIT): TransitionKind.EXIT,
    (True, Event.ENTER): TransitionKind.AIRPORT_ARRIVAL,
    (True, Event.EXIT): TransitionKind.AIRPORT_DEPARTURE,
}

Ints = NDArray[np.intp]
Floats = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class History:
    """Per fix: the device's newest earlier fix (arrival order, state included).

    ``late[i]``: fix i is not newer than it. ``newest_*``: per device, after the batch.
    """

    prev_t: NDArray[np.int64]
    prev_lat: Floats
    prev_lon: Floats
    late: NDArray[np.bool_]
    newest_t: NDArray[np.int64]
    newest_lat: Floats
    newest_lon: Floats

    @classmethod
    def of(cls, batch: Batch, state: GeofenceState) -> History:
        n_dev, n = len(batch.device_ids), len(batch)
        if n + n_dev >= _RANK_MASK:
            raise ValueError("batch too large")
        st, slat, slon = state.last_fix_arrays(batch.device_ids)
        # Each device's stored newest fix, then its batch fixes in arrival order.
        all_t = np.concatenate([st, batch.time_us])
        all_lat = np.concatenate([slat, batch.lat])
        all_lon = np.concatenate([slon, batch.lon])
        all_dev = np.concatenate([np.arange(n_dev, dtype=np.intp), batch.device])
        seq = np.concatenate([np.full(n_dev, -1, dtype=np.intp), np.arange(n, dtype=np.intp)])
        order = np.lexsort((seq, all_dev))
        # Time order; among equal times the earliest arrival ranks highest, since a
        # later one at the same instant is late and must not become the newest.
        by_time = np.lexsort((-np.arange(n + n_dev), all_t))
        rank = np.empty(n + n_dev, dtype=np.int64)
        rank[by_time] = np.arange(n + n_dev, dtype=np.int64)
        # Running max of time rank within each device's run (devices ascend along
        # ``order``, so the device in the high bits keeps the runs apart).
        code = (all_dev[order].astype(np.int64) << _RANK_BITS) | rank[order]
        best = by_time[np.maximum.accumulate(code) & _RANK_MASK]  # element, inclusive
        fix_at = order - n_dev  # fix index at each position, < 0 for stored entries
        pos = np.flatnonzero(fix_at >= 0)
        prev = np.empty(n, dtype=np.intp)
        prev[fix_at[pos]] = best[pos - 1]  # a device's stored entry always precedes its fixes
        prev_t = all_t[prev]
        ends = np.cumsum(np.bincount(all_dev, minlength=n_dev)) - 1
        newest = best[ends]
        return cls(
            prev_t=prev_t,
            prev_lat=all_lat[prev],
            prev_lon=all_lon[prev],
            late=batch.time_us <= prev_t,
            newest_t=all_t[newest],
            newest_lat=all_lat[newest],
            newest_lon=all_lon[newest],
        )

    def flight_ok(self, batch: Batch, rules: Rules) -> NDArray[np.bool_]:
        """Per fix: far enough from, and at a flight's speed since, the previous fix."""
        known = self.prev_t != NO_TIME
        km = haversine_m(self.prev_lat, self.prev_lon, batch.lat, batch.lon) / 1000.0
        hours = np.where(known, batch.time_us - np.where(known, self.prev_t, 0), 0) / 3.6e9
        with np.errstate(divide="ignore", invalid="ignore"):
            kmh = km / hours
        ok = known & (hours > 0) & (km >= rules.flight_min_km)
        return np.asarray(ok & (kmh >= rules.flight_min_kmh) & (kmh <= rules.flight_max_kmh))


class Run:
    """One evaluation in progress: collects transitions and changed rows."""

    __slots__ = (
        "batch",
        "changed",
        "counts",
        "fresh",
        "fresh_sorted",
        "rules",
        "starts",
        "state",
        "transitions",
    )

    def __init__(self, batch: Batch, state: GeofenceState, rules: Rules, fresh: Ints) -> None:
        self.batch = batch
        self.state = state
        self.rules = rules
        self.fresh = fresh
        dev = batch.device[fresh]
        self.fresh_sorted = fresh[np.argsort(dev, kind="stable")]
        self.counts = np.bincount(dev, minlength=len(batch.device_ids)).astype(np.intp)
        self.starts = (np.cumsum(self.counts) - self.counts).astype(np.intp)
        self.transitions: list[Transition] = []
        self.changed: dict[tuple[str, bool, str], PlaceState] = {}

    def observe(
        self, index: PlaceIndex, places: Ints, fixes: Ints
    ) -> tuple[NDArray[np.bool_], NDArray[np.bool_], Floats]:
        """(surely inside, surely outside, signed distance) per (fix, place) pair."""
        b, r = self.batch, self.rules
        d = index.signed_distance_m(places, b.lat[fixes], b.lon[fixes])
        acc = b.accuracy_m[fixes]
        u = np.maximum(np.where(np.isnan(acc), r.unknown_accuracy_m, acc), r.accuracy_floor_m)
        usable = u <= r.max_accuracy_ratio * index.size_m[places]
        return usable & (d + u <= -r.margin_m), usable & (d - u >= r.margin_m), d

    def zone_set(
        self,
        index: PlaceIndex,
        *,
        airport: bool,
        scope: Mapping[str, Collection[str]] | NDArray[np.bool_] | None,
        history: History | None,
    ) -> None:
        """Run the places of ``index`` (user places, or airports when ``airport``)."""
        b = self.batch
        fixes = self.fresh
        mask = scope if isinstance(scope, np.ndarray) else None
        allowed = scope if isinstance(scope, Mapping) else None
        if mask is not None:
            fixes = fixes[mask[b.device[fixes]]]
        if len(index) == 0:
            return
        # 1. candidates, surely inside
        cf, cp, _ = index.candidates(b.lat[fixes], b.lon[fixes])
        cf = fixes[cf]
        if allowed is not None and cf.size:
            ids, dev_ids = index.places, b.device_ids
            keep = [
                ids[p].id in allowed.get(dev_ids[d], _EMPTY)
                for d, p in zip(b.device[cf].tolist(), cp.tolist(), strict=True)
            ]
            cf, cp = cf[np.array(keep, dtype=bool)], cp[np.array(keep, dtype=bool)]
        inside, _, _ = self.observe(index, cp, cf)
        key_dev = [b.device[cf[inside]]]
        key_place = [cp[inside]]
        # 2. pairs the state holds as inside or dwelling
        extra_dev: list[int] = []
        extra_place: list[int] = []
        devices = np.unique(b.device[fixes]).tolist()
        for code in devices:
            did = b.device_ids[code]
            for rec in self.state.active(did):
                p = index.position.get(rec.place_id)
                if (
                    rec.airport is airport
                    and p is not None
                    and (allowed is None or rec.place_id in allowed.get(did, _EMPTY))
                ):
                    extra_dev.append(code)
                    extra_place.append(p)
        key_dev.append(np.array(extra_dev, dtype=np.intp))
        key_place.append(np.array(extra_place, dtype=np.intp))
        keys = np.unique(
            np.concatenate(key_dev).astype(np.int64) * len(index) + np.concatenate(key_place)
        )
        if keys.size == 0:
            return
        kd = (keys // len(index)).astype(np.intp)
        kp = (keys % len(index)).astype(np.intp)
        # 3. every fresh fix of the device against each such place, in arrival order
        cnt = self.counts[kd]
        pf = self.fresh_sorted[expand_ranges(self.starts[kd], cnt)]
        pp = np.repeat(kp, cnt)
        pk = np.repeat(np.arange(len(keys), dtype=np.intp), cnt)
        inside, outside, d = self.observe(index, pp, pf)
        force = np.zeros(len(pf), dtype=bool)
        if history is not None:
            force = self._landings(index, pf, pp, inside, d, history)
            if force.any():  # a landing also confirms leaving any other airport at once
                force |= outside & np.isin(pf, pf[force])
        seen = np.flatnonzero(inside | outside)
        self._step_pairs(index, airport, pk[seen], pf[seen], pp[seen], inside[seen], force[seen])

    def _landings(
        self,
        index: PlaceIndex,
        pf: Ints,
        pp: Ints,
        inside: NDArray[np.bool_],
        d: Floats,
        history: History,
    ) -> NDArray[np.bool_]:
        """Emit flight_landed; mark the landing pairs (nearest airport per fix)."""
        force = np.zeros(len(pf), dtype=bool)
        cand = np.flatnonzero(inside & history.flight_ok(self.batch, self.rules)[pf])
        if cand.size == 0:
            return force
        cand = cand[np.lexsort((d[cand], pf[cand]))]
        first = cand[np.r_[True, pf[cand][1:] != pf[cand][:-1]]]
        force[first] = True
        for f, p in zip(pf[first].tolist(), pp[first].tolist(), strict=True):
            self.transitions.append(
                Transition(
                    kind=TransitionKind.FLIGHT_LANDED,
                    device_id=self.batch.device_ids[self.batch.device[f]],
                    place_id=index.places[p].id,
                    time=from_us(int(self.batch.time_us[f])),
                    fix=f,
                )
            )
        return force

    def _step_pairs(
        self,
        index: PlaceIndex,
        airport: bool,
        pk: Ints,
        pf: Ints,
        pp: Ints,
        inside: NDArray[np.bool_],
        force: NDArray[np.bool_],
    ) -> None:
        b, get, rules = self.batch, self.state.get, self.rules
        dwell_us = round((rules.airport_dwell_s if airport else rules.dwell_s) * 1e6)
        base = rules.airport_confirm if airport else rules.confirm
        times = b.time_us[pf].tolist()
        devs = b.device[pf].tolist()
        current = -1
        did = pid = ""
        record: PlaceState | None = None
        original: PlaceState | None = None
        phase = Phase.OUTSIDE
        confirm = base
        rows = zip(
            pk.tolist(),
            pf.tolist(),
            pp.tolist(),
            inside.tolist(),
            force.tolist(),
            times,
            devs,
            strict=True,
        )
        for k, f, p, ins, forced, t, dev in rows:
            if k != current:
                if record is not original and record is not None:
                    self.changed[(did, airport, pid)] = record
                place = index.places[p]
                current, did, pid = k, b.device_ids[dev], place.id
                record = original = get(did, pid, airport=airport)
                phase = phase_of(record)
                confirm = base if place.confirm is None else place.confirm.over(base)
            if (phase is Phase.INSIDE and ins) or (phase is Phase.OUTSIDE and not ins):
                continue  # the table's no-op rows, skipped for speed
            if phase is Phase.DWELLING or phase is Phase.LEAVING:
                assert record is not None
                due = due_us(record, confirm, dwell_us)
                if due is not None and due <= t:  # confirmed by time before this fix
                    record, confirmed = confirm_pending(record, due)
                    self._emit(airport, confirmed, record, did, pid, due, f)
                    phase = phase_of(record)
                    if (phase is Phase.INSIDE and ins) or (phase is Phase.OUTSIDE and not ins):
                        continue
            record, event = step(
                record,
                device_id=did,
                place_id=pid,
                airport=airport,
                time_us=t,
                inside=ins,
                dwell_us=dwell_us,
                force_settled=forced,
                confirm=confirm,
            )
            phase = phase_of(record)
            if event is not None:
                assert record is not None
                self._emit(airport, event, record, did, pid, t, f)
        if record is not original and record is not None:
            self.changed[(did, airport, pid)] = record

    def _emit(
        self, airport: bool, event: Event, record: PlaceState, did: str, pid: str, t: int, f: int
    ) -> None:
        self.transitions.append(
            Transition(
                kind=_EVENT_KIND[(airport, event)],
                device_id=did,
                place_id=pid,
                time=from_us(t),
                fix=f,
                since=record.since,
            )
        )


def confirm_due_records(
    state: GeofenceState,
    index: PlaceIndex,
    *,
    airport: bool,
    now_us: int,
    base: Confirm,
    dwell_us: int,
    allowed: Callable[[str, str], bool],
) -> tuple[list[Transition], list[PlaceState]]:
    """Pending rows of ``index``'s places whose due instant is at or before ``now_us``."""
    transitions: list[Transition] = []
    changed: list[PlaceState] = []
    for record in list(state.pending()):
        if record.airport is not airport:
            continue
        p = index.position.get(record.place_id)
        if p is None or not allowed(record.device_id, record.place_id):
            continue
        place = index.places[p]
        confirm = base if place.confirm is None else place.confirm.over(base)
        due = due_us(record, confirm, dwell_us)
        if due is None or due > now_us:
            continue
        new, event = confirm_pending(record, due)
        changed.append(new)
        transitions.append(
            Transition(
                kind=_EVENT_KIND[(airport, event)],
                device_id=record.device_id,
                place_id=record.place_id,
                time=from_us(due),
                fix=NO_FIX,
                since=new.since,
            )
        )
    return transitions, changed
