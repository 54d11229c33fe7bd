"""The geofence stage of the pipeline: places from the database, the engine of ``geofence/``
on each batch, transitions stored as events in the batch's transaction, alerts after commit.

Which places apply to a device, and whether it gets airport zones, come from the entitlement
snapshot: the places of every circle its positions are shared with (members within the plan's
member limit), limited to the places the circle's plan keeps active; airports only where a
circle's plan has airport alerts. An event is per circle: a place's transition goes to the
place's circle; an airport transition to each of the device's circles with airport alerts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
    TransitionKind,
    Zones,
    airport_index,
    airport_name,
    place_from_feature,
)
from protocols.model import Position

from .alerts import Alert, AlertPublisher, LivePosition
from .entitlement_service import EntitlementService
from .live.hub import LiveHub
from .store import writer

log = logging.getLogger(__name__)

PLACE_KINDS = frozenset({TransitionKind.ENTER, TransitionKind.EXIT})
#: a device's live position goes to its circles at most this often
LIVE_INTERVAL_S = 1.0


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
    rows = await (
        await conn.execute("select id, circle_id, name, geometry, radius_m from places order by id")
    ).fetchall()
    return await asyncio.to_thread(build_places, rows)


class GeofenceProcessor:
    """A ``BatchProcessor``: see ``gateway.pipeline.batcher``."""

    def __init__(
        self,
        url: str,
        entitlements: EntitlementService,
        alerts: AlertPublisher,
        directory_keys: dict[int, tuple[str, str]] | None = None,
        rules: Rules | None = None,
        live: LiveHub | None = None,
    ) -> None:
        self.url = url
        self.live = live
        self.entitlements = entitlements
        self.alerts = alerts
        self.rules = rules or Rules()
        self.places = build_places([])
        self.airports = airport_index()
        self.state = GeofenceState()
        self._pending: Evaluation | None = None
        self._pending_positions: list[tuple[int, Position]] = []
        self._places_cache: dict[str, frozenset[str]] = {}
        self._airport_cache: dict[str, bool] = {}
        self._cache_version = -1
        self._live: dict[int, Position] = {}
        self._live_sent: dict[int, float] = {}
        self._places_rows_version = -1
        #: device db id -> (unique_id, account_id), for alert payloads
        self.devices: dict[int, tuple[str, str]] = directory_keys or {}

    async def load(self) -> None:
        """Places, geofence state and each device's newest fix, from the database."""
        async with await psycopg.AsyncConnection.connect(self.url, connect_timeout=5) as conn:
            self.places = await load_places(conn)
            rows = await (
                await conn.execute(
                    "select device_id, place_id, inside, since, dwell_since, airport"
                    " from geofence_state"
                )
            ).fetchall()
            fixes = await (
                await conn.execute("select device_id, fix_time, lat, lon from latest_positions")
            ).fetchall()
            devices = await (
                await conn.execute("select id, unique_id, account_id from devices")
            ).fetchall()
        self.state = GeofenceState.from_records(
            [
                PlaceState(
                    device_id=str(d), place_id=p, inside=i, since=s, dwell_since=w, airport=a
                )
                for d, p, i, s, w, a in rows
            ],
            [DeviceFix(device_id=str(d), time=t, lat=la, lon=lo) for d, t, la, lo in fixes],
        )
        self.devices = {d: (u, a) for d, u, a in devices}

    async def on_snapshot(self, snapshot: Snapshot) -> None:
        """After every entitlement reload (places, members or plans may have changed)."""
        async with await psycopg.AsyncConnection.connect(self.url, connect_timeout=5) as conn:
            self.places = await load_places(conn)
            devices = await (
                await conn.execute("select id, unique_id, account_id from devices")
            ).fetchall()
        self.devices = {d: (u, a) for d, u, a in devices}
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

    # -- the BatchProcessor interface ----------------------------------------------------------
    def process(
        self, positions: Sequence[tuple[int, Position]], batch: writer.Batch, now: datetime
    ) -> None:
        self._pending = None
        self._live = {}
        if not positions:
            return
        snapshot = self.entitlements.snapshot
        fixes = sorted(positions, key=lambda item: item[1].fix_time)
        for device_id, pos in fixes:  # the newest of each device, for the live view
            self._live[device_id] = pos
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
        self._pending = result
        for t in result.transitions:
            device_id = int(t.device_id)
            _, pos = fixes[t.fix]
            position = {
                "lat": pos.lat,
                "lon": pos.lon,
                "accuracy_m": pos.accuracy_m,
                "speed_kmh": pos.speed_kmh,
            }
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
                )
            )

    async def after_commit(self, result: writer.WriteResult) -> None:
        if self._pending is not None:
            self.state.apply(self._pending)
            self._pending = None
        snapshot = self.entitlements.snapshot
        now = datetime.now(UTC)
        self._publish_live(snapshot, now)
        if not result.new_events:
            return
        for event in result.new_events:
            if event.circle_id is None or event.kind.startswith("alarm:"):
                continue
            unique_id, account = self.devices.get(event.device_id, (str(event.device_id), ""))
            recipients = sorted(snapshot.alert_recipients(event.circle_id, now))
            alert = Alert(
                circle_id=event.circle_id,
                kind=event.kind,
                member=account,
                device=unique_id,
                time=event.time,
                subject=event.payload,
                recipients=tuple(recipients),
            )
            self.alerts.publish(alert)
            if self.live is not None:
                self.live.alert(event.circle_id, {**alert.as_json(), "device_id": event.device_id})

    def _publish_live(self, snapshot: Snapshot, now: datetime) -> None:
        mono = time.monotonic()
        for device_id, pos in self._live.items():
            circles = snapshot.shared_circles(str(device_id), now)
            if not circles:
                continue
            unique_id, account = self.devices.get(device_id, (str(device_id), ""))
            payload = {
                "type": "position",
                "device_id": device_id,
                "member": account,
                "device": unique_id,
                "time": pos.fix_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lat": pos.lat,
                "lon": pos.lon,
                "accuracy_m": pos.accuracy_m,
                "speed_kmh": pos.speed_kmh,
                "course_deg": pos.course_deg,
                "battery_pct": pos.battery_pct,
            }
            if self.live is not None:
                self.live.position(circles, unique_id, pos.fix_time, payload)
            if mono - self._live_sent.get(device_id, 0.0) < LIVE_INTERVAL_S:
                continue
            self._live_sent[device_id] = mono
            for circle in circles:
                self.alerts.publish_live(LivePosition(circle_id=circle, payload=payload))
        self._live = {}


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
