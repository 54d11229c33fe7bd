"""Subscription lifecycle against the terms (one test per sentence, quoted) and edge instants.

Edge instants (docs/entitlements.md): every interval is half-open [start, end).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from entitlements.effective import resolve, timeline
from entitlements.errors import InvalidSubscription, TrialRefused, WithdrawalRefused
from entitlements.lifecycle import (
    Status,
    check_trial,
    record_cancellation,
    record_payment,
    record_payment_failure,
    record_withdrawal,
    status_at,
)
from entitlements.subscription import Cycle, dump_subscription, load_subscriptions

from .entitlements_helpers import T0, at, sub

US = timedelta(microseconds=1)
PERIOD_END = at("2026-02-01T00:00:00Z")


def test_three_billing_cycles() -> None:
    """letstrack-billing-terms.txt: "You may have the option to pay your Subscription Fee on a
    monthly basis (a "Monthly Subscription"), or on an annual basis (an "Annual
    Subscription"), or in certain cases, on a monthly basis with an annual commitment and an
    annual renewal date ("Annual Commitment Monthly Subscription")." """
    assert {Cycle.parse(t) for t in ("monthly", "annual", "monthly_annual_commitment")} == set(
        Cycle
    )
    assert Cycle.parse("Annual-Commitment-Monthly") is Cycle.MONTHLY_ANNUAL_COMMITMENT
    with pytest.raises(ValueError, match="unknown cycle 'weekly'"):
        Cycle.parse("weekly")


def test_renews_until_cancelled() -> None:
    """letstrack-billing-terms.txt: "Your subscription with us will automatically renew until
    you cancel it." """
    s = sub()
    later = PERIOD_END + timedelta(days=400)
    assert status_at(s, later) is Status.ACTIVE
    assert resolve([s], later).valid_until is None


def test_annual_commitment_keeps_features_until_commitment_lapses() -> None:
    """letstrack-billing-terms.txt: "Annual Commitment Monthly Subscription: We (or our
    third-party payment processor) will automatically charge you each month on the anniversary
    of the commencement of your subscription, using the payment information you have provided
    until you cancel and the annual commitment lapses." """
    commit = at("2027-01-01T00:00:00Z")
    s = sub(cycle=Cycle.MONTHLY_ANNUAL_COMMITMENT, commitment_end=commit, cancel_at_period_end=True)
    assert status_at(s, PERIOD_END) is Status.CANCELLING  # past the monthly period, still paid
    assert status_at(s, commit - US) is Status.CANCELLING
    assert status_at(s, commit) is Status.LAPSED
    assert resolve([s], PERIOD_END).valid_until == commit


def test_cancel_keeps_features_to_period_end() -> None:
    """letstrack-billing-terms.txt: "Upon canceling any features, your subscription will be
    valid and you will retain access to the features until the start of your then-current
    paid period is completed." """
    s = record_cancellation(sub(), at("2026-01-10T00:00:00Z"))
    assert status_at(s, PERIOD_END - US) is Status.CANCELLING
    assert resolve([s], PERIOD_END - US).plan == "gold"
    # Edge: exactly at the period end the features are gone.
    assert status_at(s, PERIOD_END) is Status.LAPSED
    assert resolve([s], PERIOD_END).plan == "free"


def test_annual_cancel_example() -> None:
    """letstrack-billing-terms.txt: "Example: If you purchase an annual subscription and cancel
    it two months into the year, you will not receive a refund for the remaining portion of the
    year, but will instead enjoy the features for the remaining ten months that you have
    already paid for." """
    year_end = at("2027-01-01T00:00:00Z")
    s = sub(cycle=Cycle.ANNUAL, current_period_end=year_end)
    s = record_cancellation(s, at("2026-03-01T00:00:00Z"))
    assert status_at(s, at("2026-12-31T00:00:00Z")) is Status.CANCELLING
    assert status_at(s, year_end) is Status.LAPSED


def test_customertrackr_cancel_through_period_end() -> None:
    """customertrackr-terms.txt: "If you cancel your subscription, you will continue to have
    access to the Service through the end of your current billing period." """
    s = sub(cancel_at_period_end=True)
    assert resolve([s], at("2026-01-31T23:59:59Z")).status is Status.CANCELLING


def test_customertrackr_access_terminated_after_period() -> None:
    """customertrackr-terms.txt: "Upon cancellation, your subscription will remain active until
    the end of your current billing period, after which your access to the Service will be
    terminated." """
    s = sub(cancel_at_period_end=True)
    assert [e.status for e in timeline([s])] == [Status.FREE, Status.CANCELLING, Status.FREE]
    assert timeline([s])[1].valid_until == PERIOD_END


def test_trial_may_exclude_features() -> None:
    """letstrack-billing-terms.txt: "Certain features may not be available during the Free
    Trial Period, at LetsTrack's sole discretion." """
    s = sub(trial_end=at("2026-01-15T00:00:00Z"))
    during = resolve([s], at("2026-01-05T00:00:00Z"))
    assert during.status is Status.TRIALING
    assert not during.limits.history_replay
    assert during.valid_until == at("2026-01-15T00:00:00Z")


def test_trial_cancel_avoids_charges() -> None:
    """letstrack-billing-terms.txt: "You may cancel your account at any time during the Free
    Trial Period to avoid any additional charges." """
    trial_end = at("2026-01-15T00:00:00Z")
    s = sub(trial_end=trial_end, current_period_end=trial_end)
    s = record_cancellation(s, at("2026-01-03T00:00:00Z"))
    assert status_at(s, trial_end - US) is Status.TRIALING
    assert status_at(s, trial_end) is Status.LAPSED  # edge: trial over at exactly trial_end


def test_trial_converts_to_paid() -> None:
    """letstrack-billing-terms.txt: "If you do not cancel your subscription during the Free
    Trial Period, then at the end of the Free Trial Period you will be automatically charged
    for the price of the Paid Subscription type you selected during registration, and you will
    continue to be charged that amount until you cancel your Paid Subscription." """
    trial_end = at("2026-01-15T00:00:00Z")
    s = sub(trial_end=trial_end)
    after = resolve([s], trial_end)
    assert after.status is Status.ACTIVE
    assert after.limits.history_replay


def test_one_trial_per_payer_in_twelve_months() -> None:
    """letstrack-billing-terms.txt: "You are limited to one trial per person (credit card or
    other unique payment or identification method) during any twelve (12)-month period." """
    first = at("2026-02-28T10:00:00Z")
    with pytest.raises(TrialRefused, match="payer 'fp_1' had a free trial on 2026-02-28"):
        check_trial("fp_1", first + timedelta(days=364), [first])
    check_trial("fp_1", at("2027-02-28T10:00:00Z"), [first])  # edge: exactly 12 months: allowed
    check_trial("fp_2", first, [])


def test_invalid_payment_revokes_trial() -> None:
    """letstrack-billing-terms.txt: "If we determine that your Payment Information or payment
    method is invalid, we may revoke your Paid Subscription and terminate your Free Trial
    Period." """
    revoked = at("2026-01-03T08:00:00Z")
    s = sub(trial_end=at("2026-01-15T00:00:00Z"), trial_revoked_at=revoked)
    assert status_at(s, revoked - US) is Status.TRIALING
    assert status_at(s, revoked) is Status.REVOKED
    assert resolve([s], revoked).plan == "free"


def test_seven_day_grace_period() -> None:
    """letstrack-billing-terms.txt: "You will have a seven (7)-day grace period to update your
    billing information." """
    failed = at("2026-02-01T00:00:00Z")
    s = record_payment_failure(sub(), failed)
    assert status_at(s, failed + timedelta(days=7) - US) is Status.GRACE
    assert resolve([s], failed).limits.history_replay  # features kept in grace
    restored = record_payment(s, failed + timedelta(days=2), at("2026-03-01T00:00:00Z"))
    assert status_at(restored, failed + timedelta(days=8)) is Status.ACTIVE


def test_grace_period_expiry_terminates() -> None:
    """letstrack-billing-terms.txt: "If the account is not updated within the seven (7)-day
    grace period, LetsTrack may terminate your subscription." """
    failed = at("2026-02-01T00:00:00Z")
    s = record_payment_failure(sub(), failed)
    assert record_payment_failure(s, failed + timedelta(days=3)) is s  # retries don't extend
    # Edge: exactly 7 days after the failed payment the circle is on Free.
    assert status_at(s, failed + timedelta(days=7)) is Status.LAPSED
    assert resolve([s], failed).valid_until == failed + timedelta(days=7)


def test_payment_failure_may_end_access() -> None:
    """customertrackr-terms.txt: "If payment fails, CustomerTrackr may suspend or terminate
    your access to the Service" """
    s = sub(payment_failed_at=at("2026-02-01T00:00:00Z"))
    assert resolve([s], at("2026-02-08T00:00:00Z")).plan == "free"


def test_cooling_off_withdrawal() -> None:
    """letstrack-billing-terms.txt: "If you are a consumer based in the European Union,
    European Economic Area, or United Kingdom, you have an automatic legal right to withdraw
    from contracts for purchases of paid subscriptions within fourteen (14) days from the date
    of purchase." """
    w = T0 + timedelta(days=3)
    s = record_withdrawal(sub(consumer_region="UK"), w)
    assert status_at(s, w - US) is Status.ACTIVE
    assert status_at(s, w) is Status.WITHDRAWN  # ends at once
    last = T0 + timedelta(days=14) - US
    assert record_withdrawal(sub(consumer_region="de"), last).withdrawn_at == last
    # Edge: exactly 14 days after purchase the right is over.
    with pytest.raises(WithdrawalRefused, match="within 14 days"):
        record_withdrawal(sub(), T0 + timedelta(days=14))
    with pytest.raises(WithdrawalRefused, match="'US'"):
        record_withdrawal(sub(consumer_region="US"), w)
    late = sub(withdrawn_at=T0 + timedelta(days=14))  # a late one reads as a cancellation
    assert status_at(late, PERIOD_END - US) is Status.CANCELLING
    assert status_at(late, PERIOD_END) is Status.LAPSED


def test_acceptable_use_suspension_immediate() -> None:
    """customertrackr-terms.txt: "Violation of this Acceptable Use Policy may result in
    immediate suspension or termination of your account without notice or refund." """
    s = sub(suspended_at=at("2026-01-10T12:00:00Z"))
    assert status_at(s, at("2026-01-10T12:00:00Z")) is Status.SUSPENDED
    assert resolve([s], at("2026-01-10T12:00:00Z")).plan == "free"


def test_customertrackr_terminate_immediately() -> None:
    """customertrackr-terms.txt: "CustomerTrackr may suspend or terminate your account
    immediately, without prior notice or liability, if you breach these Terms, engage in
    fraudulent or illegal activity, or for any other reason at CustomerTrackr's sole
    discretion." """
    s = sub(ended_at=at("2026-01-10T00:00:00Z"))
    assert status_at(s, at("2026-01-10T00:00:00Z")) is Status.LAPSED


def test_before_start_pending_and_free() -> None:
    assert status_at(sub(), T0 - US) is Status.PENDING
    assert resolve([sub()], T0 - US).valid_until == T0


def test_load_subscriptions_round_trip_and_errors() -> None:
    s = sub(cycle=Cycle.MONTHLY_ANNUAL_COMMITMENT, commitment_end=at("2027-01-01T00:00:00Z"))
    doc = {"circle": "c1", "subscriptions": [dump_subscription(s)]}
    assert load_subscriptions(doc).subscriptions == (s,)
    # Without commitment_end it is no longer refused: it commits for 12 months from its start
    # (test_entitlements_notices.py covers the rule).
    bad = dict(dump_subscription(s), commitment_end=None)
    assert load_subscriptions({"circle": "c1", "subscriptions": [bad]}).subscriptions[0] == (
        replace(s, commitment_end=None)
    )
    with pytest.raises(InvalidSubscription, match=r"subscriptions\[0\]: unknown plan 'tin'"):
        load_subscriptions({"circle": "c1", "subscriptions": [dict(bad, plan="tin")]})
    naive = dict(dump_subscription(sub()), started_at="2026-01-01T00:00:00")
    with pytest.raises(InvalidSubscription, match="no UTC offset"):
        load_subscriptions({"circle": "c1", "subscriptions": [naive]})
