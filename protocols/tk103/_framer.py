"""GPS103 / TK103 stream framing: lines ended by ``;`` (CR/LF on some clones)."""

from __future__ import annotations

import re

from protocols._framing import BufferedFramer
from protocols.errors import FrameTooLarge

PROTOCOL = "tk103"
#: Longest line we accept. Documented position lines are under 200 bytes; 1 KiB leaves room
#: for OBD/temperature variants while bounding memory per connection.
MAX_FRAME = 1024
#: Frame terminators: ``;`` per the Coban document; CR/LF sent by some clones.
TERMINATORS = re.compile(rb"[;\r\n]")
#: Where a frame may start inside a chunk: log-on, report, or a bare id heartbeat (1 to 24
#: digits, all of them: a longer run of digits is no frame rather than its last 24)
_START = re.compile(rb"##,|imei:|(?<!\d)\d{1,24}\Z")
_DIGITS = re.compile(rb"\d{1,24}")


class Tk103Framer(BufferedFramer[bytearray]):
    """Splits the stream at ``;``/CR/LF; drops bytes before a recognised frame start."""

    __slots__ = ("_scanned",)

    def __init__(self) -> None:
        super().__init__(bytearray())
        self._scanned = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        while True:
            match = TERMINATORS.search(self._buf, self._scanned)
            if match is None:
                self._scanned = len(self._buf)
                break
            chunk = bytes(self._buf[: match.start()])
            del self._buf[: match.end()]
            self._scanned = 0
            if len(chunk) > MAX_FRAME:
                raise FrameTooLarge(f"line of {len(chunk)} bytes", protocol=PROTOCOL, data=chunk)
            start = _START.search(chunk)
            if start is None:
                self._skipped += len(chunk)
                continue
            head = chunk[: start.start()]
            if head and _DIGITS.fullmatch(head) and chunk.startswith(b"imei:", start.start()):
                frames.append(head)  # a heartbeat sent without its ";"
            else:
                self._skipped += start.start()
            frames.append(chunk[start.start() :])
        if len(self._buf) > MAX_FRAME:
            raise FrameTooLarge(
                f"no terminator in {len(self._buf)} bytes",
                protocol=PROTOCOL,
                data=bytes(self._buf),
            )
        return frames
