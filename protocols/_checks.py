"""Checksums and small field codecs shared by the binary protocols.

* CRC-16/X.25 (also called CRC-ITU or CRC-16/IBM-SDLC): poly 0x1021 reflected, init 0xFFFF,
  final XOR 0xFFFF. Concox GT06 protocol documents, "Error check" section and the CRC-ITU
  appendix ("GetCrc16"); check value ``crc16_x25(b"123456789") == 0x906E``.
* CRC-16/IBM (also called CRC-16/ARC): poly 0x8005 reflected, init 0, no final XOR.
  Teltonika wiki, "Codec" page, section "CRC-16"; check value 0xBB3D.
* BCD: two decimal digits per byte, high nibble first (GT06 terminal id, H02 binary form).
* IMEI: 15 digits; GT06 sends it as 8 BCD bytes with a leading 0 nibble.

The CRCs run in C (``fastcrc``): a per-byte Python loop costs more than a whole frame's
decode at the rates we need.
"""

from __future__ import annotations

from collections.abc import Callable

import fastcrc

__all__ = [
    "bcd_digits",
    "crc16_ibm",
    "crc16_x25",
    "is_imei",
]

Buffer = bytes | bytearray | memoryview

#: CRC-16/X.25 a.k.a. CRC-ITU (GT06).
crc16_x25: Callable[[Buffer], int] = fastcrc.crc16.ibm_sdlc
#: CRC-16/IBM a.k.a. CRC-16/ARC (Teltonika).
crc16_ibm: Callable[[Buffer], int] = fastcrc.crc16.arc


def bcd_digits(data: Buffer) -> str | None:
    """The decimal digits of BCD ``data`` (high nibble first), or None when a nibble > 9."""
    text = bytes(data).hex()
    return text if text.isdigit() else None


def is_imei(text: str) -> bool:
    """True for 15 ASCII digits (the Luhn check digit is not enforced: test IMEIs and
    devices in the field often fail it)."""
    return len(text) == 15 and text.isascii() and text.isdigit()
