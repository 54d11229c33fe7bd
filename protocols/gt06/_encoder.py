"""GT06 server -> terminal packets.

The answer to login, status (heartbeat) and alarm packets is the same short packet: start
bits, length 5, the protocol number being answered, the terminal's serial number echoed,
CRC-ITU over length..serial, stop bits (GT06 v1.8.1 §5.1.2, §5.3.2, §5.4.2; JM-VL03 §1-§5
"Server Response").
"""

from __future__ import annotations

import struct

from protocols._checks import crc16_x25

from ._types import SHORT_START, STOP

_REPLY_BODY = struct.Struct(">BBH")  # length, protocol number, serial
_CRC = struct.Struct(">H")
#: length byte of a reply: protocol number (1) + serial (2) + CRC (2)
_REPLY_LENGTH = 5


def encode_reply(message_type: int, serial: int) -> bytes:
    """The acknowledgement of packet ``message_type`` with serial number ``serial``."""
    if not (0 <= message_type <= 0xFF and 0 <= serial <= 0xFFFF):
        raise ValueError(f"bad reply fields: type={message_type!r} serial={serial!r}")
    body = _REPLY_BODY.pack(_REPLY_LENGTH, message_type, serial)
    return SHORT_START + body + _CRC.pack(crc16_x25(body)) + STOP


def encode_frame(message_type: int, content: bytes, serial: int, *, long: bool = False) -> bytes:
    """A whole packet (used by tests and tools to build frames from documented fields)."""
    length = 1 + len(content) + 4
    head = (
        (length.to_bytes(2, "big") if long else length.to_bytes(1, "big"))
        + bytes((message_type,))
        + content
        + serial.to_bytes(2, "big")
    )
    start = b"\x79\x79" if long else SHORT_START
    return start + head + _CRC.pack(crc16_x25(head)) + STOP
