"""Stripe webhooks, pure: verify the signature, parse the event, apply it to a record.

The gateway's HTTP endpoint does::

    event = construct_event(raw_body, request.headers["Stripe-Signature"], secret, now=now)
    sub_id = subscription_id_of(event)           # None: not an event we map -> answer 200
    record = load_record(sub_id)                 # Subscription | None
    result = apply_event(record, event)          # ApplyResult(record, outcome)
    if result.outcome is Outcome.APPLIED: save(result.record)

Signature (Stripe's "verify manually" steps): the header is ``t=<unix>,v1=<hex>[,v1=...]``
(other schemes such as ``v0`` are ignored); the expected signature is the hex HMAC-SHA256 of
``f"{t}.".encode() + raw_body`` keyed with the endpoint secret; any ``v1`` may match
(``hmac.compare_digest``); a timestamp older than ``tolerance_s`` (default 300 s) is refused
as a replay. ``SignatureError`` says which check failed.

Mapping (field names of Stripe's Subscription and Invoice objects):

* ``customer.subscription.created`` / ``.updated`` / ``.deleted`` carry the subscription:
  ``metadata.circle_id`` (required) names the circle; the plan is ``metadata.plan`` when set,
  else the first item's ``price.lookup_key`` read as ``<plan>`` or ``<plan>_<cycle>`` (e.g.
  ``gold_annual``); the cycle is ``metadata.cycle``, else that suffix, else the price's
  ``recurring.interval`` (``month``/``year``); ``metadata.commitment_end`` (unix seconds) for
  an annual commitment; ``metadata.payer`` (the card fingerprint or store account) else
  ``customer``; ``metadata.consumer_region``. ``current_period_end`` is read from the
  subscription, else (API 2025-03-31.basil on) the latest ``items.data[].current_period_end``.
  ``cancel_at_period_end`` or ``cancel_at`` mark a cancellation (``cancel_at`` is its end).
* ``status`` (``STATUS_MAP``): ``trialing``/``active`` in force; ``past_due``/``unpaid`` open
  the 7-day grace period at the event's time (first failure only); ``canceled``/
  ``incomplete_expired`` end it (``ended_at``, else the event time); ``incomplete``/``paused``
  put it on hold (no paid period).
* ``invoice.payment_failed`` opens the grace period; ``invoice.paid`` closes it and sets the
  period end from ``period_end``/the lines. The subscription id is ``invoice.subscription``
  or ``invoice.parent.subscription_details.subscription`` (basil).
* Cooling-off withdrawal (terms: EU/EEA/UK consumers, 14 days from purchase), recorded as
  ``withdrawn_at`` so the features end at once: ``charge.refunded`` with ``refunded: true``
  (a full refund) within 14 days of ``started_at``, the subscription named by the charge's
  ``metadata.subscription_id`` or its expanded ``invoice``; or a ``canceled`` subscription
  (``customer.subscription.deleted``, or ``.updated`` with that status) ended within 14 days
  with ``cancellation_details.reason`` ``cancellation_requested`` or none (not
  ``payment_failed``/``payment_disputed``). Outside the right (region, 14 days) a refund
  changes nothing and a cancellation is the usual ending. ``incomplete_expired`` was never
  paid: no withdrawal.

Idempotent and ordered: a record keeps ``last_event_at`` (event ``created``) and
``last_event_id``; an event whose id was the last applied is a duplicate, an event created
before ``last_event_at`` is stale: neither changes the record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from ._stripe_map import HANDLERS, STATUS_MAP, as_str, as_time
from .errors import MalformedEvent, SignatureError
from .plans import Catalogue, default_catalogue
from .subscription import Subscription

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "STATUS_MAP",
    "ApplyResult",
    "Outcome",
    "StripeEvent",
    "apply_event",
    "compute_signature",
    "construct_event",
    "parse_event",
    "subscription_id_of",
    "verify_signature",
]

DEFAULT_TOLERANCE_S = 300
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    }
)
INVOICE_EVENTS = frozenset({"invoice.payment_failed", "invoice.paid"})
#: Events about a charge of a subscription (need the record, like invoice events).
CHARGE_EVENTS = frozenset({"charge.refunded"})


def compute_signature(timestamp: int, payload: bytes, secret: str) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<payload>"`` with the endpoint secret."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    now: datetime,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> int:
    """Check a Stripe-Signature header against the raw body; return its timestamp."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for element in header.split(","):
        key, sep, value = element.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"bad timestamp in Stripe-Signature: {value!r}") from None
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("Stripe-Signature header has no timestamp (t=)")
    if not candidates:
        raise SignatureError("Stripe-Signature header has no v1 signature")
    expected = compute_signature(timestamp, payload, secret)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("no v1 signature matches the payload (forged or wrong secret)")
    age = now.timestamp() - timestamp
    if tolerance_s > 0 and age > tolerance_s:
        raise SignatureError(
            f"webhook timestamp is {int(age)} s old, over the {tolerance_s} s tolerance (replay?)"
        )
    return timestamp


@dataclass(frozen=True, slots=True, kw_only=True)
class StripeEvent:
    id: str
    type: str
    created: datetime
    object: Mapping[str, Any]


def parse_event(payload: bytes) -> StripeEvent:
    """The event in a (verified) body; ``MalformedEvent`` when it is not one."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"webhook body is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("object") != "event":
        raise MalformedEvent("webhook body is not a Stripe event object")
    data = doc.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(doc.get("id"), str) or not isinstance(doc.get("type"), str):
        raise MalformedEvent("event has no id or type")
    if not isinstance(obj, dict):
        raise MalformedEvent(f"event {doc['id']!r} has no data.object")
    return StripeEvent(
        id=doc["id"], type=doc["type"], created=as_time(doc.get("created"), "created"), object=obj
    )


def construct_event(
    payload: bytes,
    header: str | None,
    secret: str,
    *,
    now: datetime,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> StripeEvent:
    """``verify_signature`` then ``parse_event``."""
    verify_signature(payload, header, secret, now=now, tolerance_s=tolerance_s)
    return parse_event(payload)


def subscription_id_of(event: StripeEvent) -> str | None:
    """The subscription an event is about, or None when we do not map this event."""
    obj = event.object
    if event.type in SUBSCRIPTION_EVENTS:
        return as_str(obj.get("id"))
    if event.type in INVOICE_EVENTS:
        sub = obj.get("subscription")
        if sub is None:
            parent = obj.get("parent") or {}
            sub = (parent.get("subscription_details") or {}).get("subscription")
        if isinstance(sub, dict):
            sub = sub.get("id")
        return as_str(sub)
    if event.type in CHARGE_EVENTS:
        sub = (obj.get("metadata") or {}).get("subscription_id")
        invoice = obj.get("invoice")
        if sub is None and isinstance(invoice, dict):  # expanded invoice
            sub = invoice.get("subscription")
            if sub is None:
                parent = invoice.get("parent") or {}
                sub = (parent.get("subscription_details") or {}).get("subscription")
        if isinstance(sub, dict):
            sub = sub.get("id")
        return as_str(sub)
    return None


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  #: the same event id as the last applied
    STALE = "stale"  #: created before the last applied event
    IGNORED = "ignored"  #: an event type we do not map
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"  #: an invoice event before the subscription


@dataclass(frozen=True, slots=True)
class ApplyResult:
    record: Subscription | None
    outcome: Outcome


def apply_event(
    record: Subscription | None, event: StripeEvent, *, catalogue: Catalogue | None = None
) -> ApplyResult:
    """The record after ``event`` (pure; the record unchanged unless ``APPLIED``)."""
    if record is not None:
        if event.id == record.last_event_id:
            return ApplyResult(record, Outcome.DUPLICATE)
        if record.last_event_at is not None and event.created < record.last_event_at:
            return ApplyResult(record, Outcome.STALE)
    handler = HANDLERS.get(event.type)
    if handler is None:
        return ApplyResult(record, Outcome.IGNORED)
    if event.type in CHARGE_EVENTS and subscription_id_of(event) is None:
        return ApplyResult(record, Outcome.IGNORED)  # a charge of no subscription of ours
    if (event.type in INVOICE_EVENTS or event.type in CHARGE_EVENTS) and record is None:
        return ApplyResult(None, Outcome.UNKNOWN_SUBSCRIPTION)
    new = handler(record, event.created, event.object, catalogue or default_catalogue())
    return ApplyResult(
        replace(new, last_event_at=event.created, last_event_id=event.id), Outcome.APPLIED
    )
