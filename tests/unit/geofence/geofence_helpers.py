"""Shared helpers for the geofence tests: positions in metres, tracks, running the engine."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from geofence import Batch, GeofenceState, Transition, Zones, evaluate
from geofence._geodesy import EARTH_RADIUS_M

T0 = datetime(2024, 5, 1, 17, 0, tzinfo=UTC)
M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0

#: (device, seconds after T0, lat, lon, accuracy_m or None)
Fix = tuple[str, float, float, float, float | None]


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """The point ``north_m`` north and ``east_m`` east of (lat, lon) (small offsets)."""
    dlat = north_m / M_PER_DEG
    dlon = east_m / (M_PER_DEG * math.cos(math.radians(lat)))
    return lat + dlat, (lon + dlon + 180.0) % 360.0 - 180.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def batch_of(fixes: Sequence[Fix]) -> Batch:
    return Batch.from_fixes(
        [f[0] for f in fixes],
        [at(f[1]) for f in fixes],
        [f[2] for f in fixes],
        [f[3] for f in fixes],
        [f[4] for f in fixes],
    )


def run(
    fixes: Sequence[Fix], zones: Zones, state: GeofenceState | None = None, **kwargs: object
) -> list[Transition]:
    """Evaluate ``fixes`` as one batch, apply it to ``state``; the transitions."""
    state = GeofenceState() if state is None else state
    result = evaluate(batch_of(fixes), state, zones, **kwargs)  # type: ignore[arg-type]
    state.apply(result)
    return list(result.transitions)


def events(transitions: Sequence[Transition]) -> list[tuple[str, str, str, float]]:
    """(kind, device, place, seconds after T0) per transition: easy to compare."""
    return [
        (t.kind.value, t.device_id, t.place_id, (t.time - T0).total_seconds()) for t in transitions
    ]
