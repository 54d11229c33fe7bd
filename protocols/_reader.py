"""A checked big-endian byte reader: every overrun is a ``Malformed``, never an
``IndexError`` or ``struct.error``.

Hot paths unpack whole fixed layouts with precompiled ``struct.Struct`` objects through
:meth:`Reader.unpack`, so one bounds check covers many fields.
"""

from __future__ import annotations

import struct
from typing import Any

from .errors import Malformed

U8 = struct.Struct(">B")
U16 = struct.Struct(">H")
U32 = struct.Struct(">I")
U64 = struct.Struct(">Q")
I32 = struct.Struct(">i")


class Reader:
    """Reads ``data`` from ``offset`` on; ``protocol`` names the errors it raises."""

    __slots__ = ("data", "end", "offset", "protocol")

    def __init__(self, data: bytes, protocol: str, offset: int = 0, end: int | None = None):
        self.data = data
        self.protocol = protocol
        self.offset = offset
        self.end = len(data) if end is None else end

    @property
    def remaining(self) -> int:
        return self.end - self.offset

    def _need(self, size: int, what: str) -> int:
        at = self.offset
        if size < 0 or at + size > self.end:
            raise Malformed(
                f"{what}: need {size} bytes at offset {at}, {self.end - at} left",
                protocol=self.protocol,
                data=self.data,
            )
        self.offset = at + size
        return at

    def unpack(self, layout: struct.Struct, what: str) -> tuple[Any, ...]:
        """Unpack a fixed layout; ``what`` names it in the error."""
        at = self._need(layout.size, what)
        return layout.unpack_from(self.data, at)

    def u8(self, what: str) -> int:
        return self.data[self._need(1, what)]

    def u16(self, what: str) -> int:
        value: int = U16.unpack_from(self.data, self._need(2, what))[0]
        return value

    def u32(self, what: str) -> int:
        value: int = U32.unpack_from(self.data, self._need(4, what))[0]
        return value

    def u64(self, what: str) -> int:
        value: int = U64.unpack_from(self.data, self._need(8, what))[0]
        return value

    def take(self, size: int, what: str) -> bytes:
        at = self._need(size, what)
        return self.data[at : at + size]

    def skip(self, size: int, what: str) -> None:
        self._need(size, what)

    def rest(self) -> bytes:
        at = self.offset
        self.offset = self.end
        return self.data[at : self.end]
