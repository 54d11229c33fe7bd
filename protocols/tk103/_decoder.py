"""GPS103 / TK103 (Coban and clones) text protocol, TCP port 5001: framing and decoding.

Source: "GPS102, GPS103, GPS104 GPRS data protocol" (Coban) and "TK102/TK102B/TK103/TK103B/
TK104/TK106/TK106B GPRS Data Protocol", section "GPRS command sent by tracker". Lines are
ASCII, comma-separated and end with ``;`` (some firmwares add or use ``\\r\\n``):

* ``##,imei:<IMEI>,A;`` log-on request, answered ``LOAD``;
* ``<IMEI>;`` heartbeat, answered ``ON``;
* ``imei:<IMEI>,<keyword>,<local yymmddhhmm[ss]>,<phone>,F,<hhmmss.sss UTC>,<A|V>,
  <ddmm.mmmm>,<N|S>,<dddmm.mmmm>,<E|W>,<speed knots>,<course>[,<altitude>,<acc>,<door>,
  <fuel1 %>,<fuel2 %>,<temperature>];`` a report; ``L`` instead of ``F`` means no GPS fix
  (cell data may follow). ``keyword`` is ``tracker`` or an alarm (``help me``, ``low battery``...).

The fix carries only the UTC time of day; its date is the one of the device's local
timestamp, moved by a day when the two straddle midnight (the closest candidate wins). A
report whose local timestamp is empty or zeros takes the receive time as that reference; a
12/10-digit timestamp that is no ``yymmdd`` date is read ``yyddmm`` (traccar/traccar#517).

Further line kinds (field layouts as real devices send them; captures named in the tests and
``docs/protocols.md``):

* ``imei:<IMEI>,OBD,<local yymmddhhmmss>,<odometer>,<fuel remaining>,<average fuel>,
  <driving time>,<speed>,<engine load %>,<coolant temp>,<throttle %>,<rpm>,<battery V>,
  <DTC>...;`` (field names: TK306A manual "Request for OBD data by SMS"; captures in
  traccar/traccar#1632, #1672, #2401) -> ``DeviceInfo(kind="obd")``; an empty field or a
  lone sign (``+``, #1672) is no reading;
* keyword ``DTC`` (fault), ``oil``/``oil <level>`` (fuel), ``T:<temp>`` (temperature alarm),
  ``rfid`` (the phone field carries the driver's tag) -> ``DeviceEvent(kind="other")`` with
  ``code``;
* ``L`` with cell data: ``...,L,,,<LAC hex>,,<cell id hex>,,,;`` (traccar/traccar#1590);
* the alternative layout ``imei:<IMEI>,<x>,<event|->,<sensor id|->,<sensor V|->,hhmmss,ddmmyy,
  rssi,<gps 0/1>,<lat deg>,<lon deg>,<speed km/h>,course,altitude,hdop,satellites,<ign 0/1>,
  <charge 0/1>,<error|->;`` with a full UTC date and time;
* a heartbeat IMEI sent without its ``;`` right before the next ``imei:`` line;
* ids of 1 to 24 digits (a GPS103A logs on with 22, fvdm/nodejs-tk102#22).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from protocols import _common as common
from protocols.base import Detection, SessionState
from protocols.errors import Malformed, UnsupportedMessage
from protocols.model import (
    Attributes,
    AttributeValue,
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Login,
    Message,
    Position,
    Reply,
    check_attributes,
    freeze,
)

PROTOCOL = "tk103"
DEFAULT_PORT = 5001
#: device ids: 15 digits on Coban units; clones send 1 to 24 (traccar/traccar#1205: ``7``; a
#: GPS103A logs on with 22 digits, fvdm/nodejs-tk102#22)
_IMEI = re.compile(r"\d{1,24}")
_LAT = re.compile(r"(\d{1,2})(\d\d(?:\.\d+)?)")
_LON = re.compile(r"(\d{1,3})(\d\d(?:\.\d+)?)")
_FIX_TIME = re.compile(r"(\d\d)(\d\d)(\d\d)(?:\.(\d{1,3}))?")
_LOCAL_FORMATS = ("%y%m%d%H%M", "%y%m%d%H%M%S", "%y/%m/%d %H:%M")
MINUTES_PER_DEGREE = 60.0
US_PER_MS = 1000
#: a bare heartbeat of fewer digits than this must repeat the session's id (auto-detection
#: also wants at least this many)
MIN_ID_DIGITS = 6
MAX_ID_DIGITS = 24

#: Replies (Coban document, "GPRS command sent by server").
REPLY_LOGIN = b"LOAD"  #: answer to the log-on request
REPLY_HEARTBEAT = b"ON"  #: answer to the heartbeat
SOS_KEYWORD = "help me"
OBD_KEYWORD = "OBD"
RFID_KEYWORD = "rfid"
DTC_KEYWORD = "DTC"
OIL_PREFIX = "oil"
TEMPERATURE_PREFIX = "T:"

#: Coban alarm keywords -> model.ALARM_KINDS. ``stockade`` fires when leaving the geo-fence.
ALARMS: dict[str, str] = {
    "help me": "sos",
    "low battery": "low_battery",
    "move": "movement",
    "speed": "overspeed",
    "stockade": "geofence_exit",
    "ac alarm": "power_cut",
    "door alarm": "door",
    "sensor alarm": "vibration",
    "accident alarm": "accident",
    "acc alarm": "other",
    "bonnet alarm": "other",
    "footbrake alarm": "other",
    "acc on": "other",
    "acc off": "other",
}
#: Keywords that report an ignition change.
IGNITION = {"acc on": True, "acc off": False}


class Fields:
    """Indexes of a report line split on commas (Coban document, position message)."""

    IMEI = 0  #: ``imei:<digits>``
    KEYWORD = 1  #: ``tracker`` or an alarm keyword
    LOCAL_TIME = 2  #: device local time ``yymmddhhmm`` (or ``yymmddhhmmss``)
    PHONE = 3  #: authorised phone number (often empty)
    SIGNAL = 4  #: ``F`` full GPS signal, ``L`` low/no signal
    FIX_TIME = 5  #: UTC ``hhmmss.sss``
    VALIDITY = 6  #: ``A`` valid, ``V`` invalid
    LAT = 7
    LAT_HEMI = 8
    LON = 9
    LON_HEMI = 10
    SPEED = 11  #: knots
    COURSE = 12  #: degrees
    ALTITUDE = 13  #: metres (newer firmware)
    ACC = 14  #: ignition 0/1
    DOOR = 15  #: door 0/1
    FUEL1 = 16  #: percent, e.g. ``0.00%``
    FUEL2 = 17
    TEMPERATURE = 18  #: e.g. ``T:+19.0``


def _imei(text: str, frame: bytes) -> str:
    if _IMEI.fullmatch(text) is None:
        raise Malformed(f"bad IMEI: {text!r}", protocol=PROTOCOL, data=frame)
    return text


def _coordinate(value: str, hemisphere: str, pattern: re.Pattern[str], negative: str) -> float:
    match = pattern.fullmatch(value)
    if match is None:
        raise Malformed(f"bad coordinate: {value!r}", protocol=PROTOCOL)
    minutes = float(match.group(2))
    if minutes >= MINUTES_PER_DEGREE:
        raise Malformed(f"minutes out of range: {value!r}", protocol=PROTOCOL)
    degrees = int(match.group(1)) + minutes / MINUTES_PER_DEGREE
    return -degrees if hemisphere == negative else degrees


#: two-digit years below this are 20xx, the others 19xx (as ``strptime``'s ``%y``)
PIVOT_YEAR = 69
#: lengths of the all-digit local timestamps ``yymmddhhmm`` and ``yymmddhhmmss``
LOCAL_DIGITS = (10, 12)


def _local_time(text: str) -> datetime:
    text = text.strip()
    if len(text) in LOCAL_DIGITS and text.isdigit():  # the common case, without strptime
        yy = int(text[0:2])
        year = (2000 if yy < PIVOT_YEAR else 1900) + yy
        try:
            return datetime(
                year,
                int(text[2:4]),
                int(text[4:6]),
                int(text[6:8]),
                int(text[8:10]),
                int(text[10:12] or 0),
            )
        except ValueError:
            pass
        # some firmwares write yyddmm: "1416011324 which would be January 16 2014 13:24"
        # (traccar/traccar#517); only tried when yymmdd is no date
        try:
            return datetime(
                year,
                int(text[4:6]),
                int(text[2:4]),
                int(text[6:8]),
                int(text[8:10]),
                int(text[10:12] or 0),
            )
        except ValueError:
            pass  # strptime below also reads one-digit fields
    for layout in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text.strip(), layout)
        except ValueError:
            continue
    raise Malformed(f"bad local timestamp: {text!r}", protocol=PROTOCOL)


def fix_datetime(local_text: str, utc_text: str, received: datetime | None = None) -> datetime:
    """The UTC fix time from the UTC time of day and the device's local timestamp (or, when
    that is empty or zeros, the receive time ``received``)."""
    blank = not local_text.strip().strip("0")
    if blank and received is not None:
        local = received.astimezone(UTC).replace(tzinfo=None)
    else:
        local = _local_time(local_text)
    match = _FIX_TIME.fullmatch(utc_text)
    if match is None:
        raise Malformed(f"bad fix time: {utc_text!r}", protocol=PROTOCOL)
    hour, minute, second = (int(g) for g in match.group(1, 2, 3))
    millis = int((match.group(4) or "0").ljust(3, "0"))
    try:
        of_day = time(hour, minute, second, millis * US_PER_MS)
    except ValueError:
        raise Malformed(f"bad fix time: {utc_text!r}", protocol=PROTOCOL) from None
    base = datetime.combine(local.date(), of_day)
    candidates = (base + timedelta(days=shift) for shift in (-1, 0, 1))
    best = min(candidates, key=lambda c: abs(c - local))
    return best.replace(tzinfo=UTC)


def _field(fields: list[str], index: int) -> str:
    return fields[index].strip() if index < len(fields) else ""


def _extras(fields: list[str]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    acc, door = _field(fields, Fields.ACC), _field(fields, Fields.DOOR)
    if acc in ("0", "1"):
        out["ignition"] = acc == "1"
    if door in ("0", "1"):
        out["door"] = door == "1"
    for index, name in ((Fields.FUEL1, "fuel1_pct"), (Fields.FUEL2, "fuel2_pct")):
        text = _field(fields, index)
        if text.endswith("%"):  # some firmwares put other numbers there (traccar#1632)
            out[name] = common.parse_float(text[:-1], name, PROTOCOL)
    temperature = _field(fields, Fields.TEMPERATURE)
    if temperature.startswith("T:"):
        out["temperature_c"] = common.parse_float(temperature[2:], "temperature", PROTOCOL)
    return out


def _position(
    imei: str, fields: list[str], attributes: dict[str, AttributeValue], received: datetime
) -> Position:
    if len(fields) <= Fields.SPEED:
        raise Malformed(f"report of {len(fields)} fields has no fix", protocol=PROTOCOL)
    validity = _field(fields, Fields.VALIDITY)
    if validity not in ("A", "V"):
        raise Malformed(f"bad validity: {validity!r}", protocol=PROTOCOL)
    lat = _coordinate(_field(fields, Fields.LAT), _field(fields, Fields.LAT_HEMI), _LAT, "S")
    lon = _coordinate(_field(fields, Fields.LON), _field(fields, Fields.LON_HEMI), _LON, "W")
    common.check_lat_lon(lat, lon, PROTOCOL)
    knots = common.optional_float(_field(fields, Fields.SPEED), "speed", PROTOCOL)
    attributes.update(_extras(fields))
    # trusted: fix_datetime gives aware UTC, _coordinate + check_lat_lon the range (no NaN:
    # the coordinate pattern is digits only); the attributes are device text: checked here
    check_attributes(attributes, PROTOCOL)
    return Position.trusted(
        device_key=imei,
        protocol=PROTOCOL,
        fix_time=fix_datetime(fields[Fields.LOCAL_TIME], _field(fields, Fields.FIX_TIME), received),
        lat=lat,
        lon=lon,
        valid=validity == "A",
        speed_kmh=None if knots is None else knots * common.KMH_PER_KNOT,
        course_deg=common.optional_float(_field(fields, Fields.COURSE), "course", PROTOCOL),
        altitude_m=common.optional_float(_field(fields, Fields.ALTITUDE), "altitude", PROTOCOL),
        attributes=freeze(attributes),
    )


def _decode_report(text: str, frame: bytes, state: SessionState) -> list[Message]:
    fields = text.split(",")
    if len(fields) <= Fields.SIGNAL:
        raise Malformed(f"report of {len(fields)} fields", protocol=PROTOCOL, data=frame)
    imei = _imei(fields[Fields.IMEI].removeprefix("imei:"), frame)
    state.device_key = imei
    keyword = fields[Fields.KEYWORD].strip()
    if keyword == OBD_KEYWORD:
        return [_obd(imei, fields, frame)]
    signal = _field(fields, Fields.SIGNAL)
    if signal not in ("F", "L") and _is_alternative(fields):
        return [_alternative(imei, fields, frame)]
    attributes: dict[str, AttributeValue] = {}
    kind = ALARMS.get(keyword)
    try:
        if keyword in IGNITION:
            attributes["ignition"] = IGNITION[keyword]
        elif kind is None and keyword != "tracker":
            kind = _special_alarm(keyword, fields, attributes)
            if kind is None:
                attributes["event"] = keyword  # command confirmations (kt, jt, et ...)
        position: Position | None = None
        if signal == "F":
            position = _position(imei, fields, attributes, common.now(state))
        elif signal == "L":
            attributes.update(_cell(fields))
        else:
            raise UnsupportedMessage(f"report kind {keyword!r}", protocol=PROTOCOL, data=frame)
    except Malformed as exc:
        raise Malformed(exc.message, protocol=PROTOCOL, data=frame) from None
    out: list[Message] = []
    if kind is not None:
        event_attrs: Attributes = freeze({"code": keyword, **attributes})
        when = position.fix_time if position is not None else common.now(state)
        out.append(
            DeviceEvent(
                device_key=imei,
                protocol=PROTOCOL,
                time=when,
                kind=kind,
                position=position,
                attributes=event_attrs,
            )
        )
    elif position is not None:
        out.append(position)
    else:
        out.append(
            DeviceInfo(
                device_key=imei, protocol=PROTOCOL, kind="no_fix", attributes=freeze(attributes)
            )
        )
    if keyword == SOS_KEYWORD:
        # "E" cancels the SOS the tracker repeats until answered: hold it until stored.
        out.append(Reply(data=b"**,imei:" + imei.encode() + b",E;", acks_data=True))
    return out


def _special_alarm(
    keyword: str, fields: list[str], attributes: dict[str, AttributeValue]
) -> str | None:
    """``DTC``, ``oil[ <level>]``, ``T:<temp>``, ``rfid``: the alarm kind (``other`` with
    ``code``), or None for a keyword that is no alarm."""
    if keyword == DTC_KEYWORD:
        attributes["code"] = "fault"
    elif keyword.startswith(OIL_PREFIX):
        attributes["code"] = "fuel"
        level = keyword[len(OIL_PREFIX) :].strip()
        if level:
            attributes["fuel_level"] = common.parse_float(level, "fuel level", PROTOCOL)
    elif keyword.startswith(TEMPERATURE_PREFIX):
        attributes["code"] = "temperature"
        value = keyword[len(TEMPERATURE_PREFIX) :]
        attributes["temperature_c"] = common.parse_float(value, "temperature", PROTOCOL)
    elif keyword == RFID_KEYWORD:
        attributes["code"] = RFID_KEYWORD
        attributes["driver_id"] = _field(fields, Fields.PHONE)
    else:
        return None
    attributes["keyword"] = keyword
    return "other"


def _cell(fields: list[str]) -> dict[str, AttributeValue]:
    """``L,,,<LAC hex>,,<cell hex>,,,``: ``lac``/``cid`` when both are hex."""
    lac, cid = _field(fields, Fields.SIGNAL + 3), _field(fields, Fields.SIGNAL + 5)
    if lac and cid and _HEX.fullmatch(lac) and _HEX.fullmatch(cid):
        return {"lac": int(lac, 16), "cid": int(cid, 16)}
    return {}


_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
#: OBD fields after the local time (TK306A manual names; traccar/traccar#1632 sample)
OBD_FIELDS = (
    "odometer",
    "fuel_remaining",
    "fuel_average",
    "driving_time",
    "obd_speed_kmh",
    "engine_load_pct",
    "coolant_temp_c",
    "throttle_pct",
    "rpm",
    "battery_v",
)
OBD_FIRST = 3
#: OBD fields that carry no reading
_NO_VALUE = frozenset({"", "+", "-"})


def _obd(imei: str, fields: list[str], frame: bytes) -> DeviceInfo:
    attributes: dict[str, AttributeValue] = {"local_time": fields[Fields.LOCAL_TIME].strip()}
    values = fields[OBD_FIRST : OBD_FIRST + len(OBD_FIELDS)]
    if len(values) < len(OBD_FIELDS):
        raise Malformed(f"OBD line of {len(fields)} fields", protocol=PROTOCOL, data=frame)
    try:
        for name, text in zip(OBD_FIELDS, values, strict=True):
            text = text.strip().rstrip("%")
            if text in _NO_VALUE:  # a lone sign: no reading (traccar/traccar#1672: "+")
                continue
            value = common.parse_float(text, name, PROTOCOL)
            attributes[name] = value
    except Malformed as exc:
        raise Malformed(exc.message, protocol=PROTOCOL, data=frame) from None
    dtcs = [f.strip() for f in fields[OBD_FIRST + len(OBD_FIELDS) :] if f.strip()]
    if dtcs:
        attributes["dtc"] = " ".join(dtcs)
    return DeviceInfo(device_key=imei, protocol=PROTOCOL, kind="obd", attributes=freeze(attributes))


class Alt:
    """Indexes of the alternative layout (full UTC date and time, decimal degrees)."""

    EVENT, SENSOR_ID, SENSOR_V, TIME, DATE, RSSI, GPS, LAT, LON = 2, 3, 4, 5, 6, 7, 8, 9, 10
    SPEED, COURSE, ALTITUDE, HDOP, SATELLITES, IGNITION, CHARGE, ERROR = range(11, 19)


_SIX_DIGITS = re.compile(r"\d{6}")


def _is_alternative(fields: list[str]) -> bool:
    return (
        len(fields) > Alt.ERROR
        and _SIX_DIGITS.fullmatch(fields[Alt.TIME]) is not None
        and _SIX_DIGITS.fullmatch(fields[Alt.DATE]) is not None
    )


def _dash(text: str) -> str | None:
    text = text.strip()
    return None if not text or set(text) == {"-"} else text


def _alternative(imei: str, fields: list[str], frame: bytes) -> Position:
    try:
        when = datetime.strptime(fields[Alt.DATE] + fields[Alt.TIME], "%d%m%y%H%M%S")
        lat = common.parse_float(fields[Alt.LAT], "latitude", PROTOCOL)
        lon = common.parse_float(fields[Alt.LON], "longitude", PROTOCOL)
        common.check_lat_lon(lat, lon, PROTOCOL)
        attributes: dict[str, AttributeValue] = {
            "rssi": common.parse_int(fields[Alt.RSSI], "rssi", PROTOCOL),
            "hdop": common.parse_float(fields[Alt.HDOP], "hdop", PROTOCOL),
            "ignition": fields[Alt.IGNITION].strip() == "1",
            "charge": fields[Alt.CHARGE].strip() == "1",
        }
        for index, name in ((Alt.EVENT, "event"), (Alt.SENSOR_ID, "sensor_id"),
                            (Alt.SENSOR_V, "sensor_v"), (Alt.ERROR, "error")):  # fmt: skip
            value = _dash(fields[index])
            if value is not None:
                attributes[name] = value
        return Position(
            device_key=imei,
            protocol=PROTOCOL,
            fix_time=when.replace(tzinfo=UTC),
            lat=lat,
            lon=lon,
            valid=fields[Alt.GPS].strip() not in ("", "0"),
            speed_kmh=common.parse_float(fields[Alt.SPEED], "speed", PROTOCOL),
            course_deg=common.parse_float(fields[Alt.COURSE], "course", PROTOCOL),
            altitude_m=common.parse_float(fields[Alt.ALTITUDE], "altitude", PROTOCOL),
            satellites=common.parse_int(fields[Alt.SATELLITES], "satellites", PROTOCOL),
            attributes=freeze(attributes),
        )
    except Malformed as exc:
        raise Malformed(exc.message, protocol=PROTOCOL, data=frame) from None
    except ValueError as exc:  # strptime
        raise Malformed(f"alternative line: {exc}", protocol=PROTOCOL, data=frame) from None


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """One line (without its terminator) -> messages."""
    text = common.ascii_text(frame, PROTOCOL).strip()
    if "\x00" in text:
        raise Malformed("NUL in a line", protocol=PROTOCOL, data=frame)
    if text.startswith("##,"):
        fields = text.split(",")
        if len(fields) < 2 or not fields[1].startswith("imei:"):
            raise Malformed("bad log-on request", protocol=PROTOCOL, data=frame)
        imei = _imei(fields[1].removeprefix("imei:"), frame)
        state.device_key = imei
        return [Login(device_key=imei, protocol=PROTOCOL), Reply(data=REPLY_LOGIN)]
    if text.startswith("imei:"):
        return _decode_report(text, frame, state)
    if _IMEI.fullmatch(text):
        if len(text) < MIN_ID_DIGITS and text != state.device_key:
            raise Malformed("short heartbeat id of another device", protocol=PROTOCOL, data=frame)
        state.device_key = state.device_key or text
        return [Heartbeat(device_key=text, protocol=PROTOCOL), Reply(data=REPLY_HEARTBEAT)]
    raise Malformed("unrecognised line", protocol=PROTOCOL, data=frame)


_PREFIXES = (b"##,imei:", b"imei:")


def detect(first: bytes) -> Detection:
    """Log-on (``##,imei:``), report (``imei:``) or heartbeat (IMEI digits then ``;``)."""
    for prefix in _PREFIXES:
        if first.startswith(prefix):
            return Detection.YES
        if prefix.startswith(first):
            return Detection.MORE
    digits = len(first) - len(first.lstrip(b"0123456789"))
    if digits == len(first):
        return Detection.MORE if digits <= MAX_ID_DIGITS else Detection.NO
    if MIN_ID_DIGITS <= digits <= MAX_ID_DIGITS and first[digits : digits + 1] == b";":
        return Detection.YES
    return Detection.NO
