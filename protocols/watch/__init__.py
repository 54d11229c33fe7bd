"""The "3G watch" protocol (SeTracker/Beesure and clones), TCP port 5093.

``_framer`` cuts ``[...]`` frames by their LEN, ``_decoder`` turns them into messages,
``_encoder`` builds server commands; layouts and sources in each module and in
``docs/protocols.md``.
"""

from __future__ import annotations

from protocols.base import ProtocolSpec, Session, SessionState, Transport

from ._decoder import DEFAULT_PORT, PROTOCOL, decode_frame, detect, encode_reply, unescape
from ._encoder import (
    encode_command,
    find,
    locate_now,
    measure_heart_rate,
    power_off,
    reboot,
    set_interval,
)
from ._framer import MAX_FRAME, WatchFramer

__all__ = [
    "DEFAULT_PORT",
    "MAX_FRAME",
    "SPEC",
    "WatchFramer",
    "decode_frame",
    "detect",
    "encode_command",
    "encode_reply",
    "find",
    "locate_now",
    "measure_heart_rate",
    "new_session",
    "power_off",
    "reboot",
    "set_interval",
    "unescape",
]


def new_session(transport: Transport, device_key: str | None = None) -> Session:
    state = SessionState(transport=transport, device_key=device_key)
    return Session(PROTOCOL, WatchFramer(), decode_frame, state)


SPEC = ProtocolSpec(
    name=PROTOCOL,
    default_port=DEFAULT_PORT,
    transports=frozenset({"tcp"}),
    new_session=new_session,
    detect=detect,
)
