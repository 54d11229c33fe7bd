"""Readers of a circle's live stream who may no longer read it are dropped: after every
entitlement snapshot (membership, plan and account changes all lead to one), each circle's
readers are checked against the circle's in-plan members."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from entitlements import Snapshot

from .hub import LiveHub

#: without any change, check at least this often anyway (a missed wake-up costs no more)
RECHECK_S = 60.0


class Versioned(Protocol):
    """What is read of the entitlement service (gateway/entitlement_service.py)."""

    @property
    def version(self) -> int: ...

    def current(self) -> Snapshot | None: ...

    async def wait_newer(self, version: int, timeout_s: float) -> int: ...


async def run_revocations(hub: LiveHub, entitlements: Versioned) -> None:
    seen = entitlements.version
    while True:
        seen = await entitlements.wait_newer(seen, RECHECK_S)
        snapshot = entitlements.current()
        if snapshot is None:
            continue
        hub.revoke(_members_of(snapshot, datetime.now(UTC)))


def _members_of(snapshot: Snapshot, now: datetime) -> Callable[[str], frozenset[str]]:
    def members(circle_id: str) -> frozenset[str]:
        return frozenset(snapshot.alert_recipients(circle_id, now))

    return members
