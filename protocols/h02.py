"""H02 protocol (TCP): ``*HQ,<id>,<type>,...#`` text frames and the 32-byte ``$`` binary form.

Sources: "G20LS Protocol Document (2023 CANTRACK PROTOCOL)" sections 1.2.2 (response
structure), 2.1 (V1), 2.2 (V3), 2.4 (HTBT), 2.5 (ICCID), 3.1 (V4 command replies).
Speed is in knots (1 knot = 1.852 km/h). Coordinates are ``ddmm.mmmm`` / ``dddmm.mmmm``
with N/S and E/W letters.

Binary form (``$``): device id 5 bytes BCD, hhmmss and ddmmyy BCD, latitude ``ddmmmmmm``
(4 bytes BCD), one byte (battery/reserved), longitude ``dddmmmmmm`` (9 BCD digits) and a
flag nibble (bit 3 east, bit 2 north, bit 1 valid), speed (3 digits, knots) and course
(3 digits) BCD, 4 status bytes: 29 bytes, then a tail whose length depends on the device
(3 bytes in the 32-byte form; a captured device sends 37 bytes, traccar.org forum topic
"Parsing Issue H02 protocol"; 45- and 47-byte forms are reported in traccar/traccar#2319
and #5703). Nothing in the frame gives its length, so the framer cuts 32 bytes and then
treats up to ``BINARY_MAX_SIZE - BINARY_SIZE`` further bytes as the frame's tail until a
real next frame starts (see ``H02Framer``).

V4 command replies may carry a position (documented "Confirm Message": ``V4,CMD,hhmmss,
HHMMSS,A,lat,N,lon,E,speed,course,DDMMYY,status``; a captured D1 reply has extra
parameters after CMD), decoded as a ``Position`` beside the ``DeviceInfo``.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime
from types import MappingProxyType

from protocols._checks import bcd_digits
from protocols._framing import BufferedFramer
from protocols.base import Detection, ProtocolSpec, Session, SessionState, Transport
from protocols.errors import FrameTooLarge, Malformed, UnsupportedMessage
from protocols.model import AttributeValue, DeviceInfo, Heartbeat, Message, Position, Reply

NAME = PROTOCOL = "h02"
TEXT_START = b"*"
TEXT_END = b"#"
BINARY_START = b"$"
#: bytes cut for a binary frame (the 29-byte documented core and a 3-byte tail)
BINARY_SIZE = 32
#: longest binary variant reported (47 bytes, traccar/traccar#5703); bytes up to this far
#: after a binary frame's start are its tail, not garbage
BINARY_MAX_SIZE = 47
#: bytes after ``$`` that must repeat the previous binary frame's id for a ``$`` inside a
#: tail to start a frame
BINARY_ID_SIZE = 5
#: longest text frame accepted (V3/NBR frames with 7 cells are ~200 bytes)
MAX_FRAME = 1024
KNOTS_TO_KMH = 1.852


class BinaryFlag(enum.IntFlag):
    """Low nibble after the longitude digits in the ``$`` form."""

    VALID = 0x2  #: bit 1: GPS fix valid ("A")
    NORTH = 0x4  #: bit 2: north latitude
    EAST = 0x8  #: bit 3: east longitude


class H02Framer(BufferedFramer[bytes]):
    """Stream bytes -> ``*...#`` text frames and 32-byte ``$`` frames; skips the rest.

    After a binary frame, up to ``BINARY_MAX_SIZE - BINARY_SIZE`` bytes are its tail
    (longer binary variants): they are dropped without counting as garbage. Inside the tail
    a ``*`` starts a frame only when followed by two letters and ``,``, and a ``$`` only
    when followed by the previous frame's 5 id bytes, so tail bytes 0x24/0x2A do not cut
    false frames.
    """

    __slots__ = ("_last_id", "_tail")

    def __init__(self) -> None:
        super().__init__(b"")
        self._tail = 0
        self._last_id = b""

    def _tail_start(self, buf: bytes, pos: int) -> bool | None:
        """Whether the byte at ``pos`` (inside a tail) starts a frame; None: need more bytes."""
        first = buf[pos : pos + 1]
        if first == TEXT_START:
            probe = buf[pos + 1 : pos + 4]
            if len(probe) < 3:
                return None
            return probe[:2].isalpha() and probe[2:3] == b","
        if first == BINARY_START:
            probe = buf[pos + 1 : pos + 1 + BINARY_ID_SIZE]
            if len(probe) < BINARY_ID_SIZE:
                return None
            return probe == self._last_id
        return False

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else bytes(data)
        frames: list[bytes] = []
        pos, size = 0, len(buf)
        while pos < size:
            if self._tail:
                starts = self._tail_start(buf, pos)
                if starts is None:
                    break
                if not starts:
                    pos += 1
                    self._tail -= 1
                    continue
                self._tail = 0
            first = buf[pos : pos + 1]
            if first == TEXT_START:
                end = buf.find(TEXT_END, pos + 1, pos + MAX_FRAME)
                if end < 0:
                    if size - pos >= MAX_FRAME:
                        self._buf = b""
                        raise FrameTooLarge(
                            f"no '#' within {MAX_FRAME} bytes",
                            protocol=PROTOCOL,
                            data=buf[pos : pos + 32],
                            fatal=True,
                        )
                    break
                frames.append(buf[pos : end + 1])
                pos = end + 1
            elif first == BINARY_START:
                if pos + BINARY_SIZE > size:
                    break
                frames.append(buf[pos : pos + BINARY_SIZE])
                self._last_id = buf[pos + 1 : pos + 1 + BINARY_ID_SIZE]
                self._tail = BINARY_MAX_SIZE - BINARY_SIZE
                pos += BINARY_SIZE
            else:
                a, b = buf.find(TEXT_START, pos), buf.find(BINARY_START, pos)
                nxt = min(x for x in (a, b, size) if x >= 0)
                self._skipped += nxt - pos
                pos = nxt
        self._buf = buf[pos:] if pos < size else b""
        return frames


def _fail(message: str, frame: bytes) -> Malformed:
    return Malformed(message, protocol=PROTOCOL, data=frame)


def _time(hhmmss: str, ddmmyy: str, frame: bytes) -> datetime:
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


def _degrees(text: str, hemisphere: str, negative: str, limit: float, frame: bytes) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise _fail(f"bad coordinate {text!r}", frame) from exc
    if not math.isfinite(value):  # NaN/inf would fail int() below with a bare ValueError
        raise _fail(f"bad coordinate {text!r}", frame)
    degrees = int(value // 100)
    result = degrees + (value - degrees * 100) / 60.0
    if not 0.0 <= result <= limit or hemisphere not in ("NSEW"):
        raise _fail(f"coordinate {text!r}{hemisphere} out of range", frame)
    return -result if hemisphere == negative else result


def _number(text: str, what: str, frame: bytes) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError as exc:
        raise _fail(f"bad {what} {text!r}", frame) from exc


def _position(key: str, f: list[str], frame: bytes) -> Position:
    """``f`` = type, hhmmss, A/V/B, lat, N/S, lon, E/W, speed, course, ddmmyy, status..."""
    if len(f) < 10:
        raise _fail(f"position with {len(f)} fields", frame)
    attrs: dict[str, AttributeValue] = {"type": f[0]}
    if len(f) > 10:
        attrs["status"] = f[10]
    return Position(
        device_key=key,
        protocol=PROTOCOL,
        fix_time=_time(f[1], f[9], frame),
        lat=_degrees(f[3], f[4], "S", 90.0, frame),
        lon=_degrees(f[5], f[6], "W", 180.0, frame),
        valid=f[2] in ("A", "B"),
        speed_kmh=_number(f[7], "speed", frame) * KNOTS_TO_KMH,
        course_deg=_number(f[8], "course", frame),
        attributes=MappingProxyType(attrs),
    )


def _cells(kind: str, fields: list[str]) -> dict[str, AttributeValue]:
    """V3/NBR cell data: raw in ``data``; NBR also ``mcc``, ``mnc`` and ``cell_count``.

    NBR: ``hhmmss,mcc,mnc,<x>,n,(lac,cid,rssi)*n,ddmmyy,status`` (capture in
    traccar/traccar#1390); kept raw apart from the counts when the layout does not match.
    """
    attrs: dict[str, AttributeValue] = {"type": kind, "data": ",".join(fields[3:])}
    if kind == "NBR" and len(fields) > 8 and all(f.isdigit() for f in fields[4:8]):
        count = int(fields[7])
        if len(fields) == 8 + 3 * count + 2:
            attrs.update(mcc=int(fields[4]), mnc=int(fields[5]), cell_count=count)
    return attrs


def _v4_position_body(fields: list[str]) -> list[str] | None:
    """The ``hhmmss,A,lat,N,lon,E,speed,course,ddmmyy,status`` part of a V4 reply, if any."""
    for i in range(5, len(fields) - 8):
        if (
            fields[i] in ("A", "V", "B")
            and fields[i + 2] in ("N", "S")
            and fields[i + 4] in ("E", "W")
            and len(fields[i - 1]) == 6
            and fields[i - 1].isdigit()
        ):
            return fields[i - 1 : i + 9]
    return None


def _decode_text(frame: bytes, state: SessionState) -> list[Message]:
    try:
        text = frame[1:-1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise _fail("text frame is not ASCII", frame) from exc
    fields = text.split(",")
    if len(fields) < 3 or not fields[1]:
        raise _fail("frame without maker, id and type", frame)
    key, kind = fields[1], fields[2]
    state.device_key = key
    rest = fields[2:]
    if kind in ("V1", "V2"):
        return [_position(key, rest, frame)]
    if kind == "HTBT":
        attrs: dict[str, AttributeValue] = {}
        if len(fields) > 3 and fields[3].isdigit():
            attrs["battery_pct"] = int(fields[3])
        # G20LS §2.4: the server answers a heartbeat with the same frame
        return [
            Heartbeat(device_key=key, protocol=PROTOCOL, attributes=MappingProxyType(attrs)),
            Reply(data=frame, acks_data=False),
        ]
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
        return [
            DeviceInfo(
                device_key=key,
                protocol=PROTOCOL,
                kind="cell",
                attributes=MappingProxyType(_cells(kind, fields)),
            )
        ]
    if kind == "V4":
        reply = DeviceInfo(
            device_key=key,
            protocol=PROTOCOL,
            kind="command_reply",
            attributes=MappingProxyType(
                {"command": ",".join(fields[3:5]), "text": ",".join(fields[5:])}
            ),
        )
        body = _v4_position_body(fields)
        if body is None:
            return [reply]
        return [reply, _position(key, ["V4", *body], frame)]
    if kind == "ICCID":
        return [
            DeviceInfo(
                device_key=key,
                protocol=PROTOCOL,
                kind="info",
                attributes=MappingProxyType({"iccid": ",".join(fields[3:])}),
            )
        ]
    raise UnsupportedMessage(f"message type {kind!r} not decoded", protocol=PROTOCOL, data=frame)


def _decode_binary(frame: bytes, state: SessionState) -> list[Message]:
    digits = bcd_digits(frame[1:16]) or ""
    lon_digits = frame[17:22].hex()
    tail = bcd_digits(frame[22:25])
    if len(digits) != 30 or not lon_digits[:9].isdigit() or tail is None:
        raise _fail("binary frame is not BCD", frame)
    flags = int(lon_digits[9], 16)
    key = digits[:10]
    state.device_key = key
    lat = _degrees(
        f"{digits[22:26]}.{digits[26:30]}",
        "N" if flags & BinaryFlag.NORTH else "S",
        "S",
        90.0,
        frame,
    )
    lon = _degrees(
        f"{lon_digits[:5]}.{lon_digits[5:9]}",
        "E" if flags & BinaryFlag.EAST else "W",
        "W",
        180.0,
        frame,
    )
    return [
        Position(
            device_key=key,
            protocol=PROTOCOL,
            fix_time=_time(digits[10:16], digits[16:22], frame),
            lat=lat,
            lon=lon,
            valid=bool(flags & BinaryFlag.VALID),
            speed_kmh=int(tail[:3]) * KNOTS_TO_KMH,
            course_deg=float(int(tail[3:6])),
            attributes=MappingProxyType(
                {"type": "binary", "battery": frame[16], "status": frame[25:29].hex().upper()}
            ),
        )
    ]


def decode_frame(frame: bytes, state: SessionState) -> list[Message]:
    """Decode one frame as cut by ``H02Framer``."""
    if frame[:1] == BINARY_START:
        return _decode_binary(frame, state)
    return _decode_text(frame, state)


def new_session(transport: Transport, device_key: str | None) -> Session:
    if transport != "tcp":
        raise ValueError(f"h02 runs over tcp, not {transport!r}")
    return Session(NAME, H02Framer(), decode_frame, SessionState(transport, device_key))


def detect(head: bytes) -> Detection:
    """``*XX,`` (two maker letters) opens a text stream."""
    if not head:
        return Detection.MORE
    if head[:1] != TEXT_START:
        return Detection.NO
    probe = head[1:4]
    if len(probe) < 3:
        return Detection.MORE if probe.isalpha() or not probe else Detection.NO
    return Detection.YES if probe[:2].isalpha() and probe[2:3] == b"," else Detection.NO


SPEC = ProtocolSpec(
    name=NAME,
    default_port=5013,
    transports=frozenset({"tcp"}),
    new_session=new_session,
    detect=detect,
)
