"""The normalized message model every decoder produces.

Units are fixed: degrees WGS84, km/h, degrees clockwise from true north, metres, percent.
``None`` means unknown, never 0. Times are aware UTC datetimes.

Every constructor checks what the store could not hold, so that no decoder can hand the
writer a value that fails its transaction (see ``docs/limits.md``): numbers finite and within
the column's type (``real``, ``smallint``), text without NUL and encodable as UTF-8, device
keys printable and bounded, attributes bounded in count and size. A failing value raises
``BadValue`` (a ``Malformed``) naming the field, so the session rejects just that frame.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TypeAlias, cast

from .errors import BadValue

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

#: the largest finite value of PostgreSQL ``real`` (IEEE single): speed, course, altitude ...
REAL_MAX = 3.4028234663852886e38
_REAL_MIN = -REAL_MAX
#: ``smallint``: satellites
SMALLINT_MAX = 32767
#: attribute integers: what a 64-bit unsigned counter can hold, and the most negative int8
ATTRIBUTE_INT_MIN = -(2**63)
ATTRIBUTE_INT_MAX = 2**64 - 1
#: attributes per message; characters per attribute name and per text value
MAX_ATTRIBUTES = 256
MAX_ATTRIBUTE_NAME = 128
MAX_ATTRIBUTE_TEXT = 4096
#: characters of a device key (IMEIs are 15, phone keys "<user>/<device>")
MAX_DEVICE_KEY = 128


#: the last device key that passed: a session sends many frames under one key, so the check
#: usually ends at one string comparison
_last_key = ""


def _check_time(name: str, value: datetime, protocol: str) -> None:
    if value.tzinfo is UTC:  # the common case, without building a timedelta
        return
    if value.tzinfo is None or value.utcoffset() != _ZERO:
        raise BadValue(f"{name} must be an aware UTC datetime, got {value!r}", protocol=protocol)


def _utf8(text: str) -> bool:
    """True when ``text`` encodes as UTF-8 (no lone surrogates, which JSON escapes allow)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def check_device_key(key: object, protocol: str) -> None:
    """A device key is non-empty printable text of at most ``MAX_DEVICE_KEY`` characters
    (``isprintable`` refuses NUL, control characters and lone surrogates in one C call)."""
    if type(key) is not str or not key:
        raise BadValue("device_key must not be empty", protocol=protocol)
    if len(key) > MAX_DEVICE_KEY or not key.isprintable():
        raise BadValue(f"bad device_key: {key[:40]!r}", protocol=protocol)


def check_text(name: str, value: object, protocol: str, limit: int = MAX_ATTRIBUTE_TEXT) -> None:
    """Text the store can hold: a ``str`` without NUL, encodable as UTF-8, bounded."""
    if type(value) is not str:
        raise BadValue(f"{name} must be text, got {type(value).__name__}", protocol=protocol)
    if len(value) > limit:
        raise BadValue(f"{name} longer than {limit} characters", protocol=protocol)
    if "\x00" in value or (not value.isascii() and not _utf8(value)):
        raise BadValue(
            f"{name} contains NUL or unencodable text: {value[:40]!r}", protocol=protocol
        )


def check_real(name: str, value: float | None, protocol: str) -> None:
    """``None`` or a finite number within PostgreSQL ``real`` (the comparison is False for
    NaN, so one test refuses NaN, the infinities and overflow)."""
    if value is not None and not -REAL_MAX <= value <= REAL_MAX:
        raise BadValue(f"{name} is not a storable number: {value!r}", protocol=protocol)


def check_smallint(name: str, value: int | None, protocol: str) -> None:
    """``None`` or an ``int`` in 0..32767 (a count: ``smallint``, never negative)."""
    if value is not None and (type(value) is not int or not 0 <= value <= SMALLINT_MAX):
        raise BadValue(f"{name} out of range 0..{SMALLINT_MAX}: {value!r}", protocol=protocol)


#: attribute names that passed, remembered up to a bound (JSON keys are the peer's to choose)
_GOOD_NAMES: set[str] = set()
_GOOD_NAMES_MAX = 4096


def check_attributes(attributes: Attributes, protocol: str) -> None:
    """At most ``MAX_ATTRIBUTES`` entries; names and text values without NUL, encodable and
    bounded; floats finite; integers within ``ATTRIBUTE_INT_MIN..MAX``; nothing but the
    ``AttributeValue`` scalars. (No calls on the good path: it is on every decode.)"""
    if not attributes:
        return
    if len(attributes) > MAX_ATTRIBUTES:
        raise BadValue(
            f"{len(attributes)} attributes, more than {MAX_ATTRIBUTES}", protocol=protocol
        )
    known = _GOOD_NAMES
    for name, value in attributes.items():
        if name not in known:  # decoders use a few dozen names: usually one set lookup
            if (
                type(name) is not str
                or len(name) > MAX_ATTRIBUTE_NAME
                or "\x00" in name
                or (not name.isascii() and not _utf8(name))
            ):
                raise BadValue(f"bad attribute name: {str(name)[:40]!r}", protocol=protocol)
            if len(known) < _GOOD_NAMES_MAX:
                known.add(name)
        kind = type(value)
        if kind is str:
            if (
                len(value) > MAX_ATTRIBUTE_TEXT  # type: ignore[arg-type]
                or "\x00" in value  # type: ignore[operator]
                or (not value.isascii() and not _utf8(value))  # type: ignore[union-attr,arg-type]
            ):
                check_text(f"attribute {name!r}", value, protocol)  # raises, saying why
        elif kind is float:
            if not -math.inf < value < math.inf:  # type: ignore[operator]
                raise BadValue(f"attribute {name!r} is not finite: {value!r}", protocol=protocol)
        elif kind is int:
            if not ATTRIBUTE_INT_MIN <= value <= ATTRIBUTE_INT_MAX:  # type: ignore[operator]
                raise BadValue(f"attribute {name!r} out of range: {value!r}", protocol=protocol)
        elif value is not None and kind is not bool:
            raise BadValue(
                f"attribute {name!r} has unsupported type {kind.__name__}", protocol=protocol
            )


def _check_fields(
    protocol: str,
    speed_kmh: float | None,
    course_deg: float | None,
    altitude_m: float | None,
    accuracy_m: float | None,
    satellites: int | None,
    battery_pct: float | None,
) -> None:
    """Raise for the first optional field the store cannot hold (called once a cheap
    combined test has failed)."""
    check_real("speed_kmh", speed_kmh, protocol)
    check_real("course_deg", course_deg, protocol)
    check_real("altitude_m", altitude_m, protocol)
    check_real("accuracy_m", accuracy_m, protocol)
    check_real("battery_pct", battery_pct, protocol)
    check_smallint("satellites", satellites, protocol)


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
        global _last_key
        protocol, key = self.protocol, self.device_key
        if key != _last_key:
            if not (type(key) is str and key.isprintable() and 0 < len(key) <= MAX_DEVICE_KEY):
                check_device_key(key, protocol)  # raises, naming the problem
            _last_key = key
        _check_time("fix_time", self.fix_time, protocol)
        if not (-90.0 <= self.lat <= 90.0):  # False for NaN too
            raise BadValue(f"latitude out of range: {self.lat!r}", protocol=protocol)
        if not (-180.0 <= self.lon <= 180.0):
            raise BadValue(f"longitude out of range: {self.lon!r}", protocol=protocol)
        lo, hi = _REAL_MIN, REAL_MAX
        speed, course, altitude = self.speed_kmh, self.course_deg, self.altitude_m
        accuracy, battery, satellites = self.accuracy_m, self.battery_pct, self.satellites
        if not (
            (speed is None or lo <= speed <= hi)
            and (course is None or lo <= course <= hi)
            and (altitude is None or lo <= altitude <= hi)
            and (accuracy is None or lo <= accuracy <= hi)
            and (battery is None or lo <= battery <= hi)
            and (satellites is None or (type(satellites) is int and 0 <= satellites <= 32767))
        ):  # the named checks, only to raise
            _check_fields(protocol, speed, course, altitude, accuracy, satellites, battery)
        if self.attributes:
            check_attributes(self.attributes, protocol)

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

        The caller guarantees ``fix_time`` aware UTC, ``lat``/``lon`` in range and not NaN,
        the optional float fields computed from fixed-width integer fields (so finite and
        within ``real``), and ``attributes`` built only from fixed-width binary fields under
        names of its own (integers, booleans, hex text: what ``check_attributes`` passes).
        A decoder that has device text or IEEE floats for these uses ``Position(...)``;
        tests/property/test_protocol_fuzz.py checks every message the binary decoders make
        from arbitrary and mutated bytes against the full rule. What a fixed width does not
        bound is still checked here: the device key and ``satellites`` (a 16-bit count can
        exceed ``smallint``). The result
        is an ordinary, frozen ``Position``: equal, hashing and printing the same as one
        built the usual way.

        How: a frozen dataclass ``__init__`` calls ``object.__setattr__`` once per field.
        Instead the fields are stored into a mutable twin with the very same slot layout,
        whose ``__class__`` is then set to Position (CPython allows that between classes
        of identical layout; the field lists are compared at import below).
        """
        global _last_key
        if device_key != _last_key:
            key_ok = type(device_key) is str and device_key.isprintable()
            if not key_ok or not 0 < len(device_key) <= MAX_DEVICE_KEY:
                check_device_key(device_key, protocol)  # raises, naming the problem
            _last_key = device_key
        if satellites is not None and not (type(satellites) is int and 0 <= satellites <= 32767):
            check_smallint("satellites", satellites, protocol)  # raises
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
        protocol = self.protocol
        check_device_key(self.device_key, protocol)
        _check_time("time", self.time, protocol)
        check_text("kind", self.kind, protocol, MAX_ATTRIBUTE_NAME)
        check_attributes(self.attributes, protocol)


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

    def __post_init__(self) -> None:
        check_device_key(self.device_key, self.protocol)
        check_attributes(self.attributes, self.protocol)


@dataclass(frozen=True, slots=True, kw_only=True)
class Heartbeat:
    """A keep-alive, often with status (battery, signal, charging)."""

    device_key: str
    protocol: str
    attributes: Attributes = field(default_factory=_no_attributes)

    def __post_init__(self) -> None:
        check_device_key(self.device_key, self.protocol)
        check_attributes(self.attributes, self.protocol)


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

    def __post_init__(self) -> None:
        protocol = self.protocol
        check_device_key(self.device_key, protocol)
        if self.time is not None:
            _check_time("time", self.time, protocol)
        check_text("kind", self.kind, protocol, MAX_ATTRIBUTE_NAME)
        check_attributes(self.attributes, protocol)


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
