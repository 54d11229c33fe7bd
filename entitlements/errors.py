"""Errors of the entitlements package.

::

    EntitlementError                 base: what a plan, a subscription or a webhook refused
     +-- LimitExceeded               an action would pass a plan's limit
     +-- UnknownPlan                 a plan name the catalogue does not know
     +-- CatalogueError              plans.toml is malformed
     +-- InvalidSubscription         a subscription record (SUBS.json, a row) is malformed
     +-- TrialRefused                a second free trial for one payer within 12 months
     +-- WithdrawalRefused           a cooling-off withdrawal outside its region or 14 days
     +-- UnknownEntity               a circle/account id the snapshot does not hold
     +-- WebhookError                a Stripe webhook we refuse
          +-- SignatureError         missing, forged or too old Stripe-Signature
          +-- MalformedEvent         a verified body that is not an event we can read

Our own misuse (a naive datetime, a wrong type) raises ``ValueError``/``TypeError``.
Messages are lowercase and show values with ``!r``.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "CatalogueError",
    "EntitlementError",
    "InvalidSubscription",
    "LimitExceeded",
    "MalformedEvent",
    "SignatureError",
    "TrialRefused",
    "UnknownEntity",
    "UnknownPlan",
    "WebhookError",
    "WithdrawalRefused",
]

#: How each limit is worded in a message: limit -> (unit, per-what, holder noun).
_LIMIT_WORDS: dict[str, tuple[str, str, str]] = {
    "places": ("places", "per circle", "circle"),
    "members": ("members", "per circle", "circle"),
    "circles": ("circles", "per account", "account"),
    "tags": ("tags", "per account", "account"),
}


class EntitlementError(Exception):
    """Base of every error this package raises on purpose."""

    __module__ = "entitlements"


class LimitExceeded(EntitlementError):
    """An action would take ``current`` past the ``allowed`` number of ``limit`` of ``plan``.

    ``holder`` is the circle or account id the limit applies to (for the message).
    """

    __module__ = "entitlements"

    def __init__(
        self, limit: str, plan: str, allowed: int, current: int, *, holder: str | None = None
    ) -> None:
        self.limit = limit
        self.plan = plan
        self.allowed = allowed
        self.current = current
        self.holder = holder
        unit, per, noun = _LIMIT_WORDS.get(limit, (limit, "", "holder"))
        allows = f"{plan} plan allows {allowed} {unit} {per}".rstrip()
        who = f"{noun} {holder!r}" if holder is not None else noun
        super().__init__(f"{allows}; {who} has {current}")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_limit, (self.limit, self.plan, self.allowed, self.current, self.holder))


def _rebuild_limit(
    limit: str, plan: str, allowed: int, current: int, holder: str | None
) -> LimitExceeded:
    return LimitExceeded(limit, plan, allowed, current, holder=holder)


class UnknownPlan(EntitlementError):
    """A plan name that is not in the catalogue."""

    __module__ = "entitlements"

    def __init__(self, name: str, known: tuple[str, ...] = ()) -> None:
        self.name = name
        self.known = known
        hint = f" (known: {', '.join(known)})" if known else ""
        super().__init__(f"unknown plan {name!r}{hint}")


class CatalogueError(EntitlementError):
    """plans.toml is malformed; the message names every problem found."""

    __module__ = "entitlements"


class InvalidSubscription(EntitlementError):
    """A subscription record is malformed (a field missing, of the wrong type, inconsistent)."""

    __module__ = "entitlements"


class TrialRefused(EntitlementError):
    """A payer already had a free trial within the last 12 months.

    ``payer`` had a trial starting at ``previous``; the next one is allowed from ``again``.
    """

    __module__ = "entitlements"

    def __init__(self, payer: str, previous: datetime, again: datetime) -> None:
        self.payer = payer
        self.previous = previous
        self.again = again
        super().__init__(
            f"payer {payer!r} had a free trial on {previous.date().isoformat()}; "
            f"one trial per payer in 12 months (next from {again.date().isoformat()})"
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (TrialRefused, (self.payer, self.previous, self.again))


class WithdrawalRefused(EntitlementError):
    """A cooling-off withdrawal by a non-EU/EEA/UK consumer, or 14 days or more after purchase."""

    __module__ = "entitlements"


class UnknownEntity(EntitlementError, KeyError):
    """A circle or account id the snapshot does not hold."""

    __module__ = "entitlements"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class WebhookError(EntitlementError):
    """A Stripe webhook request we refuse (answer it with HTTP 400)."""

    __module__ = "entitlements"


class SignatureError(WebhookError):
    """The Stripe-Signature header is missing, malformed, forged, or too old."""

    __module__ = "entitlements"


class MalformedEvent(WebhookError):
    """A verified webhook body that is not a Stripe event we can read."""

    __module__ = "entitlements"
