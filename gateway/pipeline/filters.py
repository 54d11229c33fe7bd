"""Position filters. A filtered fix from a known device is still acknowledged (else the device
would resend it forever) and is not stored; each filter is counted in
``trackgw_positions_filtered_total{filter}`` and can be switched off in [filters]."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from protocols.model import Position

from .. import metrics
from ..config import FilterSettings
from ..store import writer
from .batch import Batch

_EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(slots=True)
class LastFix:
    fix_time: datetime
    lat: float
    lon: float


class Filters:
    """Decides per fix; remembers the newest accepted fix per device (recoverable from
    ``latest_positions``, see ``remember``). The one owner of "a device's newest fix" in the
    pipeline, keyed by the database device id.

    The jump filter re-anchors: fixes it dropped that are consistent with each other (each
    reachable from the one before under ``max_speed_kmh``) form a chain; when the chain
    reaches ``jump_reanchor_fixes`` the newest of it is accepted and becomes the anchor. So
    one wild fix stored as the anchor (or a device moved on a truck with its GPS off) costs
    a few fixes, not every real fix for hours.
    """

    def __init__(self, settings: FilterSettings) -> None:
        self.settings = settings
        self._last: dict[int, LastFix] = {}
        #: per device, the recent jump-dropped fixes that agree with each other
        self._chain: dict[int, list[LastFix]] = {}
        self._future = timedelta(seconds=settings.future_tolerance_s)

    def _too_fast(self, a: LastFix, fix_time: datetime, lat: float, lon: float) -> bool:
        hours = (fix_time - a.fix_time).total_seconds() / 3600.0
        km = distance_km(a.lat, a.lon, lat, lon)
        return km > 1.0 and (hours <= 0 or km / hours > self.settings.max_speed_kmh)

    def _jumped(self, device_id: int, pos: Position) -> bool:
        """Record a jump-dropped fix; True while it is still to be dropped."""
        fix = LastFix(pos.fix_time, pos.lat, pos.lon)
        chain = self._chain.get(device_id)
        if chain and not (
            pos.fix_time > chain[-1].fix_time
            and not self._too_fast(chain[-1], pos.fix_time, pos.lat, pos.lon)
        ):
            chain = None
        if chain is None:
            chain = self._chain[device_id] = []
        chain.append(fix)
        if len(chain) >= max(1, self.settings.jump_reanchor_fixes):
            del self._chain[device_id]
            return False
        return True

    def remember(self, device_id: int, fix_time: datetime, lat: float, lon: float) -> None:
        last = self._last.get(device_id)
        if last is None or fix_time > last.fix_time:
            self._last[device_id] = LastFix(fix_time, lat, lon)

    def check(self, device_id: int, pos: Position, now: datetime) -> str | None:
        """The name of the filter that drops ``pos``, or None to keep it (and remember it)."""
        s = self.settings
        if s.drop_invalid and not pos.valid:
            return "invalid"
        if s.drop_null_island and pos.lat == 0.0 and pos.lon == 0.0:
            return "null_island"
        if pos.fix_time - now > self._future:
            return "future"
        last = self._last.get(device_id)
        if last is not None:
            if s.drop_duplicates and pos.fix_time == last.fix_time:
                return "duplicate"
            if (
                s.max_speed_kmh > 0
                and pos.fix_time > last.fix_time
                and self._too_fast(last, pos.fix_time, pos.lat, pos.lon)
            ):
                if self._jumped(device_id, pos):
                    return "jump"
                metrics.jump_reanchors.inc()
            elif device_id in self._chain:
                del self._chain[device_id]  # a consistent fix: the wild ones were wild
        if last is None or pos.fix_time > last.fix_time:
            self._last[device_id] = LastFix(pos.fix_time, pos.lat, pos.lon)
        return None

    def last_fix(self, device_id: int) -> tuple[float, float] | None:
        """The device's newest accepted fix (lat, lon), for an event without a fix of its own
        (the geofence timer)."""
        last = self._last.get(device_id)
        return None if last is None else (last.lat, last.lon)

    def apply(self, work: Batch) -> None:
        """The filter stage: ``work.envelopes`` -> position rows of the fixes kept (with
        their origins) and device-alarm event rows, on ``work``."""
        rows = work.rows.positions
        events = work.rows.events
        accepted = work.accepted
        origins = work.position_origins
        event_origins = work.event_origins
        check = self.check
        row_of = writer.position_row
        now = work.now
        for e, envelope in enumerate(work.envelopes):
            received = envelope.received_at
            for i, (device_id, pos) in enumerate(envelope.positions):
                dropped = check(device_id, pos, now)
                if dropped is not None:
                    metrics.positions_filtered.labels(dropped).inc()
                    continue
                rows.append(row_of(device_id, pos, received))
                accepted.append((device_id, pos))
                origins.append((e, i))
            for i, (device_id, event) in enumerate(envelope.events):
                payload: dict[str, Any] = dict(event.attributes)
                if event.position is not None:
                    payload["lat"] = event.position.lat
                    payload["lon"] = event.position.lon
                events.append(
                    writer.EventRow(device_id, None, f"alarm:{event.kind}", event.time, "", payload)
                )
                event_origins.append((e, i))
