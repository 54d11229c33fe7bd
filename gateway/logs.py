"""Structured logging: one JSON object per line, with the ``extra`` fields we use."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime

#: ``extra=`` keys copied into every JSON line when present
CONTEXT_FIELDS = ("conn", "peer", "protocol", "device_key", "port", "reason", "count")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class RateLimiter:
    """Allows one event per key per ``interval`` seconds (for "logged once per minute")."""

    __slots__ = ("_interval", "_last", "_max_keys")

    def __init__(self, interval: float = 60.0, max_keys: int = 100_000) -> None:
        self._interval = interval
        self._last: dict[object, float] = {}
        self._max_keys = max_keys

    def allow(self, key: object, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) >= self._max_keys:
            cutoff = now - self._interval
            self._last = {k: t for k, t in self._last.items() if t >= cutoff}
        self._last[key] = now
        return True
