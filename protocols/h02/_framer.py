"""H02 stream framing: ``*...#`` text frames and ``$`` binary frames with variable tails.

Binary form (``$``): 29 bytes of documented core (see ``_decoder``), then a tail whose length
depends on the device: 3 bytes in the 32-byte form, 8 on a captured 37-byte frame (traccar.org
forum topic "Parsing Issue H02 protocol"), 16 on the 45-byte frames captured in
traccar/traccar#2482 and #2780, 18 on the 47-byte form of traccar/traccar#5703, 22 on the
51-byte frame of a CJ730 Plus 4G logged in traccar/traccar#5417. Nothing in
the frame gives its length, so the framer cuts 32 bytes and then treats up to
``BINARY_MAX_SIZE - BINARY_SIZE`` further bytes as the frame's tail until a real next frame
starts.
"""

from __future__ import annotations

from protocols._framing import BufferedFramer
from protocols.errors import FrameTooLarge

PROTOCOL = "h02"
TEXT_START = b"*"
TEXT_END = b"#"
BINARY_START = b"$"
#: bytes cut for a binary frame (the 29-byte documented core and a 3-byte tail)
BINARY_SIZE = 32
#: longest binary variant reported (51 bytes, the CJ730 Plus 4G of traccar/traccar#5417);
#: bytes up to this far after a binary frame's start are its tail, not garbage (which the
#: listener counts against ``limits.max_garbage_bytes`` for the connection's life)
BINARY_MAX_SIZE = 51
#: bytes after ``$`` that must repeat the previous binary frame's id for a ``$`` inside a
#: tail to start a frame
BINARY_ID_SIZE = 5
#: longest text frame accepted (V3/NBR frames with 7 cells are ~200 bytes)
MAX_FRAME = 1024


class H02Framer(BufferedFramer[bytes]):
    """Stream bytes -> ``*...#`` text frames and 32-byte ``$`` frames; skips the rest.

    After a binary frame, up to ``BINARY_MAX_SIZE - BINARY_SIZE`` bytes are its tail
    (longer binary variants): they are dropped without counting as garbage. Inside the tail
    a ``*`` starts a frame only when followed by two letters and ``,``, and a ``$`` only
    when followed by the previous frame's 5 id bytes, so tail bytes 0x24/0x2A do not cut
    false frames.
    """

    __slots__ = ("_last_id", "_tail")

    def __init__(self) -> None:
        super().__init__(b"")
        self._tail = 0
        self._last_id = b""

    def _tail_start(self, buf: bytes, pos: int) -> bool | None:
        """Whether the byte at ``pos`` (inside a tail) starts a frame; None: need more bytes."""
        first = buf[pos : pos + 1]
        if first == TEXT_START:
            probe = buf[pos + 1 : pos + 4]
            if len(probe) < 3:
                return None
            return probe[:2].isalpha() and probe[2:3] == b","
        if first == BINARY_START:
            probe = buf[pos + 1 : pos + 1 + BINARY_ID_SIZE]
            if len(probe) < BINARY_ID_SIZE:
                return None
            return probe == self._last_id
        return False

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else bytes(data)
        frames: list[bytes] = []
        pos, size = 0, len(buf)
        while pos < size:
            if self._tail:
                starts = self._tail_start(buf, pos)
                if starts is None:
                    break
                if not starts:
                    pos += 1
                    self._tail -= 1
                    continue
                self._tail = 0
            first = buf[pos : pos + 1]
            if first == TEXT_START:
                end = buf.find(TEXT_END, pos + 1, pos + MAX_FRAME)
                if end < 0:
                    if size - pos >= MAX_FRAME:
                        self._buf = b""
                        raise FrameTooLarge(
                            f"no '#' within {MAX_FRAME} bytes",
                            protocol=PROTOCOL,
                            data=buf[pos : pos + 32],
                            fatal=True,
                        )
                    break
                frames.append(buf[pos : end + 1])
                pos = end + 1
            elif first == BINARY_START:
                if pos + BINARY_SIZE > size:
                    break
                frames.append(buf[pos : pos + BINARY_SIZE])
                self._last_id = buf[pos + 1 : pos + 1 + BINARY_ID_SIZE]
                self._tail = BINARY_MAX_SIZE - BINARY_SIZE
                pos += BINARY_SIZE
            else:
                a, b = buf.find(TEXT_START, pos), buf.find(BINARY_START, pos)
                nxt = min(x for x in (a, b, size) if x >= 0)
                self._skipped += nxt - pos
                pos = nxt
        self._buf = buf[pos:] if pos < size else b""
        return frames
