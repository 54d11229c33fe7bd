"""The bounded queue between listeners and the writer, counted in positions."""

from __future__ import annotations

import asyncio
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
    on_commit: Callable[[], None] | None = None
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    received_mono: float = field(default_factory=time.monotonic)

    @property
    def weight(self) -> int:
        """What the envelope costs in the bound (an empty one, e.g. an ACK, still costs 1)."""
        return max(1, len(self.positions) + len(self.events))


class Intake:
    """A FIFO of envelopes bounded by total weight. ``put`` waits while it is full."""

    def __init__(self, max_weight: int) -> None:
        self.max_weight = max_weight
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
    def full(self) -> bool:
        return self._weight >= self.max_weight

    async def put(self, envelope: Envelope) -> None:
        if self._closed:
            raise RuntimeError("intake is closed")
        while self._weight > 0 and self._weight + envelope.weight > self.max_weight:
            self._not_full.clear()
            await self._not_full.wait()
        self._push(envelope)

    def put_nowait(self, envelope: Envelope) -> bool:
        """Queue unless full (for UDP, which cannot pause its sender): False when dropped."""
        if self._closed or (self._weight > 0 and self._weight + envelope.weight > self.max_weight):
            return False
        self._push(envelope)
        return True

    def _push(self, envelope: Envelope) -> None:
        self._items.append(envelope)
        self._weight += envelope.weight
        self._queued += envelope.weight
        metrics.queue_depth.set(self._weight)
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
        metrics.queue_depth.set(self._weight)
        if self._weight < self.max_weight:
            self._not_full.set()

    def close(self) -> None:
        self._closed = True
        self._not_empty.set()
