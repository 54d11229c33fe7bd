"""Token buckets, keyed (per member token, per account, per address), in this process.

A bucket holds ``burst`` tokens and refills at ``rate`` per second; ``take`` spends one and
returns 0, or returns how many seconds until one is back (the ``Retry-After``). At most
``max_keys`` buckets are kept (least recently used evicted), so hostile keys cannot grow it.
Limits are per gateway process; several processes each enforce their own.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class Buckets:
    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def wait_s(self, key: str) -> float:
        """Seconds until ``key`` may spend a token (0: now); spends nothing."""
        level = self._level(key, self.clock())
        return 0.0 if level >= 1.0 else (1.0 - level) / self.rate

    def take(self, key: str) -> float:
        """Spend one token: 0 if there was one, else the seconds to wait (nothing spent)."""
        now = self.clock()
        level = self._level(key, now)
        if level < 1.0:
            self._put(key, level, now)
            return (1.0 - level) / self.rate
        self._put(key, level - 1.0, now)
        return 0.0

    def _put(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


def retry_after(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
