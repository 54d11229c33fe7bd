"""Teltonika frames -> messages: IMEI handshake, AVL packets over TCP, UDP datagrams.

Validity rule: the wiki ("GPS element") says a record taken without a GPS fix carries the
last valid coordinates with angle, satellites and speed set to 0. So ``valid`` is
``satellites > 0``; for an invalid record speed and course are unknown (None), and the
coordinates are kept (the last fix) with ``valid=False``.

Hot path: ``_fast_records`` reads each record with one precompiled ``struct`` unpack for
the GPS element and one per IO group (a ``Struct`` per count, cached, which also reads the
next group's count), looks each IO id up once in ``_IO_TABLE`` (its ``io<id>`` key, name
and conversion), and builds positions with ``Position.trusted`` after checking coordinates
and time. At anything irregular (a short or overlong packet, a bad count, coordinates or
time out of range, a codec other than 8, 8E, 16) it gives up and the checked ``Reader``
path (``_records``) decodes the packet instead, raising the precise error; only then is
the codec id tested for the Codec 12-15 messages. ``decode_tcp_checked`` always takes the
checked path (the benchmark's baseline).

Cost, measured in instructions (bench/decode_instructions.py): keyword arguments to a
builtin on the per-group path (``zip(..., strict=False)``) cost about 10 % per record, so
the loop indexes the unpacked tuple instead.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TypeAlias

from protocols._checks import crc16_ibm, is_imei
from protocols._reader import Reader
from protocols.base import SessionState
from protocols.errors import BadChecksum, Malformed, NotIdentified, UnsupportedMessage
from protocols.model import AttributeValue, Login, Message, Position, Reply
from protocols.teltonika._encoder import encode_tcp_ack, encode_udp_ack
from protocols.teltonika._messages import decode_messages
from protocols.teltonika._types import (
    COORDINATE_SCALE,
    IMEI_ACCEPTED,
    IO_NAMES,
    MESSAGE_CODECS,
    Codec,
    as_is,
)

PROTOCOL = "teltonika"

# timestamp (ms), priority, lon, lat, altitude, angle, satellites, speed
_RECORD = struct.Struct(">QBiihHBH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_UDP_HEAD = struct.Struct(">HHBBH")  # length, packet id, not usable, AVL packet id, IMEI len
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VALUE_SIZES = (1, 2, 4, 8)
_MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z
#: MESSAGE_CODECS as plain ints (cheaper to test per packet than IntEnum members)
_MESSAGE_CODECS = frozenset(int(codec) for codec in MESSAGE_CODECS)


def _fail(message: str, frame: bytes) -> Malformed:
    return Malformed(message, protocol=PROTOCOL, data=frame)


def _io(reader: Reader, codec: int, attrs: dict[str, AttributeValue]) -> None:
    """Read one record's IO element into ``attrs`` ("io<id>" plus well-known names)."""
    wide_ids = codec != Codec.CODEC8
    wide_counts = codec == Codec.CODEC8_EXTENDED
    event = reader.u16("event IO id") if wide_ids else reader.u8("event IO id")
    attrs["event_io"] = event
    if codec == Codec.CODEC16:
        attrs["generation_type"] = reader.u8("generation type")
    reader.skip(2 if wide_counts else 1, "total IO count")
    for size in _VALUE_SIZES:
        count = reader.u16("IO count") if wide_counts else reader.u8("IO count")
        for _ in range(count):
            io_id = reader.u16("IO id") if wide_ids else reader.u8("IO id")
            value = int.from_bytes(reader.take(size, f"IO {io_id} value"), "big")
            attrs[f"io{io_id}"] = value
            named = IO_NAMES.get(io_id)
            if named is not None:
                attrs[named.name] = named.convert(value)
    if wide_counts:
        for _ in range(reader.u16("NX count")):
            io_id = reader.u16("IO id")
            attrs[f"io{io_id}"] = reader.take(reader.u16("NX length"), "NX value").hex()


_Convert: TypeAlias = Callable[[int], AttributeValue]


class _IoTable(dict[int, tuple[str, str | None, _Convert | None]]):
    """IO id -> (``"io<id>"``, well-known name or None, its conversion or None for
    ``as_is``): one lookup
    per IO element on the fast path, the names made once per id (ids are at most 16 bits)."""

    def __missing__(self, io_id: int) -> tuple[str, str | None, _Convert | None]:
        named = IO_NAMES.get(io_id)
        entry = self[io_id] = (
            f"io{io_id}",
            None if named is None else named.name,
            None if named is None or named.convert is as_is else named.convert,
        )
        return entry


#: filled on first sight of each id: filling the 256 one-byte ids at import measured about
#: 1 % more instructions per GT06 message (not the GC; cause not found), and saved nothing
_IO_TABLE = _IoTable()


class _Irregular(Exception):
    """The fast path met something the checked path must decode (and report)."""


class _GroupStructs(dict[int, struct.Struct]):
    """count -> ``Struct(">" + pair * count + next_count)``, made on first use (<= 65536)."""

    def __init__(self, pair: str, next_count: str) -> None:
        super().__init__()
        self.pair = pair
        self.next_count = next_count

    def __missing__(self, count: int) -> struct.Struct:
        layout = self[count] = struct.Struct(">" + self.pair * count + self.next_count)
        return layout


class _Layout:
    """Struct formats of one codec ("Codec 8" / "8 Extended" / "16" sections of the wiki)."""

    __slots__ = ("generation", "groups", "head", "nx")

    def __init__(self, id_code: str, count_code: str, generation: bool, nx: bool) -> None:
        # GPS element, event IO id, [generation type], total IO count, count of 1-byte values
        self.head = struct.Struct(
            ">QBiihHBH" + id_code + ("B" if generation else "") + count_code + count_code
        )
        self.generation = generation
        self.nx = nx
        # one cache per value size: count -> Struct of (id, value) pairs + the next count
        # (for the 8-byte group: the NX count in 8E, nothing otherwise), with whether it
        # reads a next count
        groups: list[tuple[_GroupStructs, bool]] = []
        for value_code in "BHIQ":
            chained = value_code != "Q" or nx
            groups.append(
                (_GroupStructs(id_code + value_code, count_code if chained else ""), chained)
            )
        self.groups = tuple(groups)


_LAYOUTS: dict[int, _Layout] = {
    Codec.CODEC8: _Layout("B", "B", generation=False, nx=False),
    Codec.CODEC8_EXTENDED: _Layout("H", "H", generation=False, nx=True),
    Codec.CODEC16: _Layout("H", "B", generation=True, nx=False),
}
_NX_HEAD = struct.Struct(">HH")  # NX IO id, value length


def _fast_records(frame: bytes, at: int, end: int, device_key: str) -> list[Message] | None:
    """``_records`` for a regular packet from ``frame[at:end]``; None when the checked path
    has to decode it (``_records`` gives the same messages whenever this does not)."""
    try:
        layout = _LAYOUTS.get(frame[at])
        if layout is None:
            raise _Irregular
        count = frame[at + 1]
        at += 2
        unpack_head = layout.head.unpack_from
        head_size = layout.head.size
        generation = layout.generation
        nx = layout.nx
        groups = layout.groups
        table = _IO_TABLE
        from_ms = datetime.fromtimestamp
        utc = UTC
        trusted = Position.trusted
        proxy = MappingProxyType
        out: list[Message] = []
        append = out.append
        for _ in range(count):
            rec = unpack_head(frame, at)
            at += head_size
            lat = rec[3] * COORDINATE_SCALE
            lon = rec[2] * COORDINATE_SCALE
            ms = rec[0]
            if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0) or ms > _MAX_MS:
                raise _Irregular
            attrs: dict[str, AttributeValue] = {"priority": rec[1], "event_io": rec[8]}
            if generation:
                attrs["generation_type"] = rec[9]
            n = rec[-1]
            for structs, chained in groups:
                group = structs[n]
                values = group.unpack_from(frame, at)
                at += group.size
                if chained:
                    n = values[-1]
                for k in range(0, len(values) - 1, 2):
                    io_id = values[k]
                    value = values[k + 1]
                    key, name, convert = table[io_id]
                    attrs[key] = value
                    if name is not None:
                        attrs[name] = value if convert is None else convert(value)
            if nx:
                for _ in range(n):
                    io_id, size = _NX_HEAD.unpack_from(frame, at)
                    at += 4
                    value_end = at + size
                    if value_end > end:
                        raise _Irregular
                    attrs[table[io_id][0]] = frame[at:value_end].hex()
                    at = value_end
            sats = rec[6]
            valid = sats > 0
            append(
                trusted(
                    device_key=device_key,
                    protocol=PROTOCOL,
                    fix_time=from_ms(ms / 1000.0, utc) if ms else _EPOCH,
                    lat=lat,
                    lon=lon,
                    valid=valid,
                    speed_kmh=float(rec[7]) if valid else None,
                    course_deg=float(rec[5]) if valid else None,
                    altitude_m=float(rec[4]),
                    satellites=sats,
                    attributes=proxy(attrs),
                )
            )
        if frame[at] != count or at + 1 != end:
            raise _Irregular
    except (_Irregular, struct.error, IndexError):
        return None
    return out


def _records(reader: Reader, device_key: str) -> list[Message]:
    """Codec id, count, records, count again: the AVL data shared by TCP and UDP."""
    frame = reader.data
    codec = reader.u8("codec id")
    if codec not in (Codec.CODEC8, Codec.CODEC8_EXTENDED, Codec.CODEC16):
        raise UnsupportedMessage(f"codec 0x{codec:02x} not decoded", protocol=PROTOCOL, data=frame)
    count = reader.u8("number of data 1")
    out: list[Message] = []
    for index in range(count):
        ms, priority, lon_raw, lat_raw, altitude, angle, sats, speed = reader.unpack(
            _RECORD, f"record {index}"
        )
        lat = lat_raw * COORDINATE_SCALE
        lon = lon_raw * COORDINATE_SCALE
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise _fail(f"record {index}: coordinates out of range {lat!r}, {lon!r}", frame)
        if ms > _MAX_MS:
            raise _fail(f"record {index}: timestamp {ms!r} out of range", frame)
        attrs: dict[str, AttributeValue] = {"priority": priority}
        _io(reader, codec, attrs)
        valid = sats > 0
        out.append(
            Position(
                device_key=device_key,
                protocol=PROTOCOL,
                fix_time=datetime.fromtimestamp(ms / 1000.0, UTC) if ms else _EPOCH,
                lat=lat,
                lon=lon,
                valid=valid,
                speed_kmh=float(speed) if valid else None,
                course_deg=float(angle) if valid else None,
                altitude_m=float(altitude),
                satellites=sats,
                attributes=MappingProxyType(attrs),
            )
        )
    if reader.u8("number of data 2") != count:
        raise _fail("number of data 2 differs from number of data 1", frame)
    return out


def _handshake(frame: bytes, state: SessionState) -> list[Message]:
    raw = frame[2:]
    imei = raw.decode("ascii", "replace")
    if not (raw.isdigit() and 1 <= len(raw) <= 20):
        raise Malformed(f"IMEI {imei!r} is not digits", protocol=PROTOCOL, data=frame, fatal=True)
    state.device_key = imei
    state.values["imei_valid"] = is_imei(imei)
    return [Login(device_key=imei, protocol=PROTOCOL), Reply(data=IMEI_ACCEPTED, acks_data=False)]


def decode_tcp(frame: bytes, state: SessionState) -> list[Message]:
    """One TCP frame (IMEI handshake or AVL packet) as cut by ``TeltonikaFramer``."""
    return _decode_tcp(frame, state, fast=True)


def decode_tcp_checked(frame: bytes, state: SessionState) -> list[Message]:
    """``decode_tcp`` with every field read through the checked ``Reader``: the reference
    the fast path must agree with."""
    return _decode_tcp(frame, state, fast=False)


def _decode_tcp(frame: bytes, state: SessionState, fast: bool) -> list[Message]:
    if frame[1:2] != b"\x00":
        return _handshake(frame, state)
    if len(frame) < 15:
        raise _fail(f"AVL packet of {len(frame)} bytes is too short", frame)
    data = memoryview(frame)[8:-4]
    expected = _U32.unpack_from(frame, len(frame) - 4)[0]
    actual = crc16_ibm(data)
    if actual != expected:
        raise BadChecksum(
            f"CRC-16/IBM {actual:04x} != {expected:08x}", protocol=PROTOCOL, data=frame
        )
    key = state.device_key
    if key is None:
        raise NotIdentified("AVL data before the IMEI handshake", protocol=PROTOCOL, data=frame)
    end = len(frame) - 4
    # the fast path reads only the record codecs (8, 8E, 16): the codec id is tested for the
    # others only when it gives up
    out = _fast_records(frame, 8, end, key) if fast and key else None
    if out is None:
        if frame[8] in _MESSAGE_CODECS:
            # a GPRS command response or message (Codec 12-15): nothing to acknowledge
            return decode_messages(Reader(frame, PROTOCOL, 8, end), key)
        reader = Reader(frame, PROTOCOL, 8, end)
        out = _records(reader, key)
        if reader.remaining:
            raise _fail(f"{reader.remaining} bytes after number of data 2", frame)
    out.append(Reply(data=encode_tcp_ack(len(out)), acks_data=True))
    return out


def decode_udp(datagram: bytes, state: SessionState) -> list[Message]:
    """One UDP datagram: channel header, AVL packet header with IMEI, AVL data (no CRC)."""
    reader = Reader(datagram, PROTOCOL)
    length, packet_id, not_usable, avl_id, imei_len = reader.unpack(_UDP_HEAD, "UDP header")
    if length != len(datagram) - 2:
        raise _fail(f"UDP length {length} but {len(datagram) - 2} bytes follow", datagram)
    raw = reader.take(imei_len, "IMEI")
    if not raw.isdigit():
        raise _fail(f"IMEI {raw!r} is not digits", datagram)
    state.device_key = raw.decode("ascii")
    out = _fast_records(datagram, reader.offset, len(datagram), state.device_key)
    if out is None:
        if reader.remaining and datagram[reader.offset] in _MESSAGE_CODECS:
            # Codec 12-15 over UDP: the same data field after the AVL packet header, no ack
            return decode_messages(reader, state.device_key)
        out = _records(reader, state.device_key)
        if reader.remaining:
            raise _fail(f"{reader.remaining} bytes after number of data 2", datagram)
    out.append(Reply(data=encode_udp_ack(packet_id, not_usable, avl_id, len(out)), acks_data=True))
    return out
