"""One device's track between two times: time-ordered, keyset-paged, optionally downsampled.

``track(conn, device_id, start, end, ...)`` reads ``positions`` for ``start <= fix_time < end``
(half-open, so consecutive windows never return a fix twice), oldest first.

Paging is keyset paging on ``fix_time`` (``(device_id, fix_time)`` is unique, so the last
fix_time of a page is an exact position): a page holds at most ``limit`` fixes and, when more
may follow, an opaque ``next_cursor`` to pass back for the next page. No OFFSET: every page
is one index range scan on ``positions_device_time``, however deep.

Downsampling (``bucket_s``): TimescaleDB ``time_bucket`` splits time into buckets of that many
seconds (aligned to time_bucket's default origin) and the **first fix of each bucket** stands
for it. First rather than ``last()`` or an average: it is a fix the device really reported
(all its fields belong together), it does not change when later fixes of the same bucket
arrive, and a page boundary can be expressed as "the buckets after this one", which keeps
keyset paging exact.

``not_before`` is the entitlement window (the caller derives it from the circle's plan): it
clamps ``start``; nothing before it is ever returned.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

__all__ = ["MAX_LIMIT", "Fix", "InvalidCursor", "Page", "device_id_of", "track"]

#: the most fixes one page may hold
MAX_LIMIT = 10_000

_COLUMNS = (
    "fix_time, lat, lon, valid, speed_kmh, course_deg, altitude_m, accuracy_m, satellites,"
    " battery_pct"
)

_RAW = f"""
select {_COLUMNS} from positions
where device_id = %(device)s and fix_time >= %(start)s and fix_time < %(end)s
  and fix_time > %(after)s
order by fix_time
limit %(limit)s
"""

# A skip scan: each step is one index probe for the first fix at or after the next bucket's
# start, so a page costs O(fixes returned), however many raw fixes a bucket holds. The outer
# LIMIT stops the recursion. ``next_bucket`` is where the page after this fix would resume.
_BUCKETED = f"""
with recursive b(fix_time) as (
    (select fix_time from positions
     where device_id = %(device)s and fix_time >= %(start)s and fix_time < %(end)s
       and fix_time >= %(after)s
     order by fix_time limit 1)
    union all
    select (select p.fix_time from positions p
            where p.device_id = %(device)s and p.fix_time < %(end)s
              and p.fix_time >= time_bucket(%(width)s, b.fix_time) + %(width)s
            order by p.fix_time limit 1)
    from b where b.fix_time is not null
), picked as (
    select fix_time from b where fix_time is not null limit %(limit)s
)
select {_COLUMNS}, time_bucket(%(width)s, fix_time) + %(width)s as next_bucket
from positions
where device_id = %(device)s and fix_time >= %(start)s and fix_time < %(end)s
  and fix_time in (select fix_time from picked)
order by fix_time
"""

_NO_CURSOR = datetime(1, 1, 1, tzinfo=UTC)
_CURSOR_VERSION = "h1"


@dataclass(frozen=True, slots=True)
class Fix:
    """One stored position, as history returns it."""

    fix_time: datetime
    lat: float
    lon: float
    valid: bool
    speed_kmh: float | None
    course_deg: float | None
    altitude_m: float | None
    accuracy_m: float | None
    satellites: int | None
    battery_pct: float | None


@dataclass(frozen=True, slots=True)
class Page:
    fixes: tuple[Fix, ...]
    #: pass back as ``cursor`` for the next page; None when this page is the last
    next_cursor: str | None


class InvalidCursor(ValueError):
    """A cursor that this query did not produce (tampered, or other bucket width)."""


Source = psycopg.AsyncConnection[Any] | AsyncConnectionPool


def _encode_cursor(resume: datetime, bucket_s: int | None) -> str:
    delta = resume - _NO_CURSOR
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = f"{_CURSOR_VERSION}:{micros}:{bucket_s or 0}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, bucket_s: int | None) -> datetime:
    """Where the next page resumes: after this fix_time (raw), or at this bucket (bucketed)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, micros_s, width_s = raw.split(":")
        micros = int(micros_s)
        width = int(width_s)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor(f"not a history cursor: {cursor!r}") from exc
    if version != _CURSOR_VERSION or micros < 0:
        raise InvalidCursor(f"not a history cursor: {cursor!r}")
    if width != (bucket_s or 0):
        raise InvalidCursor("the cursor belongs to a query with another bucket width")
    try:
        return _NO_CURSOR + timedelta(microseconds=micros)
    except OverflowError as exc:
        raise InvalidCursor(f"not a history cursor: {cursor!r}") from exc


def _check_aware(name: str, when: datetime | None) -> None:
    if when is not None and when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


async def track(
    source: Source,
    device_id: int,
    start: datetime,
    end: datetime,
    *,
    limit: int = 1000,
    cursor: str | None = None,
    bucket_s: int | None = None,
    not_before: datetime | None = None,
) -> Page:
    """One page of ``device_id``'s fixes with ``max(start, not_before) <= fix_time < end``."""
    for name, when in (("start", start), ("end", end), ("not_before", not_before)):
        _check_aware(name, when)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if bucket_s is not None and bucket_s < 1:
        raise ValueError(f"bucket_s must be at least 1 second, got {bucket_s}")
    if not_before is not None and not_before > start:
        start = not_before
    after = _NO_CURSOR if cursor is None else _decode_cursor(cursor, bucket_s)
    if start >= end:
        return Page((), None)
    params: dict[str, Any] = {
        "device": device_id,
        "start": start,
        "end": end,
        "after": after,
        # one more than asked: tells whether another page follows without a second query
        "limit": limit + 1,
    }
    if bucket_s is None:
        rows = await _fetch(source, _RAW, params)
        resume = [row[0] for row in rows]
    else:
        params["width"] = timedelta(seconds=bucket_s)
        rows = await _fetch(source, _BUCKETED, params)
        resume = [row[-1] for row in rows]
        rows = [row[:-1] for row in rows]
    more = len(rows) > limit
    fixes = tuple(Fix(*row) for row in rows[:limit])
    next_cursor = _encode_cursor(resume[limit - 1], bucket_s) if more else None
    return Page(fixes, next_cursor)


async def _fetch(source: Source, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    if isinstance(source, AsyncConnectionPool):
        async with source.connection() as conn:
            return await _fetch(conn, sql, params)
    async with source.cursor() as cur:
        await cur.execute(sql, params)
        return await cur.fetchall()


async def device_id_of(source: Source, unique_id: str) -> int | None:
    """The id of the device whose own id (IMEI, phone id) is ``unique_id``."""
    sql = "select id from devices where unique_id = %(u)s"
    rows = await _fetch(source, sql, {"u": unique_id})
    return int(rows[0][0]) if rows else None
