"""GPS103 / TK103 (Coban and clones) text protocol, TCP port 5001.

``_decoder`` frames and decodes the device's lines, ``_encoder`` builds server commands;
layouts and sources are in each module and in ``docs/protocols.md``.
"""

from __future__ import annotations

from protocols.base import ProtocolSpec, Session, SessionState, Transport

from ._decoder import (
    ALARMS,
    DEFAULT_PORT,
    PROTOCOL,
    REPLY_HEARTBEAT,
    REPLY_LOGIN,
    decode_frame,
    detect,
    fix_datetime,
)
from ._encoder import (
    cancel_sos,
    encode_command,
    engine_resume,
    engine_stop,
    locate_now,
    set_interval,
    set_overspeed,
)
from ._framer import MAX_FRAME, Tk103Framer

__all__ = [
    "ALARMS",
    "DEFAULT_PORT",
    "MAX_FRAME",
    "REPLY_HEARTBEAT",
    "REPLY_LOGIN",
    "SPEC",
    "Tk103Framer",
    "cancel_sos",
    "decode_frame",
    "detect",
    "encode_command",
    "engine_resume",
    "engine_stop",
    "fix_datetime",
    "locate_now",
    "new_session",
    "set_interval",
    "set_overspeed",
]


def new_session(transport: Transport, device_key: str | None = None) -> Session:
    state = SessionState(transport=transport, device_key=device_key)
    return Session(PROTOCOL, Tk103Framer(), decode_frame, state)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=DEFAULT_PORT,
    transports=frozenset({"tcp"}),
    new_session=new_session,
    detect=detect,
)
