"""The listeners' guarded call into a session: an exception that is not a ProtocolError (a
decoder bug) costs one frame, never the listener task."""

from __future__ import annotations

import pytest

from gateway.listeners.decode import DecoderFailed, receive
from protocols import registry
from protocols.model import Position, Rejected


class Broken:
    protocol = "broken"
    failed = False

    def receive(self, data: bytes) -> list[object]:
        raise KeyError("a case the decoder missed")


@pytest.mark.parametrize("stream", [True, False])
def test_a_decoder_bug_becomes_one_rejected_frame(stream: bool) -> None:
    session = Broken()
    [item] = receive(session, b"\x01\x02", stream=stream)
    assert isinstance(item, Rejected)
    assert isinstance(item.error, DecoderFailed)
    assert "KeyError" in str(item.error)
    assert item.fatal is stream  # a stream's framer cannot be trusted any more: close it
    assert session.failed is stream


def test_a_working_session_is_passed_through() -> None:
    session = registry.get("h02").new_session("tcp", None)
    frame = b"*HQ,865205030330012,V1,145452,A,2240.55181,N,11358.32389,E,0.00,0,100815,FFFFFBFF#"
    [position] = receive(session, frame, stream=True)
    assert isinstance(position, Position)
