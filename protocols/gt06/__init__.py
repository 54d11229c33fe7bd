"""GT06 / Concox binary protocol (TCP): login, location, LBS, WiFi, heartbeat, alarm,
information, time request; the 0x80 online command encoder."""

from __future__ import annotations

from protocols.base import Detection, ProtocolSpec, Session, SessionState, Transport

from ._decoder import decode_frame
from ._encoder import encode_command, encode_frame, encode_reply, encode_time_reply
from ._framer import MAX_FRAME, Gt06Framer
from ._types import LONG_START, SHORT_START, MessageType

__all__ = [
    "MAX_FRAME",
    "SPEC",
    "Gt06Framer",
    "MessageType",
    "decode_frame",
    "encode_command",
    "encode_frame",
    "encode_reply",
    "encode_time_reply",
]

NAME = "gt06"


def new_session(transport: Transport, device_key: str | None) -> Session:
    if transport != "tcp":
        raise ValueError(f"gt06 runs over tcp, not {transport!r}")
    return Session(NAME, Gt06Framer(), decode_frame, SessionState(transport, device_key))


def detect(head: bytes) -> Detection:
    """The first bytes of a GT06 stream are a start marker (a login packet, in practice)."""
    if len(head) < 2:
        return Detection.MORE if head in (b"", SHORT_START[:1], LONG_START[:1]) else Detection.NO
    return Detection.YES if head[:2] in (SHORT_START, LONG_START) else Detection.NO


SPEC = ProtocolSpec(
    name=NAME,
    default_port=5023,
    transports=frozenset({"tcp"}),
    new_session=new_session,
    detect=detect,
)
