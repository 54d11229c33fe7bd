"""Watch stream framing: ``[<vendor>*<id>*[<index>*]<LEN>*<content>]``.

``LEN`` is the content length in four hex digits ("length 162 ... is 00A2", Beesure
SeTracker protocol page). Some firmwares write it in decimal digits instead; when the four
digits are all decimal and differ as hex and decimal, the decimal reading is tried first and
kept only when a ``]`` ends the frame there (text content never holds ``]``; voice content
escapes it), else the hex reading. A header may carry a 4-hex-digit message index before
``LEN`` (echoed in replies). Only a voice message (``TK,``) may exceed ``MAX_TEXT_FRAME``.
Each decision needs only the bytes up to the candidate end, so it does not depend on how the
stream is chunked.
"""

from __future__ import annotations

import re

from protocols._framing import BufferedFramer
from protocols.errors import FrameTooLarge

PROTOCOL = "watch"
#: LEN can claim 0xFFFF bytes: only a voice message (``TK,``) may be that long, so a ``TK``
#: frame is bounded by that plus the longest header; every other frame by ``MAX_TEXT_FRAME``
#: (text messages are under 1 KiB; a longer claim is fatal ``FrameTooLarge``).
MAX_HEADER = 48
MAX_FRAME = 0xFFFF + MAX_HEADER
MAX_TEXT_FRAME = 16 * 1024
VOICE = b"TK,"
HEADER = re.compile(
    rb"\[([0-9A-Za-z]{2})\*([0-9A-Za-z]{1,20})\*(?:([0-9A-Fa-f]{4})\*)?([0-9A-Fa-f]{4})\*"
)
#: A buffer that may still grow into a header.
PARTIAL = re.compile(
    rb"\[(?:[0-9A-Za-z]{0,2}|[0-9A-Za-z]{2}\*[0-9A-Za-z]{0,20}"
    rb"|[0-9A-Za-z]{2}\*[0-9A-Za-z]{1,20}\*[0-9A-Fa-f]{0,4}"
    rb"|[0-9A-Za-z]{2}\*[0-9A-Za-z]{1,20}\*[0-9A-Fa-f]{4}\*[0-9A-Fa-f]{0,4})"
)
OPEN, CLOSE = ord("["), ord("]")
HEX = 16


def lengths(text: bytes) -> tuple[int, ...]:
    """The content lengths ``LEN`` may mean: decimal first when it differs from hex."""
    value = int(text, HEX)
    if text.isdigit() and int(text) != value:
        return int(text), value
    return (value,)


class WatchFramer(BufferedFramer[bytearray]):
    """``[`` .. ``]`` frames delimited by their LEN; garbage before ``[`` is skipped."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__(bytearray())

    @property
    def max_size(self) -> int:
        return MAX_FRAME

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        buf = self._buf
        while buf:
            start = buf.find(OPEN)
            if start < 0:
                self._drop(len(buf))
                break
            self._drop(start)
            header = HEADER.match(buf)
            if header is None:
                if PARTIAL.fullmatch(buf):
                    break  # a header still arriving
                self._drop(1)
                continue
            end = self._end(header)
            if end is None:
                break  # content still arriving
            if end < 0:
                self._drop(1)  # LEN does not land on "]": not a frame, resync
                continue
            frames.append(bytes(buf[: end + 1]))
            del buf[: end + 1]
        return frames

    def _end(self, header: re.Match[bytes]) -> int | None:
        """Index of the closing ``]``; None: more bytes needed; -1: LEN lands on no ``]``."""
        buf = self._buf
        for size in lengths(header.group(4)):
            end = header.end() + size
            if end + 1 > MAX_TEXT_FRAME:
                kind = buf[header.end() : header.end() + len(VOICE)]
                if len(kind) < len(VOICE) and VOICE.startswith(bytes(kind)):
                    return None  # may still be a voice message
                if kind != VOICE:
                    raise FrameTooLarge(
                        f"frame of {end + 1} bytes", protocol=PROTOCOL, data=bytes(buf[:64])
                    )
            if len(buf) <= end:
                return None
            if buf[end] == CLOSE:
                return end
        return -1

    def _drop(self, count: int) -> None:
        del self._buf[:count]
        self._skipped += count
