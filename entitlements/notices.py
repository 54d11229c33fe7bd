"""Billing and lifecycle notices the terms promise, computed from subscriptions (pure).

``due_notices(subs, now)`` returns every notice that is due at ``now`` and still worth
sending: ``due_at <= now < stale_at``. Each carries a ``dedup_key`` naming the occurrence
(subscription, kind and the instant it is about), so a job that runs every few minutes and
inserts the result into an outbox ``on conflict (dedup_key) do nothing`` sends each notice
once, whatever its cadence, restarts included. The gateway wiring (outbox, email, the
payer's address from ``payer``) is the integrator's; see ``docs/notifications.md``.

=======================  ==================================  =====================================
kind                     due at                              stale at (not sent from then on)
=======================  ==================================  =====================================
renewal_reminder         31 days before each annual renewal  the renewal
                         (annual; annual-commitment monthly:
                         each commitment anniversary)
price_change             the change's ``announced``          its effective billing cycle
payment_failed           the first failed payment            the grace period's end (7 days)
trial_ending             3 days before ``trial_end``         ``trial_end``
ended (back on Free)     the instant it ended                7 days later
withdrawal_confirmed     the withdrawal                      7 days later
=======================  ==================================  =====================================

Terms (letstrack-billing-terms.txt): B.2 "we will send you a reminder at least thirty (30)
days prior to each annual renewal with the then-current Subscription Fee" (sent 31 days
before: a day of slack for a late job keeps it at least 30); A "Any change to our pricing
... become[s] effective in the billing cycle following at least 30 days' notice"; B.6 "a
notice to update your card information. You will have a seven (7)-day grace period". The
3 days of ``trial_ending`` are our default (Stripe's ``trial_will_end`` also says 3 days).

Not sent: a renewal reminder or price change for a subscription that ends (cancelled, in
grace, ...) before the renewal or the change; a trial-ending notice when it was cancelled
(no charge follows); an "ended" notice when another subscription keeps the circle on a paid
plan; a price change to a subscription started at or after its announcement (it subscribed
with the schedule shown). Each kind can be turned off (``kinds``), e.g. where Stripe's own
emails already say it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ._time import add_months, format_time, require_aware
from .effective import resolve
from .lifecycle import (
    STATUS_RULES,
    Status,
    commitment_end_of,
    ending,
    grace_end,
    status_at,
)
from .plans import FREE, Catalogue, Limits, Plan, default_catalogue
from .subscription import Cycle, Subscription

__all__ = [
    "ENDED_STALE",
    "RENEWAL_LEAD",
    "TRIAL_LEAD",
    "Notice",
    "NoticeKind",
    "billing_period_starts",
    "due_notices",
    "next_renewal",
    "what_stops",
]

#: A renewal reminder goes out this long before the renewal ("at least 30 days" + a day).
RENEWAL_LEAD = timedelta(days=31)
#: A trial-ending notice goes out this long before the trial ends.
TRIAL_LEAD = timedelta(days=3)
#: "Ended" and "withdrawal confirmed" are still sent this long after the fact.
ENDED_STALE = timedelta(days=7)
_US = timedelta(microseconds=1)


class NoticeKind(StrEnum):
    RENEWAL_REMINDER = "renewal_reminder"
    PRICE_CHANGE = "price_change"
    PAYMENT_FAILED = "payment_failed"
    TRIAL_ENDING = "trial_ending"
    ENDED = "ended"
    WITHDRAWAL_CONFIRMED = "withdrawal_confirmed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """One notice to a subscription's payer.

    Attributes:
        kind: what it says.
        payer: the subscription's payer (card fingerprint or store account; the integrator
            maps it to the account and address to mail); ``None`` when unknown.
        circle_id, subscription_id: what it is about.
        due_at: when to send it; stale_at: not to be sent from then on.
        dedup_key: one key per occurrence: ``kind:subscription:instant``.
        fields: the message's values (times as ISO 8601 ``...Z``, prices in minor units
            with ``currency``); per kind in ``docs/notifications.md``.
    """

    kind: NoticeKind
    payer: str | None
    circle_id: str
    subscription_id: str
    due_at: datetime
    stale_at: datetime
    dedup_key: str
    fields: Mapping[str, object] = field(hash=False, compare=True)


def _step_months(cycle: Cycle) -> int:
    return 12 if cycle is Cycle.ANNUAL else 1


def billing_period_starts(sub: Subscription, after: datetime) -> datetime:
    """The start of the first billing period at or after ``after``: the first charge
    (``trial_end``, else ``started_at``) plus whole months (years for annual), calendar
    clamped (terms B.2: "on the anniversary of the commencement")."""
    anchor = sub.trial_end or sub.started_at
    step = _step_months(sub.cycle)
    if after <= anchor:
        return anchor
    months = (after.year - anchor.year) * 12 + after.month - anchor.month
    k = max(0, months // step - 1)
    while (start := add_months(anchor, k * step)) < after:
        k += 1
    return start


def next_renewal(sub: Subscription, after: datetime) -> datetime | None:
    """The first annual renewal after ``after``, ``None`` for a monthly subscription:
    the anniversaries of the first charge (annual), or of the commitment's end
    (annual-commitment monthly: its "annual renewal date")."""
    if sub.cycle is Cycle.MONTHLY:
        return None
    if sub.cycle is Cycle.ANNUAL:
        first = add_months(sub.trial_end or sub.started_at, 12)
    else:
        end = commitment_end_of(sub)
        assert end is not None
        first = end
    k = 0
    if after >= first:
        k = max(0, (after.year - first.year) - 1)
    while (renewal := add_months(first, 12 * k)) <= after:
        k += 1
    return renewal


def what_stops(plan: Limits, free: Limits) -> tuple[dict[str, object], ...]:
    """What a circle loses going from ``plan`` to Free: one entry per feature or limit,
    ``{"feature", "plan", "free"}`` (``None`` = unlimited)."""
    out: list[dict[str, object]] = []
    for name in (
        "history_days",
        "members_per_circle",
        "places_per_circle",
        "tags_per_account",
        "circles_per_account",
    ):
        was, now = getattr(plan, name), getattr(free, name)
        if now is not None and (was is None or was > now):
            out.append({"feature": name, "plan": was, "free": now})
    for name in ("history_replay", "airport_alerts"):
        if getattr(plan, name) and not getattr(free, name):
            out.append({"feature": name, "plan": True, "free": False})
    return tuple(out)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else format_time(when)


def _ends_before(sub: Subscription, when: datetime) -> bool:
    end = ending(sub)
    return end is not None and end[0] <= when


def _notice(
    kind: NoticeKind,
    sub: Subscription,
    due_at: datetime,
    stale_at: datetime,
    about: datetime,
    fields: Mapping[str, object],
) -> Notice:
    return Notice(
        kind=kind,
        payer=sub.payer,
        circle_id=sub.circle_id,
        subscription_id=sub.id,
        due_at=due_at,
        stale_at=stale_at,
        dedup_key=f"{kind.value}:{sub.id}:{format_time(about)}",
        fields=dict(fields),
    )


def _base(sub: Subscription, plan: Plan, catalogue: Catalogue) -> dict[str, object]:
    return {"plan": plan.name, "cycle": sub.cycle.value, "currency": catalogue.currency}


def _renewal(sub: Subscription, now: datetime, plan: Plan, cat: Catalogue) -> list[Notice]:
    status = status_at(sub, now)
    if not STATUS_RULES[status].in_force or status is Status.CANCELLING:
        return []
    renewal = next_renewal(sub, now)
    if renewal is None or _ends_before(sub, renewal) or now < renewal - RENEWAL_LEAD:
        return []
    fields = _base(sub, plan, cat) | {
        "renewal_at": _iso(renewal),
        "price": plan.price_for(sub.cycle.value, renewal),
    }
    kind = NoticeKind.RENEWAL_REMINDER
    return [_notice(kind, sub, renewal - RENEWAL_LEAD, renewal, renewal, fields)]


def _price_changes(sub: Subscription, now: datetime, plan: Plan, cat: Catalogue) -> list[Notice]:
    out: list[Notice] = []
    cycle = sub.cycle.value
    for change in plan.price_changes:
        if cycle not in change.prices or now < change.announced:
            continue
        if sub.started_at >= change.announced:
            continue
        effective = billing_period_starts(sub, change.effective_from)
        if now >= effective or _ends_before(sub, effective):
            continue
        if not STATUS_RULES[status_at(sub, now)].in_force:
            continue
        old = plan.price_for(cycle, change.effective_from - _US)  # before this change
        new = plan.price_for(cycle, effective)
        if old == new:
            continue
        fields = _base(sub, plan, cat) | {
            "announced_at": _iso(change.announced),
            "effective_at": _iso(effective),
            "old_price": old,
            "new_price": new,
        }
        kind = NoticeKind.PRICE_CHANGE
        out.append(_notice(kind, sub, change.announced, effective, change.announced, fields))
    return out


def _payment_failed(sub: Subscription, now: datetime, plan: Plan, cat: Catalogue) -> list[Notice]:
    failed, grace = sub.payment_failed_at, grace_end(sub)
    if failed is None or grace is None or not failed <= now < grace:
        return []
    if status_at(sub, now) is not Status.GRACE:
        return []
    fields = _base(sub, plan, cat) | {"failed_at": _iso(failed), "grace_end": _iso(grace)}
    return [_notice(NoticeKind.PAYMENT_FAILED, sub, failed, grace, failed, fields)]


def _trial_ending(sub: Subscription, now: datetime, plan: Plan, cat: Catalogue) -> list[Notice]:
    end = sub.trial_end
    if end is None or sub.cancel_at_period_end or not end - TRIAL_LEAD <= now < end:
        return []
    if status_at(sub, now) is not Status.TRIALING:
        return []
    fields = _base(sub, plan, cat) | {
        "trial_end": _iso(end),
        "price": plan.price_for(sub.cycle.value, end),
    }
    return [_notice(NoticeKind.TRIAL_ENDING, sub, end - TRIAL_LEAD, end, end, fields)]


def _endings(
    sub: Subscription,
    circle: list[Subscription],
    now: datetime,
    plan: Plan,
    cat: Catalogue,
) -> list[Notice]:
    end = ending(sub)
    if end is None:
        return []
    at, status = end
    if not at <= now < at + ENDED_STALE:
        return []
    back_on_free = resolve(circle, at, catalogue=cat).plan == FREE
    stops = what_stops(plan.full, cat.free.full) if back_on_free else ()
    fields = _base(sub, plan, cat) | {
        "ended_at": _iso(at),
        "status": status.value,
        "back_on_free": back_on_free,
        "stops": stops,
    }
    if status is Status.WITHDRAWN:
        kind = NoticeKind.WITHDRAWAL_CONFIRMED
    elif back_on_free:
        kind = NoticeKind.ENDED
    else:
        return []
    return [_notice(kind, sub, at, at + ENDED_STALE, at, fields)]


def due_notices(
    subs: Iterable[Subscription],
    now: datetime,
    *,
    catalogue: Catalogue | None = None,
    kinds: Collection[NoticeKind] | None = None,
) -> tuple[Notice, ...]:
    """Every notice due at ``now`` (``due_at <= now < stale_at``) for these subscriptions.

    ``subs`` may span circles; pass all of a circle's subscriptions (whether it falls back
    to Free depends on the others). ``kinds``: the kinds to compute (``None``: all).
    Sorted by ``due_at``, then ``dedup_key``.
    """
    now = require_aware(now, "now")
    catalogue = catalogue or default_catalogue()
    wanted = frozenset(NoticeKind) if kinds is None else frozenset(kinds)
    subs = list(subs)
    by_circle: dict[str, list[Subscription]] = {}
    for s in subs:
        by_circle.setdefault(s.circle_id, []).append(s)
    out: list[Notice] = []
    for sub in subs:
        plan = catalogue.get(sub.plan)
        if now < sub.started_at:
            continue
        found = [
            *_renewal(sub, now, plan, catalogue),
            *_price_changes(sub, now, plan, catalogue),
            *_payment_failed(sub, now, plan, catalogue),
            *_trial_ending(sub, now, plan, catalogue),
            *_endings(sub, by_circle[sub.circle_id], now, plan, catalogue),
        ]
        out.extend(n for n in found if n.kind in wanted)
    return tuple(sorted(out, key=lambda n: (n.due_at, n.dedup_key)))
