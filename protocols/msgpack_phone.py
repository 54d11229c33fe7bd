"""trackgw's own compact phone format: a batch of fixes in one MessagePack map.

Schema version 1 (the full table is in docs/protocols.md, "msgpack")::

    {"v": 1, "d": "<device id, optional>", "t": <base time, ms since 1970 UTC>,
     "f": [[dt_ms, lat_e7, lon_e7, acc_dm, alt_dm, spd_cms, crs_cdeg, batt_pct, flags], ...]}

Each fix is a positional array: the first three elements are required, the rest may be
``nil`` (unknown) or left off the end. Integers in fixed units keep a fix near 25 bytes.
Version rules: a missing or non-integer ``v`` (or below 1) is ``Malformed``; a higher ``v``
is ``UnsupportedMessage`` (a newer app: not an error of the data); unknown top-level keys
and elements past ``flags`` are ignored, so version 1 can grow compatibly.

Identity: the session's preset device key (MQTT topic, HTTP credentials) wins; ``d`` is
used only without one, and a ``d`` naming another device is ``Malformed``.
Replies: none over MQTT (the PUBACK, sent after commit, is the ack); over HTTP an empty
200 body with ``acks_data=True``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgpack

from .base import ProtocolSpec, Session, SessionState, SingleFrame, Transport
from .errors import Malformed, NotIdentified, UnsupportedMessage
from .model import AttributeValue, Message, Position, Reply, freeze

PROTOCOL = "msgpack_phone"
VERSION = 1
#: Largest message and batch accepted (1000 fixes of ~25 bytes fit easily).
MAX_MESSAGE = 64 * 1024
MAX_FIXES = 1000
MAX_DEVICE_ID = 64
E7 = 10_000_000  #: lat/lon unit: 1e-7 degree (about 1 cm)
MAX_LAT_E7 = 90 * E7
MAX_LON_E7 = 180 * E7
DM_PER_M = 10  #: accuracy/altitude unit: decimetre
KMH_PER_CMS = 0.036  #: speed unit: cm/s
CDEG_PER_DEG = 100  #: course unit: 1/100 degree
FULL_CIRCLE_CDEG = 36_000
MAX_PERCENT = 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HTTP_ACK = Reply(data=b"", acks_data=True)


class Col(enum.IntEnum):
    """Positions in a fix array (docs/protocols.md, "msgpack")."""

    DT = 0  #: uint, ms after the message's ``t`` (required)
    LAT = 1  #: int, latitude in 1e-7 degree (required)
    LON = 2  #: int, longitude in 1e-7 degree (required)
    ACC = 3  #: uint, horizontal accuracy in dm; 0 or nil = unknown
    ALT = 4  #: int, altitude in dm
    SPD = 5  #: uint, speed in cm/s
    CRS = 6  #: uint, course 0..35999 in 1/100 degree
    BATT = 7  #: uint, battery 0..100 %
    FLAGS = 8  #: uint bit field, see ``Flag``


class Flag(enum.IntFlag):
    CHARGING = 1  #: bit 0: the phone is charging
    MOVING = 2  #: bit 1: the phone's motion detector says it is moving


REQUIRED = Col.LON + 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Fix:
    """One fix to encode, in the model's units (the encoder quantises them)."""

    time: datetime
    lat: float
    lon: float
    accuracy_m: float | None = None
    altitude_m: float | None = None
    speed_kmh: float | None = None
    course_deg: float | None = None
    battery_pct: int | None = None
    charging: bool | None = None
    moving: bool | None = None


def _ms(when: datetime) -> int:
    return (when - EPOCH) // timedelta(milliseconds=1)


def _row(fix: Fix, base_ms: int) -> list[int | None]:
    flags: int | None = None
    if fix.charging is not None or fix.moving is not None:
        flags = (Flag.CHARGING if fix.charging else 0) | (Flag.MOVING if fix.moving else 0)
    row: list[int | None] = [
        _ms(fix.time) - base_ms,
        round(fix.lat * E7),
        round(fix.lon * E7),
        None if fix.accuracy_m is None else round(fix.accuracy_m * DM_PER_M),
        None if fix.altitude_m is None else round(fix.altitude_m * DM_PER_M),
        None if fix.speed_kmh is None else round(fix.speed_kmh / KMH_PER_CMS),
        None if fix.course_deg is None else round(fix.course_deg * CDEG_PER_DEG) % FULL_CIRCLE_CDEG,
        fix.battery_pct,
        flags,
    ]
    while len(row) > REQUIRED and row[-1] is None:
        row.pop()
    return row


def encode_batch(fixes: Sequence[Fix], *, device_id: str | None = None) -> bytes:
    """A version-1 message holding ``fixes`` (times relative to the earliest)."""
    base_ms = min((_ms(fix.time) for fix in fixes), default=0)
    message: dict[str, object] = {"v": VERSION}
    if device_id is not None:
        message["d"] = device_id
    message["t"] = base_ms
    message["f"] = [_row(fix, base_ms) for fix in fixes]
    packed: bytes = msgpack.packb(message, use_bin_type=True)
    return packed


def _int(
    row: Sequence[object], col: Col, low: int | None = None, high: int | None = None
) -> int | None:
    value = row[col] if col < len(row) else None
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(f"{col.name.lower()} is not an integer: {value!r}", protocol=PROTOCOL)
    if (low is not None and value < low) or (high is not None and value > high):
        raise Malformed(f"{col.name.lower()} out of range: {value!r}", protocol=PROTOCOL)
    return value


def _required(row: Sequence[object], col: Col, low: int, high: int | None) -> int:
    value = _int(row, col, low, high)
    if value is None:
        raise Malformed(f"fix without {col.name.lower()}", protocol=PROTOCOL)
    return value


def _position(device: str, base_ms: int, row: object) -> Position:
    if not isinstance(row, list | tuple):
        raise Malformed(f"fix is not an array: {row!r}", protocol=PROTOCOL)
    dt = _required(row, Col.DT, 0, None)
    lat = _required(row, Col.LAT, -MAX_LAT_E7, MAX_LAT_E7)
    lon = _required(row, Col.LON, -MAX_LON_E7, MAX_LON_E7)
    acc, alt = _int(row, Col.ACC, 0), _int(row, Col.ALT)
    speed, course = _int(row, Col.SPD, 0), _int(row, Col.CRS, 0, FULL_CIRCLE_CDEG - 1)
    flags = _int(row, Col.FLAGS, 0)
    attributes: dict[str, AttributeValue] = {}
    if flags is not None:
        attributes["charge"] = bool(flags & Flag.CHARGING)
        attributes["motion"] = bool(flags & Flag.MOVING)
    try:
        fix_time = EPOCH + timedelta(milliseconds=base_ms + dt)
    except OverflowError:
        raise Malformed(f"time out of range: {base_ms} + {dt}", protocol=PROTOCOL) from None
    battery = _int(row, Col.BATT, 0, MAX_PERCENT)
    return Position(
        device_key=device,
        protocol=PROTOCOL,
        fix_time=fix_time,
        lat=lat / E7,
        lon=lon / E7,
        accuracy_m=acc / DM_PER_M if acc else None,
        altitude_m=None if alt is None else alt / DM_PER_M,
        speed_kmh=None if speed is None else speed * KMH_PER_CMS,
        course_deg=None if course is None else course / CDEG_PER_DEG,
        battery_pct=None if battery is None else float(battery),
        attributes=freeze(attributes),
    )


def _unpack(frame: bytes) -> Mapping[str, object]:
    try:
        message = msgpack.unpackb(
            frame, raw=False, strict_map_key=True, max_array_len=MAX_FIXES * 16
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise Malformed(f"invalid MessagePack: {exc}", protocol=PROTOCOL, data=frame) from None
    if not isinstance(message, Mapping):
        raise Malformed("message is not a map", protocol=PROTOCOL, data=frame)
    return message


def _device(message: Mapping[str, object], state: SessionState) -> str:
    claimed = message.get("d")
    if claimed is not None and (not isinstance(claimed, str) or len(claimed) > MAX_DEVICE_ID):
        raise Malformed(f"bad device id: {claimed!r}", protocol=PROTOCOL)
    if state.device_key:
        if claimed and claimed != state.device_key:
            raise Malformed("device id does not match the session's device", protocol=PROTOCOL)
        return state.device_key
    if not claimed:
        raise NotIdentified("no device id and no preset device key", protocol=PROTOCOL)
    return claimed


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """One message -> its positions (plus the HTTP ack over HTTP)."""
    message = _unpack(frame)
    version = message.get("v")
    if not isinstance(version, int) or isinstance(version, bool) or version < VERSION:
        raise Malformed(f"bad version: {version!r}", protocol=PROTOCOL, data=frame)
    if version > VERSION:
        raise UnsupportedMessage(f"schema version {version}", protocol=PROTOCOL, data=frame)
    base_ms, fixes = message.get("t"), message.get("f")
    if not isinstance(base_ms, int) or isinstance(base_ms, bool) or not isinstance(fixes, list):
        raise Malformed('"t" or "f" missing or of the wrong type', protocol=PROTOCOL, data=frame)
    if len(fixes) > MAX_FIXES:
        raise Malformed(f"{len(fixes)} fixes in one message", protocol=PROTOCOL, data=frame)
    try:
        device = _device(message, state)
        out: list[Message] = [_position(device, base_ms, row) for row in fixes]
    except (Malformed, NotIdentified) as exc:
        raise type(exc)(exc.message, protocol=PROTOCOL, data=frame) from None
    state.device_key = device
    if state.transport == "http":
        out.append(HTTP_ACK)
    return out


def new_session(transport: Transport, device_key: str | None = None) -> Session:
    state = SessionState(transport=transport, device_key=device_key)
    return Session(PROTOCOL, SingleFrame(PROTOCOL, MAX_MESSAGE), decode_frame, state)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=None,
    transports=frozenset({"mqtt", "http"}),
    new_session=new_session,
    kind="phone",
    mqtt_topic="trackgw/phones/+/+",
    aliases=("msgpack",),
)
