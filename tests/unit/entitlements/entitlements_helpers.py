"""Shared builders for the entitlements tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from entitlements.subscription import Cycle, Subscription

LETSTRACK = "shared/seeds/letstrack-billing-terms.txt"
CUSTOMERTRACKR = "shared/seeds/customertrackr-terms.txt"
DESIGN = "shared/DESIGN.md"

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sub(**kw: Any) -> Subscription:
    values: dict[str, Any] = {
        "id": "sub_1",
        "circle_id": "c1",
        "plan": "gold",
        "cycle": Cycle.MONTHLY,
        "started_at": T0,
        "current_period_end": at("2026-02-01T00:00:00Z"),
        "payer": "fp_1",
        "consumer_region": "EU",
    }
    values.update(kw)
    return Subscription(**values)
