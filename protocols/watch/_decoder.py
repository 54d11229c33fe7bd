"""The "3G watch" protocol (SeTracker/Beesure and clones), TCP port 5093: frame decoding.

Source: "Beesure GPS SeTracker Server Protocol", 4P-Touch (Shenzhen Yushengchang),
https://www.4p-touch.com/beesure-gps-setracker-server-protocol.html ("PART I. Device send
command" and "Appendix I: Location Data Notes"). Every frame is
``[<vendor>*<device id>*<LEN>*<content>]``: ``vendor`` two characters (``3G``, ``CS``, ``SG``
...), ``device id`` ten digits from the IMEI (some firmwares send all 15), ``LEN`` the
content length as four hex digits ("length 162 ... is 00A2"). The content starts with the
message type: ``LK`` link keep (answered ``LK``), ``UD``/``UD2`` position/blind-spot data (no
answer), ``AL`` alarm (answered ``AL``), ``CONFIG`` (answered ``CONFIG,1``), ``bphrt`` blood
pressure/heart rate (answered ``bphrt``), ``btemp2,<mode>,<°C>`` body temperature (answered
``btemp2``; mode 0 forehead, 1 wrist; 0 and 1 as the temperature mean an abnormal low/high
measurement: "VI. Body Temperature Measure", 2025 revision of the page), ``TKQ``/``TKQ2``
offline-voice queries (echoed); ``_LTE``/``_WCDMA`` suffixes name the network. Further types
and replies (layouts as real devices send them; captures named in the tests and
``docs/protocols.md``): ``UD3``/``WT`` (the UD layout), ``INIT`` (answered ``INIT,1``),
``CCID`` (SIM), ``heart``/``pulse`` (heart rate), ``blood`` (like ``bphrt``), health types in
any case (``BPHRT``, traccar/traccar#4395), ``TK,<AMR audio>`` voice messages (answered
``TK,1``; the audio is escaped: 0x7D 0x01..0x05 stand for 0x7D ``[`` ``]`` ``,`` ``*``) and
the device's echo of a server command (``CR``, ``UPLOAD``, ``RESET``, ``FIND`` ...). Other
types (``oxygen``, ``img``, ``JXTK``, ``GS1`` ...) are ``UnsupportedMessage``.

A position whose validity is ``V`` and whose coordinates are both exactly 0 is a Wi-Fi/LBS
report, not a fix: it becomes ``DeviceInfo(kind="no_fix")`` with the cell and Wi-Fi counts
(an ``AL`` of that kind is a ``DeviceEvent`` without position). A ``V`` report with other
coordinates (the device's last fix) is a ``Position(valid=False)``.

Position content, after the type (Appendix I): date ddmmyy, time hhmmss (GMT), A/V,
latitude (degrees), N/S (or empty, traccar/traccar#5062), longitude, E/W (or empty), speed
km/h, course, altitude m, satellites, GSM signal 0-100, battery %, pedometer, tumbles, status
word (hex), cell count [, GSM delay, MCC, MNC, (LAC, cell, signal) x count], Wi-Fi count [,
(name, MAC, signal) x count], accuracy m.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from protocols import _common as common
from protocols.base import Detection, SessionState
from protocols.errors import Malformed, UnsupportedMessage
from protocols.model import (
    AttributeValue,
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Message,
    Position,
    Reply,
    check_attributes,
    freeze,
)

from ._framer import HEADER, PARTIAL

PROTOCOL = "watch"
DEFAULT_PORT = 5093
HEX = 16
_ID_PREFIX = re.compile(rb"\[[0-9A-Za-z]{2}\*[0-9A-Za-z]{1,20}\*")
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


def encode_reply(vendor: str, device_id: str, content: str, index: str | None = None) -> bytes:
    """``[vendor*id*[index*]LEN*content]`` with LEN the content length in four hex digits."""
    head = f"[{vendor}*{device_id}*" + (f"{index}*" if index else "")
    return f"{head}{len(content):04X}*{content}]".encode("ascii")


#: two-digit years below this are 20xx, the others 19xx (as ``strptime``'s ``%y``)
PIVOT_YEAR = 69


def _fix_time(date: str, clock: str) -> datetime:
    """``ddmmyy`` and ``hhmmss`` as aware UTC (sliced, not ``strptime``: the hot path)."""
    if not (len(date) == 6 and len(clock) == 6 and date.isdigit() and clock.isdigit()):
        raise Malformed(f"bad date/time: {date!r} {clock!r}", protocol=PROTOCOL)
    yy = int(date[4:6])
    try:
        return datetime(
            (2000 if yy < PIVOT_YEAR else 1900) + yy,
            int(date[2:4]),
            int(date[0:2]),
            int(clock[0:2]),
            int(clock[2:4]),
            int(clock[4:6]),
            tzinfo=UTC,
        )
    except ValueError:
        raise Malformed(f"bad date/time: {date!r} {clock!r}", protocol=PROTOCOL) from None


def _number(fields: list[str], index: int, what: str) -> float | None:
    return common.optional_float(fields[index], what, PROTOCOL)


#: largest counts accepted (issue 9: a 20-digit satellite count must not reach the store)
MAX_SMALL = 255
MAX_COUNTER = 2_000_000_000
MAX_DIGITS = 10


def _count(fields: list[str], index: int, what: str, limit: int = MAX_COUNTER) -> int | None:
    text = fields[index]
    if not text:
        return None
    if text.isdigit() and len(text) < MAX_DIGITS:  # the common case, no sign or blanks
        value = int(text)
    else:
        value = common.parse_int(text.strip(), what, PROTOCOL)
    if not 0 <= value <= limit:
        raise Malformed(f"{what} out of range: {text!r}", protocol=PROTOCOL)
    return value


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
    elif index < len(fields) and index + 1 < len(fields):
        index += 1  # the GSM delay is sent even without cells (traccar/traccar#5015)
    out["cells"] = cells
    if index >= len(fields):
        return
    wifi = common.parse_int(_at(fields, index), "Wi-Fi count", PROTOCOL)
    out["wifi"] = wifi
    index += 1 + wifi * Field.WIFI_ITEM
    if index < len(fields):
        out["accuracy"] = common.parse_float(fields[index], "accuracy", PROTOCOL)


def _degrees(text: str, hemisphere: str, allowed: tuple[str, ...], what: str) -> float:
    if hemisphere not in allowed:
        raise Malformed(f"bad {what} hemisphere: {hemisphere!r}", protocol=PROTOCOL)
    value = common.parse_float(text, what, PROTOCOL)
    return -abs(value) if hemisphere in ("S", "W") else value


def _position(device_id: str, fields: list[str]) -> Position | DeviceInfo:
    """A fix, or the ``no_fix`` report of a ``V`` position at exactly 0, 0."""
    if len(fields) <= Field.STATUS:
        raise Malformed(f"position of {len(fields)} fields", protocol=PROTOCOL)
    validity = fields[Field.VALIDITY]
    if validity not in ("A", "V"):
        raise Malformed(f"bad validity: {validity!r}", protocol=PROTOCOL)
    fix_time = _fix_time(fields[Field.DATE], fields[Field.TIME])
    lat = _degrees(fields[Field.LAT], fields[Field.LAT_HEMI], ("N", "S", ""), "latitude")
    lon = _degrees(fields[Field.LON], fields[Field.LON_HEMI], ("E", "W", ""), "longitude")
    common.check_lat_lon(lat, lon, PROTOCOL)
    status = common.parse_int(fields[Field.STATUS], "status", PROTOCOL, base=HEX)
    attributes: dict[str, AttributeValue] = {
        "status": fields[Field.STATUS],
        "gsm_signal": _count(fields, Field.GSM, "GSM signal", MAX_SMALL),
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
    battery = _number(fields, Field.BATTERY, "battery")
    if validity == "V" and lat == 0.0 and lon == 0.0:
        if battery is not None:
            attributes["battery_pct"] = battery
        return DeviceInfo(
            device_key=device_id,
            protocol=PROTOCOL,
            kind="no_fix",
            time=fix_time,
            attributes=freeze(attributes),
        )
    if not device_id:
        raise Malformed("empty device id", protocol=PROTOCOL)
    # trusted: _fix_time gives aware UTC; parse_float refuses NaN/inf, check_lat_lon the range;
    # the attributes come from device text, so they get the model's full check here
    check_attributes(attributes, PROTOCOL)
    return Position.trusted(
        device_key=device_id,
        protocol=PROTOCOL,
        fix_time=fix_time,
        lat=lat,
        lon=lon,
        valid=validity == "A",
        speed_kmh=_number(fields, Field.SPEED, "speed"),
        course_deg=_number(fields, Field.COURSE, "course"),
        altitude_m=_number(fields, Field.ALTITUDE, "altitude"),
        accuracy_m=common.positive_or_none(accuracy if isinstance(accuracy, float) else None),
        satellites=_count(fields, Field.SATELLITES, "satellites", MAX_SMALL),
        battery_pct=battery,
        attributes=freeze(attributes),
    )


def _alarms(device_id: str, fix: Position | DeviceInfo, status_text: str) -> list[Message]:
    status = int(status_text, HEX)
    kinds = [(bit, kind) for bit, kind in ALARM_BITS.items() if status & bit] or [(0, "other")]
    position = fix if isinstance(fix, Position) else None
    when = fix.fix_time if isinstance(fix, Position) else fix.time
    if when is None:  # pragma: no cover - a no_fix report always carries the frame's time
        raise Malformed("alarm without time", protocol=PROTOCOL)
    events: list[Message] = []
    for bit, kind in kinds:
        attributes: dict[str, AttributeValue] = {"status": status_text}
        if bit == HEART_RATE_ALARM:
            attributes["code"] = "heart_rate"
        if position is None:
            attributes.update(
                (k, v) for k, v in fix.attributes.items() if k in ("cells", "wifi", "mcc", "mnc")
            )
        events.append(
            DeviceEvent(
                device_key=device_id,
                protocol=PROTOCOL,
                time=when,
                kind=kind,
                position=position,
                attributes=freeze(attributes),
            )
        )
    return events


def _health(device_id: str, kind: str, fields: list[str]) -> DeviceInfo:
    """``bphrt``/``blood``: systolic, diastolic, heart rate [, height, gender, age, weight];
    ``heart``/``pulse``: heart rate; ``btemp2``: measuring mode, body temperature °C (0 and 1
    mean an abnormal low/high measurement). ``kind`` is the type in lower case (some firmwares
    write ``BPHRT``, traccar/traccar#4395)."""
    attributes: dict[str, AttributeValue] = {"type": kind}
    values = fields[1:]
    if kind in ("heart", "pulse"):
        names: tuple[str, ...] = ("heart_rate_bpm",)
    elif kind == "btemp2":
        _body_temperature(values, attributes)
        names = ()
    else:
        names = HEALTH_FIELDS
    for index, name in enumerate(names):
        value = _count(values, index, name) if index < len(values) else None
        if value:  # 0 and empty mean "not measured"
            attributes[name] = value
    return DeviceInfo(
        device_key=device_id,
        protocol=PROTOCOL,
        kind="health",
        attributes=freeze(attributes),
    )


#: ``btemp2`` measuring modes ("VI. Body Temperature Measure", 1)
TEMPERATURE_MODES = {"0": "forehead", "1": "wrist"}
#: ``btemp2`` temperatures that are no reading: the measurement was abnormal (low, high)
ABNORMAL_TEMPERATURES = {0.0: "low", 1.0: "high"}


def _body_temperature(values: list[str], attributes: dict[str, AttributeValue]) -> None:
    mode = values[0].strip() if values else ""
    if mode in TEMPERATURE_MODES:
        attributes["mode"] = TEMPERATURE_MODES[mode]
    text = values[1].strip() if len(values) > 1 else ""
    if not text:
        return
    value = common.parse_float(text, "temperature", PROTOCOL)
    abnormal = ABNORMAL_TEMPERATURES.get(value)
    if abnormal is not None:
        attributes["temperature_abnormal"] = abnormal
    else:
        attributes["temperature_c"] = value


#: 0x7D escapes in voice (``TK``) content: 7D 01..05 stand for 7D [ ] , *
_UNESCAPE = {1: 0x7D, 2: 0x5B, 3: 0x5D, 4: 0x2C, 5: 0x2A}
ESCAPE = 0x7D


def unescape(data: bytes) -> bytes:
    """Voice content with its 0x7D escapes undone; a bad escape is ``Malformed``."""
    if ESCAPE not in data:
        return data
    out = bytearray()
    it = iter(data)
    for byte in it:
        if byte != ESCAPE:
            out.append(byte)
            continue
        code = next(it, None)
        if code not in _UNESCAPE:
            raise Malformed(f"bad escape 7d {code!r} in voice data", protocol=PROTOCOL)
        out.append(_UNESCAPE[code])
    return bytes(out)


#: Health readings (device uploads; matched in lower case) and the device's echo of server
#: commands. The device expects its ``bphrt`` and ``btemp2`` uploads echoed back.
HEALTH_TYPES = frozenset({"bphrt", "blood", "heart", "pulse", "btemp2"})
HEALTH_ANSWERED = frozenset({"bphrt", "btemp2"})
#: ``CONFIG,<key:value,...>`` ("5. Config command"): answered ``CONFIG,1`` (ok), which stops
#: the device repeating it; ``TY`` device type, ``UL`` upload interval (s)
CONFIG = "CONFIG"
CONFIG_KEYS = {"TY": "device_type", "UL": "upload_interval_s"}
COMMAND_ECHOES = frozenset(
    {"CR", "UPLOAD", "RESET", "FIND", "POWEROFF", "hrtstart", "SOS", "SOS1", "SOS2", "SOS3",
     "MONITOR", "FACTORY", "LZ", "PEDO", "WALKTIME", "SLEEPTIME", "REMOVE", "FALLDOWN"}
)  # fmt: skip
POSITION_TYPES = frozenset({"UD", "UD2", "UD3", "WT", "AL"})
#: the other types decoded (by the part before any ``_`` suffix)
OTHER_TYPES = frozenset({"LK", "INIT", "CCID", CONFIG})


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    header = HEADER.match(frame)
    if header is None:
        raise Malformed("bad header", protocol=PROTOCOL, data=frame)
    vendor, device_id = header.group(1).decode(), header.group(2).decode()
    index = header.group(3).decode() if header.group(3) else None
    state.device_key = device_id
    state.values["vendor"] = vendor  # a command to this watch uses the same code
    content = frame[header.end() : -1]
    kind = content.split(b",", 1)[0].decode("ascii", "replace")
    base = kind.split("_", 1)[0]

    def reply(text: str, acks_data: bool = False) -> Reply:
        return Reply(data=encode_reply(vendor, device_id, text, index), acks_data=acks_data)

    if kind in VOICE_QUERIES:
        return [reply(kind)]
    if kind == "TK":
        return _voice(device_id, content, frame, reply)
    position = base in POSITION_TYPES
    health = ""
    if not position and base not in OTHER_TYPES:
        health = kind.lower()
        if health not in HEALTH_TYPES:
            health = ""
            if kind not in COMMAND_ECHOES:
                raise UnsupportedMessage(f"message type {kind!r}", protocol=PROTOCOL, data=frame)
    fields = common.ascii_text(content, PROTOCOL).split(",")
    if b"\x00" in content:
        raise Malformed("NUL in a text frame", protocol=PROTOCOL, data=frame)
    try:
        if position:
            fix = _position(device_id, fields)
            if base == "AL":
                return [*_alarms(device_id, fix, fields[Field.STATUS]), reply("AL", True)]
            return [fix]
        if base == "LK":
            attributes: dict[str, AttributeValue] = {}
            for i, name in enumerate(("steps", "tumbles", "battery_pct"), start=1):
                if i < len(fields) and fields[i]:
                    attributes[name] = _count(fields, i, name)
            heartbeat = Heartbeat(
                device_key=device_id, protocol=PROTOCOL, attributes=freeze(attributes)
            )
            return [heartbeat, reply("LK")]
        if base == "INIT":
            return [_info(device_id, "info", {"type": "INIT"}), reply("INIT,1")]
        if base == "CCID":
            return [_info(device_id, "info", {"iccid": ",".join(fields[1:])})]
        if base == CONFIG:
            return [_config(device_id, fields), reply("CONFIG,1")]
        if health:
            info = _health(device_id, health, fields)
            return [info, reply(kind)] if health in HEALTH_ANSWERED else [info]
        text = ",".join(fields[1:])
        return [_info(device_id, "command_reply", {"command": kind, "text": text})]
    except Malformed as exc:
        raise Malformed(exc.message, protocol=PROTOCOL, data=frame) from None


def _config(device_id: str, fields: list[str]) -> DeviceInfo:
    attributes: dict[str, AttributeValue] = {"type": CONFIG, "config": ",".join(fields[1:])}
    for item in fields[1:]:
        key, _, value = item.partition(":")
        name = CONFIG_KEYS.get(key.strip())
        if name == "upload_interval_s":
            attributes[name] = _count([value], 0, name)
        elif name is not None and value:
            attributes[name] = value
    check_attributes(attributes, PROTOCOL)
    return _info(device_id, "info", attributes)


def _info(device_id: str, kind: str, attributes: dict[str, AttributeValue]) -> DeviceInfo:
    return DeviceInfo(
        device_key=device_id, protocol=PROTOCOL, kind=kind, attributes=freeze(attributes)
    )


def _voice(
    device_id: str, content: bytes, frame: bytes, reply: Callable[[str], Reply]
) -> list[Message]:
    """``TK,<audio>`` from the device: answered ``TK,1`` (received). ``TK,0``/``TK,1`` alone
    is the device's answer to a voice message the server sent: no reply."""
    audio = content[3:]
    if len(audio) <= 1:
        return [
            _info(
                device_id,
                "command_reply",
                {"command": "TK", "text": audio.decode("ascii", "replace")},
            )
        ]
    try:
        size = len(unescape(audio))
    except Malformed as exc:
        raise Malformed(exc.message, protocol=PROTOCOL, data=frame) from None
    return [_info(device_id, "voice", {"audio_bytes": size, "format": "amr"}), reply("TK,1")]


def detect(first: bytes) -> Detection:
    """``[`` + two-character vendor + ``*`` + device id + ``*``."""
    if not first:
        return Detection.MORE
    if HEADER.match(first) or _ID_PREFIX.match(first):
        return Detection.YES
    return Detection.MORE if PARTIAL.fullmatch(first) else Detection.NO
