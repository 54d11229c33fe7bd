"""GT06 server -> terminal packets.

* The answer to login, status (heartbeat) and alarm packets is the same short packet: start
  bits, length 5, the protocol number being answered, the terminal's serial number echoed,
  CRC-ITU over length..serial, stop bits (GT06 v1.8.1 §5.1.2, §5.3.2, §5.4.2; JM-VL03 §1-§5
  "Server Response").
* The answer to a time calibration request (0x8A) carries the current UTC date-time
  ``YY MM DD hh mm ss`` before the echoed serial (JM-VL03 §8). The time is a parameter: the
  decoder takes it from the session's clock, so this stays pure.
* An online command (0x80, JM-VL03 §7; GT06 v1.8.1 §6.1): length of server flag + command,
  the 4-byte server flag (echoed in the terminal's 0x15/0x21 answer, so a response can be
  matched to its command), the ASCII command (the SMS command text), an optional language
  word, the serial number.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

from protocols._checks import crc16_x25

from ._types import LONG_START, SHORT_START, STOP, Command, Language, MessageType

_REPLY_BODY = struct.Struct(">BBH")  # length, protocol number, serial
_TIME_BODY = struct.Struct(">BB6BH")  # length, 0x8A, date-time, serial
_CRC = struct.Struct(">H")
#: length byte of a reply: protocol number (1) + serial (2) + CRC (2)
_REPLY_LENGTH = 5
#: length byte of the time reply: the reply's 5 + date-time (6)
_TIME_LENGTH = 11
_SERVER_FLAG_SIZE = 4
#: the largest command text that fits the 1-byte command length (minus the server flag)
MAX_COMMAND = 0xFF - _SERVER_FLAG_SIZE
_YEAR_BASE = 2000


def _check_serial(serial: int) -> None:
    if not 0 <= serial <= 0xFFFF:
        raise ValueError(f"serial out of range: {serial!r}")


def encode_reply(message_type: int, serial: int) -> bytes:
    """The acknowledgement of packet ``message_type`` with serial number ``serial``."""
    if not (0 <= message_type <= 0xFF and 0 <= serial <= 0xFFFF):
        raise ValueError(f"bad reply fields: type={message_type!r} serial={serial!r}")
    body = _REPLY_BODY.pack(_REPLY_LENGTH, message_type, serial)
    return SHORT_START + body + _CRC.pack(crc16_x25(body)) + STOP


def encode_time_reply(now: datetime, serial: int) -> bytes:
    """The answer to a 0x8A time calibration request: ``now`` in UTC (JM-VL03 §8)."""
    _check_serial(serial)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    t = now.astimezone(UTC)
    if not _YEAR_BASE <= t.year <= _YEAR_BASE + 0xFF:
        raise ValueError(f"year {t.year} does not fit the packet")
    body = _TIME_BODY.pack(
        _TIME_LENGTH,
        MessageType.TIME_REQUEST,
        t.year - _YEAR_BASE,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        serial,
    )
    return SHORT_START + body + _CRC.pack(crc16_x25(body)) + STOP


def encode_command(
    command: str, serial: int, *, server_flag: int = 0, language: Language | None = None
) -> bytes:
    """A 0x80 online command carrying ``command`` (ASCII, the SMS command text)."""
    _check_serial(serial)
    if not 0 <= server_flag <= 0xFFFFFFFF:
        raise ValueError(f"server flag out of range: {server_flag!r}")
    try:
        text = command.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"command is not ASCII: {command!r}") from None
    if not text or len(text) > MAX_COMMAND:
        raise ValueError(f"command of {len(text)} bytes (1..{MAX_COMMAND})")
    content = (
        bytes((len(text) + _SERVER_FLAG_SIZE,))
        + server_flag.to_bytes(_SERVER_FLAG_SIZE, "big")
        + text
        + (b"" if language is None else int(language).to_bytes(2, "big"))
    )
    return encode_frame(MessageType.ONLINE_COMMAND, content, serial)


def _password(password: str) -> str:
    if not (password.isascii() and password.isdigit() and 1 <= len(password) <= 16):
        raise ValueError("the device password is digits")
    return password


def locate_command() -> str:
    """Ask for the current position (the device answers with a text and sends a fix)."""
    return Command.LOCATE.value


def reboot_command() -> str:
    return Command.REBOOT.value


def interval_command(acc_on_s: int, acc_off_s: int | None = None) -> str:
    """Upload interval in seconds while ACC is on and (optionally) off: ``TIMER,T1,T2#``
    (10-18000 s in the Concox manuals)."""
    off = acc_on_s if acc_off_s is None else acc_off_s
    for value in (acc_on_s, off):
        if not 10 <= value <= 18000:
            raise ValueError(f"interval {value!r} s outside 10..18000")
    return Command.INTERVAL.value.format(on=acc_on_s, off=off)


def engine_command(cut: bool, *, style: str = "relay", password: str = "000000") -> str:
    """Cut (``cut=True``) or restore fuel/power: ``RELAY,1#``/``RELAY,0#`` (JM-VL, AT4, X3)
    or ``DYD,<password>#``/``HFYD,<password>#`` (GT06N, GT800)."""
    if style == "relay":
        return (Command.ENGINE_CUT_RELAY if cut else Command.ENGINE_RESTORE_RELAY).value
    if style == "dyd":
        template = Command.ENGINE_CUT_DYD if cut else Command.ENGINE_RESTORE_HFYD
        return template.value.format(password=_password(password))
    raise ValueError(f"unknown engine command style {style!r}")


def encode_frame(message_type: int, content: bytes, serial: int, *, long: bool = False) -> bytes:
    """A whole packet (used by tests and tools to build frames from documented fields)."""
    length = 1 + len(content) + 4
    head = (
        (length.to_bytes(2, "big") if long else length.to_bytes(1, "big"))
        + bytes((message_type,))
        + content
        + serial.to_bytes(2, "big")
    )
    start = LONG_START if long else SHORT_START
    return start + head + _CRC.pack(crc16_x25(head)) + STOP
