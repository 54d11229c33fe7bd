"""Subscription lifecycle: what a subscription record means at an instant, as tables.

Statuses (``STATUS_RULES`` says which are in force)::

    pending -> trialing -> active <-> cancelling
                  |          |  \\
                  |          |   grace (payment failed; 7 days) -> lapsed
                  v          v
               revoked    lapsed | withdrawn | suspended     (on_hold: incomplete, paused)

``status_at(sub, t)`` first asks ``ENDINGS`` (the earliest ending instant that has come; on a
tie the earlier row of the table wins), then ``PHASES`` (the first row that holds).

Edge instants: every interval is half-open ``[start, end)``. At exactly its end a status is
over. So at exactly ``current_period_end`` a cancelled subscription has lapsed; at exactly
``payment_failed_at + 7 days`` the grace period is over; a withdrawal at exactly
``started_at + 14 days`` is outside the cooling-off period (refused by ``record_withdrawal``
and read as a cancellation to the period end); a trial may start again at exactly 12
calendar months after the payer's previous one; at exactly ``trial_end`` the trial is over.

Transitions (``record_*``) are pure: they return a new record.

Rules the entry paths (webhooks, admin API) apply before storing a record:

* one free trial per payer in 12 months: ``check_trial_for(sub, others)`` raises
  ``TrialRefused`` (the admin API answers 409); a webhook, which cannot refuse what Stripe
  already started, stores ``refuse_repeat_trial(sub, others, at)`` instead: the trial is
  revoked at once (and the integrator cancels it at Stripe);
* an annual-commitment monthly subscription without an explicit ``commitment_end``
  commits for 12 calendar months from its start (``commitment_end_of``);
* a cooling-off withdrawal is recognised from the events that carry it
  (``entitlements.stripe``: a full refund, or an immediate cancellation the customer asked
  for, within 14 days of purchase) and ends the features at once (``WITHDRAWN``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from ._time import add_months, require_aware
from .errors import TrialRefused, WithdrawalRefused
from .subscription import Cycle, Subscription

__all__ = [
    "COMMITMENT_MONTHS",
    "COOLING_OFF",
    "COOLING_OFF_REGIONS",
    "ENDINGS",
    "GRACE_PERIOD",
    "PHASES",
    "STATUS_RULES",
    "TRIAL_INTERVAL_MONTHS",
    "Status",
    "StatusRule",
    "breakpoints",
    "check_trial",
    "check_trial_for",
    "commitment_end_of",
    "ending",
    "grace_end",
    "may_withdraw",
    "paid_end",
    "record_cancellation",
    "record_payment",
    "record_payment_failure",
    "record_resumption",
    "record_suspension",
    "record_trial_revocation",
    "record_withdrawal",
    "refuse_repeat_trial",
    "status_at",
    "trial_starts",
]

#: "You will have a seven (7)-day grace period to update your billing information."
GRACE_PERIOD = timedelta(days=7)
#: "... withdraw ... within fourteen (14) days from the date of purchase."
COOLING_OFF = timedelta(days=14)
#: "one trial per person ... during any twelve (12)-month period."
TRIAL_INTERVAL_MONTHS = 12
#: Consumers with the cooling-off right: the blocs, and EU/EEA/UK ISO 3166 codes.
_REGION_CODES = (
    "EU EEA UK GB AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO"
)
COOLING_OFF_REGIONS = frozenset(_REGION_CODES.split())
#: "a monthly basis with an annual commitment and an annual renewal date": 12 months.
COMMITMENT_MONTHS = 12


class Status(StrEnum):
    PENDING = "pending"
    ON_HOLD = "on_hold"
    TRIALING = "trialing"
    ACTIVE = "active"
    CANCELLING = "cancelling"
    GRACE = "grace"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    #: Not a subscription's status: what a circle has when nothing is in force.
    FREE = "free"


@dataclass(frozen=True, slots=True)
class StatusRule:
    in_force: bool  #: the subscription's plan applies to its circle
    trialing: bool  #: the plan's trial_excludes are off
    terminal: bool  #: no later instant changes it (without a new fact)
    meaning: str


STATUS_RULES: Mapping[Status, StatusRule] = {
    Status.PENDING: StatusRule(False, False, False, "before started_at"),
    Status.ON_HOLD: StatusRule(False, False, False, "no paid period (incomplete, paused)"),
    Status.TRIALING: StatusRule(True, True, False, "free trial, until trial_end"),
    Status.ACTIVE: StatusRule(True, False, False, "paid; renews until cancelled"),
    Status.CANCELLING: StatusRule(True, False, False, "cancelled, paid to the period end"),
    Status.GRACE: StatusRule(True, False, False, "payment failed, 7-day grace period"),
    Status.LAPSED: StatusRule(False, False, True, "ended: period, grace or subscription over"),
    Status.WITHDRAWN: StatusRule(False, False, True, "withdrawn in the cooling-off period"),
    Status.SUSPENDED: StatusRule(False, False, True, "suspended for abuse"),
    Status.REVOKED: StatusRule(False, False, True, "trial revoked: payment method invalid"),
    Status.FREE: StatusRule(False, False, False, "no subscription in force"),
}


def may_withdraw(sub: Subscription, at: datetime) -> bool:
    """A consumer in the EU/EEA/UK, within ``[started_at, started_at + 14 days)``."""
    region = (sub.consumer_region or "").strip().upper()
    return region in COOLING_OFF_REGIONS and sub.started_at <= at < sub.started_at + COOLING_OFF


def grace_end(sub: Subscription) -> datetime | None:
    return None if sub.payment_failed_at is None else sub.payment_failed_at + GRACE_PERIOD


def _withdrawal(sub: Subscription) -> datetime | None:
    w = sub.withdrawn_at
    return w if w is not None and may_withdraw(sub, w) else None


def _cancelled_at(sub: Subscription) -> datetime | None:
    """When the subscription counts as cancelled (a late withdrawal is a cancellation)."""
    if sub.cancel_at_period_end:
        return sub.started_at
    w = sub.withdrawn_at
    return w if w is not None and not may_withdraw(sub, w) else None


def commitment_end_of(sub: Subscription) -> datetime | None:
    """The end of an annual-commitment monthly subscription's commitment: its explicit
    ``commitment_end``, else 12 calendar months from its start; ``None`` for other cycles."""
    if sub.cycle is not Cycle.MONTHLY_ANNUAL_COMMITMENT:
        return None
    if sub.commitment_end is not None:
        return sub.commitment_end
    return add_months(sub.started_at, COMMITMENT_MONTHS)


def paid_end(sub: Subscription) -> datetime:
    """Until when a cancelled subscription is paid: the period end, the trial end, and for a
    monthly subscription with an annual commitment the commitment end, whichever is last."""
    candidates = [sub.current_period_end, sub.trial_end, commitment_end_of(sub)]
    known = [c for c in candidates if c is not None]
    return max(known) if known else sub.started_at


def _paid_end_if_cancelled(sub: Subscription) -> datetime | None:
    return paid_end(sub) if _cancelled_at(sub) is not None else None


#: (status once the instant has come, instant) in tie-break order.
ENDINGS: tuple[tuple[Status, Callable[[Subscription], datetime | None]], ...] = (
    (Status.SUSPENDED, lambda s: s.suspended_at),
    (Status.WITHDRAWN, _withdrawal),
    (Status.REVOKED, lambda s: s.trial_revoked_at),
    (Status.LAPSED, lambda s: s.ended_at),
    (Status.LAPSED, grace_end),
    (Status.LAPSED, _paid_end_if_cancelled),
)


def _since(value: datetime | None, t: datetime) -> bool:
    return value is not None and t >= value


#: While in force: the first row that holds at t gives the status.
PHASES: tuple[tuple[Status, Callable[[Subscription, datetime], bool]], ...] = (
    (Status.ON_HOLD, lambda s, t: _since(s.on_hold_since, t)),
    (Status.GRACE, lambda s, t: _since(s.payment_failed_at, t)),
    (Status.TRIALING, lambda s, t: s.trial_end is not None and t < s.trial_end),
    (Status.CANCELLING, lambda s, t: _since(_cancelled_at(s), t)),
    (Status.ACTIVE, lambda s, t: True),
)


def ending(sub: Subscription) -> tuple[datetime, Status] | None:
    """The earliest instant at which the subscription ends, and the status it ends in."""
    found = [
        (at, order, status)
        for order, (status, rule) in enumerate(ENDINGS)
        if (at := rule(sub)) is not None
    ]
    if not found:
        return None
    at, _, status = min(found)
    return at, status


def status_at(sub: Subscription, t: datetime) -> Status:
    """The subscription's status at instant ``t`` (aware)."""
    if t < sub.started_at:
        return Status.PENDING
    end = ending(sub)
    if end is not None and t >= end[0]:
        return end[1]
    return next(status for status, holds in PHASES if holds(sub, t))


def breakpoints(sub: Subscription) -> tuple[datetime, ...]:
    """Every instant at which ``status_at`` may change, sorted."""
    points = {
        sub.started_at,
        sub.trial_end,
        sub.payment_failed_at,
        sub.on_hold_since,
        sub.withdrawn_at,
        _cancelled_at(sub),
    }
    points.update(rule(sub) for _, rule in ENDINGS)
    return tuple(sorted(p for p in points if p is not None))


# -- transitions ------------------------------------------------------------------------


def record_cancellation(sub: Subscription, at: datetime) -> Subscription:
    """Cancel: features stay to the paid end (period, commitment); no-op once ended."""
    if STATUS_RULES[status_at(sub, require_aware(at, "at"))].terminal:
        return sub
    return replace(sub, cancel_at_period_end=True)


def record_resumption(sub: Subscription, at: datetime) -> Subscription:
    """Undo a cancellation before it took effect."""
    if status_at(sub, require_aware(at, "at")) is not Status.CANCELLING:
        return sub
    return replace(sub, cancel_at_period_end=False)


def record_payment_failure(sub: Subscription, at: datetime) -> Subscription:
    """The first failure opens the 7-day grace period; retries do not extend it."""
    if sub.payment_failed_at is not None:
        return sub
    return replace(sub, payment_failed_at=require_aware(at, "at"))


def record_payment(sub: Subscription, at: datetime, period_end: datetime) -> Subscription:
    """A payment succeeded: grace closed, period extended. No-op once suspended, withdrawn or
    revoked (a late payment after the grace period restores the subscription)."""
    status = status_at(sub, require_aware(at, "at"))
    if status in (Status.SUSPENDED, Status.WITHDRAWN, Status.REVOKED):
        return sub
    return replace(
        sub,
        payment_failed_at=None,
        on_hold_since=None,
        current_period_end=require_aware(period_end, "period_end"),
    )


def _ended(sub: Subscription, at: datetime) -> bool:
    return STATUS_RULES[status_at(sub, require_aware(at, "at"))].terminal


def record_withdrawal(sub: Subscription, at: datetime) -> Subscription:
    """Withdraw in the cooling-off period: features end at ``at``; else ``WithdrawalRefused``.
    No-op once the subscription has ended (a terminal status never changes)."""
    at = require_aware(at, "at")
    if _ended(sub, at):
        return sub
    if not may_withdraw(sub, at):
        raise WithdrawalRefused(
            f"subscription {sub.id!r} cannot be withdrawn at {at.isoformat()}: the cooling-off "
            f"period is for EU/EEA/UK consumers within 14 days of {sub.started_at.isoformat()} "
            f"(consumer_region {sub.consumer_region!r})"
        )
    return replace(sub, withdrawn_at=at)


def record_suspension(sub: Subscription, at: datetime) -> Subscription:
    """Suspension for abuse ends access at once (no-op once ended)."""
    if _ended(sub, at):
        return sub
    return (
        sub if sub.suspended_at is not None else replace(sub, suspended_at=require_aware(at, "at"))
    )


def record_trial_revocation(sub: Subscription, at: datetime) -> Subscription:
    """The payment method proved invalid: the trial (and subscription) end at once."""
    if sub.trial_revoked_at is not None or _ended(sub, at):
        return sub
    return replace(sub, trial_revoked_at=require_aware(at, "at"))


def check_trial(payer: str, starts_at: datetime, prior_trial_starts: Iterable[datetime]) -> None:
    """Refuse (``TrialRefused``) a trial for ``payer`` within 12 calendar months after one of
    the payer's earlier trials: allowed again from exactly the 12-month anniversary."""
    starts_at = require_aware(starts_at, "starts_at")
    for prior in prior_trial_starts:
        prior = require_aware(prior, "prior_trial_starts")
        again = add_months(prior, TRIAL_INTERVAL_MONTHS)
        if prior <= starts_at < again:
            raise TrialRefused(payer, prior, again)


def trial_starts(
    payer: str | None, subs: Iterable[Subscription], *, besides: str = ""
) -> list[datetime]:
    """When ``payer``'s trials started: the subscriptions with a trial (other than the one
    whose id is ``besides``). A revoked trial (refused here, or an invalid payment method)
    does not count; a payer of ``None`` (unknown) matches nothing."""
    if payer is None:
        return []
    return [
        s.started_at
        for s in subs
        if s.payer == payer
        and s.id != besides
        and s.trial_end is not None
        and s.trial_revoked_at is None
    ]


def check_trial_for(sub: Subscription, others: Iterable[Subscription]) -> None:
    """Refuse (``TrialRefused``) ``sub`` when it has a free trial and its payer had another
    one starting within the 12 calendar months before it. ``others`` are the payer's (or
    everyone's) other subscription records, on any circle; ``sub`` itself may be among them
    (a webhook updating it is not a second trial). A subscription without a trial, or whose
    payer is unknown, always passes."""
    if sub.trial_end is None or sub.payer is None:
        return
    check_trial(sub.payer, sub.started_at, trial_starts(sub.payer, others, besides=sub.id))


def refuse_repeat_trial(
    sub: Subscription, others: Iterable[Subscription], at: datetime
) -> Subscription:
    """For a webhook: ``sub`` with its trial revoked at ``at`` when ``check_trial_for``
    refuses it (features end at once: ``REVOKED``), else ``sub`` unchanged. Idempotent."""
    try:
        check_trial_for(sub, others)
    except TrialRefused:
        return record_trial_revocation(sub, at)
    return sub
