"""GT06 frame -> messages.

A frame arrives whole from the framer (start bits through stop bits). The CRC-ITU over
length..serial is checked first (``BadChecksum`` otherwise, non-fatal: the document says to
drop the packet). Location and alarm packets need the IMEI from a login earlier in the
session (or a preset identity): otherwise ``NotIdentified``. A time calibration request is
answered with the session clock's time (``protocols._common.now``: the receive time, which
tests set), so the decoder stays pure.

Hot path: a whole 0x22 packet of the usual size is read with one precompiled ``struct``
unpack. Everything else goes through the checked ``Reader``; ``decode_frame_checked``
always does, and gives the same results (the benchmark uses it as its baseline). Positions
are built with ``Position.trusted`` once time and coordinates are checked here.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from types import MappingProxyType

from protocols._checks import bcd_digits, crc16_x25
from protocols._common import now
from protocols._reader import Reader
from protocols.base import SessionState
from protocols.errors import BadChecksum, Malformed, NotIdentified, UnsupportedMessage
from protocols.model import (
    AttributeValue,
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Login,
    Message,
    Position,
    Reply,
)

from ._encoder import encode_reply, encode_time_reply
from ._types import (
    ALARM_KIND,
    ALARM_TYPES,
    COORDINATE_DIVISOR,
    FOUR_G_TYPES,
    LBS_TYPES,
    LOCATION_TYPES,
    NEIGHBOUR_CELLS,
    REPLIED_TYPES,
    SHORT_START,
    TERMINAL_ALARM_KIND,
    AlarmCode,
    CourseStatus,
    DoorStatus,
    InfoType,
    MessageType,
    ModuleStatus,
    TerminalInfo,
    TextEncoding,
)

PROTOCOL = "gt06"

# date-time (6), GPS info length/satellites (1), lat (4), lon (4), speed (1), course/status (2)
_GPS = struct.Struct(">6BBIIBH")
_LBS_2G = struct.Struct(">HBH3s")  # MCC, MNC, LAC, cell id
_STATUS = struct.Struct(">BBBBB")  # terminal info, voltage level, GSM signal, alarm, language
_MNC_2_BYTES = 0x8000  # JM-VL03 §10: MCC bit 15 set -> MNC is 2 bytes
_SATELLITES_MASK = 0x0F
_TZ_WEST = 0x08  # login time zone word, bit 3: west (JM-VL03 §1)
_TZ_SHIFT = 4
# IntFlag arithmetic is slow on the hot path: plain ints of the same values
_NORTH = int(CourseStatus.NORTH)
_WEST = int(CourseStatus.WEST)
_POSITIONED = int(CourseStatus.POSITIONED)
_DIFFERENTIAL = int(CourseStatus.DIFFERENTIAL)
_COURSE_MASK = int(CourseStatus.COURSE_MASK)
_4G = int(MessageType.GPS_LBS_4G)
_GPS_ONLY = int(MessageType.GPS)
_GPS_LBS_UTC = int(MessageType.GPS_LBS_UTC)
#: location packets followed by ACC, upload mode, re-upload and mileage ([VL03] §3, §10)
_WITH_ACC = frozenset({_GPS_LBS_UTC, _4G})
_DATE = struct.Struct(">6B")  # YY MM DD hh mm ss of the LBS and WiFi packets
_NEIGHBOUR_2G = struct.Struct(">H3sB")  # LAC, cell id, RSSI ([VL03] §4)
_NEIGHBOUR_4G = struct.Struct(">I8sB")  # LAC, cell id, RSSI ([VL03] §11)
_PHONE_SIZE = 21  # [VL03] §6 phone number, ASCII, NUL padded
_WIFI_AP = struct.Struct(">6sB")  # MAC, signal strength ([V5] §5)
_UNUSED_CELL = (0, 0)  # LAC 0 and cell 0: an empty neighbour slot
_NO_DATE = (0, 0, 0, 0, 0, 0)  # a device that has no clock yet sends a zero date-time
_LANGUAGE_SIZE = 2


def _fail(message: str, frame: bytes) -> Malformed:
    return Malformed(message, protocol=PROTOCOL, data=frame)


def _time(fields: tuple[int, ...], frame: bytes) -> datetime:
    try:
        # tzinfo given positionally: half the cost of the keyword in CPython 3.11
        return datetime(
            2000 + fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], 0, UTC
        )
    except ValueError as exc:
        raise _fail(f"bad date-time {fields[:6]!r}", frame) from exc


def _date(reader: Reader) -> datetime | None:
    """The 6-byte date-time that opens the LBS and WiFi packets; all zero (the device has
    no time yet: [GT03] §5.3 and §5.7 captures in the tests) is no time, ``None``."""
    fields = reader.unpack(_DATE, "date-time")
    if fields == _NO_DATE:
        return None
    return _time(fields, reader.data)


def _exact_end(reader: Reader, what: str) -> None:
    """The packets read from the [LL301] contents by analogy must use up their content."""
    if reader.remaining:
        raise _fail(f"{reader.remaining} bytes after the {what}", reader.data)


def _coordinates(raw_lat: int, raw_lon: int, course: int, frame: bytes) -> tuple[float, float]:
    """Degrees from the GPS block's unsigned values and the hemisphere bits of its
    course/status field (GT06 v1.8.1 §5.2.1.4, §5.2.1.7)."""
    lat = raw_lat / COORDINATE_DIVISOR
    lon = raw_lon / COORDINATE_DIVISOR
    if not course & _NORTH:
        lat = -lat
    if course & _WEST:
        lon = -lon
    if lat > 90.0 or lat < -90.0 or lon > 180.0 or lon < -180.0:
        raise _fail(f"coordinates out of range: {lat!r}, {lon!r}", frame)
    return lat, lon


def _gps(reader: Reader, device_key: str, attrs: dict[str, AttributeValue]) -> Position:
    """Read the 18-byte GPS block (GT06 v1.8.1 §5.2.1; JM-VL03 §3) into a Position."""
    g = reader.unpack(_GPS, "GPS block")
    frame = reader.data
    course = g[10]
    lat, lon = _coordinates(g[7], g[8], course, frame)
    valid = bool(course & _POSITIONED)
    if course & _DIFFERENTIAL:
        attrs["differential"] = True
    # range checked above, aware UTC time from _time
    return Position.trusted(
        device_key=device_key,
        protocol=PROTOCOL,
        fix_time=_time(g, frame),
        lat=lat,
        lon=lon,
        valid=valid,
        speed_kmh=float(g[9]),
        course_deg=float(course & _COURSE_MASK),
        satellites=g[6] & _SATELLITES_MASK,
        attributes=MappingProxyType(attrs),
    )


def _lbs(reader: Reader, attrs: dict[str, AttributeValue], four_g: bool) -> None:
    """The serving cell: 2G ``MCC MNC(1) LAC(2) CI(3)`` or 4G ``MCC MNC(1|2) LAC(4) CI(8)``
    ([VL03] §3, §10: MCC bit 15 set -> 2-byte MNC)."""
    if not four_g:
        mcc, mnc, lac, cell = reader.unpack(_LBS_2G, "LBS block")
    else:
        mcc = reader.u16("MCC")
        mnc = reader.u16("MNC") if mcc & _MNC_2_BYTES else reader.u8("MNC")
        mcc &= ~_MNC_2_BYTES
        lac = reader.u32("LAC")
        cell = reader.take(8, "cell id")
    attrs["mcc"] = mcc
    attrs["mnc"] = mnc
    attrs["lac"] = lac
    attrs["cell_id"] = int.from_bytes(cell, "big")


# the whole 0x22 body: GPS block, 2G LBS (cell id as 1 + 2 bytes), ACC, upload mode,
# re-upload, mileage (JM-VL03 §3)
_FULL_22 = struct.Struct(">6BBIIBHHBHBHBBBI")
#: a 0x78 0x78 frame holding exactly that body: start (2), length, number, body, serial,
#: CRC, stop (2 each)
_FULL_22_FRAME = _FULL_22.size + 10


def _fast_location(frame: bytes, key: str) -> Position:
    """The common whole 0x22 packet in one unpack: the same result as ``_location`` (when
    both the date and the coordinates are bad, the date is the one reported). The date-time
    is built here rather than through ``_time``: one call less per packet."""
    g = _FULL_22.unpack_from(frame, 4)
    try:
        fix_time = datetime(2000 + g[0], g[1], g[2], g[3], g[4], g[5], 0, UTC)
    except ValueError:
        fix_time = _time(g, frame)  # raises, naming the fields
    course = g[10]
    lat, lon = _coordinates(g[7], g[8], course, frame)
    attrs: dict[str, AttributeValue] = {
        "mcc": g[11],
        "mnc": g[12],
        "lac": g[13],
        "cell_id": (g[14] << 16) | g[15],
        "ignition": bool(g[16]),
        "upload_mode": g[17],
        "reupload": bool(g[18]),
        "mileage": g[19],
    }
    if course & _DIFFERENTIAL:
        attrs["differential"] = True
    # range checked above, aware UTC time
    return Position.trusted(
        device_key=key,
        protocol=PROTOCOL,
        fix_time=fix_time,
        lat=lat,
        lon=lon,
        valid=bool(course & _POSITIONED),
        speed_kmh=float(g[9]),
        course_deg=float(course & _COURSE_MASK),
        satellites=g[6] & _SATELLITES_MASK,
        attributes=MappingProxyType(attrs),
    )


def _no_fix(
    key: str, kind: str, attrs: dict[str, AttributeValue], time: datetime | None = None
) -> DeviceInfo:
    """The ``DeviceInfo`` of a packet without a fix (LBS, WiFi, information, replies)."""
    return DeviceInfo(
        device_key=key, protocol=PROTOCOL, kind=kind, time=time, attributes=MappingProxyType(attrs)
    )


def _identity(state: SessionState, frame: bytes, what: str) -> str:
    key = state.device_key
    if key is None:
        raise NotIdentified(f"{what} before login", protocol=PROTOCOL, data=frame)
    return key


def _status_attrs(info: int, voltage: int, gsm: int, attrs: dict[str, AttributeValue]) -> None:
    attrs["ignition"] = bool(info & TerminalInfo.ACC)
    attrs["charging"] = bool(info & TerminalInfo.CHARGING)
    attrs["armed"] = bool(info & TerminalInfo.ARMED)
    attrs["gps_fixed"] = bool(info & TerminalInfo.GPS_FIXED)
    attrs["fuel_cut"] = bool(info & TerminalInfo.FUEL_CUT)
    attrs["battery_level"] = voltage
    attrs["gsm_signal"] = gsm


def _login(reader: Reader, state: SessionState) -> list[Message]:
    digits = bcd_digits(reader.take(8, "terminal id"))
    if digits is None:
        raise _fail("terminal id is not BCD", reader.data)
    imei = digits[1:] if len(digits) == 16 and digits[0] == "0" else digits
    attrs: dict[str, AttributeValue] = {}
    if reader.remaining >= 2:
        attrs["type_id"] = f"{reader.u16('type id'):04x}"
    if reader.remaining >= 2:
        word = reader.u16("time zone")
        value = word >> _TZ_SHIFT
        minutes = (value // 100) * 60 + value % 100
        attrs["timezone_min"] = -minutes if word & _TZ_WEST else minutes
    state.device_key = imei
    return [Login(device_key=imei, protocol=PROTOCOL, attributes=MappingProxyType(attrs))]


def _location(reader: Reader, kind: int, state: SessionState) -> list[Message]:
    key = _identity(state, reader.data, "location")
    attrs: dict[str, AttributeValue] = {}
    pos_at = reader.offset
    reader.skip(_GPS.size, "GPS block")
    if kind != _GPS_ONLY and reader.remaining >= _LBS_2G.size:
        _lbs(reader, attrs, kind == _4G)
    if kind in _WITH_ACC and reader.remaining >= 3:
        attrs["ignition"] = bool(reader.u8("ACC"))
        attrs["upload_mode"] = reader.u8("upload mode")
        attrs["reupload"] = bool(reader.u8("re-upload"))
        if reader.remaining >= 4:
            attrs["mileage"] = reader.u32("mileage")
    end = reader.offset
    reader.offset = pos_at
    position = _gps(reader, key, attrs)
    reader.offset = end
    return [position]


def _alarm(reader: Reader, kind: int, state: SessionState, serial: int) -> list[Message]:
    key = _identity(state, reader.data, "alarm")
    attrs: dict[str, AttributeValue] = {}
    pos_at = reader.offset
    reader.skip(_GPS.size, "GPS block")
    lbs_length = reader.u8("LBS length")
    lbs_end = reader.offset + max(0, lbs_length - 1)
    if lbs_length > 1:
        _lbs(reader, attrs, kind == MessageType.ALARM_4G)
    reader.offset = lbs_end
    info, voltage, gsm, code, language = reader.unpack(_STATUS, "status block")
    _status_attrs(info, voltage, gsm, attrs)
    attrs["alarm_code"] = code
    attrs["language"] = language
    if kind in (MessageType.ALARM_FENCES, MessageType.ALARM_4G) and reader.remaining >= 1:
        attrs["fence"] = reader.u8("fence number")
    end = reader.offset
    reader.offset = pos_at
    position = _gps(reader, key, attrs)
    reader.offset = end
    name = ALARM_KIND.get(code)
    if name is None and code == AlarmCode.NORMAL:
        name = TERMINAL_ALARM_KIND.get((info & TerminalInfo.ALARM_MASK) >> 3)
    reply = Reply(data=encode_reply(kind, serial), acks_data=True)
    if name is None and code in (AlarmCode.NORMAL, AlarmCode.ACC_ON, AlarmCode.ACC_OFF):
        return [position, reply]
    event = DeviceEvent(
        device_key=key,
        protocol=PROTOCOL,
        time=position.fix_time,
        kind=name or "other",
        position=position,
        attributes=MappingProxyType({"alarm_code": code}),
    )
    return [event, reply]


def _heartbeat(reader: Reader, state: SessionState) -> list[Message]:
    key = _identity(state, reader.data, "heartbeat")
    attrs: dict[str, AttributeValue] = {}
    info = reader.u8("terminal information")
    voltage = reader.u8("voltage level") if reader.remaining else 0
    gsm = reader.u8("GSM signal") if reader.remaining else 0
    _status_attrs(info, voltage, gsm, attrs)
    if reader.remaining >= 2:
        attrs["alarm_language"] = reader.u16("alarm/language")
    return [Heartbeat(device_key=key, protocol=PROTOCOL, attributes=MappingProxyType(attrs))]


def _text(raw: bytes, encoding: str, frame: bytes) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise _fail(f"text is not {encoding}", frame) from exc


def _info(reader: Reader, kind: int, state: SessionState) -> list[Message]:
    """0x15 / 0x21 terminal responses to an online command (``kind="command_reply"``,
    ``server_flag`` echoed from the command) and 0x94 information (``kind="info"``)."""
    key = _identity(state, reader.data, "information")
    attrs: dict[str, AttributeValue] = {}
    info_kind = "info" if kind == MessageType.INFO else "command_reply"
    if kind == MessageType.STRING:
        length = reader.u8("command length")
        attrs["server_flag"] = reader.u32("server flag")
        attrs["text"] = _text(reader.take(length - 4, "command content"), "ascii", reader.data)
        if reader.remaining >= 2:
            attrs["language"] = reader.u16("language")
    elif kind == MessageType.COMMAND_REPLY:
        attrs["server_flag"] = reader.u32("server flag")
        code = reader.u8("encoding")
        encoding = "utf-16-be" if code == TextEncoding.UTF16BE else "ascii"
        attrs["text"] = _text(reader.rest(), encoding, reader.data)
    else:
        info_type = reader.u8("information type")
        attrs["info_type"] = info_type
        if info_type == InfoType.EXTERNAL_VOLTAGE:
            attrs["external_voltage_v"] = reader.u16("voltage") / 100.0
        elif info_type == InfoType.ICCID:
            for name, size in (("imei", 8), ("imsi", 8), ("iccid", 10)):
                attrs[name] = reader.take(size, name).hex()
        elif info_type == InfoType.STATUS_SYNC:
            attrs["text"] = _text(reader.rest(), "ascii", reader.data)
        elif info_type == InfoType.DOOR:
            door = reader.u8("door status")
            attrs["door"] = bool(door & DoorStatus.DOOR_OPEN)
            attrs["trigger_high"] = bool(door & DoorStatus.TRIGGER_HIGH)
            attrs["io_high"] = bool(door & DoorStatus.IO_HIGH)
        elif info_type == InfoType.RFID:
            attrs["rfid"] = reader.rest().hex()
        elif info_type == InfoType.SATELLITES:
            _satellites(reader, attrs)
        else:
            attrs["data"] = reader.rest().hex()
    return [_no_fix(key, info_kind, attrs)]


def _strengths(reader: Reader, what: str) -> tuple[int, str]:
    """A count byte and that many 1-byte strengths -> (count, ``"s1,s2,..."``)."""
    count = reader.u8(f"{what} count")
    return count, ",".join(str(b) for b in reader.take(count, f"{what} strengths"))


def _satellites(reader: Reader, attrs: dict[str, AttributeValue]) -> None:
    """0x94 type 0x09 ([VL03] §9): per system (GPS, then BDS when present) the module status
    (``ModuleStatus``), the satellites in the fix and their strengths, the visible ones and
    theirs; then an extension length and bytes (kept as hex)."""
    for system in ("gps", "bds"):
        if system == "bds" and not reader.remaining:
            return
        status = reader.u8(f"{system} module status")
        attrs[f"{system}_status"] = status
        if status in (ModuleStatus.NO_FEATURE, ModuleStatus.SLEEPING) and not reader.remaining:
            return
        attrs[f"{system}_in_fix"], attrs[f"{system}_in_fix_strengths"] = _strengths(
            reader, f"{system} satellites in fix"
        )
        attrs[f"{system}_visible"], attrs[f"{system}_visible_strengths"] = _strengths(
            reader, f"{system} visible satellites"
        )
    if reader.remaining:
        attrs["extension"] = reader.take(reader.u8("extension length"), "extension").hex()
        _exact_end(reader, "satellite extension")


def _address_request(reader: Reader, state: SessionState) -> list[Message]:
    """0x2A ([VL03] §6) and 0x1A ([GT03] §5.9): a GPS block, the phone number that asked,
    language. The server's answer would be a geocoded address (not provided): the fix is
    kept, nothing is sent."""
    key = _identity(state, reader.data, "address request")
    attrs: dict[str, AttributeValue] = {}
    pos_at = reader.offset
    reader.skip(_GPS.size, "GPS block")
    _phone(reader, attrs)
    end = reader.offset
    reader.offset = pos_at
    position = _gps(reader, key, attrs)
    reader.offset = end
    return [position]


def _phone(reader: Reader, attrs: dict[str, AttributeValue]) -> None:
    """The 21-byte ASCII phone number (NUL padded) and the optional language word of an
    address request ([VL03] §6, [GT03] §5.6)."""
    phone = reader.take(_PHONE_SIZE, "phone number").rstrip(b"\x00")
    attrs["phone"] = _text(phone, "ascii", reader.data)
    if reader.remaining >= _LANGUAGE_SIZE:
        attrs["language"] = reader.u16("language")
    attrs["address_request"] = True


def _lbs_only(reader: Reader, state: SessionState) -> list[Message]:
    """0x11 ([GT03] §5.3): date-time and the serving cell -> ``DeviceInfo(kind="lbs")``.
    Bytes after the cell (the captures carry two, ``00 02``) are not named by the layout at
    hand and are left unread."""
    key = _identity(state, reader.data, "LBS packet")
    fix_time = _date(reader)
    attrs: dict[str, AttributeValue] = {}
    _lbs(reader, attrs, False)
    return [_no_fix(key, "lbs", attrs, fix_time)]


def _lbs_address_request(reader: Reader, kind: int, state: SessionState) -> list[Message]:
    """0x17 ([GT03] §5.6, [LL301] §15) / 0xA7 ([LL301] §16, 4G cell): the serving cell, the
    phone number that asked, language -> ``DeviceInfo(kind="lbs")`` with ``phone``,
    ``language`` and ``address_request``. No address is answered (no geocoder)."""
    key = _identity(state, reader.data, "LBS address request")
    attrs: dict[str, AttributeValue] = {}
    four_g = kind == MessageType.LBS_PHONE_4G
    _lbs(reader, attrs, four_g)
    _phone(reader, attrs)
    if four_g:
        _exact_end(reader, "4G LBS address request")
    return [_no_fix(key, "lbs", attrs)]


def _neighbours(reader: Reader, layout: struct.Struct, attrs: dict[str, AttributeValue]) -> None:
    """Up to six neighbour cells ``LAC CI RSSI`` ([VL03] §4, §11; [V5] §5): the used ones
    as ``lac:cell:rssi`` text, ``;``-separated, in ``neighbours``."""
    cells: list[str] = []
    for index in range(NEIGHBOUR_CELLS):
        lac, raw_cell, rssi = reader.unpack(layout, f"neighbour {index + 1}")
        cell = int.from_bytes(raw_cell, "big")
        if (lac, cell) != _UNUSED_CELL:
            cells.append(f"{lac}:{cell}:{rssi}")
    attrs["neighbours"] = ";".join(cells)


def _lbs_multi(reader: Reader, kind: int, state: SessionState) -> list[Message]:
    """0x28 / 0xA1 ([VL03] §4, §11) and 0x18 ([GT03] §5.7, the same fields): date-time,
    serving cell and RSSI, six neighbours, timing advance, language. No coordinates: a
    ``DeviceInfo(kind="lbs")``."""
    key = _identity(state, reader.data, "LBS packet")
    fix_time = _date(reader)
    attrs: dict[str, AttributeValue] = {}
    four_g = kind in FOUR_G_TYPES
    _lbs(reader, attrs, four_g)
    attrs["rssi"] = reader.u8("RSSI")
    _neighbours(reader, _NEIGHBOUR_4G if four_g else _NEIGHBOUR_2G, attrs)
    attrs["timing_advance"] = reader.u8("timing advance")
    if reader.remaining >= 2:
        attrs["language"] = reader.u16("language")
    return [_no_fix(key, "lbs", attrs, fix_time)]


def _access_points(reader: Reader, count: int) -> list[str]:
    """``count`` access points: ``MAC(6) signal(1)`` each, or, in the firmware versions that
    add the network name, ``MAC(6) signal(1) SSID length(1) SSID`` ([V5] §5 gives both).
    The plain form is taken when the bytes left are exactly ``count`` times 7; otherwise the
    SSID form must use up the packet (``Malformed`` if neither fits)."""
    if reader.remaining == count * _WIFI_AP.size:
        points = []
        for index in range(count):
            mac, signal = reader.unpack(_WIFI_AP, f"access point {index + 1}")
            points.append(f"{mac.hex(':')},{signal}")
        return points
    points = []
    for index in range(count):
        mac, signal = reader.unpack(_WIFI_AP, f"access point {index + 1}")
        name = reader.take(reader.u8("SSID length"), f"SSID {index + 1}")
        ssid = name.decode("utf-8", "replace").replace(";", " ").replace(",", " ")
        points.append(f"{mac.hex(':')},{signal},{ssid}")
    if reader.remaining:
        raise _fail(f"{reader.remaining} bytes after {count} access points", reader.data)
    return points


def _wifi(reader: Reader, kind: int, state: SessionState) -> list[Message]:
    """0x2C ([V5] §5) and 0xA2 ([LL301] §11, 4G cells): date-time, serving cell + RSSI, six
    neighbours, timing advance, the number of access points, then the access points ->
    ``DeviceInfo(kind="wifi")`` with ``wifi`` as ``mac,signal[,ssid]`` text, ``;``-separated.
    """
    key = _identity(state, reader.data, "WiFi packet")
    fix_time = _date(reader)
    attrs: dict[str, AttributeValue] = {}
    four_g = kind == MessageType.WIFI_4G
    _lbs(reader, attrs, four_g)
    attrs["rssi"] = reader.u8("RSSI")
    _neighbours(reader, _NEIGHBOUR_4G if four_g else _NEIGHBOUR_2G, attrs)
    attrs["timing_advance"] = reader.u8("timing advance")
    count = reader.u8("WiFi count")
    attrs["wifi_count"] = count
    attrs["wifi"] = ";".join(_access_points(reader, count))
    return [_no_fix(key, "wifi", attrs, fix_time)]


def _lbs_alarm(reader: Reader, kind: int, state: SessionState, serial: int) -> list[Message]:
    """0x19 ([V5] §7.1) and 0xA5 ([LL301] §18, 4G cell): serving cell and the alarm status
    block, no date and no fix: the event is timed by the session clock (receive time)."""
    key = _identity(state, reader.data, "LBS alarm")
    attrs: dict[str, AttributeValue] = {}
    four_g = kind == MessageType.LBS_ALARM_4G
    _lbs(reader, attrs, four_g)
    info, voltage, gsm, code, language = reader.unpack(_STATUS, "status block")
    if four_g:
        _exact_end(reader, "4G LBS alarm")
    _status_attrs(info, voltage, gsm, attrs)
    attrs["alarm_code"] = code
    attrs["language"] = language
    reply = Reply(data=encode_reply(kind, serial), acks_data=True)
    name = ALARM_KIND.get(code)
    if name is None and code == AlarmCode.NORMAL:
        name = TERMINAL_ALARM_KIND.get((info & TerminalInfo.ALARM_MASK) >> 3)
    if name is None and code in (AlarmCode.NORMAL, AlarmCode.ACC_ON, AlarmCode.ACC_OFF):
        beat = Heartbeat(device_key=key, protocol=PROTOCOL, attributes=MappingProxyType(attrs))
        return [beat, reply]
    event = DeviceEvent(
        device_key=key,
        protocol=PROTOCOL,
        time=now(state),
        kind=name or "other",
        attributes=MappingProxyType(attrs),
    )
    return [event, reply]


def _heartbeat_ext(reader: Reader, state: SessionState) -> list[Message]:
    """0x23 (AT4/X3 heartbeat): terminal information, voltage (2 bytes, V x 100), GSM
    signal, language/extended port status (2 bytes)."""
    key = _identity(state, reader.data, "heartbeat")
    attrs: dict[str, AttributeValue] = {}
    info = reader.u8("terminal information")
    voltage = reader.u16("voltage")
    gsm = reader.u8("GSM signal")
    _status_attrs(info, 0, gsm, attrs)
    del attrs["battery_level"]
    attrs["battery_voltage_v"] = voltage / 100.0
    if reader.remaining >= 2:
        attrs["alarm_language"] = reader.u16("alarm/language")
    return [Heartbeat(device_key=key, protocol=PROTOCOL, attributes=MappingProxyType(attrs))]


_WIFI_TYPES = frozenset({MessageType.WIFI, MessageType.WIFI_4G})
_GPS_PHONE_TYPES = frozenset({MessageType.ADDRESS_REQUEST, MessageType.GPS_PHONE})
_LBS_ALARM_TYPES = frozenset({MessageType.LBS_ALARM, MessageType.LBS_ALARM_4G})
_LBS_PHONE_TYPES = frozenset({MessageType.LBS_PHONE, MessageType.LBS_PHONE_4G})


def _check(frame: bytes) -> int:
    """Length and CRC-ITU of a whole frame; returns the size of its head (start bits and
    length)."""
    head = 3 if frame.startswith(SHORT_START) else 4
    if len(frame) < head + 7:
        raise _fail(f"frame of {len(frame)} bytes is too short", frame)
    expected = (frame[-4] << 8) | frame[-3]
    actual = crc16_x25(frame[2:-4])  # a bytes slice costs less than a memoryview at this size
    if actual != expected:
        raise BadChecksum(f"CRC-ITU {actual:04x} != {expected:04x}", protocol=PROTOCOL, data=frame)
    return head


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """Decode one whole GT06 frame (as cut by ``Gt06Framer``)."""
    head = _check(frame)
    if head == 3 and frame[3] == _GPS_LBS_UTC and len(frame) == _FULL_22_FRAME:
        key = state.device_key
        return [
            _fast_location(frame, key if key is not None else _identity(state, frame, "location"))
        ]
    return _decode_checked(frame, state, head)


def decode_frame_checked(frame: bytes, state: SessionState) -> list[Message]:
    """``decode_frame`` with every field read through the checked ``Reader`` (no
    one-unpack shortcut): the reference the fast path must agree with."""
    return _decode_checked(frame, state, _check(frame))


def _decode_checked(frame: bytes, state: SessionState, head: int) -> list[Message]:
    kind = frame[head]
    serial = (frame[-6] << 8) | frame[-5]
    reader = Reader(frame, PROTOCOL, head + 1, len(frame) - 6)
    if kind in LOCATION_TYPES:
        return _location(reader, kind, state)
    if kind in ALARM_TYPES:
        return _alarm(reader, kind, state, serial)
    if kind == MessageType.LOGIN:
        out = _login(reader, state)
    elif kind == MessageType.STATUS:
        out = _heartbeat(reader, state)
    elif kind == MessageType.HEARTBEAT_EXT:
        out = _heartbeat_ext(reader, state)
    elif kind in (MessageType.STRING, MessageType.COMMAND_REPLY, MessageType.INFO):
        return _info(reader, kind, state)
    elif kind in LBS_TYPES:
        return _lbs_multi(reader, kind, state)
    elif kind in _WIFI_TYPES:
        return _wifi(reader, kind, state)
    elif kind in _GPS_PHONE_TYPES:
        return _address_request(reader, state)
    elif kind in _LBS_ALARM_TYPES:
        return _lbs_alarm(reader, kind, state, serial)
    elif kind in _LBS_PHONE_TYPES:
        return _lbs_address_request(reader, kind, state)
    elif kind == MessageType.LBS:
        return _lbs_only(reader, state)
    elif kind == MessageType.TIME_REQUEST:
        # answered whether or not the device has logged in (it asks right after power-on)
        return [Reply(data=encode_time_reply(now(state), serial), acks_data=False)]
    else:
        raise UnsupportedMessage(
            f"protocol number 0x{kind:02x} not decoded", protocol=PROTOCOL, data=frame
        )
    if kind in REPLIED_TYPES:
        out.append(Reply(data=encode_reply(kind, serial), acks_data=False))
    return out
