"""Issue 4: retention keeps each device's history for the longest plan window among its
circles, drops whole chunks older than every plan's window, and forgets old events too.

Runs in its own database: a retention pass is global, and must not eat other tests' rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from entitlements.plans import default_catalogue, load_catalogue
from gateway import cli
from gateway.store import admin, migrate, retention

from .. import services

pytestmark = pytest.mark.integration

DB = f"{services.TEST_DB}_retention"
URL = f"postgresql://trackgw@127.0.0.1:{services.PG_PORT}/{DB}"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
#: ages of the rows put in for every device
AGES = {
    "12h": timedelta(hours=12),
    "1d": timedelta(days=1),  # exactly at the free window: kept (older than is strict)
    "1d+1s": timedelta(days=1, seconds=1),
    "2d": timedelta(days=2),
    "8d": timedelta(days=8),
    "31d": timedelta(days=31),
    "100d": timedelta(days=100),
    "366d": timedelta(days=366),
    "400d": timedelta(days=400),
}
ORPHAN = 987_654_321  # a device id that is not in devices


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with psycopg.connect(services.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB} with (force)")
        conn.execute(f"create database {DB}")
    migrate.migrate(URL)
    yield URL
    with psycopg.connect(services.ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"drop database if exists {DB} with (force)")


def days(plan: str) -> int:
    return default_catalogue().get(plan).full.history_days


def entitle(
    conn: psycopg.Connection[Any],
    circle: str,
    plan: str,
    seq: int = 1,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
) -> None:
    """One row of the circle's resolved timeline (None bounds = unbounded)."""
    conn.execute(
        "insert into entitlements (circle_id, seq, valid_from, valid_until, plan, status, limits)"
        " values (%s, %s, %s, %s, %s, 'active', '{}')",
        (circle, seq, valid_from, valid_until, plan),
    )


def put_rows(conn: psycopg.Connection[Any], device_id: int) -> None:
    for age in AGES.values():
        t = NOW - age
        conn.execute(
            "insert into positions (device_id, fix_time, received_at, lat, lon, valid)"
            " values (%s, %s, %s, 1, 1, true)",
            (device_id, t, t),
        )
        conn.execute(
            "insert into events (device_id, kind, time) values (%s, 'alarm:sos', %s)",
            (device_id, t),
        )


def remaining(conn: psycopg.Connection[Any], table: str, column: str, device_id: int) -> set[str]:
    rows = conn.execute(
        f"select {column} from {table} where device_id = %s", (device_id,)
    ).fetchall()
    by_time = {NOW - age: name for name, age in AGES.items()}
    return {by_time[r[0]] for r in rows}


def kept_for(window_days: int) -> set[str]:
    return {name for name, age in AGES.items() if age <= timedelta(days=window_days)}


@pytest.fixture(scope="module")
def world(url: str) -> dict[str, int]:
    """Devices whose windows come from free, silver, gold, platinum and odd memberships."""
    with psycopg.connect(url, autocommit=True) as conn:

        def tag(account: str) -> int:
            return admin.add_device(conn, "teltonika", services.unique_imei(), account).id

        out = {"alone": tag("acct-alone")}  # in no circle at all: free
        admin.add_circle(conn, "c-free", "acct-free")  # a circle with no entitlement row
        out["free"] = tag("acct-free")
        for plan in ("silver", "gold", "platinum"):
            admin.add_circle(conn, f"c-{plan}", f"acct-{plan}")
            entitle(conn, f"c-{plan}", plan)
            out[plan] = tag(f"acct-{plan}")
        # a member (not owner) of a free and a gold circle: the longest, gold
        admin.join_circle(conn, "c-free", "acct-both")
        admin.join_circle(conn, "c-gold", "acct-both")
        out["member_of_gold"] = tag("acct-both")
        # a circle whose plan the catalogue does not know: kept as long as any plan keeps
        admin.add_circle(conn, "c-odd", "acct-odd")
        entitle(conn, "c-odd", "diamond")
        out["unknown_plan"] = tag("acct-odd")
        # an explicitly free entitlement row is the free window too
        admin.add_circle(conn, "c-free2", "acct-free2")
        entitle(conn, "c-free2", "free")
        out["free_row"] = tag("acct-free2")
        # a timeline: platinum until yesterday, then free; gold only from tomorrow
        admin.add_circle(conn, "c-lapsed", "acct-lapsed")
        entitle(conn, "c-lapsed", "platinum", 1, None, NOW - timedelta(days=1))
        entitle(conn, "c-lapsed", "free", 2, NOW - timedelta(days=1), NOW + timedelta(days=1))
        entitle(conn, "c-lapsed", "gold", 3, NOW + timedelta(days=1), None)
        out["lapsed"] = tag("acct-lapsed")
        for device_id in out.values():
            put_rows(conn, device_id)
        put_rows(conn, ORPHAN)
    return out


WANT_DAYS = {
    "alone": "free",
    "free": "free",
    "silver": "silver",
    "gold": "gold",
    "platinum": "platinum",
    "member_of_gold": "gold",
    "unknown_plan": "platinum",  # the longest plan
    "free_row": "free",
    "lapsed": "free",
}


def old_chunks(conn: psycopg.Connection[Any], cutoff: datetime) -> list[str]:
    rows = conn.execute(
        "select show_chunks('positions', older_than => %s::timestamptz)", (cutoff,)
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def test_windows_are_the_longest_plan_among_circles(url: str, world: dict[str, int]) -> None:
    with psycopg.connect(url) as conn:
        windows = retention.device_windows(conn, now=NOW)
    assert {name: windows[world[name]] for name in WANT_DAYS} == {
        name: days(plan) for name, plan in WANT_DAYS.items()
    }


def test_windows_come_from_the_catalogue(url: str, world: dict[str, int]) -> None:
    text = (
        "[plans.free]\nrank = 0\nhistory_days = 3\nhistory_replay = false\n"
        "airport_alerts = false\n"
        "[plans.gold]\nrank = 1\nhistory_days = 90\nhistory_replay = true\n"
        "airport_alerts = false\n"
    )
    with psycopg.connect(url) as conn:
        windows = retention.device_windows(conn, load_catalogue(text), NOW)
    assert windows[world["alone"]] == 3
    assert windows[world["gold"]] == 90
    assert windows[world["silver"]] == 90  # silver is unknown to this catalogue: the longest


def test_dry_run_counts_what_a_run_removes_and_the_run_removes_exactly_that(
    url: str, world: dict[str, int]
) -> None:
    longest = max(days(p) for p in default_catalogue().names)
    cutoff = NOW - timedelta(days=longest)
    with psycopg.connect(url, autocommit=True) as conn:
        before = conn.execute("select count(*) from positions").fetchone()
        chunks_before = old_chunks(conn, cutoff)
        assert len(chunks_before) == 2  # the 366-day and 400-day rows' chunks

        dry = retention.run(conn, now=NOW, dry_run=True)
        assert conn.execute("select count(*) from positions").fetchone() == before
        assert old_chunks(conn, cutoff) == chunks_before  # nothing dropped

        report = retention.run(conn, now=NOW)
        assert report.to_json() | {"dry_run": True} == dry.to_json()
        assert sorted(report.chunks_dropped) == chunks_before
        assert old_chunks(conn, cutoff) == []

        for name, plan in WANT_DAYS.items():
            want = kept_for(days(plan))
            assert remaining(conn, "positions", "fix_time", world[name]) == want, name
            assert remaining(conn, "events", "time", world[name]) == want, name
        free = kept_for(days("free"))
        assert free == {"12h", "1d"}
        assert remaining(conn, "positions", "fix_time", ORPHAN) == free
        assert remaining(conn, "events", "time", ORPHAN) == free
        # chunks inside the longest window are still there
        assert remaining(conn, "positions", "fix_time", world["platinum"]) >= {"100d"}

        # counts: rows in dropped chunks are not counted as deleted rows; events are
        devices = len(world)
        all_ = len(AGES)
        deleted_rows = sum(all_ - 2 - len(kept_for(days(plan))) for plan in WANT_DAYS.values()) + (
            all_ - 2 - len(free)
        )
        assert report.positions_deleted == deleted_rows
        assert report.events_deleted == sum(
            all_ - len(kept_for(days(plan))) for plan in WANT_DAYS.values()
        ) + (all_ - len(free))
        assert sum(w.devices for w in report.windows) == devices
        assert sorted(w.days for w in report.windows) == sorted(
            {days(plan) for plan in WANT_DAYS.values()}
        )

        again = retention.run(conn, now=NOW)
        assert (again.positions_deleted, again.events_deleted, again.chunks_dropped) == (0, 0, ())


def test_command_dry_run_prints_json_and_removes_nothing(
    url: str,
    world: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRACKGW_DATABASE_URL", url)
    monkeypatch.delenv("TRACKGW_CONFIG", raising=False)
    with psycopg.connect(url, autocommit=True) as conn:
        fresh = admin.add_device(conn, "teltonika", services.unique_imei(), "acct-cli").id
        t = datetime.now(UTC) - timedelta(days=3)
        conn.execute(
            "insert into positions (device_id, fix_time, received_at, lat, lon, valid)"
            " values (%s, %s, %s, 1, 1, true)",
            (fresh, t, t),
        )
        assert cli.main(["retention", "run", "--dry-run"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["dry_run"] is True
        assert out["positions_deleted"] >= 1  # the 3-day-old fix of a free device
        assert conn.execute(
            "select count(*) from positions where device_id = %s", (fresh,)
        ).fetchone() == (1,)
        assert cli.main(["retention", "run"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["dry_run"] is False
        assert conn.execute(
            "select count(*) from positions where device_id = %s", (fresh,)
        ).fetchone() == (0,)
