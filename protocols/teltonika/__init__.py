"""Teltonika AVL protocol: Codec 8, 8 Extended and 16 records, Codec 12/13/14/15 GPRS
messages, over TCP and UDP; Codec 12/14 command encoders."""

from __future__ import annotations

from protocols.base import Detection, ProtocolSpec, Session, SessionState, SingleFrame, Transport
from protocols.teltonika._decoder import decode_tcp, decode_udp
from protocols.teltonika._encoder import (
    encode_codec12_command,
    encode_codec12_udp_command,
    encode_codec14_command,
    encode_tcp_ack,
    encode_udp_ack,
)
from protocols.teltonika._framer import MAX_FRAME, MAX_IMEI, TeltonikaFramer
from protocols.teltonika._types import Codec

__all__ = [
    "MAX_FRAME",
    "SPEC",
    "Codec",
    "TeltonikaFramer",
    "decode_tcp",
    "decode_udp",
    "encode_codec12_command",
    "encode_codec12_udp_command",
    "encode_codec14_command",
    "encode_tcp_ack",
    "encode_udp_ack",
]

NAME = "teltonika"
#: largest UDP datagram accepted
MAX_DATAGRAM = 16384


def new_session(transport: Transport, device_key: str | None) -> Session:
    state = SessionState(transport, device_key)
    if transport == "tcp":
        return Session(NAME, TeltonikaFramer(), decode_tcp, state)
    if transport == "udp":
        return Session(NAME, SingleFrame(NAME, MAX_DATAGRAM), decode_udp, state)
    raise ValueError(f"teltonika runs over tcp or udp, not {transport!r}")


def detect(head: bytes) -> Detection:
    """A Teltonika TCP stream opens with ``00 <len>`` and ``len`` ASCII digits (the IMEI)."""
    if not head:
        return Detection.MORE
    if head[0] != 0:
        return Detection.NO
    if len(head) < 2:
        return Detection.MORE
    length = head[1]
    if not 10 <= length <= MAX_IMEI:
        return Detection.NO
    digits = head[2 : 2 + length]
    if not digits.isdigit() and digits:
        return Detection.NO
    return Detection.YES if len(digits) == length else Detection.MORE


SPEC = ProtocolSpec(
    name=NAME,
    default_port=5027,
    transports=frozenset({"tcp", "udp"}),
    new_session=new_session,
    detect=detect,
)
