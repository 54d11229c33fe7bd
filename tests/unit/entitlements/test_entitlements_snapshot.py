"""Snapshot decisions: limits, downgrades, accounts, validity bounds between refreshes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from entitlements.errors import LimitExceeded, UnknownEntity
from entitlements.rows import (
    AccountRow,
    AccountState,
    DeviceKind,
    DeviceRow,
    IngestDecision,
    circle_row_from_subscriptions,
)
from entitlements.snapshot import Snapshot, build_snapshot

from .entitlements_helpers import at, sub

PERIOD_END = at("2026-02-01T00:00:00Z")
BUILT = at("2026-01-10T00:00:00Z")
US = timedelta(microseconds=1)


def snap(
    plan: str = "gold",
    cancel: bool = True,
    acct: AccountState = AccountState.ACTIVE,
    places: int = 8,
    members: int = 6,
    tags: int = 4,
) -> Snapshot:
    row = circle_row_from_subscriptions(
        circle_id="c1",
        owner_account_id="a0",
        member_account_ids=[f"a{i}" for i in range(members)],
        place_ids=[f"p{i}" for i in range(places)],
        subscriptions=[sub(plan=plan, cancel_at_period_end=cancel)],
        since=BUILT,
    )
    accounts = [AccountRow(account_id=f"a{i}", state=AccountState.ACTIVE) for i in range(members)]
    accounts[1] = AccountRow(account_id="a1", state=acct)
    devices = [
        DeviceRow(device_id=f"t{i}", account_id="a1", kind=DeviceKind.TAG) for i in range(tags)
    ]
    devices += [DeviceRow(device_id="ph5", account_id="a5", kind=DeviceKind.PHONE)]
    return build_snapshot(
        version=3, built_at=BUILT, circles=[row], accounts=accounts, devices=devices
    )


def test_members_beyond_limit_outside_plan() -> None:
    """DESIGN.md: "A subscription is applied to one circle and covers all its members up to the
    plan's member limit." """
    s = snap()
    assert s.alert_recipients("c1", BUILT) == {f"a{i}" for i in range(5)}
    assert s.shared_circles("ph5", BUILT) == frozenset()  # a5 is the 6th member
    assert s.may_ingest("ph5", BUILT)  # still ingested, just not shared


def test_period_end_falls_due_between_refreshes() -> None:
    s = snap()
    assert s.entitlement("c1", PERIOD_END - US).plan == "gold"
    assert s.entitlement("c1", PERIOD_END).plan == "free"
    assert s.alert_recipients("c1", PERIOD_END) == {"a0", "a1"}
    assert s.next_change(BUILT) == PERIOD_END
    assert s.next_change(PERIOD_END) is None


def test_downgrade_keeps_first_places_deletes_nothing() -> None:
    s = snap()
    assert s.is_place_active("c1", "p7", BUILT)
    assert [p for p in (f"p{i}" for i in range(8)) if s.is_place_active("c1", p, PERIOD_END)] == [
        "p0",
        "p1",
    ]
    with pytest.raises(LimitExceeded) as err:
        s.check_add_place("c1", PERIOD_END)
    assert str(err.value) == "free plan allows 2 places per circle; circle 'c1' has 8"
    assert (err.value.limit, err.value.plan, err.value.allowed, err.value.current) == (
        "places",
        "free",
        2,
        8,
    )


def test_gold_place_limit_message() -> None:
    s = snap(places=10)
    with pytest.raises(
        LimitExceeded, match="gold plan allows 10 places per circle; circle 'c1' has 10"
    ):
        s.check_add_place("c1", BUILT)
    snap(places=9).check_add_place("c1", BUILT)


def test_tags_over_limit_stop_tracking_after_downgrade() -> None:
    s = snap()
    assert all(s.may_ingest(f"t{i}", BUILT) for i in range(4))  # gold: unlimited tags
    assert s.shared_circles("t3", BUILT) == {"c1"}
    decisions = [s.ingest_decision(f"t{i}", PERIOD_END) for i in range(4)]
    assert decisions == [IngestDecision.ALLOWED] + [IngestDecision.OVER_TAG_LIMIT] * 3
    assert s.shared_circles("t0", PERIOD_END) == {"c1"}
    assert s.shared_circles("t1", PERIOD_END) == frozenset()


def test_suspended_account_not_ingested() -> None:
    """customertrackr-terms.txt: "CustomerTrackr reserves the right to suspend or terminate
    your account if any information provided is inaccurate, not current, or incomplete, or if
    CustomerTrackr has reasonable grounds to suspect that such information is inaccurate, not
    current, or incomplete." """
    s = snap(acct=AccountState.SUSPENDED)
    assert not s.may_ingest("t0", BUILT)
    assert s.ingest_decision("t0", BUILT) is IngestDecision.ACCOUNT_SUSPENDED


def test_deleted_account_devices_deactivated() -> None:
    """letstrack-billing-terms.txt: "Any devices or tags associated with your account will be
    deactivated" """
    s = snap(acct=AccountState.DELETED)
    assert s.ingest_decision("t0", BUILT) is IngestDecision.ACCOUNT_DELETED
    assert s.shared_circles("t0", BUILT) == frozenset()


def test_deleting_account_does_not_cancel_subscription() -> None:
    """letstrack-billing-terms.txt: "Important: Deleting your account, deleting the app, or
    leaving a Circle will not cancel your Paid Subscription." """
    s = snap(cancel=False, acct=AccountState.DELETED)
    assert s.entitlement("c1", PERIOD_END + timedelta(days=90)).plan == "gold"


def test_airport_alerts_and_history_by_plan() -> None:
    assert snap(plan="platinum").airport_alerts("c1", BUILT)
    assert not snap(plan="gold").airport_alerts("c1", BUILT)
    w = snap(plan="gold").history_window("c1", BUILT)
    assert (w.days, w.replay) == (30, True)
    w = snap(plan="gold").history_window("c1", PERIOD_END)
    assert (w.days, w.replay) == (1, False)


def test_circle_limit_per_account() -> None:
    s = snap()
    with pytest.raises(LimitExceeded, match="gold plan allows 3 circles per account"):
        build_snapshot(
            version=1,
            built_at=BUILT,
            accounts=[AccountRow(account_id="a0", state=AccountState.ACTIVE)],
            devices=[],
            circles=[
                circle_row_from_subscriptions(
                    circle_id=f"c{i}",
                    owner_account_id="a0",
                    member_account_ids=["a0"],
                    place_ids=[],
                    subscriptions=[sub(plan="gold")],
                    since=BUILT,
                )
                for i in range(3)
            ],
        ).check_create_circle("a0", BUILT)
    with pytest.raises(
        LimitExceeded, match="free plan allows 1 circles per account; account 'a0' has 1"
    ):
        s.check_create_circle("a0", PERIOD_END)
    s.check_create_circle("a0", BUILT)
    with pytest.raises(
        LimitExceeded, match="free plan allows 1 tags per account; account 'a1' has 4"
    ):
        s.check_add_tag("a1", PERIOD_END)


def test_unknown_ids() -> None:
    s = snap()
    assert not s.may_ingest("nope", BUILT)
    assert s.ingest_decision("nope", BUILT) is IngestDecision.UNKNOWN_DEVICE
    with pytest.raises(UnknownEntity, match="unknown circle 'zz' \\(snapshot v3\\)"):
        s.entitlement("zz", BUILT)
