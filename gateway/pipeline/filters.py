"""Position filters. A filtered fix from a known device is still acknowledged (else the device
would resend it forever) and is not stored; each filter is counted in
``trackgw_positions_filtered_total{filter}`` and can be switched off in [filters]."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from protocols.model import Position

from ..config import FilterSettings

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
    ``latest_positions``, see ``remember``)."""

    def __init__(self, settings: FilterSettings) -> None:
        self.settings = settings
        self._last: dict[int, LastFix] = {}
        self._future = timedelta(seconds=settings.future_tolerance_s)

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
            if s.max_speed_kmh > 0 and pos.fix_time > last.fix_time:
                hours = (pos.fix_time - last.fix_time).total_seconds() / 3600.0
                km = distance_km(last.lat, last.lon, pos.lat, pos.lon)
                if km > 1.0 and km / hours > s.max_speed_kmh:
                    return "jump"
        if last is None or pos.fix_time > last.fix_time:
            self._last[device_id] = LastFix(pos.fix_time, pos.lat, pos.lon)
        return None
