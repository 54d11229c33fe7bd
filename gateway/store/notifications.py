"""Reading PostgreSQL NOTIFY payloads off a connection that LISTENs (psycopg 3).

``notifies()`` must never be left with ``break``: the rest of the packet it read would be
lost. So a burst is collected whole: wait up to ``wait`` seconds for the first notification,
then take every one already received, without waiting again.
"""

from __future__ import annotations

from typing import Any

import psycopg


async def burst(conn: psycopg.AsyncConnection[Any], wait: float = 1.0) -> list[str]:
    """The payloads of the next burst of notifications (empty after ``wait`` seconds)."""
    payloads = [note.payload async for note in conn.notifies(timeout=wait, stop_after=1)]
    if payloads:
        payloads += [note.payload async for note in conn.notifies(timeout=0.0)]
    return payloads
