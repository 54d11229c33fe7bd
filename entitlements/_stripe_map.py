"""Stripe objects -> ``Subscription`` records: the tables behind ``entitlements.stripe``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .errors import EntitlementError, MalformedEvent
from .lifecycle import may_withdraw
from .plans import Catalogue
from .subscription import Cycle, Subscription

__all__ = ["HANDLERS", "STATUS_MAP", "as_str", "as_time"]

Handler = Callable[[Subscription | None, datetime, Mapping[str, Any], Catalogue], Subscription]
#: What a Stripe subscription status does to our record (given the event time).
StatusEffect = Callable[[Subscription, datetime, Mapping[str, Any]], Subscription]


def as_time(value: object, name: str) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedEvent(f"{name} must be unix seconds, got {value!r}")
    return datetime.fromtimestamp(value, UTC)


def maybe_time(value: object, name: str) -> datetime | None:
    return None if value is None else as_time(value, name)


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _in_force(sub: Subscription, at: datetime, obj: Mapping[str, Any]) -> Subscription:
    return replace(sub, payment_failed_at=None, on_hold_since=None, ended_at=None)


def _failing(sub: Subscription, at: datetime, obj: Mapping[str, Any]) -> Subscription:
    first = sub.payment_failed_at or at
    return replace(sub, payment_failed_at=first, on_hold_since=None)


#: ``cancellation_details.reason`` values that are the customer's own decision (absent:
#: a cancellation through the dashboard or API, on their request).
_ASKED = frozenset({None, "cancellation_requested"})


def _ended(sub: Subscription, at: datetime, obj: Mapping[str, Any]) -> Subscription:
    """Ended at once; within 14 days of purchase, on the customer's request, by a consumer
    with the right, that is the cooling-off withdrawal (features end, ``WITHDRAWN``). Ending
    during the free trial is not: nothing was bought yet (terms B.5)."""
    end = maybe_time(obj.get("ended_at"), "ended_at") or at
    sub = replace(sub, ended_at=sub.ended_at or end)
    reason = (obj.get("cancellation_details") or {}).get("reason")
    in_trial = sub.trial_end is not None and end < sub.trial_end
    if reason in _ASKED and not in_trial and sub.withdrawn_at is None and may_withdraw(sub, end):
        sub = replace(sub, withdrawn_at=end)
    return sub


def _expired(sub: Subscription, at: datetime, obj: Mapping[str, Any]) -> Subscription:
    """Never paid (``incomplete_expired``): ended, and no purchase to withdraw from."""
    end = maybe_time(obj.get("ended_at"), "ended_at") or at
    return replace(sub, ended_at=sub.ended_at or end)


def _on_hold(sub: Subscription, at: datetime, obj: Mapping[str, Any]) -> Subscription:
    return replace(sub, on_hold_since=sub.on_hold_since or at)


#: Stripe subscription ``status`` -> effect on our record.
STATUS_MAP: Mapping[str, StatusEffect] = {
    "trialing": _in_force,
    "active": _in_force,
    "past_due": _failing,
    "unpaid": _failing,
    "canceled": _ended,
    "incomplete_expired": _expired,
    "incomplete": _on_hold,
    "paused": _on_hold,
}

_INTERVALS = {"month": Cycle.MONTHLY, "year": Cycle.ANNUAL}


def _plan_and_cycle(obj: Mapping[str, Any], catalogue: Catalogue) -> tuple[str, Cycle]:
    meta = obj.get("metadata") or {}
    items = (obj.get("items") or {}).get("data") or [{}]
    price = items[0].get("price") or {}
    lookup = as_str(price.get("lookup_key")) or ""
    plan = as_str(meta.get("plan"))
    suffix = ""
    if plan is None:
        plan, _, suffix = lookup.partition("_")
    cycle_text = as_str(meta.get("cycle")) or suffix
    if not cycle_text:
        interval = (price.get("recurring") or {}).get("interval")
        cycle_text = interval if interval in _INTERVALS else ""
    try:
        catalogue.get(plan)
        cycle = _INTERVALS.get(cycle_text) or Cycle.parse(cycle_text)
    except (EntitlementError, ValueError) as exc:
        raise MalformedEvent(f"subscription {obj.get('id')!r}: {exc}") from exc
    return plan, cycle


def _period_end(obj: Mapping[str, Any]) -> datetime | None:
    top = maybe_time(obj.get("current_period_end"), "current_period_end")
    if top is not None:
        return top
    items = (obj.get("items") or {}).get("data") or []
    ends = [
        as_time(i["current_period_end"], "current_period_end")
        for i in items
        if i.get("current_period_end") is not None
    ]
    return max(ends, default=None)


def _from_subscription(
    record: Subscription | None, at: datetime, obj: Mapping[str, Any], catalogue: Catalogue
) -> Subscription:
    sub_id = as_str(obj.get("id"))
    meta = obj.get("metadata") or {}
    circle = as_str(meta.get("circle_id"))
    if sub_id is None or circle is None:
        raise MalformedEvent(f"subscription {sub_id!r} has no id or metadata.circle_id")
    plan, cycle = _plan_and_cycle(obj, catalogue)
    cancel_at = maybe_time(obj.get("cancel_at"), "cancel_at")
    period_end = _period_end(obj)
    commitment = meta.get("commitment_end")
    fields: dict[str, Any] = {
        "id": sub_id,
        "circle_id": circle,
        "plan": plan,
        "cycle": cycle,
        "started_at": as_time(obj.get("start_date", obj.get("created")), "start_date"),
        "trial_end": maybe_time(obj.get("trial_end"), "trial_end"),
        "current_period_end": min(p for p in (period_end, cancel_at) if p is not None)
        if period_end or cancel_at
        else None,
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")) or cancel_at is not None,
        "commitment_end": maybe_time(int(commitment), "metadata.commitment_end")
        if isinstance(commitment, str) and commitment.isdigit()
        else None,
        "payer": as_str(meta.get("payer")) or as_str(obj.get("customer")),
        "consumer_region": as_str(meta.get("consumer_region")),
    }
    base = record if record is not None else Subscription(**fields)
    sub = replace(base, **fields)
    effect = STATUS_MAP.get(str(obj.get("status")))
    if effect is None:
        raise MalformedEvent(f"subscription {sub_id!r}: unknown status {obj.get('status')!r}")
    return effect(sub, at, obj)


def _deleted(
    record: Subscription | None, at: datetime, obj: Mapping[str, Any], catalogue: Catalogue
) -> Subscription:
    sub = _from_subscription(record, at, obj, catalogue)
    return _ended(sub, at, obj)


def _payment_failed(
    record: Subscription | None, at: datetime, obj: Mapping[str, Any], catalogue: Catalogue
) -> Subscription:
    assert record is not None  # apply_event checks
    return _failing(record, at, obj)


def _paid(
    record: Subscription | None, at: datetime, obj: Mapping[str, Any], catalogue: Catalogue
) -> Subscription:
    assert record is not None  # apply_event checks
    lines = (obj.get("lines") or {}).get("data") or []
    ends = [
        as_time(p["end"], "lines.period.end")
        for line in lines
        if isinstance(p := line.get("period"), dict) and p.get("end") is not None
    ]
    end = max(ends, default=record.current_period_end)
    return replace(record, payment_failed_at=None, on_hold_since=None, current_period_end=end)


def _refunded(
    record: Subscription | None, at: datetime, obj: Mapping[str, Any], catalogue: Catalogue
) -> Subscription:
    """A full refund (``charge.refunded`` with ``refunded: true``) within 14 days of purchase
    to a consumer with the right is the cooling-off withdrawal, at the event's time. A
    partial refund, or one outside the cooling-off period (goodwill), changes nothing."""
    assert record is not None  # apply_event checks
    if obj.get("refunded") is not True or record.withdrawn_at is not None:
        return record
    if not may_withdraw(record, at):
        return record
    return replace(record, withdrawn_at=at)


#: Event type -> how it changes the record.
HANDLERS: Mapping[str, Handler] = {
    "customer.subscription.created": _from_subscription,
    "customer.subscription.updated": _from_subscription,
    "customer.subscription.deleted": _deleted,
    "invoice.payment_failed": _payment_failed,
    "invoice.paid": _paid,
    "charge.refunded": _refunded,
}
