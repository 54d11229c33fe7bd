"""The one call every listener makes into a protocol session, guarded.

``Session.receive`` turns every ``ProtocolError`` into a ``Rejected``; anything else it raises
is a bug of ours (a decoder that missed a case), and it must cost only the frame that hit it,
never the listener task. ``receive`` logs it (rate-limited), hands it on as a ``Rejected``
(so the router counts it in ``trackgw_frames_rejected_total{reason="DecoderFailed"}``) and,
on a stream, marks the session failed: the framer's state can no longer be trusted.
"""

from __future__ import annotations

import logging
from typing import Any

from protocols.errors import ProtocolError
from protocols.model import Message, Rejected

from ..logs import RateLimiter

log = logging.getLogger(__name__)
_log_limit = RateLimiter(60.0)


class DecoderFailed(ProtocolError):
    """A decoder raised something other than a ``ProtocolError`` (our bug, not the peer's)."""


def receive(session: Any, data: bytes | bytearray, *, stream: bool) -> list[Message]:
    """``session.receive(data)``; an unexpected exception becomes one ``Rejected``
    (fatal on a ``stream``: the connection is closed)."""
    try:
        messages: list[Message] = session.receive(data)
    except Exception as exc:
        protocol = str(getattr(session, "protocol", "") or "?")
        if _log_limit.allow((protocol, type(exc).__name__)):
            log.exception(
                "%s decoder failed on %d bytes", protocol, len(data), extra={"protocol": protocol}
            )
        if stream:
            session.failed = True
        error = DecoderFailed(
            f"decoder failed: {type(exc).__name__}: {exc}",
            protocol=protocol,
            data=bytes(data[:64]),
            fatal=stream,
        )
        return [Rejected(error=error)]
    return messages
