"""Retention: forget what no plan keeps any longer.

A device's window is the longest ``history_days`` among the circles its account belongs to
(as member or owner), each circle's plan read from the ``entitlements`` table: the circle's
resolved timeline, of which the row with ``valid_from <= now < valid_until`` is in force. An
account in no circle, or a circle with no row in force, counts as the free plan. Plan
windows come from ``entitlements.plans`` (plans.toml), never from numbers here. A plan name
the catalogue does not know is treated as the *longest* window: retention only ever deletes,
so when in doubt it keeps.

One run, at ``now``:

1. ``drop_chunks('positions', older_than => now - longest window)``: whole chunks older than
   any plan keeps are dropped as files, not row by row.
2. per window (one DELETE per distinct window, over the devices that have it): positions with
   ``fix_time < now - window``; positions of devices no longer in ``devices`` get the free
   window.
3. the same for ``events`` (by ``time``).

``dry_run`` runs the same selection and counts instead of deleting; its counts are the ones a
real run at the same ``now`` would report (rows in chunks that would be dropped are counted
as chunk drops, not as deleted rows).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from entitlements.plans import FREE, Catalogue, default_catalogue

__all__ = ["Report", "WindowReport", "device_windows", "run"]


@dataclass(frozen=True, slots=True)
class WindowReport:
    days: int
    devices: int
    positions_deleted: int
    events_deleted: int


@dataclass(frozen=True, slots=True)
class Report:
    now: datetime
    dry_run: bool
    #: cut-off of whole-chunk drops: now - the longest window of any plan
    chunk_cutoff: datetime
    chunks_dropped: tuple[str, ...]
    windows: tuple[WindowReport, ...] = field(default_factory=tuple)
    orphan_positions_deleted: int = 0
    orphan_events_deleted: int = 0

    @property
    def positions_deleted(self) -> int:
        return sum(w.positions_deleted for w in self.windows) + self.orphan_positions_deleted

    @property
    def events_deleted(self) -> int:
        return sum(w.events_deleted for w in self.windows) + self.orphan_events_deleted

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "chunk_cutoff": self.chunk_cutoff.isoformat(),
            "chunks_dropped": list(self.chunks_dropped),
            "positions_deleted": self.positions_deleted,
            "events_deleted": self.events_deleted,
            "windows": [
                {
                    "days": w.days,
                    "devices": w.devices,
                    "positions_deleted": w.positions_deleted,
                    "events_deleted": w.events_deleted,
                }
                for w in self.windows
            ],
            "orphans": {
                "positions_deleted": self.orphan_positions_deleted,
                "events_deleted": self.orphan_events_deleted,
            },
        }


_WINDOWS = """
with plan_days(plan, days) as (
    select * from unnest(%(plans)s::text[], %(days)s::int[])
), membership(account_id, circle_id) as (
    select account_id, circle_id from circle_members
    union
    select owner_account_id, id from circles
)
select d.id,
       coalesce(max(case when m.circle_id is null then %(free)s
                         else coalesce(pd.days, %(unknown)s) end), %(free)s)
from devices d
left join membership m on m.account_id = d.account_id
left join entitlements e on e.circle_id = m.circle_id
    and (e.valid_from is null or e.valid_from <= %(now)s)
    and (e.valid_until is null or %(now)s < e.valid_until)
left join plan_days pd on pd.plan = coalesce(e.plan, %(free_name)s)
group by d.id
"""


def device_windows(
    conn: psycopg.Connection[Any],
    catalogue: Catalogue | None = None,
    now: datetime | None = None,
) -> dict[int, int]:
    """device id -> days of history kept for it at ``now``."""
    catalogue = catalogue or default_catalogue()
    now = now or datetime.now(UTC)
    plans = [catalogue.get(name) for name in catalogue.names]
    days = [p.full.history_days for p in plans]
    rows = conn.execute(
        _WINDOWS,
        {
            "plans": [p.name for p in plans],
            "days": days,
            "free": catalogue.free.full.history_days,
            "free_name": FREE,
            "unknown": max(days),
            "now": now,
        },
    ).fetchall()
    return {int(device): int(window) for device, window in rows}


def _chunks(conn: psycopg.Connection[Any], cutoff: datetime) -> list[tuple[str, datetime]]:
    """Chunks of ``positions`` that drop_chunks(older_than => cutoff) removes, with their ends."""
    rows = conn.execute(
        """select c.chunk_schema || '.' || c.chunk_name, c.range_end
           from timescaledb_information.chunks c
           where c.hypertable_name = 'positions' and c.range_end <= %s
           order by c.range_end""",
        (cutoff,),
    ).fetchall()
    return [(str(name), end) for name, end in rows]


def run(
    conn: psycopg.Connection[Any],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    catalogue: Catalogue | None = None,
) -> Report:
    """One retention pass in one transaction; the report of what was (or would be) removed."""
    catalogue = catalogue or default_catalogue()
    now = now or datetime.now(UTC)
    longest = max(catalogue.get(n).full.history_days for n in catalogue.names)
    chunk_cutoff = now - timedelta(days=longest)
    free_days = catalogue.free.full.history_days
    with conn.transaction(force_rollback=dry_run):
        chunks = _chunks(conn, chunk_cutoff)
        if dry_run:
            # rows below the last dropped chunk's end go with the chunks, not with DELETEs
            floor = chunks[-1][1] if chunks else datetime(1, 1, 1, tzinfo=UTC)
        else:
            conn.execute(
                "select drop_chunks('positions', older_than => %s::timestamptz)", (chunk_cutoff,)
            )
            floor = datetime(1, 1, 1, tzinfo=UTC)
        by_window: dict[int, list[int]] = defaultdict(list)
        for device, days in device_windows(conn, catalogue, now).items():
            by_window[days].append(device)
        windows = []
        for days in sorted(by_window):
            ids = by_window[days]
            cutoff = now - timedelta(days=days)
            windows.append(
                WindowReport(
                    days=days,
                    devices=len(ids),
                    positions_deleted=_remove(
                        conn, "positions", "fix_time", ids, cutoff, floor, dry_run
                    ),
                    events_deleted=_remove(
                        conn, "events", "time", ids, cutoff, datetime(1, 1, 1, tzinfo=UTC), dry_run
                    ),
                )
            )
        free_cutoff = now - timedelta(days=free_days)
        orphan_positions = _remove_orphans(
            conn, "positions", "fix_time", free_cutoff, floor, dry_run
        )
        orphan_events = _remove_orphans(
            conn, "events", "time", free_cutoff, datetime(1, 1, 1, tzinfo=UTC), dry_run
        )
    return Report(
        now=now,
        dry_run=dry_run,
        chunk_cutoff=chunk_cutoff,
        chunks_dropped=tuple(name for name, _end in chunks),
        windows=tuple(windows),
        orphan_positions_deleted=orphan_positions,
        orphan_events_deleted=orphan_events,
    )


def _remove(
    conn: psycopg.Connection[Any],
    table: str,
    column: str,
    ids: list[int],
    cutoff: datetime,
    floor: datetime,
    dry_run: bool,
) -> int:
    where = f"device_id = any(%s) and {column} < %s and {column} >= %s"
    if dry_run:
        row = conn.execute(f"select count(*) from {table} where {where}", (ids, cutoff, floor))
        found = row.fetchone()
        return int(found[0]) if found else 0
    return conn.execute(f"delete from {table} where {where}", (ids, cutoff, floor)).rowcount


def _remove_orphans(
    conn: psycopg.Connection[Any],
    table: str,
    column: str,
    cutoff: datetime,
    floor: datetime,
    dry_run: bool,
) -> int:
    where = (
        f"{column} < %s and {column} >= %s"
        f" and not exists (select 1 from devices d where d.id = {table}.device_id)"
    )
    if dry_run:
        found = conn.execute(f"select count(*) from {table} where {where}", (cutoff, floor))
        row = found.fetchone()
        return int(row[0]) if row else 0
    return conn.execute(f"delete from {table} where {where}", (cutoff, floor)).rowcount
