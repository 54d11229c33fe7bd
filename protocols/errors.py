"""trackgw protocol errors: one small taxonomy for everything a device can send wrong.

    ProtocolError                 peer sent something we cannot use (never our own bug)
     +-- Malformed                structure or field is wrong (bad length, bad number, bad field)
     |    +-- BadChecksum         the frame's checksum does not match its content
     |    +-- BadValue            a decoded value the model cannot hold (NaN, NUL, out of range)
     +-- FrameTooLarge            a frame (or unframed garbage) exceeds the protocol's bound
     +-- UnsupportedMessage       a well-formed frame of a type we do not decode
     +-- NotIdentified            data arrived before the device said who it is

Each carries the protocol name, a truncated hex excerpt of the offending bytes and ``fatal``:
True means the stream cannot be trusted any more (close the connection); False means the frame
was skipped and the session goes on. Our own misuse raises ``ValueError``/``TypeError``.
"""

from __future__ import annotations

_EXCERPT_BYTES = 32


def excerpt(data: bytes, limit: int = _EXCERPT_BYTES) -> str:
    """Hex of at most ``limit`` bytes, with an ellipsis when cut."""
    text = data[:limit].hex()
    return text + ("…" if len(data) > limit else "")


class ProtocolError(Exception):
    """Base of every error a device's bytes can cause."""

    default_fatal = False

    def __init__(
        self, message: str, *, protocol: str = "", data: bytes = b"", fatal: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.protocol = protocol
        self.hex = excerpt(data) if data else ""
        self.fatal = self.default_fatal if fatal is None else fatal

    @property
    def reason(self) -> str:
        """Short label for metrics: the class name."""
        return type(self).__name__

    def __str__(self) -> str:
        where = f"{self.protocol}: " if self.protocol else ""
        tail = f" [{self.hex}]" if self.hex else ""
        return f"{where}{self.message}{tail}"


class Malformed(ProtocolError):
    """A frame whose structure or a field of it is not what the protocol allows."""


class BadChecksum(Malformed):
    """A frame whose checksum (CRC, XOR) does not match its content."""


class BadValue(Malformed, ValueError):
    """A decoded field the message model refuses: a NaN or infinite number, a NUL byte or
    unencodable text, an integer past what the store holds, attributes too many or too big.

    Raised by the model's own constructors (``protocols.model``), so every decoder gets the
    check; also a ``ValueError`` for callers that build messages themselves."""


class FrameTooLarge(ProtocolError):
    """More bytes than the protocol's maximum frame without a whole frame: the stream is lost."""

    default_fatal = True


class UnsupportedMessage(ProtocolError):
    """A well-formed message of a type this decoder does not handle."""


class NotIdentified(ProtocolError):
    """Data from a device that has not logged in (and whose identity is not preset)."""
