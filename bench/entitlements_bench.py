"""Entitlement decisions per second: the snapshot vs recomputing from subscriptions.

Prints figures only; never fails on time. Run: ``.venv/bin/python bench/entitlements_bench.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from entitlements.effective import resolve, tracked_tags
from entitlements.rows import (
    AccountRow,
    AccountState,
    DeviceKind,
    DeviceRow,
    circle_row_from_subscriptions,
)
from entitlements.snapshot import Snapshot, build_snapshot
from entitlements.subscription import Cycle, Subscription

CIRCLES = 2_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLANS = ("free", "silver", "gold", "platinum")


def setup() -> tuple[Snapshot, list[str], dict[str, tuple[Subscription, ...]], dict[str, int]]:
    rows, accounts, devices = [], [], []
    subs_of: dict[str, tuple[Subscription, ...]] = {}
    index: dict[str, int] = {}
    for i in range(CIRCLES):
        acct = f"a{i}"
        subs = (
            Subscription(
                id=f"s{i}",
                circle_id=f"c{i}",
                plan=PLANS[i % 4],
                cycle=Cycle.MONTHLY,
                started_at=T0,
                current_period_end=T0 + timedelta(days=31),
                cancel_at_period_end=i % 3 == 0,
            ),
        )
        rows.append(
            circle_row_from_subscriptions(
                circle_id=f"c{i}",
                owner_account_id=acct,
                member_account_ids=[acct],
                place_ids=[f"p{i}_{k}" for k in range(4)],
                subscriptions=subs,
                since=T0,
            )
        )
        accounts.append(AccountRow(account_id=acct, state=AccountState.ACTIVE))
        for k in range(3):
            devices.append(DeviceRow(device_id=f"d{i}_{k}", account_id=acct, kind=DeviceKind.TAG))
            subs_of[f"d{i}_{k}"] = subs
            index[f"d{i}_{k}"] = k
    snap = build_snapshot(version=1, built_at=T0, circles=rows, accounts=accounts, devices=devices)
    return snap, [d.device_id for d in devices], subs_of, index


def main() -> None:
    started = time.perf_counter()
    snap, device_ids, subs_of, index = setup()
    print(
        f"build: {CIRCLES} circles, {len(device_ids)} devices in "
        f"{time.perf_counter() - started:.2f} s"
    )
    now = T0 + timedelta(days=10)
    n = 2_000_000
    ids = (device_ids * (n // len(device_ids) + 1))[:n]
    may_ingest = snap.may_ingest
    t = time.perf_counter()
    allowed = sum(1 for d in ids if may_ingest(d, now))
    snap_rate = n / (time.perf_counter() - t)
    later = T0 + timedelta(days=40)  # past the cancelled circles' period end: bisect path
    t = time.perf_counter()
    for d in ids[: n // 4]:
        may_ingest(d, later)
    late_rate = (n // 4) / (time.perf_counter() - t)

    m = 20_000
    t = time.perf_counter()
    for d in ids[:m]:
        ent = resolve(subs_of[d], now)
        tags = tracked_tags(range(3), ent.limits)
        _ = index[d] in tags
    base_rate = m / (time.perf_counter() - t)
    print(
        f"snapshot may_ingest (before bounds): {snap_rate:,.0f} decisions/s ({allowed:,} allowed)"
    )
    print(f"snapshot may_ingest (after a bound):  {late_rate:,.0f} decisions/s")
    print(f"baseline resolve() per decision:      {base_rate:,.0f} decisions/s")
    print(f"ratio snapshot/baseline:              {snap_rate / base_rate:,.0f}x")
    print(f"target > 1,000,000/s on one core:     {'met' if snap_rate > 1e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
