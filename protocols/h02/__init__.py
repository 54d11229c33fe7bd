"""H02 protocol (TCP): ``*HQ,<id>,<type>,...#`` text frames and the ``$`` binary form.

``_framer`` cuts the stream, ``_decoder`` turns frames into messages, ``_encoder`` builds
server commands. Layouts and sources are in each module and in ``docs/protocols.md``.
"""

from __future__ import annotations

from protocols.base import Detection, ProtocolSpec, Session, SessionState, Transport

from ._decoder import KNOTS_TO_KMH, BinaryFlag, decode_frame
from ._encoder import (
    encode_command,
    engine_resume,
    engine_stop,
    locate_now,
    reboot,
    set_interval,
)
from ._framer import (
    BINARY_MAX_SIZE,
    BINARY_SIZE,
    BINARY_START,
    MAX_FRAME,
    TEXT_END,
    TEXT_START,
    H02Framer,
)

__all__ = [
    "BINARY_MAX_SIZE",
    "BINARY_SIZE",
    "BINARY_START",
    "KNOTS_TO_KMH",
    "MAX_FRAME",
    "SPEC",
    "TEXT_END",
    "TEXT_START",
    "BinaryFlag",
    "H02Framer",
    "decode_frame",
    "detect",
    "encode_command",
    "engine_resume",
    "engine_stop",
    "locate_now",
    "new_session",
    "reboot",
    "set_interval",
]

NAME = PROTOCOL = "h02"


def new_session(transport: Transport, device_key: str | None) -> Session:
    if transport != "tcp":
        raise ValueError(f"h02 runs over tcp, not {transport!r}")
    return Session(NAME, H02Framer(), decode_frame, SessionState(transport, device_key))


def detect(head: bytes) -> Detection:
    """``*XX,`` (two maker letters) opens a text stream."""
    if not head:
        return Detection.MORE
    if head[:1] != TEXT_START:
        return Detection.NO
    probe = head[1:4]
    if len(probe) < 3:
        return Detection.MORE if probe.isalpha() or not probe else Detection.NO
    return Detection.YES if probe[:2].isalpha() and probe[2:3] == b"," else Detection.NO


SPEC = ProtocolSpec(
    name=NAME,
    default_port=5013,
    transports=frozenset({"tcp"}),
    new_session=new_session,
    detect=detect,
)
