"""What every stream framer keeps: the bytes not yet framed, and how much garbage it skipped."""

from __future__ import annotations

from typing import Generic, TypeVar

B = TypeVar("B", bytes, bytearray)


class BufferedFramer(Generic[B]):
    """Base of the stream framers; each subclass writes its own ``feed`` (the hot loop)."""

    __slots__ = ("_buf", "_skipped")

    def __init__(self, empty: B) -> None:
        self._buf: B = empty
        self._skipped = 0

    @property
    def buffered(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    @property
    def skipped(self) -> int:
        """Garbage bytes skipped so far while resynchronising."""
        return self._skipped
