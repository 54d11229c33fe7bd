"""The "3G watch" protocol (SeTracker/Beesure and clones), TCP port 5093.

Source: "Beesure GPS SeTracker Server Protocol", 4P-Touch (Shenzhen Yushengchang),
https://www.4p-touch.com/beesure-gps-setracker-server-protocol.html ("PART I. Device send
command" and "Appendix I: Location Data Notes"). Every frame is
``[<vendor>*<device id>*<LEN>*<content>]``: ``vendor`` two characters (``3G``, ``CS``, ``SG``
...), ``device id`` ten digits from the IMEI (some firmwares send all 15), ``LEN`` the
content length as four hex digits ("length 162 ... is 00A2"). The content starts with the
message type: ``LK`` link keep (answered ``LK``), ``UD``/``UD2`` position/blind-spot data (no
answer), ``AL`` alarm (answered ``AL``), ``bphrt`` blood pressure/heart rate (answered
``bphrt``), ``TKQ``/``TKQ2`` offline-voice queries (echoed); ``_LTE``/``_WCDMA`` suffixes name
the network. Other types are ``UnsupportedMessage``.

Position content, after the type (Appendix I): date ddmmyy, time hhmmss (GMT), A/V,
latitude (degrees), N/S, longitude, E/W, speed km/h, course, altitude m, satellites, GSM
signal 0-100, battery %, pedometer, tumbles, status word (hex), cell count [, GSM delay,
MCC, MNC, (LAC, cell, signal) x count], Wi-Fi count [, (name, MAC, signal) x count],
accuracy m.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from . import _common as common
from ._framing import BufferedFramer
from .base import Detection, ProtocolSpec, Session, SessionState, Transport
from .errors import FrameTooLarge, Malformed, UnsupportedMessage
from .model import (
    AttributeValue,
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Message,
    Position,
    Reply,
    freeze,
)

PROTOCOL = "watch"
DEFAULT_PORT = 5093
#: Largest frame we hold. Text messages are under 1 KiB; voice/picture uploads (TK, img)
#: are larger. 16 KiB bounds memory; LEN can claim up to 64 KiB (FFFF), which is refused.
MAX_FRAME = 16 * 1024
_HEADER = re.compile(rb"\[([0-9A-Za-z]{2})\*([0-9A-Za-z]{1,20})\*([0-9A-Fa-f]{4})\*")
#: A buffer that may still grow into a header.
_PARTIAL = re.compile(
    rb"\[(?:[0-9A-Za-z]{0,2}|[0-9A-Za-z]{2}\*[0-9A-Za-z]{0,20}"
    rb"|[0-9A-Za-z]{2}\*[0-9A-Za-z]{1,20}\*[0-9A-Fa-f]{0,4})"
)
OPEN, CLOSE = ord("["), ord("]")
HEX = 16

#: Status word bits (Appendix I, "Device status": high 16 bits alarms, low 16 states).
LOW_BATTERY_STATE = 1 << 0  #: low battery state
OUT_OF_FENCE_STATE = 1 << 1  #: out of fence state
IN_FENCE_STATE = 1 << 2  #: enter the fence state
WATCH_STATE = 1 << 3  #: watch state (worn)
STATIC_STATE = 1 << 4  #: device no moving state
ALARM_BITS: dict[int, str] = {
    1 << 16: "sos",  #: SOS alarm
    1 << 17: "low_battery",  #: low battery alarm
    1 << 18: "geofence_exit",  #: out fence alarm
    1 << 19: "geofence_enter",  #: into the fence alarm
    1 << 20: "removing",  #: remove the watch alarm
    1 << 21: "fall_down",  #: fall down alarm
    1 << 22: "other",  #: abnormal heart rate alarm
}
HEART_RATE_ALARM = 1 << 22
#: ``bphrt`` upload ("III. Heart Rate and Blood Pressure protocol", 3): values, 0 = invalid.
HEALTH_FIELDS = ("systolic_mmhg", "diastolic_mmhg", "heart_rate_bpm", "height_cm", "gender",
                 "age", "weight_kg")  # fmt: skip
#: Offline voice requests ("26. Device checking the offline voice message"): echoed back.
VOICE_QUERIES = frozenset({"TKQ", "TKQ2"})


class Field:
    """Indexes into the comma-split content of UD/UD2/AL (index 0 is the type)."""

    DATE, TIME, VALIDITY, LAT, LAT_HEMI, LON, LON_HEMI = 1, 2, 3, 4, 5, 6, 7
    SPEED, COURSE, ALTITUDE, SATELLITES, GSM, BATTERY, STEPS, TUMBLES, STATUS = range(8, 17)
    CELL_COUNT = 17  #: then GSM delay, MCC, MNC and (LAC, cell, signal) per cell
    CELL_HEAD = 3  #: GSM delay, MCC, MNC
    CELL_ITEM = 3  #: LAC, cell id, signal
    WIFI_ITEM = 3  #: name, MAC, signal


class WatchFramer(BufferedFramer[bytearray]):
    """``[`` .. ``]`` frames delimited by their hex LEN; garbage before ``[`` is skipped."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(bytearray())

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while self._buf:
            start = self._buf.find(OPEN)
            if start < 0:
                self._drop(len(self._buf))
                break
            self._drop(start)
            header = _HEADER.match(self._buf)
            if header is None:
                if _PARTIAL.fullmatch(self._buf):
                    break  # a header still arriving
                self._drop(1)
                continue
            end = header.end() + int(header.group(3), HEX)
            if end + 1 > MAX_FRAME:
                raise FrameTooLarge(
                    f"frame of {end + 1} bytes", protocol=PROTOCOL, data=bytes(self._buf)
                )
            if len(self._buf) <= end:
                break  # content still arriving
            if self._buf[end] != CLOSE:
                self._drop(1)  # LEN does not land on "]": not a frame, resync
                continue
            frames.append(bytes(self._buf[: end + 1]))
            del self._buf[: end + 1]
        return frames

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self._skipped += count




def encode_reply(vendor: str, device_id: str, content: str) -> bytes:
    """``[vendor*id*LEN*content]`` with LEN the content length in four hex digits."""
    return f"[{vendor}*{device_id}*{len(content):04X}*{content}]".encode("ascii")


def _fix_time(date: str, clock: str) -> datetime:
    try:
        return datetime.strptime(date + clock, "%d%m%y%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise Malformed(f"bad date/time: {date!r} {clock!r}", protocol=PROTOCOL) from None


def _number(fields: list[str], index: int, what: str) -> float | None:
    return common.optional_float(fields[index], what, PROTOCOL)


def _count(fields: list[str], index: int, what: str) -> int | None:
    text = fields[index].strip()
    return None if not text else common.parse_int(text, what, PROTOCOL)


def _at(fields: list[str], index: int) -> str:
    if index >= len(fields):
        raise Malformed(f"field {index} missing", protocol=PROTOCOL)
    return fields[index]


def _tail(fields: list[str], out: dict[str, AttributeValue]) -> None:
    """Cells, Wi-Fi and the trailing accuracy; raises ``Malformed`` if they do not add up."""
    index = Field.CELL_COUNT
    cells = common.parse_int(_at(fields, index), "cell count", PROTOCOL)
    index += 1
    if cells > 0:
        out["mcc"] = common.parse_int(_at(fields, index + 1), "MCC", PROTOCOL)
        out["mnc"] = common.parse_int(_at(fields, index + 2), "MNC", PROTOCOL)
        index += Field.CELL_HEAD + cells * Field.CELL_ITEM
    out["cells"] = cells
    wifi = common.parse_int(_at(fields, index), "Wi-Fi count", PROTOCOL)
    out["wifi"] = wifi
    index += 1 + wifi * Field.WIFI_ITEM
    if index < len(fields):
        out["accuracy"] = common.parse_float(fields[index], "accuracy", PROTOCOL)


def _position(device_id: str, fields: list[str]) -> Position:
    if len(fields) <= Field.STATUS:
        raise Malformed(f"position of {len(fields)} fields", protocol=PROTOCOL)
    validity = fields[Field.VALIDITY]
    if validity not in ("A", "V"):
        raise Malformed(f"bad validity: {validity!r}", protocol=PROTOCOL)
    lat = common.parse_float(fields[Field.LAT], "latitude", PROTOCOL)
    lon = common.parse_float(fields[Field.LON], "longitude", PROTOCOL)
    lat = -lat if fields[Field.LAT_HEMI] == "S" else lat
    lon = -lon if fields[Field.LON_HEMI] == "W" else lon
    common.check_lat_lon(lat, lon, PROTOCOL)
    status = common.parse_int(fields[Field.STATUS], "status", PROTOCOL, base=HEX)
    attributes: dict[str, AttributeValue] = {
        "status": fields[Field.STATUS],
        "gsm_signal": _count(fields, Field.GSM, "GSM signal"),
        "steps": _count(fields, Field.STEPS, "steps"),
        "tumbles": _count(fields, Field.TUMBLES, "tumbles"),
        "low_battery": bool(status & LOW_BATTERY_STATE),
        "worn": bool(status & WATCH_STATE),
        "motion": not status & STATIC_STATE,
    }
    tail: dict[str, AttributeValue] = {}
    try:
        _tail(fields, tail)
    except Malformed:  # free-text Wi-Fi names may contain commas
        tail = {"tail_unparsed": True}
    accuracy = tail.pop("accuracy", None)
    attributes.update(tail)
    return Position(
        device_key=device_id,
        protocol=PROTOCOL,
        fix_time=_fix_time(fields[Field.DATE], fields[Field.TIME]),
        lat=lat,
        lon=lon,
        valid=validity == "A",
        speed_kmh=_number(fields, Field.SPEED, "speed"),
        course_deg=_number(fields, Field.COURSE, "course"),
        altitude_m=_number(fields, Field.ALTITUDE, "altitude"),
        accuracy_m=common.positive_or_none(accuracy if isinstance(accuracy, float) else None),
        satellites=_count(fields, Field.SATELLITES, "satellites"),
        battery_pct=_number(fields, Field.BATTERY, "battery"),
        attributes=freeze(attributes),
    )


def _alarms(device_id: str, position: Position, status_text: str) -> list[Message]:
    status = int(status_text, HEX)
    kinds = [(bit, kind) for bit, kind in ALARM_BITS.items() if status & bit] or [(0, "other")]
    events: list[Message] = []
    for bit, kind in kinds:
        attributes: dict[str, AttributeValue] = {"status": status_text}
        if bit == HEART_RATE_ALARM:
            attributes["code"] = "heart_rate"
        events.append(
            DeviceEvent(
                device_key=device_id,
                protocol=PROTOCOL,
                time=position.fix_time,
                kind=kind,
                position=position,
                attributes=freeze(attributes),
            )
        )
    return events


def _health(device_id: str, fields: list[str]) -> DeviceInfo:
    attributes: dict[str, AttributeValue] = {}
    for index, name in enumerate(HEALTH_FIELDS, start=1):
        value = _count(fields, index, name) if index < len(fields) else None
        if value:  # 0 and empty mean "not measured"
            attributes[name] = value
    return DeviceInfo(
        device_key=device_id, protocol=PROTOCOL, kind="health", attributes=freeze(attributes)
    )


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    header = _HEADER.match(frame)
    if header is None:
        raise Malformed("bad header", protocol=PROTOCOL, data=frame)
    vendor, device_id = header.group(1).decode(), header.group(2).decode()
    state.device_key = device_id
    content = frame[header.end() : -1]
    kind = content.split(b",", 1)[0].decode("ascii", "replace")
    base = kind.split("_", 1)[0]
    if kind in VOICE_QUERIES:
        return [Reply(data=encode_reply(vendor, device_id, kind))]
    if base not in ("LK", "UD", "UD2", "AL", "bphrt"):
        raise UnsupportedMessage(f"message type {kind!r}", protocol=PROTOCOL, data=frame)
    fields = common.ascii_text(content, PROTOCOL).split(",")
    try:
        if base == "LK":
            attributes: dict[str, AttributeValue] = {}
            for index, name in enumerate(("steps", "tumbles", "battery_pct"), start=1):
                if index < len(fields) and fields[index]:
                    attributes[name] = _count(fields, index, name)
            heartbeat = Heartbeat(
                device_key=device_id, protocol=PROTOCOL, attributes=freeze(attributes)
            )
            return [heartbeat, Reply(data=encode_reply(vendor, device_id, "LK"))]
        if base == "bphrt":
            return [_health(device_id, fields), Reply(data=encode_reply(vendor, device_id, base))]
        position = _position(device_id, fields)
        if base == "AL":
            reply = Reply(data=encode_reply(vendor, device_id, "AL"), acks_data=True)
            return [*_alarms(device_id, position, fields[Field.STATUS]), reply]
        return [position]
    except Malformed as exc:
        raise Malformed(exc.message, protocol=PROTOCOL, data=frame) from None


def detect(first: bytes) -> Detection:
    """``[`` + two-character vendor + ``*`` + device id + ``*``."""
    if not first:
        return Detection.MORE
    if _HEADER.match(first) or re.match(rb"\[[0-9A-Za-z]{2}\*[0-9A-Za-z]{1,20}\*", first):
        return Detection.YES
    return Detection.MORE if _PARTIAL.fullmatch(first) else Detection.NO


def new_session(transport: Transport, device_key: str | None = None) -> Session:
    state = SessionState(transport=transport, device_key=device_key)
    return Session(PROTOCOL, WatchFramer(), decode_frame, state)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=DEFAULT_PORT,
    transports=frozenset({"tcp"}),
    new_session=new_session,
    detect=detect,
)
