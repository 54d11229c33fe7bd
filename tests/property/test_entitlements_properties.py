"""Subscription lifecycle as a hypothesis state machine.

Invariants: the effective plan is the subscription's plan or free; a feature in force at t
is never in force at or past its entitlement's valid_until unless the next entitlement says
so; terminal statuses stay terminal; the snapshot agrees with ``resolve`` at every instant.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from entitlements.effective import resolve, timeline
from entitlements.errors import WithdrawalRefused
from entitlements.lifecycle import (
    STATUS_RULES,
    Status,
    record_cancellation,
    record_payment,
    record_payment_failure,
    record_resumption,
    record_suspension,
    record_trial_revocation,
    record_withdrawal,
    status_at,
)
from entitlements.rows import circle_row_from_subscriptions
from entitlements.snapshot import build_snapshot
from entitlements.subscription import Cycle, Subscription

T0 = datetime(2026, 1, 1, tzinfo=UTC)
hours = st.integers(min_value=0, max_value=24 * 60)


class Lifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.sub = Subscription(
            id="s",
            circle_id="c",
            plan="gold",
            cycle=Cycle.MONTHLY_ANNUAL_COMMITMENT,
            started_at=T0,
            trial_end=T0 + timedelta(days=10),
            current_period_end=T0 + timedelta(days=10),
            commitment_end=T0 + timedelta(days=365),
            consumer_region="EU",
        )
        self.terminal: Status | None = None

    @rule(h=hours)
    def advance(self, h: int) -> None:
        self.now += timedelta(hours=h)

    @rule()
    def cancel(self) -> None:
        self.sub = record_cancellation(self.sub, self.now)

    @rule()
    def resume(self) -> None:
        self.sub = record_resumption(self.sub, self.now)

    @rule()
    def fail_payment(self) -> None:
        self.sub = record_payment_failure(self.sub, self.now)

    @rule(days=st.integers(min_value=1, max_value=60))
    def pay(self, days: int) -> None:
        self.sub = record_payment(self.sub, self.now, self.now + timedelta(days=days))

    @rule()
    def withdraw(self) -> None:
        try:
            self.sub = record_withdrawal(self.sub, self.now)
        except WithdrawalRefused:
            assert self.now >= T0 + timedelta(days=14)

    @rule()
    def suspend(self) -> None:
        self.sub = record_suspension(self.sub, self.now)

    @rule()
    def revoke_trial(self) -> None:
        if status_at(self.sub, self.now) is Status.TRIALING:
            self.sub = record_trial_revocation(self.sub, self.now)

    @invariant()
    def plan_is_subscriptions_or_free(self) -> None:
        ent = resolve([self.sub], self.now)
        assert ent.plan in ("gold", "free")
        assert (ent.plan == "gold") == STATUS_RULES[status_at(self.sub, self.now)].in_force
        assert ent.covers(self.now)

    @invariant()
    def features_never_outlive_their_bound(self) -> None:
        ents = timeline([self.sub])
        for a, b in itertools.pairwise(ents):
            assert a.valid_until == b.valid_from
            assert a.valid_until is not None
            assert resolve([self.sub], a.valid_until) == b

    @invariant()
    def suspension_and_withdrawal_stay(self) -> None:
        status = status_at(self.sub, self.now)
        if self.terminal in (Status.SUSPENDED, Status.WITHDRAWN):
            assert status is self.terminal
        if status in (Status.SUSPENDED, Status.WITHDRAWN):
            self.terminal = status

    @invariant()
    def snapshot_agrees(self) -> None:
        row = circle_row_from_subscriptions(
            circle_id="c",
            owner_account_id="a",
            member_account_ids=["a"],
            place_ids=[],
            subscriptions=[self.sub],
            since=self.now,
        )
        snap = build_snapshot(version=1, built_at=self.now, circles=[row], accounts=[], devices=[])
        for t in (self.now, *(e.valid_from for e in row.entitlements[1:] if e.valid_from)):
            assert snap.entitlement("c", t).plan == resolve([self.sub], t).plan


Lifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
TestLifecycle = Lifecycle.TestCase
