"""The bounded queue between listeners and the writer, counted in positions."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from protocols.model import DeviceEvent, Position

from .. import metrics


@dataclass(slots=True)
class Envelope:
    """What one listener read hands on: identified data, and what to do once it is stored.

    ``on_commit`` runs after the transaction holding every item has committed (send the held
    reply, PUBACK, answer the HTTP request). Envelopes commit in the order they were put.
    """

    positions: list[tuple[int, Position]] = field(default_factory=list)
    events: list[tuple[int, DeviceEvent]] = field(default_factory=list)
    #: devices the broker reported gone (an OwnTracks ``lwt``): hints for the device watch
    offline: list[int] = field(default_factory=list)
    on_commit: Callable[[], None] | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received_mono: float = field(default_factory=time.monotonic)
    protocol: str = ""
    #: the reads (TCP read, datagram, MQTT payload, HTTP body) the data came from, for
    #: dead letters; ``position_ends[i]`` / ``event_ends[i]`` = how many positions / events
    #: had been added when read ``i`` was done
    raws: list[bytes] = field(default_factory=list)
    position_ends: list[int] = field(default_factory=list)
    event_ends: list[int] = field(default_factory=list)
    nbytes: int = 0

    def add_raw(self, raw: bytes, weigh: bool = True) -> None:
        """Mark the end of one read's data (call after adding its positions and events).

        ``weigh=False`` when another envelope already counts these bytes in the intake's
        bound (one read closing several envelopes at acknowledging replies)."""
        self.raws.append(raw)
        self.position_ends.append(len(self.positions))
        self.event_ends.append(len(self.events))
        if weigh:
            self.nbytes += len(raw)

    def raw_of(self, kind: str, index: int) -> bytes | None:
        """The read the ``index``-th position (or event) came from, if known."""
        ends = self.position_ends if kind == "position" else self.event_ends
        i = bisect.bisect_right(ends, index)
        return self.raws[i] if i < len(self.raws) else None

    @property
    def weight(self) -> int:
        """What the envelope costs in the bound (an empty one, e.g. an ACK, still costs 1)."""
        return max(1, len(self.positions) + len(self.events))


class IntakeClosed(RuntimeError):
    """The intake no longer takes envelopes: the gateway is shutting down. (A RuntimeError
    subclass only so that callers written against the old bare RuntimeError still stop.)"""


class Intake:
    """A FIFO of envelopes bounded by total weight (positions and events) and by the bytes
    they came in as. ``put`` waits while either bound would be passed (an envelope larger
    than a bound on its own is let in when the intake is empty, so it cannot wait forever).
    """

    def __init__(self, max_weight: int, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_weight = max_weight
        self.max_bytes = max_bytes
        self._bytes = 0  # bytes of queued + taken but not yet released
        self._items: deque[Envelope] = deque()
        self._weight = 0  # queued + taken but not yet released
        self._queued = 0  # still in the deque
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._not_empty = asyncio.Event()
        self._closed = False
        metrics.queue_bound.set(max_weight)

    @property
    def weight(self) -> int:
        return self._weight

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    @property
    def full(self) -> bool:
        return self._weight >= self.max_weight or self._bytes >= self.max_bytes

    def _would_overflow(self, envelope: Envelope) -> bool:
        if self._weight == 0:
            return False
        return (
            self._weight + envelope.weight > self.max_weight
            or self._bytes + envelope.nbytes > self.max_bytes
        )

    async def put(self, envelope: Envelope) -> None:
        if self._closed:
            raise IntakeClosed("the intake is closed")
        while self._would_overflow(envelope):
            self._not_full.clear()
            await self._not_full.wait()
            if self._closed:
                raise IntakeClosed("the intake is closed")
        self._push(envelope)

    def put_nowait(self, envelope: Envelope) -> bool:
        """Queue unless full (for UDP, which cannot pause its sender): False when dropped."""
        if self._closed or self._would_overflow(envelope):
            return False
        self._push(envelope)
        return True

    def _push(self, envelope: Envelope) -> None:
        self._items.append(envelope)
        self._weight += envelope.weight
        self._bytes += envelope.nbytes
        self._queued += envelope.weight
        metrics.queue_depth.set(self._weight)
        metrics.queue_bytes.set(self._bytes)
        self._not_empty.set()

    async def take(self, max_weight: int, max_age_s: float) -> list[Envelope]:
        """Wait for at least one envelope, then gather up to ``max_weight`` for at most
        ``max_age_s`` after the first one arrived. Returns [] once closed and drained."""
        while not self._items:
            if self._closed:
                return []
            self._not_empty.clear()
            await self._not_empty.wait()
        deadline = self._items[0].received_mono + max_age_s
        while self._queued < max_weight and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._not_empty.clear()
            try:
                await asyncio.wait_for(self._not_empty.wait(), remaining)
            except TimeoutError:
                break
        out: list[Envelope] = []
        taken = 0
        while self._items and (not out or taken + self._items[0].weight <= max_weight):
            envelope = self._items.popleft()
            taken += envelope.weight
            out.append(envelope)
        self._queued -= taken
        return out

    def release(self, envelopes: list[Envelope]) -> None:
        """The writer is done with these: make room for the listeners."""
        self._weight -= sum(e.weight for e in envelopes)
        self._bytes -= sum(e.nbytes for e in envelopes)
        metrics.queue_depth.set(self._weight)
        metrics.queue_bytes.set(self._bytes)
        if self._weight < self.max_weight and self._bytes < self.max_bytes:
            self._not_full.set()

    def close(self) -> None:
        self._closed = True
        self._not_empty.set()
        self._not_full.set()  # waiting producers get IntakeClosed
