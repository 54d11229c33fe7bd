"""Row shapes the gateway loads from SQL to build an ``entitlements.snapshot.Snapshot``.

``CircleRow.entitlements`` are ``Entitlement`` rows (the circle's stored timeline).
``devices`` are passed in registration order; that order ranks each account's tags.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from .effective import Entitlement, timeline
from .plans import Catalogue
from .subscription import Subscription

__all__ = [
    "AccountRow",
    "AccountState",
    "CircleRow",
    "DeviceKind",
    "DeviceRow",
    "HistoryWindow",
    "IngestDecision",
    "circle_row_from_subscriptions",
]


class AccountState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class DeviceKind(StrEnum):
    TAG = "tag"  #: a hardware tracker: counts against tags_per_account
    PHONE = "phone"  #: a member's phone: not a tag


class IngestDecision(StrEnum):
    ALLOWED = "allowed"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_ACCOUNT = "unknown_account"
    ACCOUNT_SUSPENDED = "account_suspended"
    ACCOUNT_DELETED = "account_deleted"
    OVER_TAG_LIMIT = "over_tag_limit"


@dataclass(frozen=True, slots=True, kw_only=True)
class CircleRow:
    circle_id: str
    owner_account_id: str
    member_account_ids: tuple[str, ...]  #: join order (owner included if a member)
    place_ids: tuple[str, ...]  #: creation order
    entitlements: tuple[Entitlement, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRow:
    account_id: str
    state: AccountState


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRow:
    device_id: str
    account_id: str
    kind: DeviceKind


@dataclass(frozen=True, slots=True)
class HistoryWindow:
    days: int  #: positions kept this many days
    replay: bool  #: whether members may replay them


def circle_row_from_subscriptions(
    *,
    circle_id: str,
    owner_account_id: str,
    member_account_ids: Sequence[str],
    place_ids: Sequence[str],
    subscriptions: Iterable[Subscription],
    since: datetime,
    catalogue: Catalogue | None = None,
) -> CircleRow:
    """A ``CircleRow`` whose entitlement rows are resolved from the subscriptions."""
    return CircleRow(
        circle_id=circle_id,
        owner_account_id=owner_account_id,
        member_account_ids=tuple(member_account_ids),
        place_ids=tuple(place_ids),
        entitlements=timeline(subscriptions, since=since, catalogue=catalogue),
    )
