"""Teltonika GPRS messages: Codec 12, 13, 14 and 15 (wiki "Teltonika Data Sending
Protocols", sections "Codec 12" ... "Codec 15").

They share the AVL packet's frame (TCP: 4 zero bytes, data size, data, CRC-16/IBM; UDP: the
channel header) but the data field holds messages instead of records::

    codec id (1) | quantity 1 (1) | type (1) | size (4) | payload (size) ... | quantity 2 (1)

* Codec 12: payload is the command (server -> device, type 0x05) or the response text
  (device -> server, type 0x06).
* Codec 13: type 0x06, payload = timestamp (4 bytes, seconds since 1970 UTC) + text.
* Codec 14: payload = IMEI (8 bytes, BCD with a leading 0 nibble) + command/response; type
  0x06 is the ACK (the IMEI matched, the command ran), 0x11 the nACK (IMEI only).
* Codec 15: type 0x0B, payload = timestamp (4) + IMEI (8) + text (FMX6 RS232 modes).

Each response or text becomes a ``DeviceInfo``: ``kind="command_reply"`` (Codec 12, 13,
14) or ``"serial_data"`` (Codec 15), the text in ``text`` (or, when it is not ASCII, the
bytes as hex in ``data``). The device expects no answer to any of them.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from types import MappingProxyType

from protocols._checks import bcd_digits
from protocols._reader import Reader
from protocols.errors import Malformed, UnsupportedMessage
from protocols.model import AttributeValue, DeviceInfo, Message

from ._types import Codec, MessageKind

PROTOCOL = "teltonika"
_HEAD = struct.Struct(">BI")  # type, size
_TIMESTAMP_SIZE = 4
_IMEI_SIZE = 8


def _text(raw: bytes, attrs: dict[str, AttributeValue]) -> None:
    if raw.isascii():
        attrs["text"] = raw.decode("ascii")
    else:
        attrs["data"] = raw.hex()


def _imei(raw: bytes, frame: bytes) -> str:
    digits = bcd_digits(raw)
    if digits is None:
        raise Malformed("IMEI is not BCD", protocol=PROTOCOL, data=frame)
    return digits[1:] if digits[0] == "0" else digits


def _timestamp(raw: bytes) -> datetime:
    # 4 unsigned bytes of seconds: at most 2106, always in datetime's range
    return datetime.fromtimestamp(int.from_bytes(raw, "big"), UTC)


def decode_messages(reader: Reader, device_key: str) -> list[Message]:
    """The data field of a Codec 12/13/14/15 packet, from its codec id to quantity 2."""
    frame = reader.data
    codec = reader.u8("codec id")
    count = reader.u8("quantity 1")
    out: list[Message] = []
    for index in range(count):
        kind, size = reader.unpack(_HEAD, f"message {index} head")
        payload = reader.take(size, f"message {index} payload")
        out.append(_message(codec, kind, payload, device_key, frame))
    if reader.u8("quantity 2") != count:
        raise Malformed("quantity 2 differs from quantity 1", protocol=PROTOCOL, data=frame)
    if reader.remaining:
        raise Malformed(f"{reader.remaining} bytes after quantity 2", protocol=PROTOCOL, data=frame)
    return out


def _message(codec: int, kind: int, payload: bytes, key: str, frame: bytes) -> DeviceInfo:
    attrs: dict[str, AttributeValue] = {"codec": codec}
    time: datetime | None = None
    info_kind = "command_reply"
    if kind == MessageKind.COMMAND:
        raise UnsupportedMessage(
            f"codec {codec}: a command sent by the device", protocol=PROTOCOL, data=frame
        )
    if codec == Codec.CODEC12 and kind == MessageKind.RESPONSE:
        _text(payload, attrs)
    elif codec == Codec.CODEC13 and kind == MessageKind.RESPONSE:
        if len(payload) < _TIMESTAMP_SIZE:
            raise Malformed("codec 13 message without timestamp", protocol=PROTOCOL, data=frame)
        time = _timestamp(payload[:_TIMESTAMP_SIZE])
        _text(payload[_TIMESTAMP_SIZE:], attrs)
    elif codec == Codec.CODEC14 and kind in (MessageKind.RESPONSE, MessageKind.NACK):
        if len(payload) < _IMEI_SIZE:
            raise Malformed("codec 14 message without IMEI", protocol=PROTOCOL, data=frame)
        imei = _imei(payload[:_IMEI_SIZE], frame)
        attrs["imei"] = imei
        attrs["imei_match"] = imei == key
        attrs["ack"] = kind == MessageKind.RESPONSE
        if len(payload) > _IMEI_SIZE:
            _text(payload[_IMEI_SIZE:], attrs)
    elif codec == Codec.CODEC15 and kind == MessageKind.TEXT:
        head = _TIMESTAMP_SIZE + _IMEI_SIZE
        if len(payload) < head:
            raise Malformed(
                "codec 15 message without timestamp and IMEI", protocol=PROTOCOL, data=frame
            )
        time = _timestamp(payload[:_TIMESTAMP_SIZE])
        attrs["imei"] = _imei(payload[_TIMESTAMP_SIZE:head], frame)
        _text(payload[head:], attrs)
        info_kind = "serial_data"
    else:
        raise UnsupportedMessage(
            f"codec {codec} message type 0x{kind:02x} not decoded", protocol=PROTOCOL, data=frame
        )
    return DeviceInfo(
        device_key=key,
        protocol=PROTOCOL,
        kind=info_kind,
        time=time,
        attributes=MappingProxyType(attrs),
    )
