"""The normalized message model every decoder produces.

Units are fixed: degrees WGS84, km/h, degrees clockwise from true north, metres, percent.
``None`` means unknown, never 0. Times are aware UTC datetimes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TypeAlias, cast

AttributeValue: TypeAlias = str | int | float | bool | None
Attributes: TypeAlias = Mapping[str, AttributeValue]

EMPTY_ATTRIBUTES: Attributes = MappingProxyType({})


def freeze(attributes: Mapping[str, AttributeValue] | None) -> Attributes:
    """A read-only copy of ``attributes`` (the shared empty mapping when there are none)."""
    if not attributes:
        return EMPTY_ATTRIBUTES
    return MappingProxyType(dict(attributes))


def _no_attributes() -> Attributes:
    return EMPTY_ATTRIBUTES


_ZERO = timedelta(0)


def _check_time(name: str, value: datetime) -> None:
    if value.tzinfo is UTC:  # the common case, without building a timedelta
        return
    if value.tzinfo is None or value.utcoffset() != _ZERO:
        raise ValueError(f"{name} must be an aware UTC datetime, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """One fix of one device."""

    device_key: str
    protocol: str
    fix_time: datetime
    lat: float
    lon: float
    valid: bool = True
    speed_kmh: float | None = None
    course_deg: float | None = None
    altitude_m: float | None = None
    accuracy_m: float | None = None
    satellites: int | None = None
    battery_pct: float | None = None
    attributes: Attributes = field(default_factory=_no_attributes)

    def __post_init__(self) -> None:
        _check_time("fix_time", self.fix_time)
        if not (-90.0 <= self.lat <= 90.0) or math.isnan(self.lat):
            raise ValueError(f"latitude out of range: {self.lat!r}")
        if not (-180.0 <= self.lon <= 180.0) or math.isnan(self.lon):
            raise ValueError(f"longitude out of range: {self.lon!r}")
        if not self.device_key:
            raise ValueError("device_key must not be empty")

    @classmethod
    def trusted(
        cls,
        *,
        device_key: str,
        protocol: str,
        fix_time: datetime,
        lat: float,
        lon: float,
        valid: bool = True,
        speed_kmh: float | None = None,
        course_deg: float | None = None,
        altitude_m: float | None = None,
        accuracy_m: float | None = None,
        satellites: int | None = None,
        battery_pct: float | None = None,
        attributes: Attributes = EMPTY_ATTRIBUTES,
    ) -> Position:
        """A Position from values a decoder has already validated, about 6x cheaper than
        ``Position(...)`` (for the binary decoders' hot paths).

        The caller guarantees what ``__post_init__`` would check: ``fix_time`` aware UTC,
        ``lat``/``lon`` in range and not NaN (``device_key`` is still checked). The result
        is an ordinary, frozen ``Position``: equal, hashing and printing the same as one
        built the usual way.

        How: a frozen dataclass ``__init__`` calls ``object.__setattr__`` once per field.
        Instead the fields are stored into a mutable twin with the very same slot layout,
        whose ``__class__`` is then set to Position (CPython allows that between classes
        of identical layout; the field lists are compared at import below).
        """
        if not device_key:
            raise ValueError("device_key must not be empty")
        obj = _PositionSlots()
        obj.device_key = device_key
        obj.protocol = protocol
        obj.fix_time = fix_time
        obj.lat = lat
        obj.lon = lon
        obj.valid = valid
        obj.speed_kmh = speed_kmh
        obj.course_deg = course_deg
        obj.altitude_m = altitude_m
        obj.accuracy_m = accuracy_m
        obj.satellites = satellites
        obj.battery_pct = battery_pct
        obj.attributes = attributes
        obj.__class__ = cls  # type: ignore[assignment]
        return cast(Position, obj)


class _PositionSlots:
    """Storage twin of ``Position`` for ``Position.trusted``: the same slots (CPython lays
    slots out in sorted name order, so the two layouts match), mutable. Never escapes
    ``trusted``."""

    __slots__ = (
        "accuracy_m",
        "altitude_m",
        "attributes",
        "battery_pct",
        "course_deg",
        "device_key",
        "fix_time",
        "lat",
        "lon",
        "protocol",
        "satellites",
        "speed_kmh",
        "valid",
    )
    device_key: str
    protocol: str
    fix_time: datetime
    lat: float
    lon: float
    valid: bool
    speed_kmh: float | None
    course_deg: float | None
    altitude_m: float | None
    accuracy_m: float | None
    satellites: int | None
    battery_pct: float | None
    attributes: Attributes


if set(_PositionSlots.__slots__) != set(Position.__slots__):  # pragma: no cover
    raise RuntimeError("_PositionSlots must have exactly Position's fields")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceEvent:
    """Something the device reports happened: an alarm (SOS, power cut, low battery ...).

    ``kind`` is one of the names in ``ALARM_KINDS`` (or ``"other"`` with the raw code in
    ``attributes``). ``position`` is the fix the device sent with it, if any.
    """

    device_key: str
    protocol: str
    time: datetime
    kind: str
    position: Position | None = None
    attributes: Attributes = field(default_factory=_no_attributes)

    def __post_init__(self) -> None:
        _check_time("time", self.time)


#: The alarm names decoders map vendor codes onto.
ALARM_KINDS = frozenset(
    {
        "sos",
        "power_cut",
        "low_battery",
        "vibration",
        "overspeed",
        "movement",
        "geofence_enter",
        "geofence_exit",
        "fall_down",
        "tamper",
        "removing",
        "door",
        "accident",
        "low_power",
        "other",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Login:
    """The device said who it is (IMEI, phone id)."""

    device_key: str
    protocol: str
    attributes: Attributes = field(default_factory=_no_attributes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """A keep-alive, often with status (battery, signal, charging)."""

    device_key: str
    protocol: str
    attributes: Attributes = field(default_factory=_no_attributes)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    """Anything else a device reports that carries no fix: an info string, an OwnTracks
    waypoint, status or last-will, a region transition reported by the phone itself.

    ``kind`` names it (``"info"``, ``"waypoint"``, ``"lwt"``, ``"status"``, ``"transition"`` ...).
    """

    device_key: str
    protocol: str
    kind: str
    time: datetime | None = None
    attributes: Attributes = field(default_factory=_no_attributes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """Bytes to send back to the device.

    ``acks_data`` is True when the reply tells the device its data was stored (Teltonika's
    record count, a GT06 alarm reply, an HTTP 200): the gateway then holds it until the
    transaction holding every message before it in the same session has committed.
    """

    data: bytes
    acks_data: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    """A frame the session could not use, reported in order with the other messages.

    When ``error.fatal`` is True the session has failed: close the connection.
    """

    error: Exception

    @property
    def fatal(self) -> bool:
        return bool(getattr(self.error, "fatal", True))


Message: TypeAlias = Position | DeviceEvent | Login | Heartbeat | DeviceInfo | Reply | Rejected
DataMessage: TypeAlias = Position | DeviceEvent
