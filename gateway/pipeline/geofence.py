"""The geofence stage: the engine of ``geofence/`` on each batch's accepted fixes; its
transitions become event rows and state rows of the batch (stored in its transaction); the
outcome is returned on the batch and applied to the in-memory state after the commit.

Which places apply to a device, and whether it gets airport zones, come from the entitlement
snapshot: the places of every circle its positions are shared with (members within the plan's
member limit), limited to the places the circle's plan keeps active; airports only where a
circle's plan has airport alerts. An event is per circle: a place's transition goes to the
place's circle; an airport transition to each of the device's circles with airport alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg

from entitlements import Snapshot
from geofence import (
    Batch,
    DeviceFix,
    Evaluation,
    GeofenceState,
    PlaceIndex,
    PlaceState,
    Rules,
    Transition,
    TransitionKind,
    Zones,
    airport_index,
    airport_name,
    confirm_due,
    place_from_feature,
)
from protocols.model import Position

from ..store import geofence_state, writer
from .batch import Batch as PipelineBatch
from .batch import GeofenceOutcome

log = logging.getLogger(__name__)

PLACE_KINDS = frozenset({TransitionKind.ENTER, TransitionKind.EXIT})


@dataclass(frozen=True, slots=True)
class PlaceInfo:
    id: str  #: the database id, as text (the engine's place id)
    circle_id: str
    name: str  #: the name the circle gave it (GeoJSON properties.id)


@dataclass(frozen=True, slots=True)
class Places:
    index: PlaceIndex
    info: dict[str, PlaceInfo]
    by_circle: dict[str, tuple[str, ...]]


def build_places(rows: Sequence[tuple[Any, ...]]) -> Places:
    """Rows of (id, circle_id, name, geometry, radius_m) -> an index (bad rows are skipped)."""
    places, info = [], {}
    by_circle: dict[str, list[str]] = {}
    for place_id, circle_id, name, geometry, radius_m in rows:
        pid = str(place_id)
        feature = {
            "type": "Feature",
            "geometry": geometry,
            "properties": {"id": pid, "radius_m": radius_m},
        }
        try:
            places.append(place_from_feature(feature))
        except Exception as exc:  # a bad stored geometry must not stop the gateway
            log.warning("place %s of circle %s skipped: %s", pid, circle_id, exc)
            continue
        info[pid] = PlaceInfo(pid, circle_id, name)
        by_circle.setdefault(circle_id, []).append(pid)
    return Places(PlaceIndex(places), info, {c: tuple(p) for c, p in by_circle.items()})


async def load_places(conn: psycopg.AsyncConnection[Any]) -> Places:
    rows = await geofence_state.place_rows(conn)
    return await asyncio.to_thread(build_places, rows)


class GeofenceStage:
    """Owns the geofence state (the engine's, keyed by the device's database id as text) and
    the places index; ``evaluate`` works on a batch, ``apply`` after its commit."""

    def __init__(self, url: str, rules: Rules | None = None) -> None:
        self.url = url
        self.rules = rules or Rules()
        self.places = build_places([])
        self.airports = airport_index()
        self.state = GeofenceState()
        self._places_cache: dict[str, frozenset[str]] = {}
        self._airport_cache: dict[str, bool] = {}
        self._cache_version = -1

    async def load(self) -> None:
        """Places, geofence state and each device's newest fix, from the database."""
        async with await psycopg.AsyncConnection.connect(self.url, connect_timeout=5) as conn:
            self.places = await load_places(conn)
            rows = await geofence_state.states(conn)
            fixes = await geofence_state.latest_fixes(conn)
        self.state = GeofenceState.from_records(
            [
                PlaceState(
                    device_id=str(d),
                    place_id=p,
                    inside=i,
                    since=s,
                    dwell_since=w,
                    airport=a,
                    exit_since=x,
                    pending_fixes=n,
                )
                for d, p, i, s, w, a, x, n in rows
            ],
            [DeviceFix(device_id=str(d), time=t, lat=la, lon=lo) for d, t, la, lo in fixes],
        )

    async def on_snapshot(self, snapshot: Snapshot) -> None:
        """After every entitlement reload (places, members or plans may have changed)."""
        async with await psycopg.AsyncConnection.connect(self.url, connect_timeout=5) as conn:
            self.places = await load_places(conn)
        known = set(self.places.info)
        for record in list(self.state.records()):
            if not record.airport and record.place_id not in known:
                self.state.discard_place(record.place_id)
        self._places_cache.clear()
        self._airport_cache.clear()

    # -- per device, from the snapshot ---------------------------------------------------------
    def _device_places(self, snapshot: Snapshot, device: str, now: datetime) -> frozenset[str]:
        if self._cache_version != snapshot.version:
            self._places_cache.clear()
            self._airport_cache.clear()
            self._cache_version = snapshot.version
        cached = self._places_cache.get(device)
        if cached is None:
            ids: set[str] = set()
            airport = False
            for circle in snapshot.shared_circles(device, now):
                for pid in self.places.by_circle.get(circle, ()):
                    if snapshot.is_place_active(circle, pid, now):
                        ids.add(pid)
                airport = airport or snapshot.airport_alerts(circle, now)
            cached = frozenset(ids)
            self._places_cache[device] = cached
            self._airport_cache[device] = airport
        return cached

    # -- the stage -----------------------------------------------------------------------------
    def evaluate(self, work: PipelineBatch) -> None:
        """Transitions of ``work.accepted`` -> event and state rows in ``work.rows``; the
        outcome on ``work.geofence`` (applied by ``apply`` once the batch has committed)."""
        positions, now, snapshot = work.accepted, work.now, work.snapshot
        live: dict[int, Position] = {}
        work.geofence = GeofenceOutcome(None, live)
        if not positions or snapshot is None:
            return
        fixes = sorted(positions, key=lambda item: item[1].fix_time)
        for device_id, pos in fixes:  # the newest of each device, for the live view
            live[device_id] = pos
        geo = Batch.from_fixes(
            [str(d) for d, _ in fixes],
            [p.fix_time for _, p in fixes],
            [p.lat for _, p in fixes],
            [p.lon for _, p in fixes],
            [p.accuracy_m for _, p in fixes],
        )
        by_device = {d: self._device_places(snapshot, d, now) for d in geo.device_ids}
        airports = np.array([self._airport_cache[d] for d in geo.device_ids], dtype=bool)
        zones = Zones(
            places=self.places.index,
            airports=self.airports if airports.any() else None,
            rules=self.rules,
        )
        result = evaluate_safely(geo, self.state, zones, by_device, airports)
        if result is None:
            return
        work.geofence.evaluation = result

        def position_of(t: Transition) -> dict[str, Any] | None:
            _, pos = fixes[t.fix]
            return {
                "lat": pos.lat,
                "lon": pos.lon,
                "accuracy_m": pos.accuracy_m,
                "speed_kmh": pos.speed_kmh,
            }

        self._rows(result, work, snapshot, position_of)

    def confirm(
        self,
        work: PipelineBatch,
        settle: timedelta,
        last_fix: Callable[[int], tuple[float, float] | None],
    ) -> None:
        """The timer (``geofence.confirm_due``): the pending transitions of devices that went
        silent, confirmed at their due instant, as event and state rows of ``work`` (a batch
        without envelopes, driven by the writer task between batches, never during one).
        ``settle``: how far behind ``work.now`` the instant is (a fix still in flight must not
        be older); an event's position is the device's newest fix (``last_fix``)."""
        work.geofence = GeofenceOutcome(None, {})
        snapshot, now = work.snapshot, work.now
        if snapshot is None:
            return
        devices = sorted({r.device_id for r in self.state.pending()})
        if not devices:
            return
        by_device = {d: self._device_places(snapshot, d, now) for d in devices}
        airports = [d for d in devices if self._airport_cache.get(d)]
        zones = Zones(
            places=self.places.index,
            airports=self.airports if airports else None,
            rules=self.rules,
        )
        try:
            result = confirm_due(
                self.state,
                zones,
                now - settle,
                places_by_device=by_device,
                airport_devices=airports,
            )
        except Exception:
            log.exception("the geofence timer failed; pending transitions wait for a fix")
            return
        if not result.transitions and not result.changed:
            return
        work.geofence.evaluation = result

        def position_of(t: Transition) -> dict[str, Any] | None:
            fix = last_fix(int(t.device_id))
            return None if fix is None else {"lat": fix[0], "lon": fix[1]}

        self._rows(result, work, snapshot, position_of)

    def _rows(
        self,
        result: Evaluation,
        work: PipelineBatch,
        snapshot: Snapshot,
        position_of: Callable[[Transition], dict[str, Any] | None],
    ) -> None:
        """``result``'s transitions and changed state -> rows of ``work``."""
        batch, now = work.rows, work.now
        for t in result.transitions:
            device_id = int(t.device_id)
            position = position_of(t)
            if t.kind in PLACE_KINDS:
                place = self.places.info.get(t.place_id)
                if place is None:
                    continue
                batch.events.append(
                    writer.EventRow(
                        device_id,
                        place.circle_id,
                        t.kind.value,
                        t.time,
                        place.id,
                        {"place": {"id": place.id, "name": place.name}, "position": position},
                    )
                )
            else:
                for circle in snapshot.shared_circles(t.device_id, now):
                    if snapshot.airport_alerts(circle, now):
                        batch.events.append(
                            writer.EventRow(
                                device_id,
                                circle,
                                t.kind.value,
                                t.time,
                                t.place_id,
                                {
                                    "airport": {
                                        "iata": t.place_id,
                                        "name": airport_name(t.place_id),
                                    },
                                    "position": position,
                                },
                            )
                        )
        for record in result.changed:
            batch.geofence_state.append(
                writer.GeofenceStateRow(
                    int(record.device_id),
                    record.place_id,
                    record.inside,
                    record.since,
                    record.dwell_since,
                    record.airport,
                    record.exit_since,
                    record.pending_fixes,
                )
            )

    def apply(self, work: PipelineBatch) -> None:
        """After ``work`` committed: its transitions become the in-memory state."""
        if work.geofence is not None and work.geofence.evaluation is not None:
            self.state.apply(work.geofence.evaluation)


def evaluate_safely(
    geo: Batch,
    state: GeofenceState,
    zones: Zones,
    by_device: dict[str, frozenset[str]],
    airports: Any,
) -> Evaluation | None:
    """The engine must never stop ingestion: a failure is logged and the batch stored."""
    from geofence import evaluate

    try:
        return evaluate(geo, state, zones, places_by_device=by_device, airport_devices=airports)
    except Exception:
        log.exception("geofence evaluation failed for a batch of %d fixes", len(geo.lat))
        return None
