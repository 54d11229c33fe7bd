"""Time helpers: aware UTC datetimes, ISO-8601 ``...Z`` text, calendar months."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

__all__ = ["FAR_FUTURE", "add_months", "format_time", "parse_time", "require_aware", "to_utc"]

#: Stands for "no bound" where a datetime is needed (comparisons on the hot path).
FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def require_aware(value: datetime, name: str) -> datetime:
    """Reject a naive datetime (our bug, not the user's); return it in UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {value!r}")
    return value.astimezone(UTC)


def to_utc(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else require_aware(value, name)


def parse_time(text: str) -> datetime:
    """Parse ISO-8601 with an offset or ``Z`` into aware UTC; ``ValueError`` if naive or bad."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 time string, got {text!r}")
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset (add 'Z' or '+00:00')")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """Aware datetime -> ``2026-01-31T12:00:00Z`` (microseconds kept when present)."""
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def add_months(value: datetime, months: int) -> datetime:
    """The same day ``months`` later, clamped to the month's end (Feb 29 + 12 -> Feb 28)."""
    index = value.month - 1 + months
    year, month = value.year + index // 12, index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)
