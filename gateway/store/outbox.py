"""The notifications outbox (migration 008): rows written in the transaction of the event that
causes them, claimed by the delivery worker with ``FOR UPDATE SKIP LOCKED`` under a lease.

One row per (notification, recipient, channel), unique on ``(dedup_key, recipient,
channel)``: an event's notification is keyed ``event:<event id>`` (a resent event is not a new
row of ``events``, so it adds nothing), a billing notice by its ``Notice.dedup_key``. A claim
sets ``leased_until``; a row whose process died before recording the outcome is claimed again
once the lease has passed. ``attempts`` counts claims; past ``max_attempts`` the row is
``dead``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from ..notify.rules import Candidate, Rule, channels_for

AsyncConn = psycopg.AsyncConnection[Any]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may be told of one device's events in one circle: the circle's in-plan members."""

    circle_id: str
    members: tuple[str, ...]
    owner: str | None  #: the device's account
    device: str  #: the device's own id (IMEI, phone id)


#: (device id, the event's circle or None) -> the circles and members it may reach
AudienceOf = Callable[[int, str | None], Sequence[Audience]]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A stored event the outbox is to tell of."""

    event_id: int
    device_id: int
    circle_id: str | None
    kind: str
    time: datetime
    subject: str
    payload: dict[str, Any]


def _rule(row: dict[str, Any]) -> Rule:
    window = None
    if row["start_time"] is not None:
        window = (row["start_time"], row["end_time"])
    return Rule(
        kinds=frozenset(row["kinds"]) if row["kinds"] is not None else None,
        places=frozenset(row["places"]) if row["places"] is not None else None,
        members=frozenset(row["members"]) if row["members"] is not None else None,
        channels=frozenset(row["channels"]),
        window=window,
        tz=row["tz"],
    )


#: events of a device (not of a place): their payload is a position and details
DEVICE_KINDS = frozenset({"battery_low", "tracking_stopped", "back_online"})


def subject_of(event: NewEvent) -> dict[str, Any]:
    """What an alert says besides its type, circle, member, device and time."""
    if event.kind.startswith("alarm:") or event.kind in DEVICE_KINDS:
        payload = dict(event.payload)
        out: dict[str, Any] = {}
        if "lat" in payload and "lon" in payload:
            out["position"] = {"lat": payload.pop("lat"), "lon": payload.pop("lon")}
            for key in ("accuracy_m", "fix_time"):
                if key in payload:
                    out["position"][key] = payload.pop(key)
        out["details"] = payload
        return out
    return dict(event.payload)


async def add_for_events(
    conn: AsyncConn, events: Sequence[NewEvent], audience_of: AudienceOf
) -> int:
    """Outbox rows for ``events`` (just stored, in the caller's transaction): each in-plan
    member of each circle the event reaches, on the channels their rules (or the defaults)
    choose. Returns the rows added."""
    targets: list[tuple[NewEvent, Audience]] = []
    for event in events:
        for audience in audience_of(event.device_id, event.circle_id):
            if audience.members:
                targets.append((event, audience))
    if not targets:
        return 0
    circles = sorted({a.circle_id for _, a in targets})
    accounts = sorted({m for _, a in targets for m in a.members})
    rules: dict[tuple[str, str], list[Rule]] = {}
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "select circle_id, account_id, kinds, places, members, channels, start_time,"
            " end_time, tz from notification_rules where circle_id = any(%s)",
            (circles,),
        )
        for row in await cur.fetchall():
            try:
                rule = _rule(row)
            except ValueError:  # a rule stored before a kind was renamed: it matches nothing
                continue
            rules.setdefault((row["circle_id"], row["account_id"]), []).append(rule)
        await cur.execute(
            "select id, notify_email, email is not null as has_email from accounts"
            " where id = any(%s) and status = 'active'",
            (accounts,),
        )
        mail = {r["id"]: (r["notify_email"], r["has_email"]) for r in await cur.fetchall()}
    rows: list[tuple[Any, ...]] = []
    told: set[tuple[int, str, str]] = set()
    for event, audience in targets:
        place = event.subject if event.kind in ("enter", "exit") else None
        candidate = Candidate(event.kind, event.time, audience.owner, place)
        payload = json.dumps(
            {
                "member": audience.owner or "",
                "device": audience.device,
                "time": event.time.isoformat(),
                "subject": subject_of(event),
            },
            default=str,
        )
        for member in audience.members:
            if member not in mail:
                continue
            opt_in, has_email = mail[member]
            chosen = channels_for(
                candidate,
                rules.get((audience.circle_id, member), ()),
                email_opt_in=opt_in,
                has_email=has_email,
            )
            for channel in sorted(chosen):
                if (event.event_id, member, channel) in told:
                    continue  # the same member in two circles the device is shared with
                told.add((event.event_id, member, channel))
                rows.append(
                    (
                        f"event:{event.event_id}",
                        member,
                        channel,
                        event.kind,
                        audience.circle_id,
                        event.event_id,
                        payload,
                    )
                )
    if not rows:
        return 0
    async with conn.cursor() as cur:
        await cur.executemany(
            "insert into notifications"
            " (dedup_key, recipient, channel, kind, circle_id, event_id, payload)"
            " values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            rows,
        )
    return len(rows)


async def add_notice(
    conn: AsyncConn,
    dedup_key: str,
    recipient: str,
    kind: str,
    circle_id: str | None,
    payload: dict[str, Any],
    channels: Iterable[str] = ("email",),
) -> int:
    """One account or billing notice to ``recipient`` (once per channel, whatever the
    number of calls). Returns the rows added."""
    added = 0
    for channel in channels:
        cur = await conn.execute(
            "insert into notifications (dedup_key, recipient, channel, kind, circle_id, payload)"
            " values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
            (dedup_key, recipient, channel, kind, circle_id, json.dumps(payload, default=str)),
        )
        added += cur.rowcount
    return added


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    dedup_key: str
    recipient: str
    channel: str
    kind: str
    circle_id: str | None
    payload: dict[str, Any]
    attempts: int
    email: str | None
    recipient_name: str | None
    circle_name: str | None


async def claim(conn: AsyncConn, limit: int, lease: timedelta) -> list[Claimed]:
    """Due rows, claimed for ``lease`` (their own transaction; ``attempts`` + 1)."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            with due as (
                select id from notifications
                where status = 'pending' and due_at <= now()
                  and (leased_until is null or leased_until < now())
                order by due_at, id
                limit %s
                for update skip locked
            )
            update notifications n set leased_until = now() + %s, attempts = n.attempts + 1
            from due where n.id = due.id
            returning n.id, n.dedup_key, n.recipient, n.channel, n.kind, n.circle_id,
                n.payload, n.attempts,
                (select email from accounts a where a.id = n.recipient) as email,
                (select name from accounts a where a.id = n.recipient) as recipient_name,
                (select name from circles c where c.id = n.circle_id) as circle_name
            """,
            (limit, lease),
        )
        rows = await cur.fetchall()
    return sorted((Claimed(**r) for r in rows), key=lambda c: c.id)


async def mark_sent(conn: AsyncConn, ids: Sequence[int]) -> None:
    async with conn.transaction():
        await conn.execute(
            "update notifications set status = 'sent', sent_at = now(), leased_until = null,"
            " last_error = null where id = any(%s) and status = 'pending'",
            (list(ids),),
        )


async def mark_failed(
    conn: AsyncConn, ids: Sequence[int], error: str, retry_in: timedelta, max_attempts: int
) -> int:
    """Back to pending, due again in ``retry_in``; ``dead`` once ``max_attempts`` are spent.
    Returns how many were dead-lettered."""
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(
            "update notifications set"
            " status = case when attempts >= %(max)s then 'dead' else 'pending' end,"
            " due_at = now() + %(retry)s, leased_until = null, last_error = left(%(err)s, 2000)"
            " where id = any(%(ids)s) and status = 'pending'"
            " returning status",
            {"max": max_attempts, "retry": retry_in, "err": error, "ids": list(ids)},
        )
        return sum(1 for (status,) in await cur.fetchall() if status == "dead")


async def names(
    conn: AsyncConn, account_ids: Iterable[str], place_ids: Iterable[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Display names of accounts and places, for messages."""
    accounts = sorted(set(account_ids))
    places = sorted({p for p in place_ids if p.isdigit()})
    cur = await conn.execute(
        "select id, coalesce(name, id) from accounts where id = any(%s)", (accounts,)
    )
    a = {k: v for k, v in await cur.fetchall()}
    cur = await conn.execute(
        "select id::text, name from places where id = any(%s::bigint[])", (places,)
    )
    p = {k: v for k, v in await cur.fetchall()}
    return a, p


async def recent(
    conn: AsyncConn, account_id: str, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """A member's notifications, newest first (keyset-paged on id)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "select id, kind, channel, circle_id as circle, status, created_at, sent_at,"
            " attempts, payload from notifications"
            " where recipient = %(a)s and (%(b)s::bigint is null or id < %(b)s)"
            " order by id desc limit %(n)s",
            {"a": account_id, "b": before_id, "n": limit},
        )
        return list(await cur.fetchall())


async def purge(conn: AsyncConn, older_than: timedelta) -> int:
    """Remove sent and dead rows older than ``older_than`` (pending ones stay)."""
    cur = await conn.execute(
        "delete from notifications where status <> 'pending' and created_at < now() - %s",
        (older_than,),
    )
    return cur.rowcount


async def counts(conn: AsyncConn) -> dict[str, int]:
    cur = await conn.execute("select status, count(*) from notifications group by status")
    return {k: v for k, v in await cur.fetchall()}
