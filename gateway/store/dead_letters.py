"""The dead-letter table: rows the database refused, kept with the error and the raw bytes.

The writer stores them in their own transaction after the rest of their batch committed
(``writer.write_isolating``); an operator reads them with SQL (``select * from dead_letters``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

#: raw bytes kept per dead letter (a read may hold many frames)
MAX_RAW_BYTES = 65_536
#: characters of error and row text kept
MAX_TEXT = 8_192


@dataclass(frozen=True, slots=True)
class DeadLetter:
    kind: str  #: position | event | geofence_state
    device_id: int | None
    protocol: str | None
    reason: str
    error: str
    raw: bytes | None
    row_text: str


def _text(value: str) -> str:
    # text columns cannot hold NUL, and the refused value may be one
    return value.replace("\x00", "\\x00")[:MAX_TEXT]


async def insert(conn: psycopg.AsyncConnection[Any], letters: Sequence[DeadLetter]) -> None:
    """One transaction for all of them."""
    if not letters:
        return
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "insert into dead_letters (kind, device_id, protocol, reason, error, raw, row_text)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    d.kind,
                    d.device_id,
                    None if d.protocol is None else _text(d.protocol),
                    _text(d.reason),
                    _text(d.error),
                    None if d.raw is None else d.raw[:MAX_RAW_BYTES],
                    _text(d.row_text),
                )
                for d in letters
            ],
        )
