"""GT06 framing: ``78 78 len(1) ... 0D 0A`` and ``79 79 len(2) ... 0D 0A``.

A frame is whole when ``2 + size-of-length + length + 2`` bytes have arrived. Bytes before a
start marker, and a "frame" whose stop bits are not 0D 0A, are skipped (counted in
``skipped``) and the search goes on from the next byte. A declared length beyond
``MAX_FRAME`` is ``FrameTooLarge`` (fatal): the stream cannot be trusted any more.
"""

from __future__ import annotations

from protocols._framing import BufferedFramer
from protocols.errors import FrameTooLarge

from ._types import LONG_START, MIN_LENGTH, SHORT_START, STOP

PROTOCOL = "gt06"
#: largest whole frame accepted (the 0x7979 information packets are the long ones; the
#: documents give no bound, devices send a few hundred bytes at most)
MAX_FRAME = 2048

_SHORT0 = SHORT_START[0]
_LONG0 = LONG_START[0]


def _next_start(buf: bytes | bytearray, start: int) -> int:
    """Index of the next start marker at or after ``start``, or -1."""
    a = buf.find(SHORT_START, start)
    b = buf.find(LONG_START, start)
    if a < 0:
        return b
    if b < 0:
        return a
    return min(a, b)


class Gt06Framer(BufferedFramer[bytes]):
    """Stream bytes -> whole GT06 frames (start bits through stop bits)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(b"")

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else bytes(data)
        frames: list[bytes] = []
        pos = 0
        size = len(buf)
        while pos < size:
            first = buf[pos]
            if not (
                (first in (_SHORT0, _LONG0))
                and buf.startswith(SHORT_START if first == _SHORT0 else LONG_START, pos)
            ):
                nxt = _next_start(buf, pos + 1)
                if nxt < 0:
                    # keep a last byte that may begin a marker
                    keep = size - 1 if buf[-1] in (_SHORT0, _LONG0) else size
                    if keep > pos:
                        self._skipped += keep - pos
                    pos = max(pos, keep)
                    break
                self._skipped += nxt - pos
                pos = nxt
                continue
            if first == _SHORT0:
                if pos + 3 > size:
                    break
                length = buf[pos + 2]
                total = length + 5
            else:
                if pos + 4 > size:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                total = length + 6
            if total > MAX_FRAME:
                self._buf = b""
                raise FrameTooLarge(
                    f"declared frame of {total} bytes exceeds {MAX_FRAME} at offset {pos}",
                    protocol=PROTOCOL,
                    data=buf[pos : pos + 8],
                    fatal=True,
                )
            if length < MIN_LENGTH:
                self._skipped += 1
                pos += 1
                continue
            end = pos + total
            if end > size:
                break
            if buf[end - 2] != STOP[0] or buf[end - 1] != STOP[1]:
                self._skipped += 1
                pos += 1
                continue
            frames.append(buf[pos:end])
            pos = end
        self._buf = buf[pos:] if pos < size else b""
        return frames
