"""The subscription record and its JSON form (``SUBS.json``), shared by the CLI and the gateway.

A ``Subscription`` is one paid subscription applied to one circle, as we last learned it (from
Stripe webhooks, an app store, or the admin API). It holds facts with their instants; what
the facts mean at a given time is ``entitlements.lifecycle.status_at``.

``load_subscriptions(doc)`` reads the SUBS.json document::

    {"circle": "c1",
     "subscriptions": [{"id": "sub_1", "plan": "gold", "cycle": "monthly",
                        "started_at": "2026-01-01T00:00:00Z", "trial_end": null,
                        "current_period_end": "2026-02-01T00:00:00Z",
                        "cancel_at_period_end": false, "commitment_end": null,
                        "payment_failed_at": null, "withdrawn_at": null,
                        "suspended_at": null, "trial_revoked_at": null,
                        "payer": "card_fp_1", "consumer_region": "EU"}]}

Optional keys (null or absent): every ``*_at``/``*_end`` except ``started_at`` (an
annual-commitment monthly subscription without ``commitment_end`` commits for 12 months
from its start: ``lifecycle.commitment_end_of``), ``payer``,
``consumer_region``, ``cancel_at_period_end`` (false), and also ``ended_at`` (the
subscription ended at once, e.g. Stripe ``customer.subscription.deleted``) and
``on_hold_since`` (no paid period: Stripe ``incomplete`` or ``paused``).
Cycle spellings (case-insensitive, ``-`` or space for ``_``): ``monthly``/``month``;
``annual``/``annually``/``yearly``/``year``; ``monthly_annual_commitment``/
``annual_commitment_monthly``/``annual_commitment``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from ._time import format_time, parse_time, to_utc
from .errors import EntitlementError, InvalidSubscription
from .plans import Catalogue, default_catalogue

__all__ = [
    "CircleSubscriptions",
    "Cycle",
    "Subscription",
    "dump_subscription",
    "format_time",
    "load_subscriptions",
    "parse_time",
]


class Cycle(StrEnum):
    """Billing cycle (letstrack-billing-terms.txt, B.2)."""

    MONTHLY = "monthly"
    ANNUAL = "annual"
    MONTHLY_ANNUAL_COMMITMENT = "monthly_annual_commitment"

    @classmethod
    def parse(cls, text: str) -> Cycle:
        key = text.strip().lower().replace("-", "_").replace(" ", "_")
        try:
            return _CYCLE_SPELLINGS[key]
        except KeyError:
            raise ValueError(
                f"unknown cycle {text!r} (use monthly, annual or monthly_annual_commitment)"
            ) from None


_CYCLE_SPELLINGS: Mapping[str, Cycle] = {
    "monthly": Cycle.MONTHLY,
    "month": Cycle.MONTHLY,
    "annual": Cycle.ANNUAL,
    "annually": Cycle.ANNUAL,
    "yearly": Cycle.ANNUAL,
    "year": Cycle.ANNUAL,
    "monthly_annual_commitment": Cycle.MONTHLY_ANNUAL_COMMITMENT,
    "annual_commitment_monthly": Cycle.MONTHLY_ANNUAL_COMMITMENT,
    "annual_commitment": Cycle.MONTHLY_ANNUAL_COMMITMENT,
}

#: Datetime fields of a record, in SUBS.json order.
TIME_FIELDS = (
    "started_at",
    "trial_end",
    "current_period_end",
    "commitment_end",
    "payment_failed_at",
    "withdrawn_at",
    "suspended_at",
    "trial_revoked_at",
    "ended_at",
    "on_hold_since",
    "last_event_at",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """One subscription applied to one circle; all datetimes aware UTC."""

    id: str
    circle_id: str
    plan: str
    cycle: Cycle
    started_at: datetime
    trial_end: datetime | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    commitment_end: datetime | None = None
    payment_failed_at: datetime | None = None
    withdrawn_at: datetime | None = None
    suspended_at: datetime | None = None
    trial_revoked_at: datetime | None = None
    ended_at: datetime | None = None
    on_hold_since: datetime | None = None
    payer: str | None = None
    consumer_region: str | None = None
    #: Creation time and id of the last webhook event applied (entitlements.stripe).
    last_event_at: datetime | None = None
    last_event_id: str | None = field(default=None)

    def __post_init__(self) -> None:
        for name in TIME_FIELDS:
            value = getattr(self, name)
            if value is None and name == "started_at":
                raise ValueError("started_at is required")
            object.__setattr__(self, name, to_utc(value, name))
        if not isinstance(self.cycle, Cycle):
            raise TypeError(f"cycle must be a Cycle, got {self.cycle!r}")


@dataclass(frozen=True, slots=True)
class CircleSubscriptions:
    """What SUBS.json holds: one circle and the subscriptions applied to it."""

    circle_id: str
    subscriptions: tuple[Subscription, ...]


def load_subscriptions(
    doc: Mapping[str, Any], catalogue: Catalogue | None = None
) -> CircleSubscriptions:
    """Validate a SUBS.json document; raises ``InvalidSubscription`` naming the bad field."""
    catalogue = catalogue or default_catalogue()
    if not isinstance(doc, Mapping):
        raise InvalidSubscription(f"expected a JSON object, got {type(doc).__name__}")
    circle = doc.get("circle")
    if not isinstance(circle, str) or not circle:
        raise InvalidSubscription(f"'circle' must be a non-empty string, got {circle!r}")
    items = doc.get("subscriptions", [])
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise InvalidSubscription(f"'subscriptions' must be a list, got {items!r}")
    subs = tuple(_load_one(circle, i, item, catalogue) for i, item in enumerate(items))
    ids = [s.id for s in subs]
    if len(set(ids)) != len(ids):
        raise InvalidSubscription(f"subscription ids must be unique, got {ids!r}")
    return CircleSubscriptions(circle, subs)


def dump_subscription(sub: Subscription) -> dict[str, Any]:
    """The SUBS.json form of one record (inverse of what ``load_subscriptions`` reads)."""
    out: dict[str, Any] = {}
    for f in fields(sub):
        value = getattr(sub, f.name)
        if f.name == "circle_id":
            continue
        out[f.name] = format_time(value) if isinstance(value, datetime) else value
    out["cycle"] = sub.cycle.value
    return out


_KNOWN = {f.name for f in fields(Subscription)} - {"circle_id"} | {"circle"}


def _load_one(circle: str, index: int, item: object, catalogue: Catalogue) -> Subscription:
    where = f"subscriptions[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidSubscription(f"{where} must be an object, got {item!r}")
    unknown = sorted(set(item) - _KNOWN)
    if unknown:
        raise InvalidSubscription(f"{where}: unknown keys {unknown!r}")
    if item.get("circle", circle) != circle:
        raise InvalidSubscription(f"{where}.circle {item['circle']!r} is not {circle!r}")
    values: dict[str, Any] = {"circle_id": circle}
    for key in ("id", "plan", "cycle"):
        value = item.get(key)
        if not isinstance(value, str) or not value:
            raise InvalidSubscription(f"{where}.{key} must be a non-empty string, got {value!r}")
        values[key] = value
    try:
        catalogue.get(values["plan"])
        values["cycle"] = Cycle.parse(values["cycle"])
        for key in TIME_FIELDS:
            raw = item.get(key)
            values[key] = None if raw is None else parse_time(raw)
    except (ValueError, EntitlementError) as exc:
        raise InvalidSubscription(f"{where}: {exc}") from exc
    for key in ("payer", "consumer_region", "last_event_id"):
        value = item.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidSubscription(f"{where}.{key} must be a string or null, got {value!r}")
        values[key] = value
    cancel = item.get("cancel_at_period_end", False)
    if not isinstance(cancel, bool):
        raise InvalidSubscription(f"{where}.cancel_at_period_end must be true/false")
    values["cancel_at_period_end"] = cancel
    if values["started_at"] is None:
        raise InvalidSubscription(f"{where}.started_at is required")
    return Subscription(**values)
