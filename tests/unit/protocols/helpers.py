"""Shared helpers for protocol tests: feed bytes three ways (h11 style).

Every captured sample is fed to fresh sessions

* whole, in one ``receive`` call;
* one byte at a time (stream transports only);
* whole, followed by the first bytes of another copy of the sample (a partial next
  frame), which must produce no extra message and stay buffered.

All three must give the same messages. ``Rejected`` items carry exception objects, which
compare by identity, so comparisons go through :func:`comparable`.

Usage::

    messages = feed_three_ways(lambda: SPEC.new_session("tcp", None), LOGIN_FRAME)
    assert messages == [Login(...), Reply(data=..., acks_data=False)]

Use ``prelude=[...]`` for frames that must come first (a login, an IMEI handshake): they are
fed whole before the sample, and their messages are not returned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from protocols.model import Message, Rejected


class Receiver(Protocol):
    """What the helpers feed: a ``protocols.base.Session`` or a ``detect.AutoSession``."""

    failed: bool

    @property
    def buffered(self) -> int: ...

    def receive(self, data: bytes) -> list[Message]: ...


SessionFactory = Callable[[], Receiver]


def comparable(messages: Sequence[Message]) -> list[object]:
    """``messages`` with each ``Rejected`` replaced by ``(class name, str(error), fatal)``."""
    out: list[object] = []
    for message in messages:
        if isinstance(message, Rejected):
            error = message.error
            out.append(("Rejected", type(error).__name__, str(error), message.fatal))
        else:
            out.append(message)
    return out


def _primed(new_session: SessionFactory, prelude: Sequence[bytes]) -> Receiver:
    session = new_session()
    for chunk in prelude:
        for message in session.receive(chunk):
            assert not isinstance(message, Rejected), f"prelude rejected: {message.error}"
    return session


def feed_whole(
    new_session: SessionFactory, data: bytes, *, prelude: Sequence[bytes] = ()
) -> list[Message]:
    """The messages of ``data`` fed in one call to a fresh (primed) session."""
    return _primed(new_session, prelude).receive(data)


def feed_bytewise(
    new_session: SessionFactory, data: bytes, *, prelude: Sequence[bytes] = ()
) -> list[Message]:
    """The messages of ``data`` fed one byte at a time to a fresh (primed) session."""
    session = _primed(new_session, prelude)
    out: list[Message] = []
    for i in range(len(data)):
        out.extend(session.receive(data[i : i + 1]))
    return out


def feed_three_ways(
    new_session: SessionFactory,
    data: bytes,
    *,
    prelude: Sequence[bytes] = (),
    stream: bool = True,
    trailing: bytes | None = None,
) -> list[Message]:
    """Feed ``data`` whole, byte by byte and with trailing bytes; assert all agree.

    ``stream=False`` is for datagram/message transports (UDP, HTTP, MQTT), where a feed is
    a whole message: only the whole feed is done. ``trailing`` defaults to the first
    ``min(3, len(data) - 1)`` bytes of ``data`` (a partial copy of the same frame). Returns
    the messages of the whole feed.
    """
    whole = feed_whole(new_session, data, prelude=prelude)
    if not stream:
        return whole
    expected = comparable(whole)

    bytewise = feed_bytewise(new_session, data, prelude=prelude)
    assert comparable(bytewise) == expected, "byte-by-byte feed differs from whole feed"

    if trailing is None:
        trailing = data[: max(0, min(3, len(data) - 1))]
    session = _primed(new_session, prelude)
    with_tail = session.receive(data + trailing)
    assert comparable(with_tail) == expected, "feed with trailing bytes differs from whole feed"
    if not session.failed:
        assert session.buffered == len(trailing), (
            f"{len(trailing)} trailing bytes, {session.buffered} buffered"
        )
    return whole
