"""Lifecycle rules of the terms applied where subscriptions enter: one trial per payer in 12
months, the cooling-off withdrawal from Stripe events, the default annual commitment."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entitlements import TrialRefused
from entitlements.lifecycle import (
    Status,
    check_trial_for,
    commitment_end_of,
    paid_end,
    record_cancellation,
    refuse_repeat_trial,
    status_at,
)
from entitlements.stripe import Outcome, StripeEvent, apply_event, parse_event, subscription_id_of
from entitlements.subscription import Cycle

from .entitlements_helpers import LETSTRACK, T0, at, sub

DAY = timedelta(days=1)


def trial(sid: str, start: datetime, payer: str = "fp_1", **kw: Any):  # type: ignore[no-untyped-def]
    return sub(id=sid, started_at=start, trial_end=start + 7 * DAY, payer=payer, **kw)


def test_one_trial_per_payer_in_12_months() -> None:
    """letstrack-billing-terms.txt B.5: "You are limited to one trial per person (credit card
    or other unique payment or identification method) during any twelve (12)-month period." """
    first = trial("sub_a", T0)
    again = trial("sub_b", at("2026-06-01T00:00:00Z"))
    with pytest.raises(TrialRefused) as info:
        check_trial_for(again, [first, again])
    assert (info.value.payer, info.value.previous, info.value.again) == (
        "fp_1",
        T0,
        at("2027-01-01T00:00:00Z"),
    )
    assert "next from 2027-01-01" in str(info.value)
    check_trial_for(first, [first])  # a webhook updating the same subscription
    check_trial_for(trial("sub_c", at("2027-01-01T00:00:00Z")), [first])  # the anniversary
    check_trial_for(trial("sub_d", at("2026-06-01T00:00:00Z"), payer="fp_2"), [first])
    check_trial_for(replace(again, trial_end=None), [first])  # no trial asked: fine
    check_trial_for(replace(again, payer=None), [first])  # payer unknown: cannot tell
    # a revoked trial gave none
    revoked = replace(first, trial_revoked_at=T0 + DAY)
    check_trial_for(again, [revoked])


def test_a_webhook_revokes_a_repeat_trial_at_once() -> None:
    first = trial("sub_a", T0)
    again = trial("sub_b", at("2026-06-01T00:00:00Z"))
    when = at("2026-06-01T00:00:05Z")
    refused = refuse_repeat_trial(again, [first], when)
    assert refused.trial_revoked_at == when
    assert status_at(refused, when) is Status.REVOKED
    assert refuse_repeat_trial(refused, [first], when + DAY) == refused  # idempotent
    assert refuse_repeat_trial(first, [first, again], when) == first


@given(
    st.lists(st.integers(0, 2000), min_size=1, max_size=6),
    st.integers(0, 2000),
)
def test_trial_check_matches_the_rule(prior_days: list[int], day: int) -> None:
    """Refused exactly when a prior trial of the payer started in the 12 months before."""
    priors = [trial(f"sub_{i}", T0 + d * DAY) for i, d in enumerate(prior_days)]
    candidate = trial("sub_new", T0 + day * DAY)

    def anniversary(d: datetime) -> datetime:
        try:
            return d.replace(year=d.year + 1)
        except ValueError:  # Feb 29 -> Feb 28
            return d.replace(year=d.year + 1, day=28)

    expect = any(p.started_at <= candidate.started_at < anniversary(p.started_at) for p in priors)
    try:
        check_trial_for(candidate, priors)
        refused = False
    except TrialRefused:
        refused = True
    assert refused == expect


def test_annual_commitment_without_an_end_commits_12_months_from_start() -> None:
    """letstrack-billing-terms.txt B.2: "a monthly basis with an annual commitment and an
    annual renewal date" """
    s = sub(cycle=Cycle.MONTHLY_ANNUAL_COMMITMENT, started_at=at("2026-02-28T00:00:00Z"))
    assert commitment_end_of(s) == at("2027-02-28T00:00:00Z")
    cancelled = record_cancellation(s, at("2026-03-15T00:00:00Z"))
    assert paid_end(cancelled) == at("2027-02-28T00:00:00Z")
    assert status_at(cancelled, at("2027-02-27T00:00:00Z")) is Status.CANCELLING
    assert status_at(cancelled, at("2027-02-28T00:00:00Z")) is Status.LAPSED
    explicit = replace(s, commitment_end=at("2026-12-01T00:00:00Z"))
    assert commitment_end_of(explicit) == at("2026-12-01T00:00:00Z")
    assert commitment_end_of(sub()) is None


NOW = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())


def stripe_event(
    kind: str, obj: dict[str, Any], created: int = NOW, eid: str = "evt_9"
) -> StripeEvent:
    doc = {"id": eid, "object": "event", "type": kind, "created": created, "data": {"object": obj}}
    return parse_event(json.dumps(doc).encode())


def stripe_sub(**kw: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "sub_1",
        "object": "subscription",
        "status": "active",
        "customer": "cus_1",
        "start_date": int(T0.timestamp()),
        "metadata": {"circle_id": "c1", "consumer_region": "FR", "plan": "gold"},
        "items": {"data": [{"current_period_end": NOW + 30 * 86400,
                            "price": {"recurring": {"interval": "month"}}}]},
    }  # fmt: skip
    obj.update(kw)
    return obj


def test_annual_commitment_webhook_without_commitment_end_is_accepted() -> None:
    obj = stripe_sub(metadata={"circle_id": "c1", "plan": "gold", "cycle": "annual_commitment"})
    r = apply_event(None, stripe_event("customer.subscription.created", obj)).record
    assert r is not None
    assert r.cycle is Cycle.MONTHLY_ANNUAL_COMMITMENT
    assert commitment_end_of(r) == at("2027-01-01T00:00:00Z")


def test_full_refund_within_14_days_is_the_withdrawal_and_ends_features_at_once() -> None:
    """letstrack-billing-terms.txt C.2: "withdraw from contracts for purchases of paid
    subscriptions within fourteen (14) days from the date of purchase" """
    assert LETSTRACK.endswith("letstrack-billing-terms.txt")
    record = apply_event(None, stripe_event("customer.subscription.created", stripe_sub())).record
    assert record is not None
    charge = {"object": "charge", "refunded": True, "amount": 499, "amount_refunded": 499,
              "metadata": {"subscription_id": "sub_1"}}  # fmt: skip
    refund = stripe_event("charge.refunded", charge, created=NOW + 60, eid="evt_r")
    assert subscription_id_of(refund) == "sub_1"
    result = apply_event(record, refund)
    assert result.outcome is Outcome.APPLIED
    assert result.record is not None
    w = datetime.fromtimestamp(NOW + 60, UTC)
    assert result.record.withdrawn_at == w
    assert status_at(result.record, w) is Status.WITHDRAWN
    assert status_at(result.record, w - timedelta(seconds=1)) is Status.ACTIVE
    # a partial refund, or a refund after the 14 days, or outside the region: no withdrawal
    partial = stripe_event("charge.refunded", dict(charge, refunded=False, amount_refunded=100))
    assert apply_event(record, partial).record.withdrawn_at is None  # type: ignore[union-attr]
    late = stripe_event("charge.refunded", charge, created=int((T0 + 14 * DAY).timestamp()))
    assert apply_event(record, late).record.withdrawn_at is None  # type: ignore[union-attr]
    us = replace(record, consumer_region="US")
    assert apply_event(us, refund).record.withdrawn_at is None  # type: ignore[union-attr]
    # the subscription named through an expanded invoice
    expanded = dict(charge, metadata={}, invoice={"id": "in_1", "subscription": "sub_1"})
    assert subscription_id_of(stripe_event("charge.refunded", expanded)) == "sub_1"


def test_immediate_cancellation_within_14_days_is_the_withdrawal() -> None:
    record = apply_event(None, stripe_event("customer.subscription.created", stripe_sub())).record
    assert record is not None
    end = NOW + 3600
    asked = stripe_sub(status="canceled", ended_at=end,
                       cancellation_details={"reason": "cancellation_requested"})  # fmt: skip
    r = apply_event(
        record, stripe_event("customer.subscription.deleted", asked, created=end, eid="e1")
    )
    assert r.record is not None
    assert status_at(r.record, datetime.fromtimestamp(end, UTC)) is Status.WITHDRAWN
    disputed = dict(asked, cancellation_details={"reason": "payment_disputed"})
    r = apply_event(
        record, stripe_event("customer.subscription.deleted", disputed, created=end, eid="e2")
    )
    assert r.record is not None
    assert status_at(r.record, datetime.fromtimestamp(end, UTC)) is Status.LAPSED
    # cancelled during the free trial: nothing was bought; just ended
    trialing = apply_event(
        None, stripe_event("customer.subscription.created", stripe_sub(trial_end=NOW + 9 * 86400))
    ).record
    assert trialing is not None
    in_trial = dict(asked, trial_end=NOW + 9 * 86400)
    r = apply_event(
        trialing, stripe_event("customer.subscription.deleted", in_trial, created=end, eid="e3")
    )
    assert r.record is not None
    assert status_at(r.record, datetime.fromtimestamp(end, UTC)) is Status.LAPSED
