"""Members' notification rules, email opt-in and devices' expected intervals (migration 008)."""

from __future__ import annotations

from datetime import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

AsyncConn = psycopg.AsyncConnection[Any]

_COLUMNS = "id, kinds, places, members, channels, start_time, end_time, tz, created_at"


def _json(row: dict[str, Any]) -> dict[str, Any]:
    window = None
    if row["start_time"] is not None:
        window = {
            "start": row["start_time"].strftime("%H:%M"),
            "end": row["end_time"].strftime("%H:%M"),
            "tz": row["tz"],
        }
    return {
        "id": row["id"],
        "kinds": row["kinds"],
        "places": row["places"],
        "members": row["members"],
        "channels": row["channels"],
        "window": window,
        "created_at": row["created_at"],
    }


async def list_rules(conn: AsyncConn, circle_id: str, account_id: str) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"select {_COLUMNS} from notification_rules where circle_id = %s and account_id = %s"
            " order by id",
            (circle_id, account_id),
        )
        return [_json(r) for r in await cur.fetchall()]


#: the most rules one member keeps per circle
MAX_RULES = 50


async def save_rule(
    conn: AsyncConn,
    circle_id: str,
    account_id: str,
    rule: dict[str, Any],
    rule_id: int | None = None,
) -> dict[str, Any] | None:
    """Insert (``rule_id`` None) or replace one of the member's rules; None: no such rule.
    ``rule``: kinds, places, members (lists or None), channels, start, end (time or None),
    tz. Raises ``ValueError`` past ``MAX_RULES``."""
    values = {
        "c": circle_id,
        "a": account_id,
        "id": rule_id,
        **{k: rule[k] for k in ("kinds", "places", "members", "channels", "tz")},
        "start": rule["start"],
        "end": rule["end"],
    }
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        if rule_id is None:
            await cur.execute(
                "select count(*) as n from notification_rules where circle_id = %s"
                " and account_id = %s",
                (circle_id, account_id),
            )
            found = await cur.fetchone()
            if found is not None and found["n"] >= MAX_RULES:
                raise ValueError(f"at most {MAX_RULES} rules per member and circle")
            await cur.execute(
                "insert into notification_rules (circle_id, account_id, kinds, places, members,"
                " channels, start_time, end_time, tz) values (%(c)s, %(a)s, %(kinds)s,"
                " %(places)s, %(members)s, %(channels)s, %(start)s, %(end)s, %(tz)s)"
                f" returning {_COLUMNS}",
                values,
            )
        else:
            await cur.execute(
                "update notification_rules set kinds = %(kinds)s, places = %(places)s,"
                " members = %(members)s, channels = %(channels)s, start_time = %(start)s,"
                " end_time = %(end)s, tz = %(tz)s"
                " where id = %(id)s and circle_id = %(c)s and account_id = %(a)s"
                f" returning {_COLUMNS}",
                values,
            )
        row = await cur.fetchone()
    return None if row is None else _json(row)


async def delete_rule(conn: AsyncConn, circle_id: str, account_id: str, rule_id: int) -> bool:
    cur = await conn.execute(
        "delete from notification_rules where id = %s and circle_id = %s and account_id = %s",
        (rule_id, circle_id, account_id),
    )
    return cur.rowcount == 1


async def circle_place_ids(conn: AsyncConn, circle_id: str) -> set[str]:
    cur = await conn.execute("select id::text from places where circle_id = %s", (circle_id,))
    return {r[0] for r in await cur.fetchall()}


async def circle_member_ids(conn: AsyncConn, circle_id: str) -> set[str]:
    cur = await conn.execute(
        "select account_id from circle_members where circle_id = %s"
        " union select owner_account_id from circles where id = %s",
        (circle_id, circle_id),
    )
    return {r[0] for r in await cur.fetchall()}


async def email_opt_in(conn: AsyncConn, account_id: str) -> bool:
    cur = await conn.execute("select notify_email from accounts where id = %s", (account_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def set_email_opt_in(conn: AsyncConn, account_id: str, on: bool) -> None:
    await conn.execute("update accounts set notify_email = %s where id = %s", (on, account_id))


async def set_expected_interval(conn: AsyncConn, device_id: int, seconds: int | None) -> None:
    """The device's "tracking stopped" interval (None: its kind's default). A device already
    being watched gets its due time moved to match."""
    async with conn.transaction():
        await conn.execute(
            "update devices set expected_interval_s = %s where id = %s", (seconds, device_id)
        )
        if seconds is not None:
            await conn.execute(
                "update device_watch set due_at = last_seen + make_interval(secs => %s)"
                " where device_id = %s and not stopped",
                (seconds, device_id),
            )


def parse_time(text: str) -> time:
    return time.fromisoformat(text)
