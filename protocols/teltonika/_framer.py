"""Teltonika TCP framing.

A stream starts with the IMEI handshake (2-byte length, then that many ASCII digits) and
goes on with AVL packets (4 zero bytes, 4-byte data field length, data field, 4-byte CRC).
The framer tells them apart by their first two bytes: ``00 00`` begins an AVL packet,
``00 nn`` (0 < nn <= 64) an IMEI. Anything else is garbage, skipped up to the next zero
byte. A declared length beyond ``MAX_FRAME`` is ``FrameTooLarge`` (fatal).
"""

from __future__ import annotations

from protocols._framing import BufferedFramer
from protocols.errors import FrameTooLarge

PROTOCOL = "teltonika"
#: wiki "Codec 8": maximum AVL packet 1280 bytes for most devices; 8E packets with NX
#: elements can be longer, so allow some room
MAX_FRAME = 16384
#: longest IMEI handshake accepted (an IMEI is 15 digits)
MAX_IMEI = 64
_AVL_HEAD = 8
_CRC_SIZE = 4


class TeltonikaFramer(BufferedFramer[bytes]):
    """Stream bytes -> IMEI handshakes and whole AVL packets."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(b"")

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else bytes(data)
        frames: list[bytes] = []
        pos = 0
        size = len(buf)
        while pos < size:
            if buf[pos] != 0:
                nxt = buf.find(b"\x00", pos + 1)
                nxt = size if nxt < 0 else nxt
                self._skipped += nxt - pos
                pos = nxt
                continue
            if pos + 2 > size:
                break
            second = buf[pos + 1]
            if second:
                if second > MAX_IMEI:
                    self._skipped += 1
                    pos += 1
                    continue
                end = pos + 2 + second
            else:
                if pos + 4 > size:
                    break
                if buf[pos + 2] or buf[pos + 3]:
                    self._skipped += 1
                    pos += 1
                    continue
                if pos + _AVL_HEAD > size:
                    break
                length = int.from_bytes(buf[pos + 4 : pos + 8], "big")
                end = pos + _AVL_HEAD + length + _CRC_SIZE
                if end - pos > MAX_FRAME:
                    self._buf = b""
                    raise FrameTooLarge(
                        f"AVL packet of {length} bytes exceeds {MAX_FRAME}",
                        protocol=PROTOCOL,
                        data=buf[pos : pos + _AVL_HEAD],
                        fatal=True,
                    )
            if end > size:
                break
            frames.append(buf[pos:end])
            pos = end
        self._buf = buf[pos:] if pos < size else b""
        return frames
