"""Teltonika server -> device packets.

* Acknowledgements (wiki "Communication with server" and "Codec 8 protocol sending over
  UDP"): the TCP record count, the UDP ack.
* GPRS commands (wiki "Codec 12", "Codec 14"): ``00000000 | data size (4) | data | CRC (4)``
  where data is ``codec | quantity 1 | type 0x05 | command size (4) | [IMEI (8)] | command |
  quantity 2`` and the CRC is CRC-16/IBM over data in the low two bytes. Codec 14 puts the
  device's IMEI first: a device whose IMEI differs answers nACK and runs nothing.
* Command texts (the SMS/GPRS commands of the FMB/FMC families, wiki "FMB SMS/GPRS Commands"):
  ``getrecord`` (send a high-priority record now), ``getgps`` (the fix as text), ``cpureset``
  (reboot), ``setdigout 1`` / ``setdigout 0`` (digital output 1 on / off: an immobiliser relay
  on DOUT1 cuts / restores the engine), ``setparam <id>:<value>``.
"""

from __future__ import annotations

import struct

from protocols._checks import crc16_ibm

from ._types import PREAMBLE, Codec, MessageKind

_TCP_ACK = struct.Struct(">I")
_UDP_ACK = struct.Struct(">HHBBB")
#: length field of the UDP ack: packet id (2) + not usable (1) + AVL packet id (1) + count (1)
_UDP_ACK_LENGTH = 5
_U32 = struct.Struct(">I")
_IMEI_DIGITS = 15
#: a command fits a device's command buffer (the wiki's examples are short; FMB accept
#: SMS-length commands), and keeps the frame well below the framer's bound
MAX_COMMAND = 1024

#: FMB1xx/FMB920 "Data Acquisition" parameter ids: Min Period, home network, on stop and moving
PARAM_MIN_PERIOD_STOP = 10000
PARAM_MIN_PERIOD_MOVING = 10050


def encode_tcp_ack(accepted: int) -> bytes:
    """4-byte big-endian number of records accepted."""
    return _TCP_ACK.pack(accepted)


def encode_udp_ack(packet_id: int, not_usable: int, avl_packet_id: int, accepted: int) -> bytes:
    """UDP channel header (length 5, packet id, the "not usable" byte echoed), AVL packet id,
    number of records accepted."""
    return _UDP_ACK.pack(_UDP_ACK_LENGTH, packet_id, not_usable, avl_packet_id, accepted)


def _command_text(command: str) -> bytes:
    try:
        text = command.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"command is not ASCII: {command!r}") from None
    if not 0 < len(text) <= MAX_COMMAND:
        raise ValueError(f"command of {len(text)} bytes (1..{MAX_COMMAND})")
    return text


def _packet(codec: Codec, payload: bytes) -> bytes:
    data = bytes((codec, 1, MessageKind.COMMAND)) + _U32.pack(len(payload)) + payload + b"\x01"
    return PREAMBLE + _U32.pack(len(data)) + data + _U32.pack(crc16_ibm(data))


def encode_codec12_command(command: str) -> bytes:
    """A Codec 12 GPRS command carrying ``command`` (wiki "Codec 12")."""
    return _packet(Codec.CODEC12, _command_text(command))


#: the UDP channel header of a server packet: length, packet id, packet type 0x01 (the
#: "not usable" byte the device echoes), then the AVL packet header: AVL packet id, IMEI length
_UDP_HEAD = struct.Struct(">HHBBH")


def encode_codec12_udp_command(imei: str, command: str, packet_id: int) -> bytes:
    """A Codec 12 command over UDP: the channel and AVL packet headers a device's own UDP
    packets carry (length, packet id, 0x01, AVL packet id, IMEI), then the Codec 12 data
    field without preamble or CRC (UDP has its own checksum) -- the layout ``decode_udp``
    reads from the device."""
    if not (imei.isascii() and imei.isdigit() and len(imei) == _IMEI_DIGITS):
        raise ValueError(f"IMEI must be {_IMEI_DIGITS} digits: {imei!r}")
    if not 0 <= packet_id <= 0xFFFF:
        raise ValueError(f"packet id out of range: {packet_id!r}")
    text = _command_text(command)
    data = bytes((Codec.CODEC12, 1, MessageKind.COMMAND)) + _U32.pack(len(text)) + text + b"\x01"
    body_len = _UDP_HEAD.size - 2 + len(imei) + len(data)
    head = _UDP_HEAD.pack(body_len, packet_id, 0x01, packet_id & 0xFF, len(imei))
    return head + imei.encode("ascii") + data


def encode_codec14_command(imei: str, command: str) -> bytes:
    """A Codec 14 GPRS command for the device ``imei`` only (wiki "Codec 14"): the IMEI as
    8 bytes of BCD with a leading 0 nibble."""
    if not (imei.isascii() and imei.isdigit() and len(imei) == _IMEI_DIGITS):
        raise ValueError(f"IMEI must be {_IMEI_DIGITS} digits: {imei!r}")
    return _packet(Codec.CODEC14, bytes.fromhex("0" + imei) + _command_text(command))


def locate_command() -> str:
    """Make and send a high-priority record now."""
    return "getrecord"


def reboot_command() -> str:
    return "cpureset"


def engine_command(cut: bool) -> str:
    """Digital output 1 on (``cut``) or off: the usual immobiliser wiring on FMB/FMC."""
    return "setdigout 1" if cut else "setdigout 0"


def interval_command(moving_s: int, stop_s: int | None = None) -> str:
    """Record period while moving and on stop (home network), via ``setparam``."""
    stop = moving_s if stop_s is None else stop_s
    for value in (moving_s, stop):
        if not 0 <= value <= 2592000:
            raise ValueError(f"period {value!r} s outside 0..2592000")
    return f"setparam {PARAM_MIN_PERIOD_MOVING}:{moving_s};{PARAM_MIN_PERIOD_STOP}:{stop}"
