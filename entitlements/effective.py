"""Effective entitlement of a circle (pure): the best subscription in force, else Free.

The gateway, the snapshot and ``trackgw entitlements resolve`` all call these functions.

* ``resolve(subs, at)`` -> the ``Entitlement`` in force at ``at`` with its validity bounds
  ``[valid_from, valid_until)`` (``None`` = unbounded): the in-force subscription whose plan
  ranks highest (platinum > gold > silver > free; on a tie a non-trial one, then the
  smallest id), else the free plan with status ``free``. Subscriptions are not additive:
  two gold subscriptions on one circle give gold.
* ``timeline(subs, since=...)`` -> consecutive entitlements from ``since`` on, the last one
  unbounded: what the gateway stores as the circle's entitlement rows, so decisions change at
  the instant a period, grace, trial or commitment ends, without waiting for a refresh.
* ``in_plan_members``, ``active_places``, ``tracked_tags``: the first ``limit`` items of a list
  in join / creation / registration order. The rest are outside the plan; nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ._time import format_time, require_aware
from .lifecycle import STATUS_RULES, Status, breakpoints, status_at
from .plans import FREE, Catalogue, Limits, default_catalogue
from .subscription import Subscription

__all__ = [
    "Entitlement",
    "active_places",
    "first_n",
    "in_plan_members",
    "more",
    "resolve",
    "timeline",
    "tracked_tags",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Entitlement:
    """A circle's plan over ``[valid_from, valid_until)``; one row of the entitlements table."""

    plan: str
    status: Status
    subscription_id: str | None
    valid_from: datetime | None
    valid_until: datetime | None
    limits: Limits

    @classmethod
    def from_row(
        cls,
        *,
        plan: str,
        status: Status | str,
        subscription_id: str | None,
        valid_from: datetime | None,
        valid_until: datetime | None,
        catalogue: Catalogue | None = None,
    ) -> Entitlement:
        """Build from stored columns; the limits come from the catalogue (``UnknownPlan``)."""
        status = Status(status)
        found = (catalogue or default_catalogue()).get(plan)
        return cls(
            plan=plan,
            status=status,
            subscription_id=subscription_id,
            valid_from=None if valid_from is None else require_aware(valid_from, "valid_from"),
            valid_until=None if valid_until is None else require_aware(valid_until, "valid_until"),
            limits=found.limits(trialing=STATUS_RULES[status].trialing),
        )

    def covers(self, t: datetime) -> bool:
        """``valid_from <= t < valid_until`` (half-open; None = unbounded)."""
        lo, hi = self.valid_from, self.valid_until
        return (lo is None or lo <= t) and (hi is None or t < hi)

    def as_json(self, circle_id: str) -> dict[str, Any]:
        """The object printed by ``trackgw entitlements resolve``."""
        return {
            "circle": circle_id,
            "plan": self.plan,
            "subscription": self.subscription_id,
            "status": self.status.value,
            "valid_until": None if self.valid_until is None else format_time(self.valid_until),
            "limits": self.limits.as_json(),
        }


def _choose(
    subs: Sequence[Subscription], t: datetime, catalogue: Catalogue
) -> tuple[str, Status, str | None]:
    """(plan, status, subscription id) in force at ``t``: highest rank, then a non-trial one,
    then the smallest id; the free plan when none is in force."""
    best: tuple[tuple[int, bool, str], Subscription, Status] | None = None
    for sub in subs:
        status = status_at(sub, t)
        rule = STATUS_RULES[status]
        if not rule.in_force:
            continue
        key = (-catalogue.get(sub.plan).rank, rule.trialing, sub.id)
        if best is None or key < best[0]:
            best = (key, sub, status)
    if best is None:
        return FREE, Status.FREE, None
    return best[1].plan, best[2], best[1].id


def timeline(
    subs: Iterable[Subscription],
    *,
    since: datetime | None = None,
    catalogue: Catalogue | None = None,
) -> tuple[Entitlement, ...]:
    """Consecutive entitlements (merged when plan, status and subscription repeat); only those
    still valid at or after ``since`` when given. The first starts unbounded (``None``) unless
    cut by ``since``; the last is unbounded above."""
    catalogue = catalogue or default_catalogue()
    subs = tuple(subs)
    points = sorted({p for sub in subs for p in breakpoints(sub)})
    starts: list[datetime | None] = [None, *points]
    pieces: list[tuple[datetime | None, tuple[str, Status, str | None]]] = []
    for start in starts:
        value = (FREE, Status.FREE, None) if start is None else _choose(subs, start, catalogue)
        if pieces and pieces[-1][1] == value:
            continue
        pieces.append((start, value))
    out: list[Entitlement] = []
    for i, (start, (plan, status, sub_id)) in enumerate(pieces):
        end = pieces[i + 1][0] if i + 1 < len(pieces) else None
        if since is not None and end is not None and end <= since:
            continue
        out.append(
            Entitlement.from_row(
                plan=plan,
                status=status,
                subscription_id=sub_id,
                valid_from=start,
                valid_until=end,
                catalogue=catalogue,
            )
        )
    return tuple(out)


def resolve(
    subs: Iterable[Subscription], at: datetime, *, catalogue: Catalogue | None = None
) -> Entitlement:
    """The entitlement in force at ``at``, with the bounds of its validity."""
    at = require_aware(at, "at")
    return timeline(subs, since=at, catalogue=catalogue)[0]


def first_n(items: Sequence[T], limit: int | None) -> tuple[T, ...]:
    """The first ``limit`` items (all of them when ``limit`` is None = unlimited)."""
    return tuple(items) if limit is None else tuple(items[:limit])


def in_plan_members(members_in_join_order: Sequence[T], limits: Limits) -> tuple[T, ...]:
    """Members covered by the plan: the first by join order, up to the member limit."""
    return first_n(members_in_join_order, limits.members_per_circle)


def active_places(places_in_creation_order: Sequence[T], limits: Limits) -> tuple[T, ...]:
    """Places kept active over a downgrade: the first by creation, up to the place limit."""
    return first_n(places_in_creation_order, limits.places_per_circle)


def tracked_tags(tags_in_registration_order: Sequence[T], limits: Limits) -> tuple[T, ...]:
    """One member's tags tracked for the circle: the first registered, up to the tag limit."""
    return first_n(tags_in_registration_order, limits.tags_per_account)


def more(a: int | None, b: int | None) -> int | None:
    """The larger of two limits, None (unlimited) being largest."""
    return None if a is None or b is None else max(a, b)
