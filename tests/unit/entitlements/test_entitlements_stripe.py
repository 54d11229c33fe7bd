"""Stripe webhooks signed the way Stripe signs them (HMAC-SHA256 of "<t>.<body>")."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from entitlements.errors import MalformedEvent, SignatureError
from entitlements.lifecycle import Status, status_at
from entitlements.stripe import Outcome, apply_event, construct_event, subscription_id_of

SECRET = "whsec_test_secret"
NOW = 1_767_312_000  # 2026-01-02T00:00:00Z


def sign(body: bytes, t: int = NOW, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(kind: str, obj: dict[str, Any], *, eid: str = "evt_1", created: int = NOW) -> bytes:
    doc = {"id": eid, "object": "event", "type": kind, "created": created, "data": {"object": obj}}
    return json.dumps(doc).encode()


def subscription(status: str = "active", **kw: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "sub_1",
        "object": "subscription",
        "status": status,
        "customer": "cus_1",
        "start_date": NOW - 86400,
        "trial_end": None,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "metadata": {"circle_id": "c1", "consumer_region": "EU"},
        "items": {
            "data": [
                {
                    "current_period_end": NOW + 30 * 86400,
                    "price": {"lookup_key": "gold_monthly", "recurring": {"interval": "month"}},
                }
            ]
        },
    }
    obj.update(kw)
    return obj


def now(t: int = NOW) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def receive(body: bytes, header: str | None = None, at: int = NOW):  # type: ignore[no-untyped-def]
    return construct_event(body, sign(body) if header is None else header, SECRET, now=now(at))


def test_valid_signature_accepted_and_mapped() -> None:
    """customertrackr-terms.txt: "All payments are processed through Stripe, our third-party
    payment processor" """
    ev = receive(event("customer.subscription.created", subscription()))
    res = apply_event(None, ev)
    assert res.outcome is Outcome.APPLIED
    assert res.record is not None
    r = res.record
    assert (r.circle_id, r.plan, r.cycle.value, r.payer) == ("c1", "gold", "monthly", "cus_1")
    assert r.current_period_end == now(NOW + 30 * 86400)
    assert status_at(r, now()) is Status.ACTIVE
    assert r.last_event_id == "evt_1"


def test_multiple_v1_any_may_match() -> None:
    body = event("customer.subscription.created", subscription())
    good = sign(body).split(",")[1]
    receive(body, f"t={NOW},v1={'0' * 64},{good},v0=abc")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing"),
        (f"t={NOW},v1={'ab' * 32}", "no v1 signature matches"),
        (f"v1={'ab' * 32}", "no timestamp"),
        (f"t={NOW}", "no v1 signature"),
        ("t=soon,v1=aa", "bad timestamp"),
    ],
)
def test_forged_or_malformed_refused(header: str | None, message: str) -> None:
    body = event("customer.subscription.created", subscription())
    with pytest.raises(SignatureError, match=message):
        construct_event(body, header or "", SECRET, now=now())


def test_tampered_body_and_wrong_secret_refused() -> None:
    body = event("customer.subscription.created", subscription())
    with pytest.raises(SignatureError, match="forged"):
        receive(body.replace(b"gold", b"platinum"), sign(body))
    with pytest.raises(SignatureError):
        receive(body, sign(body, secret="whsec_other"))


def test_replayed_too_old_refused() -> None:
    body = event("customer.subscription.created", subscription())
    receive(body, at=NOW + 300)  # edge: exactly 300 s old is still within tolerance
    with pytest.raises(SignatureError, match="301 s old, over the 300 s tolerance"):
        receive(body, at=NOW + 301)


def test_duplicate_ignored() -> None:
    ev = receive(event("customer.subscription.created", subscription()))
    first = apply_event(None, ev).record
    again = apply_event(first, ev)
    assert again.outcome is Outcome.DUPLICATE
    assert again.record is first


def test_out_of_order_does_not_undo_newer_state() -> None:
    created = receive(event("customer.subscription.created", subscription(), eid="e1"))
    cancelled = receive(
        event(
            "customer.subscription.updated",
            subscription(cancel_at_period_end=True),
            eid="e3",
            created=NOW + 60,
        )
    )
    old_update = receive(
        event("customer.subscription.updated", subscription(), eid="e2", created=NOW + 30)
    )
    r = apply_event(apply_event(None, created).record, cancelled).record
    late = apply_event(r, old_update)
    assert late.outcome is Outcome.STALE
    assert late.record is r
    assert r is not None
    assert r.cancel_at_period_end


def test_payment_failed_then_paid() -> None:
    """letstrack-billing-terms.txt: "In the event that LetsTrack is unable to charge the card you
    have provided (e.g., expired credit card), LetsTrack will send you a notice to update your
    card information." """
    r = apply_event(None, receive(event("customer.subscription.created", subscription()))).record
    invoice = {
        "object": "invoice",
        "parent": {"subscription_details": {"subscription": "sub_1"}},
        "lines": {"data": [{"period": {"end": NOW + 60 * 86400}}]},
    }
    failed = receive(event("invoice.payment_failed", invoice, eid="e2", created=NOW + 10))
    assert subscription_id_of(failed) == "sub_1"
    r = apply_event(r, failed).record
    assert r is not None
    assert status_at(r, now(NOW + 6 * 86400)) is Status.GRACE
    assert status_at(r, now(NOW + 10 + 7 * 86400)) is Status.LAPSED
    paid = receive(event("invoice.paid", invoice, eid="e3", created=NOW + 20))
    r = apply_event(r, paid).record
    assert r is not None
    assert r.payment_failed_at is None
    assert r.current_period_end == now(NOW + 60 * 86400)


def test_plan_change_applies() -> None:
    """customertrackr-terms.txt: "You may change your subscription plan at any time through your
    account settings" """
    r = apply_event(None, receive(event("customer.subscription.created", subscription()))).record
    up = subscription(metadata={"circle_id": "c1", "plan": "platinum", "cycle": "annual"})
    r = apply_event(
        r, receive(event("customer.subscription.updated", up, eid="e2", created=NOW + 5))
    ).record
    assert r is not None
    assert (r.plan, r.cycle.value) == ("platinum", "annual")


def test_deleted_ends_and_statuses_map() -> None:
    r = apply_event(
        None,
        receive(
            event("customer.subscription.created", subscription("trialing", trial_end=NOW + 86400))
        ),
    ).record
    assert r is not None
    assert status_at(r, now()) is Status.TRIALING
    gone = receive(
        event(
            "customer.subscription.deleted",
            subscription("canceled", ended_at=NOW + 9),
            eid="e2",
            created=NOW + 10,
        )
    )
    ended = apply_event(r, gone).record
    assert ended is not None
    # An EU consumer's paid subscription (the object no longer has a trial) ended one day
    # after purchase, on request: the cooling-off withdrawal (before it was only LAPSED).
    assert status_at(ended, now(NOW + 9)) is Status.WITHDRAWN
    failed = subscription(
        "canceled", ended_at=NOW + 9, cancellation_details={"reason": "payment_failed"}
    )
    ended = apply_event(r, receive(event("customer.subscription.deleted", failed, eid="e3"))).record
    assert ended is not None
    assert status_at(ended, now(NOW + 9)) is Status.LAPSED
    held = apply_event(
        None, receive(event("customer.subscription.created", subscription("incomplete")))
    ).record
    assert held is not None
    assert status_at(held, now()) is Status.ON_HOLD


def test_invoice_before_subscription_and_bad_events() -> None:
    inv = receive(event("invoice.paid", {"object": "invoice", "subscription": "sub_9"}))
    assert apply_event(None, inv).outcome is Outcome.UNKNOWN_SUBSCRIPTION
    other = receive(event("charge.refunded", {"object": "charge"}))
    assert apply_event(None, other).outcome is Outcome.IGNORED
    no_circle = subscription(metadata={})
    with pytest.raises(MalformedEvent, match=r"metadata\.circle_id"):
        apply_event(None, receive(event("customer.subscription.created", no_circle)))
    with pytest.raises(MalformedEvent, match="not JSON"):
        receive(b"{nope")
