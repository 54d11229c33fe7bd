"""Billing notices the terms promise (entitlements.notices), and prices in plans.toml."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitlements.errors import CatalogueError
from entitlements.lifecycle import (
    record_cancellation,
    record_payment,
    record_payment_failure,
    record_withdrawal,
)
from entitlements.notices import (
    RENEWAL_LEAD,
    Notice,
    NoticeKind,
    billing_period_starts,
    due_notices,
    next_renewal,
)
from entitlements.plans import default_catalogue, load_catalogue
from entitlements.subscription import Cycle, Subscription

from .entitlements_helpers import T0, at, sub

DAY = timedelta(days=1)
PLANS = (Path(__file__).parents[3] / "entitlements" / "plans.toml").read_text()


def annual(**kw: object) -> Subscription:
    return sub(cycle=Cycle.ANNUAL, current_period_end=at("2027-01-01T00:00:00Z"), **kw)


def kinds(notices: tuple[Notice, ...]) -> list[str]:
    return [n.kind.value for n in notices]


def scan(subs: list[Subscription], start: datetime, end: datetime, step: timedelta, **kw: object):  # type: ignore[no-untyped-def]
    """What a job running every ``step`` sees: the first sighting of each dedup key."""
    first: dict[str, tuple[datetime, Notice]] = {}
    t = start
    while t < end:
        for n in due_notices(subs, t, **kw):  # type: ignore[arg-type]
            first.setdefault(n.dedup_key, (t, n))
        t += step
    return first


def test_an_annual_subscription_renewing_in_30_days_gets_one_reminder() -> None:
    """letstrack-billing-terms.txt B.2: "we will send you a reminder at least thirty (30) days
    prior to each annual renewal with the then-current Subscription Fee" """
    s = annual()
    renewal = at("2027-01-01T00:00:00Z")
    assert due_notices([s], renewal - 32 * DAY) == ()
    (n,) = due_notices([s], renewal - 30 * DAY)
    assert n.kind is NoticeKind.RENEWAL_REMINDER
    assert (n.payer, n.circle_id, n.subscription_id) == ("fp_1", "c1", "sub_1")
    assert n.due_at == renewal - RENEWAL_LEAD
    assert n.stale_at == renewal
    assert n.dedup_key == "renewal_reminder:sub_1:2027-01-01T00:00:00Z"
    assert n.fields == {
        "plan": "gold",
        "cycle": "annual",
        "currency": "EUR",
        "renewal_at": "2027-01-01T00:00:00Z",
        "price": 4990,
    }
    # A job every 6 hours over the weeks around it: one reminder, seen >= 30 days before.
    seen = scan([s], renewal - 40 * DAY, renewal + 5 * DAY, timedelta(hours=6))
    assert list(seen) == [n.dedup_key]
    assert renewal - seen[n.dedup_key][0] >= timedelta(days=30)
    # Each later renewal has its own reminder.
    (later,) = due_notices([s], at("2027-12-05T00:00:00Z"))
    assert later.fields["renewal_at"] == "2028-01-01T00:00:00Z"


def test_annual_commitment_monthly_reminds_before_its_annual_renewal_date() -> None:
    s = sub(cycle=Cycle.MONTHLY_ANNUAL_COMMITMENT)  # no commitment_end: 12 months from start
    assert next_renewal(s, T0 + DAY) == at("2027-01-01T00:00:00Z")
    (n,) = due_notices([s], at("2026-12-05T00:00:00Z"))
    assert (n.kind, n.fields["renewal_at"], n.fields["price"]) == (
        NoticeKind.RENEWAL_REMINDER,
        "2027-01-01T00:00:00Z",
        416,
    )
    assert due_notices([sub()], at("2026-12-05T00:00:00Z")) == ()  # monthly: no reminder


def test_no_reminder_for_a_subscription_that_will_not_renew() -> None:
    cancelled = record_cancellation(annual(), at("2026-06-01T00:00:00Z"))
    assert due_notices([cancelled], at("2026-12-05T00:00:00Z")) == ()


def with_change(announced: str, **prices: int) -> str:
    lines = [f"{k} = {v}" for k, v in prices.items()]
    table = "\n[[plans.gold.price_changes]]\nannounced = " + announced + "\n" + "\n".join(lines)
    return PLANS.replace("[plans.platinum]", table + "\n\n[plans.platinum]")


def test_price_change_notice_and_its_effective_cycle() -> None:
    """letstrack-billing-terms.txt A: "Any change to our pricing or payment terms shall only
    apply to you and become effective in the billing cycle following at least 30 days'
    notice of such change to you." """
    cat = load_catalogue(with_change("2026-03-10T00:00:00Z", monthly=549))
    gold = cat.get("gold")
    assert gold.price_for("monthly", at("2026-04-09T00:00:00Z")) == 549  # announced + 30 d
    assert gold.price_for("monthly", at("2026-04-08T23:00:00Z")) == 499
    assert gold.price_for("annual", at("2027-01-01T00:00:00Z")) == 4990
    payers = [
        sub(id=f"sub_{i}", payer=f"fp_{i}", started_at=at("2026-01-15T00:00:00Z")) for i in range(3)
    ]
    others = [
        annual(id="sub_annual"),  # its price does not change
        sub(id="sub_new", started_at=at("2026-03-11T00:00:00Z")),  # subscribed after notice
        replace(payers[0], id="sub_silver", plan="silver"),
    ]
    assert due_notices(payers, at("2026-03-09T23:00:00Z"), catalogue=cat) == ()
    found = due_notices(payers + others, at("2026-03-10T00:00:00Z"), catalogue=cat)
    assert kinds(found) == ["price_change"] * 3
    n = found[0]
    # billing cycles start on the 15th: the first at or after 2026-04-09 is 2026-04-15
    assert n.fields == {
        "plan": "gold",
        "cycle": "monthly",
        "currency": "EUR",
        "announced_at": "2026-03-10T00:00:00Z",
        "effective_at": "2026-04-15T00:00:00Z",
        "old_price": 499,
        "new_price": 549,
    }
    assert (n.due_at, n.stale_at) == (at("2026-03-10T00:00:00Z"), at("2026-04-15T00:00:00Z"))
    assert {x.payer for x in found} == {"fp_0", "fp_1", "fp_2"}
    # every affected payer once, over a month of daily runs
    seen = scan(
        payers + others, at("2026-03-01T00:00:00Z"), at("2026-05-01T00:00:00Z"), DAY, catalogue=cat
    )
    assert sorted(seen) == sorted(x.dedup_key for x in found)
    # a subscription cancelled to end before the change is not told
    ending = record_cancellation(
        replace(payers[0], current_period_end=at("2026-04-15T00:00:00Z")), T0
    )
    assert due_notices([ending], at("2026-03-12T00:00:00Z"), catalogue=cat) == ()


def test_payment_failed_gives_the_grace_end() -> None:
    """letstrack-billing-terms.txt B.6: "You will have a seven (7)-day grace period to update
    your billing information." """
    failed = record_payment_failure(sub(), at("2026-01-20T10:00:00Z"))
    (n,) = due_notices([failed], at("2026-01-20T10:05:00Z"))
    assert n.kind is NoticeKind.PAYMENT_FAILED
    assert n.fields["grace_end"] == "2026-01-27T10:00:00Z"
    assert n.stale_at == at("2026-01-27T10:00:00Z")
    paid = record_payment(failed, at("2026-01-21T00:00:00Z"), at("2026-02-21T00:00:00Z"))
    assert due_notices([paid], at("2026-01-21T00:05:00Z")) == ()


def test_trial_ending_three_days_before() -> None:
    s = sub(trial_end=at("2026-01-15T00:00:00Z"), current_period_end=None)
    assert due_notices([s], at("2026-01-11T23:00:00Z")) == ()
    (n,) = due_notices([s], at("2026-01-12T00:00:00Z"))
    assert (n.kind, n.fields["trial_end"], n.fields["price"]) == (
        NoticeKind.TRIAL_ENDING,
        "2026-01-15T00:00:00Z",
        499,
    )
    cancelled = replace(s, cancel_at_period_end=True)
    assert NoticeKind.TRIAL_ENDING not in [
        n.kind for n in due_notices([cancelled], at("2026-01-13T00:00:00Z"))
    ]


def test_subscription_ended_back_on_free_says_what_stops() -> None:
    cancelled = record_cancellation(sub(), at("2026-01-10T00:00:00Z"))  # paid to 2026-02-01
    assert due_notices([cancelled], at("2026-01-31T00:00:00Z")) == ()
    (n,) = due_notices([cancelled], at("2026-02-01T08:00:00Z"))
    assert n.kind is NoticeKind.ENDED
    assert n.fields["back_on_free"] is True
    stops = {s["feature"]: (s["plan"], s["free"]) for s in n.fields["stops"]}  # type: ignore[attr-defined]
    assert stops == {
        "history_days": (30, 1),
        "members_per_circle": (5, 2),
        "places_per_circle": (10, 2),
        "tags_per_account": (None, 1),
        "circles_per_account": (3, 1),
        "history_replay": (True, False),
    }
    assert due_notices([cancelled], at("2026-02-08T00:00:00Z")) == ()  # stale after 7 days
    # another subscription keeps the circle on a paid plan: no "back on Free"
    other = annual(id="sub_2", plan="platinum")
    assert due_notices([cancelled, other], at("2026-02-01T08:00:00Z")) == ()


def test_cooling_off_withdrawal_confirmed() -> None:
    withdrawn = record_withdrawal(sub(), at("2026-01-05T00:00:00Z"))
    (n,) = due_notices([withdrawn], at("2026-01-05T00:01:00Z"))
    assert n.kind is NoticeKind.WITHDRAWAL_CONFIRMED
    assert (n.fields["ended_at"], n.fields["back_on_free"]) == ("2026-01-05T00:00:00Z", True)
    # a kind can be turned off (e.g. Stripe's own emails say it)
    off = {k for k in NoticeKind if k is not NoticeKind.WITHDRAWAL_CONFIRMED}
    assert due_notices([withdrawn], at("2026-01-05T00:01:00Z"), kinds=off) == ()


def test_billing_periods_follow_the_anniversary() -> None:
    s = sub(started_at=at("2026-01-31T00:00:00Z"))
    assert billing_period_starts(s, at("2026-02-01T00:00:00Z")) == at("2026-02-28T00:00:00Z")
    assert billing_period_starts(s, at("2026-03-29T00:00:00Z")) == at("2026-03-31T00:00:00Z")
    assert billing_period_starts(annual(), at("2026-06-01T00:00:00Z")) == at("2027-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("monthly = 499", "weekly = 499"), "unknown cycle 'weekly'"),
        (("monthly = 499", "monthly = -1"), "must be a price > 0"),
        (('currency = "EUR"', 'currency = "euro"'), "ISO 4217"),
    ],
)
def test_bad_prices_are_refused(edit: tuple[str, str], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(PLANS.replace(*edit))


def test_bad_price_changes_are_refused() -> None:
    with pytest.raises(CatalogueError, match="announced must be a TOML date-time"):
        load_catalogue(with_change('"soon"', monthly=549))
    with pytest.raises(CatalogueError, match="no price for"):
        load_catalogue(
            with_change("2026-03-10T00:00:00Z", monthly=549).replace("monthly = 499\n", "")
        )
    assert default_catalogue().get("free").prices == {}
    assert default_catalogue().get("gold").price_changes == ()


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(list(Cycle)),
    st.integers(0, 400),
    st.integers(6, 72),
)
def test_every_notice_is_due_and_fresh_and_a_reminder_is_30_days_ahead(
    cycle: Cycle, start_day: int, step_hours: int
) -> None:
    s = sub(
        cycle=cycle,
        started_at=T0 + start_day * DAY,
        current_period_end=None,
        trial_end=T0 + (start_day + 7) * DAY,
    )
    end = T0 + (start_day + 800) * DAY
    seen = scan([s], T0 + start_day * DAY, end, timedelta(hours=step_hours))
    for key, (t, n) in seen.items():
        assert n.due_at <= t < n.stale_at
        assert key.startswith(n.kind.value + ":" + s.id + ":")
        if n.kind is NoticeKind.RENEWAL_REMINDER:
            renewal = datetime.fromisoformat(str(n.fields["renewal_at"]))
            assert renewal - n.due_at == RENEWAL_LEAD
    reminders = [n for _, n in seen.values() if n.kind is NoticeKind.RENEWAL_REMINDER]
    if cycle is Cycle.MONTHLY:
        assert reminders == []
    elif step_hours <= 24:  # a job at least daily never misses one
        assert len(reminders) == 2  # two annual renewals within 800 days (minus the lead)
