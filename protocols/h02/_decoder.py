"""H02 frame decoding: ``*<maker>,<id>,<type>,...#`` text frames and the ``$`` binary form.

Sources: "G20LS Protocol Document (2023 CANTRACK PROTOCOL)" sections 1.2.2 (response
structure), 2.1 (V1), 2.2 (V3), 2.3 (V5), 2.4 (HTBT), 2.5 (ICCID), 3.1 (V4 command replies);
the H02 "Protocol" document of the SinoTrack ST-901/902/906 family (scribd 470158848) §2-3
(command and "Confirm Message" layouts) and its "standard mode record" (the 32-byte binary
form); "GPS Tracker Platform Communication Protocol V1.0.5" (Shenzhen HuaSunTeK, 2017, listed
for h02 on traccar.org/protocols) §三.0 (VP1), §三.2 (XT), §三.3 (VI1); the coordinate forms
and the V19 layout as real devices send them (captures named in ``docs/protocols.md``).
Speed is in knots (1 knot = 1.852 km/h).

Coordinates come as ``ddmm.mmmm`` / ``dddmm.mmmm`` with any number of leading zeros dropped
(``809.0010`` is 8°09.0010'), as ``ddmmmmmm`` without the point, or as ``-dd-mm.mmmm`` (the
dash form); the sign always comes from the hemisphere letter, which must be ``N``/``S`` for a
latitude and ``E``/``W`` for a longitude.

Binary form (``$``): device id 5 bytes BCD, hhmmss and ddmmyy BCD, latitude ``ddmmmmmm``
(4 bytes BCD), one byte (battery/reserved), longitude ``dddmmmmmm`` (9 BCD digits) and a
flag nibble (bit 3 east, bit 2 north, bit 1 valid), speed (3 digits, knots) and course
(3 digits) BCD, 4 status bytes: 29 bytes, then a tail of device-dependent length. The
ST-901 document's 32-byte "standard mode record" ends with a user alarm flag, a reserved
byte and a record number (bytes 29-31); the 45-byte captures hold other values there (byte
31 looks like a signal level), and the framer hands over only the first 32 bytes, so bytes
29-31 are kept raw in ``tail`` and the rest of a longer tail is not seen.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from types import MappingProxyType

from protocols._checks import bcd_digits
from protocols.base import SessionState
from protocols.errors import Malformed, UnsupportedMessage
from protocols.model import (
    AttributeValue,
    DeviceInfo,
    Heartbeat,
    Message,
    Position,
    Reply,
    check_attributes,
)

PROTOCOL = "h02"
BINARY_START = b"$"
KNOTS_TO_KMH = 1.852
MINUTES_PER_DEGREE = 60.0
LAT_HEMISPHERES = ("N", "S")
LON_HEMISPHERES = ("E", "W")
#: validity letters: ``A`` (and ``B``, sent by some firmwares) valid; ``V`` or empty invalid
VALID = ("A", "B")
INVALID = ("V", "")
#: ``ddmmyy`` a device without a GPS time sends
NO_DATE = "000000"
#: digits of a coordinate written without its decimal point (``ddmmmmmm``)
NO_POINT_DECIMALS = 4
#: text types with the V1 field layout
V1_TYPES = frozenset({"V1", "V2", "VI1"})
#: VI1 of the HuaSunTeK document (§三.3): the address coding scheme (``0`` GB2312, ``1``
#: unicode) stands where V1 has the validity letter
VI1_CODES = frozenset("0123456789")
#: VP1 LBS form: the cells ``lac,cid,level`` each end with ``Y`` (HuaSunTeK §三.0)
VP1_CELL_END = "Y"
VP1_CELL_FIELDS = 3
#: first ICCID digits (ITU-T E.118: 89 = telecom)
ICCID_PREFIX = "89"
ICCID_MIN_DIGITS = 19


class BinaryFlag(enum.IntFlag):
    """Low nibble after the longitude digits in the ``$`` form."""

    VALID = 0x2  #: bit 1: GPS fix valid ("A")
    NORTH = 0x4  #: bit 2: north latitude
    EAST = 0x8  #: bit 3: east longitude


def _fail(message: str, frame: bytes) -> Malformed:
    return Malformed(message, protocol=PROTOCOL, data=frame)


def _time(hhmmss: str, ddmmyy: str, frame: bytes) -> datetime:
    if len(hhmmss) != 6 or len(ddmmyy) != 6 or not (hhmmss + ddmmyy).isdigit():
        raise _fail(f"bad time {hhmmss!r} {ddmmyy!r}", frame)
    try:
        return datetime(
            2000 + int(ddmmyy[4:6]),
            int(ddmmyy[2:4]),
            int(ddmmyy[0:2]),
            int(hhmmss[0:2]),
            int(hhmmss[2:4]),
            int(hhmmss[4:6]),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise _fail(f"bad time {hhmmss!r} {ddmmyy!r}", frame) from exc


INF = float("inf")


def _is_decimal(text: str) -> bool:
    """Digits with at most one point (no sign, exponent, ``_``, ``nan`` or ``inf``)."""
    return text.replace(".", "", 1).isdigit()


def _finite(text: str) -> float | None:
    """``text`` as a finite, non-negative float, or None (NaN fails the comparison)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value < INF else None


def _degrees(text: str, hemisphere: str, allowed: tuple[str, str], frame: bytes) -> float:
    """Degrees from any of the coordinate forms; ``allowed`` = (positive, negative) letters."""
    if hemisphere not in allowed:
        raise _fail(f"bad hemisphere {hemisphere!r} for {text!r}", frame)
    limit = 90.0 if allowed is LAT_HEMISPHERES else 180.0
    if text[:1] == "-" and text.count("-") == 2:  # the dash form -dd-mm.mmmm
        deg_text, _, min_text = text[1:].partition("-")
        if not (deg_text.isdigit() and _is_decimal(min_text)):
            raise _fail(f"bad coordinate {text!r}", frame)
        degrees, minutes = int(deg_text), float(min_text)
    else:
        if "." not in text and len(text) > NO_POINT_DECIMALS + 2:  # ddmmmmmm, no point
            text = f"{text[:-NO_POINT_DECIMALS]}.{text[-NO_POINT_DECIMALS:]}"
        value = _finite(text)
        if value is None or not text[:1].isdigit() or "e" in text or "E" in text:
            raise _fail(f"bad coordinate {text!r}", frame)
        degrees = int(value // 100)
        minutes = value - degrees * 100
    result = degrees + minutes / MINUTES_PER_DEGREE
    if minutes >= MINUTES_PER_DEGREE or result > limit:
        raise _fail(f"coordinate {text!r}{hemisphere} out of range", frame)
    return -result if hemisphere == allowed[1] else result


def _number(text: str, what: str, frame: bytes) -> float:
    if not text:
        return 0.0
    value = _finite(text)
    if value is None:
        raise _fail(f"bad {what} {text!r}", frame)
    return value


def _validity(text: str, frame: bytes) -> bool:
    if text in VALID:
        return True
    if text in INVALID:
        return False
    raise _fail(f"bad validity {text!r}", frame)


def _fix(
    key: str, kind: str, f: list[str], attrs: dict[str, AttributeValue], frame: bytes
) -> Position:
    """``f`` = hhmmss, A/V, lat, N/S, lon, E/W, speed, course, ddmmyy (the V1 layout).

    ``Position.trusted``: ``_time`` gives an aware UTC time and ``_degrees`` checks the
    range (NaN cannot pass its comparisons)."""
    if not key:
        raise _fail("empty device id", frame)
    check_attributes(attrs, PROTOCOL)  # device text: the model's full check
    return Position.trusted(
        device_key=key,
        protocol=PROTOCOL,
        fix_time=_time(f[0], f[8], frame),
        lat=_degrees(f[2], f[3], LAT_HEMISPHERES, frame),
        lon=_degrees(f[4], f[5], LON_HEMISPHERES, frame),
        valid=_validity(f[1], frame),
        speed_kmh=_number(f[6], "speed", frame) * KNOTS_TO_KMH,
        course_deg=_course(f[7], frame),
        attributes=MappingProxyType(attrs),
    )


MAX_COURSE = 360.0


def _course(text: str, frame: bytes) -> float:
    value = _number(text, "course", frame)
    if value > MAX_COURSE:
        raise _fail(f"course out of range {text!r}", frame)
    return value


def _no_fix(key: str, kind: str, attrs: dict[str, AttributeValue]) -> DeviceInfo:
    """A report whose time or date is empty/zero: no fix can be built (LBS-only devices)."""
    return DeviceInfo(
        device_key=key, protocol=PROTOCOL, kind="no_fix", attributes=MappingProxyType(attrs)
    )


def _v1(key: str, kind: str, rest: list[str], frame: bytes) -> Message:
    """V1/V2/VI1: ``hhmmss,A,lat,N,lon,E,speed,course,ddmmyy,status[,extra...]``."""
    if len(rest) < 10:
        raise _fail(f"position with {len(rest) - 1} fields", frame)
    f = rest[1:10]
    attrs: dict[str, AttributeValue] = {"type": kind}
    if len(rest) > 10:
        attrs["status"] = rest[10]
    if len(rest) > 11:
        attrs["data"] = ",".join(rest[11:])
    if kind == "VI1" and f[1] in VI1_CODES:
        # HuaSunTeK §三.3: a coding scheme, not a validity letter; the fix is not said valid
        attrs["code"] = int(f[1])
        f[1] = ""
    if not f[0] or not f[8] or f[8] == NO_DATE:
        return _no_fix(key, kind, attrs)
    return _fix(key, kind, f, attrs, frame)


def _v19(key: str, rest: list[str], frame: bytes) -> Message:
    """V19 (capture in traccar/traccar#2482): the V1 fields, then SIM data, then the status:
    ``hhmmss,V,lat,N,lon,W,speed,course,ddmmyy,<x>,<phone>,<ICCID>,status``."""
    if len(rest) < 11:
        raise _fail(f"V19 with {len(rest) - 1} fields", frame)
    sim = rest[10:-1]
    attrs: dict[str, AttributeValue] = {"type": "V19", "status": rest[-1], "sim": ",".join(sim)}
    for value in sim:
        digits = value.rstrip("?")
        if digits.startswith(ICCID_PREFIX) and len(digits) >= ICCID_MIN_DIGITS:
            attrs["iccid"] = digits
    f = rest[1:10]
    if not f[0] or not f[8] or f[8] == NO_DATE:
        return _no_fix(key, "V19", attrs)
    return _fix(key, "V19", f, attrs, frame)


def _vp1(key: str, rest: list[str], frame: bytes) -> Message:
    """VP1 (HuaSunTeK §三.0): ``V,mcc,mnc,lac,cid,levelY...`` (LBS) or
    ``A|B,lat,N,lon,E,speed,course,ddmmyy[,status,...]``, a fix with a date and no time of
    day: timed at 00:00:00 UTC of that date (``date_only``)."""
    if len(rest) < 4:
        raise _fail(f"VP1 with {len(rest) - 1} fields", frame)
    if rest[1] == "V":
        attrs: dict[str, AttributeValue] = {"type": "VP1", "data": ",".join(rest[4:])}
        if rest[2].isdigit() and rest[3].isdigit():
            attrs.update(mcc=int(rest[2]), mnc=int(rest[3]))
            cells = [c.split(",") for c in str(attrs["data"]).split(VP1_CELL_END) if c]
            if cells and all(
                len(c) == VP1_CELL_FIELDS and all(v.isdigit() for v in c) for c in cells
            ):
                attrs["cell_count"] = len(cells)
        return DeviceInfo(
            device_key=key, protocol=PROTOCOL, kind="cell", attributes=MappingProxyType(attrs)
        )
    if len(rest) < 9:
        raise _fail(f"VP1 fix with {len(rest) - 1} fields", frame)
    f = ["000000", *rest[1:8], rest[8]]
    fix_attrs: dict[str, AttributeValue] = {"type": "VP1", "date_only": True}
    if len(rest) > 9:
        fix_attrs["status"] = rest[9]
    if len(rest) > 10:
        fix_attrs["data"] = ",".join(rest[10:])
    return _fix(key, "VP1", f, fix_attrs, frame)


def _cells(kind: str, fields: list[str]) -> dict[str, AttributeValue]:
    """V3/NBR cell data: raw in ``data``; NBR also ``mcc``, ``mnc`` and ``cell_count``.

    NBR: ``hhmmss,mcc,mnc,<gsm delay>,n,(lac,cid,rssi)*n,ddmmyy,status[,x]`` (captures in
    traccar/traccar#1390, #2482, #2780); kept raw apart from the counts when it does not add up.
    """
    attrs: dict[str, AttributeValue] = {"type": kind, "data": ",".join(fields[3:])}
    if kind == "NBR" and len(fields) > 8 and all(f.isdigit() for f in fields[4:8]):
        count = int(fields[7])
        if len(fields) - (8 + 3 * count + 2) in (0, 1):
            attrs.update(mcc=int(fields[4]), mnc=int(fields[5]), cell_count=count)
    return attrs


def _v4_position_body(fields: list[str]) -> list[str] | None:
    """The ``hhmmss,A,lat,N,lon,E,speed,course,ddmmyy,status`` part of a V4 reply, if any."""
    for i in range(5, len(fields) - 8):
        if (
            fields[i] in ("A", "V", "B")
            and fields[i + 2] in LAT_HEMISPHERES
            and fields[i + 4] in LON_HEMISPHERES
            and len(fields[i - 1]) == 6
            and fields[i - 1].isdigit()
        ):
            return fields[i - 1 : i + 9]
    return None


def _info(key: str, kind: str, attrs: dict[str, AttributeValue]) -> DeviceInfo:
    return DeviceInfo(
        device_key=key, protocol=PROTOCOL, kind=kind, attributes=MappingProxyType(attrs)
    )


def _wifi(fields: list[str]) -> dict[str, AttributeValue]:
    """V5 (G20LS §2.3): ``n,mac*n,<x>,ddmmyy,status``."""
    attrs: dict[str, AttributeValue] = {"type": "V5", "data": ",".join(fields[3:])}
    if len(fields) > 3 and fields[3].isdigit():
        count = int(fields[3])
        if len(fields) == 4 + count + 3:
            attrs.update(wifi_count=count, status=fields[-1])
    return attrs


def _decode_text(frame: bytes, state: SessionState) -> list[Message]:
    try:
        text = frame[1:-1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise _fail("text frame is not ASCII", frame) from exc
    fields = text.split(",")
    if len(fields) < 3 or not fields[1]:
        raise _fail("frame without maker, id and type", frame)
    key, kind = fields[1], fields[2]
    if "\x00" in text:
        raise _fail("NUL in a text frame", frame)
    state.device_key = key
    rest = fields[2:]
    if kind in V1_TYPES:
        return [_v1(key, kind, rest, frame)]
    if kind == "V19":
        return [_v19(key, rest, frame)]
    if kind == "VP1":
        return [_vp1(key, rest, frame)]
    if kind in ("HTBT", "V0"):
        attrs: dict[str, AttributeValue] = {}
        if len(fields) > 3 and fields[3].isdigit():
            attrs["battery_pct"] = int(fields[3])
        # G20LS §2.4: the server answers a heartbeat with the same frame
        return [
            Heartbeat(device_key=key, protocol=PROTOCOL, attributes=MappingProxyType(attrs)),
            Reply(data=frame, acks_data=False),
        ]
    if kind == "XT":
        # HuaSunTeK §三.2: ``*XX,<id>,XT#`` is the heartbeat (no reply); fields some devices
        # add (``XT,V,0,0``, ``XT,2``: traccar#2131, #3076) are kept raw
        extra: dict[str, AttributeValue] = {"data": ",".join(fields[3:])} if fields[3:] else {}
        return [Heartbeat(device_key=key, protocol=PROTOCOL, attributes=MappingProxyType(extra))]
    if kind == "LINK":
        # LINK,hhmmss,rssi,satellites,battery%,steps,turnovers,ddmmyy,status (watch-style
        # status report; captures in traccar/traccar#1173 and #1390)
        names = ("rssi", "satellites", "battery_pct", "steps", "turnovers")
        values: dict[str, AttributeValue] = {
            n: int(v) if v.isdigit() else v for n, v in zip(names, fields[4:9], strict=False)
        }
        if len(fields) > 10:
            values["status"] = fields[10]
        return [Heartbeat(device_key=key, protocol=PROTOCOL, attributes=MappingProxyType(values))]
    if kind in ("V3", "NBR"):
        return [_info(key, "cell", _cells(kind, fields))]
    if kind == "V5":
        return [_info(key, "wifi", _wifi(fields))]
    if kind == "V4":
        reply = _info(
            key,
            "command_reply",
            {"command": ",".join(fields[3:5]), "text": ",".join(fields[5:])},
        )
        body = _v4_position_body(fields)
        if body is None:
            return [reply]
        return [reply, _position_v4(key, body, frame)]
    if kind == "ICCID":
        return [_info(key, "info", {"iccid": ",".join(fields[3:])})]
    raise UnsupportedMessage(f"message type {kind!r} not decoded", protocol=PROTOCOL, data=frame)


def _position_v4(key: str, body: list[str], frame: bytes) -> Position:
    return _fix(key, "V4", body[:9], {"type": "V4", "status": body[9]}, frame)


def _decode_binary(frame: bytes, state: SessionState) -> list[Message]:
    digits = bcd_digits(frame[1:16]) or ""
    lon_digits = frame[17:22].hex()
    motion = bcd_digits(frame[22:25])
    if len(digits) != 30 or not lon_digits[:9].isdigit() or motion is None:
        raise _fail("binary frame is not BCD", frame)
    flags = int(lon_digits[9], 16)
    key = digits[:10]
    state.device_key = key
    lat = _degrees(
        f"{digits[22:26]}.{digits[26:30]}",
        "N" if flags & BinaryFlag.NORTH else "S",
        LAT_HEMISPHERES,
        frame,
    )
    lon = _degrees(
        f"{lon_digits[:5]}.{lon_digits[5:9]}",
        "E" if flags & BinaryFlag.EAST else "W",
        LON_HEMISPHERES,
        frame,
    )
    return [
        Position.trusted(  # _time gives aware UTC, _degrees checks the ranges
            device_key=key,
            protocol=PROTOCOL,
            fix_time=_time(digits[10:16], digits[16:22], frame),
            lat=lat,
            lon=lon,
            valid=bool(flags & BinaryFlag.VALID),
            speed_kmh=int(motion[:3]) * KNOTS_TO_KMH,
            course_deg=float(int(motion[3:6])),
            attributes=MappingProxyType(
                {
                    "type": "binary",
                    "battery": frame[16],
                    "status": frame[25:29].hex().upper(),
                    "tail": frame[29:32].hex().upper(),
                }
            ),
        )
    ]


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """Decode one frame as cut by ``H02Framer``."""
    if frame[:1] == BINARY_START:
        return _decode_binary(frame, state)
    return _decode_text(frame, state)
