"""The live view of each circle: positions and alerts as they commit, fanned out to readers.

One ``LiveHub`` per process, owned by the app. After a batch commits, the delivery stage hands
it each device's newest stored fix (``position``) and each alert (``alert``); stream handlers
(``gateway.live.streams``: Server-Sent Events and WebSocket) ``subscribe`` to a circle.

Rules (issue 11, docs/live.md):

* **Throttle without losing the newest fix.** A device's positions go out at most once per
  ``interval_s`` per circle. A fix that arrives sooner is held as *pending* and replaces any
  older pending fix; when the interval has passed the pending one goes out. So the newest fix
  of a burst is always sent, and never more than one message a second per device.
* **No going back in time.** A fix not newer than the last one published (or pending) for that
  device is a late fix: it is stored, but not published as live.
* **Resume without gaps.** Every event gets an id ``<boot>-<seq>`` (``seq`` increases in
  publish order, which is commit order). Each circle keeps its last ``ring_size`` events; a
  reader reconnecting with ``Last-Event-ID`` gets the events after it from the ring. When the
  ring no longer holds it (or the id is from another process start) the reader gets a new
  snapshot instead, flagged ``resumed: false``.
* **A slow reader never slows ingestion.** Publishing never awaits: each reader has a bounded
  queue; a reader whose queue is full is dropped (its ``on_drop`` runs, which ends its
  connection) and counted.

Everything here runs on the event loop; nothing blocks.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .. import metrics

#: readers' queue bound (events); a reader this far behind is dropped
DEFAULT_READER_QUEUE = 256
#: recent events kept per circle for Last-Event-ID resumption
DEFAULT_RING_SIZE = 1024
#: at most one position message per device and circle in this many seconds
DEFAULT_INTERVAL_S = 1.0
#: alert dedup keys remembered (a retried delivery shows its alert once)
ALERT_KEYS_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One message on a circle's stream. ``kind`` is the SSE event name."""

    id: str
    kind: str  #: "position" | "alert" | "snapshot"
    data: Mapping[str, Any]
    #: the circle's in-plan members when it was published (for the MQTT live topics; not
    #: part of what stream readers get)
    recipients: tuple[str, ...] = ()


@dataclass(slots=True, eq=False)
class Reader:
    """One connected stream reader of one circle (compared by identity)."""

    circle_id: str
    queue: asyncio.Queue[LiveEvent]
    on_drop: Callable[[], None]
    #: the member reading (so a removed member's streams can be ended)
    account: str = ""
    dropped: bool = False


@dataclass(slots=True)
class _Throttle:
    """Per (circle, device): when a position last went out, its fix time, and what waits."""

    sent_mono: float = -1e18
    newest_fix: datetime | None = None
    pending: Mapping[str, Any] | None = None
    pending_recipients: tuple[str, ...] = ()
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _Circle:
    ring: deque[tuple[int, LiveEvent]]
    readers: set[Reader] = field(default_factory=set)
    #: the id (seq) of the newest event that fell out of the ring
    evicted_upto: int = 0


class LiveHub:
    def __init__(
        self,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        ring_size: int = DEFAULT_RING_SIZE,
        reader_queue: int = DEFAULT_READER_QUEUE,
        clock: Callable[[], float] = time.monotonic,
        taps: Sequence[Callable[[str, LiveEvent], None]] = (),
    ) -> None:
        self.interval_s = interval_s
        self.ring_size = ring_size
        self.reader_queue = reader_queue
        self._clock = clock
        #: this process start; ids from another start cannot be resumed from this ring
        self.boot = secrets.token_hex(4)
        self._last_seq = 0
        self._circles: dict[str, _Circle] = {}
        self._throttles: dict[tuple[str, str], _Throttle] = {}
        #: (circle, dedup key) of the alerts shown lately, oldest first (a bounded set)
        self._alert_keys: dict[tuple[str, str], None] = {}
        #: called with every published event (the MQTT live topics follow the same rules)
        self.taps = tuple(taps)

    # -- publishing (after commit) ----------------------------------------------------------

    def position(
        self,
        circles: Mapping[str, tuple[str, ...]],
        device: str,
        fix_time: datetime,
        payload: Mapping[str, Any],
    ) -> None:
        """A device's newest committed fix, for each circle it is shared with (circle id ->
        the circle's in-plan members)."""
        for circle_id, recipients in circles.items():
            key = (circle_id, device)
            th = self._throttles.get(key)
            if th is None:
                th = self._throttles[key] = _Throttle()
            if th.newest_fix is not None and fix_time <= th.newest_fix:
                metrics.live_late_fixes.inc()
                continue
            th.newest_fix = fix_time
            now = self._clock()
            wait = th.sent_mono + self.interval_s - now
            if wait <= 0 and th.timer is None:
                th.sent_mono = now
                self._emit(circle_id, "position", payload, recipients)
                continue
            th.pending, th.pending_recipients = payload, recipients
            if th.timer is None:
                loop = asyncio.get_running_loop()
                th.timer = loop.call_later(max(wait, 0.0), self._flush, key)

    def alert(self, circle_id: str, payload: Mapping[str, Any], key: str = "") -> None:
        """An alert is never throttled. With ``key`` (the notification's dedup key) an alert
        already shown on this circle's stream is not shown again (its recipients may take the
        delivery worker several rounds)."""
        if key:
            seen = (circle_id, key)
            if seen in self._alert_keys:
                return
            self._alert_keys[seen] = None
            if len(self._alert_keys) > ALERT_KEYS_KEPT:
                del self._alert_keys[next(iter(self._alert_keys))]
        self._emit(circle_id, "alert", payload)

    def _flush(self, key: tuple[str, str]) -> None:
        th = self._throttles.get(key)
        if th is None:
            return
        th.timer = None
        if th.pending is None:
            return
        payload, th.pending = th.pending, None
        th.sent_mono = self._clock()
        self._emit(key[0], "position", payload, th.pending_recipients)

    def _emit(
        self,
        circle_id: str,
        kind: str,
        payload: Mapping[str, Any],
        recipients: tuple[str, ...] = (),
    ) -> None:
        seq = self._take_seq()
        event = LiveEvent(id=f"{self.boot}-{seq}", kind=kind, data=payload, recipients=recipients)
        circle = self._circle(circle_id)
        if len(circle.ring) == circle.ring.maxlen:
            circle.evicted_upto = circle.ring[0][0]
        circle.ring.append((seq, event))
        metrics.live_events.labels(kind).inc()
        for reader in list(circle.readers):
            self._offer(reader, event)
        for tap in self.taps:
            tap(circle_id, event)

    def _offer(self, reader: Reader, event: LiveEvent) -> None:
        try:
            reader.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.drop(reader, reason="slow")

    # -- reading ----------------------------------------------------------------------------

    def subscribe(
        self,
        circle_id: str,
        on_drop: Callable[[], None],
        last_event_id: str | None = None,
        account: str = "",
    ) -> tuple[Reader, list[LiveEvent] | None]:
        """A new reader of ``circle_id`` and, when ``last_event_id`` can be resumed, the events
        after it (``None``: the reader needs a snapshot first). Subscribing happens before the
        snapshot is read, so nothing committed in between is missed."""
        circle = self._circle(circle_id)
        reader = Reader(circle_id, asyncio.Queue(self.reader_queue), on_drop, account)
        circle.readers.add(reader)
        metrics.live_readers.inc()
        return reader, self._after(circle, last_event_id)

    def unsubscribe(self, reader: Reader) -> None:
        circle = self._circles.get(reader.circle_id)
        if circle is not None and reader in circle.readers:
            circle.readers.discard(reader)
            metrics.live_readers.dec()

    def drop(self, reader: Reader, reason: str, *, notify: bool = True) -> None:
        """End ``reader``: it is unsubscribed at once and (``notify``) its ``on_drop`` closes
        its connection; counted by ``reason``."""
        if reader.dropped:
            return
        reader.dropped = True
        self.unsubscribe(reader)
        metrics.live_readers_dropped.labels(reason).inc()
        if notify:
            reader.on_drop()

    def drop_circle_readers(self, circle_id: str, keep: Callable[[Reader], bool]) -> None:
        """Drop the readers of ``circle_id`` for which ``keep`` is false (a member removed)."""
        circle = self._circles.get(circle_id)
        if circle is None:
            return
        for reader in list(circle.readers):
            if not keep(reader):
                self.drop(reader, reason="revoked")

    def revoke(self, allowed: Callable[[str], frozenset[str]]) -> None:
        """After a membership or plan change: end every reader whose account is no longer
        among ``allowed(circle)`` (the circle's in-plan members; an unknown circle: none)."""
        for circle_id, circle in list(self._circles.items()):
            if not circle.readers:
                continue
            try:
                keep = allowed(circle_id)
            except LookupError:
                keep = frozenset()
            for reader in list(circle.readers):
                if reader.account not in keep:
                    self.drop(reader, reason="revoked")

    def next_id(self) -> str:
        """An id for a snapshot event: resuming from it yields what was published after."""
        return f"{self.boot}-{self._take_seq()}"

    def _take_seq(self) -> int:
        self._last_seq += 1
        return self._last_seq

    def _after(self, circle: _Circle, last_event_id: str | None) -> list[LiveEvent] | None:
        if not last_event_id:
            return None
        boot, _, seq_text = last_event_id.partition("-")
        if boot != self.boot or not seq_text.isdigit():
            return None
        seq = int(seq_text)
        if seq > self._last_seq:
            return None  # not an id this process gave out
        if seq < circle.evicted_upto:
            return None  # events after it have fallen out of the ring: a gap would follow
        return [event for s, event in circle.ring if s > seq]

    def _circle(self, circle_id: str) -> _Circle:
        circle = self._circles.get(circle_id)
        if circle is None:
            circle = self._circles[circle_id] = _Circle(ring=deque(maxlen=self.ring_size))
        return circle

    def readers(self, circle_id: str) -> int:
        circle = self._circles.get(circle_id)
        return 0 if circle is None else len(circle.readers)
