"""The device watch and the database-scheduled jobs (migration 008).

``stop_due``: devices whose "tracking stopped" is due (``device_watch.due_at`` passed, not yet
stopped), claimed with ``FOR UPDATE SKIP LOCKED``: in one transaction each gets its event (with
its last known position and time), its outbox rows, and ``stopped``. Two gateway processes
never claim the same device; a crash before commit leaves it due, claimed again. The writer's
upsert of a device's report waits on that lock, so it sees ``stopped`` and writes exactly one
"back online" (``store.writer``).

``claim_job``: a named job's due time, advanced atomically by the one process that runs it.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from entitlements import Subscription

from . import outbox
from .subscriptions import subscription_from_row

AsyncConn = psycopg.AsyncConnection[Any]

_DUE = """
select w.device_id, w.last_seen, w.due_at, lp.fix_time, lp.lat, lp.lon, lp.accuracy_m
from device_watch w left join latest_positions lp on lp.device_id = w.device_id
where not w.stopped and w.due_at <= now()
order by w.due_at
limit %s
for update of w skip locked
"""


async def stop_due(conn: AsyncConn, limit: int, audience_of: outbox.AudienceOf) -> int:
    """One round: "tracking stopped" for up to ``limit`` due devices. Returns how many."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(_DUE, (limit,))
        due = await cur.fetchall()
        if not due:
            return 0
        await cur.execute(
            "update device_watch set stopped = true, woke = false where device_id = any(%s)",
            ([d[0] for d in due],),
        )
        stored: list[outbox.NewEvent] = []
        for device_id, last_seen, due_at, fix_time, lat, lon, accuracy in due:
            payload: dict[str, Any] = {
                "last_seen": last_seen.isoformat(),
                "expected_by": due_at.isoformat(),
            }
            if fix_time is not None:
                payload.update(lat=lat, lon=lon, accuracy_m=accuracy, fix_time=fix_time.isoformat())
            await cur.execute(
                "insert into events (device_id, circle_id, kind, time, subject, payload)"
                " values (%s, null, 'tracking_stopped', %s, '', %s)"
                " on conflict do nothing returning id",
                (device_id, last_seen, json.dumps(payload)),
            )
            row = await cur.fetchone()
            if row is not None:
                stored.append(
                    outbox.NewEvent(
                        row[0], device_id, None, "tracking_stopped", last_seen, "", payload
                    )
                )
        if stored:
            await outbox.add_for_events(conn, stored, audience_of)
        return len(due)


async def hint_offline(conn: AsyncConn, device_id: int, at: datetime) -> None:
    """An OwnTracks ``lwt`` (the broker saw the phone's connection die): its "tracking
    stopped" is due now rather than at the end of its interval (a report cancels it)."""
    await conn.execute(
        "update device_watch set due_at = least(due_at, %s) where device_id = %s"
        " and not stopped and last_seen <= %s",
        (at, device_id, at),
    )


async def claim_job(
    conn: AsyncConn, name: str, every: timedelta, first_in: timedelta = timedelta(0)
) -> bool:
    """True for the one process that is to run ``name`` now (its due time passed): the due
    time is moved ``every`` on in the same statement. A job seen for the first time is due
    ``first_in`` from now."""
    await conn.execute(
        "insert into scheduled_jobs (name, due_at) values (%s, now() + %s) on conflict do nothing",
        (name, first_in),
    )
    cur = await conn.execute(
        "update scheduled_jobs set due_at = now() + %s, last_run = now(), last_ok = null"
        " where name = %s and due_at <= now() returning name",
        (every, name),
    )
    return await cur.fetchone() is not None


async def finish_job(conn: AsyncConn, name: str, ok: bool) -> None:
    await conn.execute("update scheduled_jobs set last_ok = %s where name = %s", (ok, name))


_SUB_COLUMNS = ", ".join("s." + f.name for f in fields(Subscription))


async def subscriptions_with_payers(
    conn: AsyncConn,
) -> tuple[list[Subscription], dict[str, str]]:
    """Every subscription, and each circle's payer account (its owner: the account that
    bought the plan; the payer field is a card fingerprint or a store account)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"select {_SUB_COLUMNS}, c.owner_account_id from subscriptions s"
            " join circles c on c.id = s.circle_id order by s.id"
        )
        rows = await cur.fetchall()
    owners = {r["circle_id"]: r["owner_account_id"] for r in rows}
    return [subscription_from_row(r) for r in rows], owners
