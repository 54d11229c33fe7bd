"""Plain records that cross the package boundary: state rows and transitions.

These are what the gateway stores and publishes. They hold aware UTC datetimes and
strings only, so they map one-to-one onto database rows and JSON.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "NO_FIX",
    "DeviceFix",
    "PlaceState",
    "Transition",
    "TransitionKind",
    "from_us",
    "to_us",
]

#: ``Transition.fix`` of a transition confirmed by time with no fix of a batch behind it
#: (from :func:`geofence.engine.confirm_due`): never index a batch with it.
NO_FIX = -1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(when: datetime) -> int:
    """An aware datetime as integer microseconds since the Unix epoch (exact)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"naive datetime {when!r}: geofence times must be timezone-aware")
    return (when - _EPOCH) // _US


def from_us(us: int) -> datetime:
    """Integer microseconds since the Unix epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(us))


def _check_aware(*values: datetime | None) -> None:
    for value in values:
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"naive datetime {value!r}: geofence times must be timezone-aware")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceState:
    """Where one device stands with one place: one row of ``geofence_state``.

    Attributes:
        device_id: the device.
        place_id: the place's id, or an airport's IATA code when ``airport``.
        inside: the device is inside (an enter fired and no exit since).
        since: when ``inside``, the arrival (first surely-inside fix of the stay);
            otherwise the last exit, or the start of the first dwell if it never entered.
        dwell_since: outside only: the first surely-inside fix of a pending enter (a
            stay not yet confirmed, see :mod:`geofence.confirm`, or not yet as long as
            the dwell time); ``None`` when no enter is pending.
        airport: the place is an airport zone (keeps airport and user ids apart).
        exit_since: inside only: the first surely-outside fix of a pending exit;
            ``None`` when no exit is pending.
        pending_fixes: observations so far in the pending run (``dwell_since`` or
            ``exit_since``), 0 when none is pending. A row stored without it (0 with a
            run pending) counts as 1: the run's first fix.
    """

    device_id: str
    place_id: str
    inside: bool
    since: datetime
    dwell_since: datetime | None = None
    airport: bool = False
    exit_since: datetime | None = None
    pending_fixes: int = 0

    def __post_init__(self) -> None:
        _check_aware(self.since, self.dwell_since, self.exit_since)
        if self.inside and self.dwell_since is not None:
            raise ValueError("dwell_since is only meaningful while outside")
        if not self.inside and self.exit_since is not None:
            raise ValueError("exit_since is only meaningful while inside")
        if isinstance(self.pending_fixes, bool) or not isinstance(self.pending_fixes, int):
            raise TypeError(f"pending_fixes must be an int, got {self.pending_fixes!r}")
        if self.pending_fixes < 0 or (self.pending_fixes and self.pending_since is None):
            raise ValueError(
                f"pending_fixes must be >= 0 and 0 when nothing is pending, "
                f"got {self.pending_fixes!r}"
            )

    @property
    def active(self) -> bool:
        """Inside or dwelling: the engine must look at every fix of this device."""
        return self.inside or self.dwell_since is not None

    @property
    def pending_since(self) -> datetime | None:
        """The first fix of the pending enter or exit, if one is pending."""
        return self.exit_since if self.inside else self.dwell_since


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceFix:
    """A device's newest fix seen by the engine (a ``latest_positions`` row is enough).

    Used to ignore late fixes and to recognise a flight (distance and time since).
    """

    device_id: str
    time: datetime
    lat: float
    lon: float

    def __post_init__(self) -> None:
        _check_aware(self.time)


class TransitionKind(enum.StrEnum):
    """What happened; the values are the event types published to circles."""

    ENTER = "enter"
    EXIT = "exit"
    AIRPORT_ARRIVAL = "airport_arrival"
    AIRPORT_DEPARTURE = "airport_departure"
    FLIGHT_LANDED = "flight_landed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Transition:
    """One event for a circle.

    Attributes:
        kind: enter/exit for places, airport_* and flight_landed for airports.
        device_id: the device.
        place_id: the place's id, or the airport's IATA code.
        time: when it was decided: the fix time of the fix that confirmed it, or for
            a transition confirmed by time (:mod:`geofence.confirm`) its due instant.
        fix: the position in the batch arrays of the fix that decided it (to join the
            stored position); for one confirmed by time, the first fix after the due
            instant; :data:`NO_FIX` from :func:`geofence.engine.confirm_due`.
        since: enter/exit (and airport ones): the first fix on the new side (the
            arrival or departure; ``time`` itself when confirmed at once); ``None``
            for ``flight_landed``.
    """

    kind: TransitionKind
    device_id: str
    place_id: str
    time: datetime
    fix: int
    since: datetime | None = None

    def __post_init__(self) -> None:
        _check_aware(self.time, self.since)
