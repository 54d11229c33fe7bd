"""Who may be told of a device's events: the in-plan members of each circle the device is
shared with (the entitlement snapshot), and the device's own id and account (the directory).
Read in the database thread while the outbox rows are written: both are immutable snapshots
or plain dict reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from entitlements import Snapshot
from entitlements.errors import UnknownEntity

from ..pipeline.identify import DeviceDirectory
from ..store.outbox import Audience, AudienceOf


def audience_of(snapshot: Snapshot, directory: DeviceDirectory, now: datetime) -> AudienceOf:
    def of(device_id: int, circle_id: str | None) -> Sequence[Audience]:
        device = directory.by_id(device_id)
        owner = device.account_id if device is not None else None
        unique_id = device.unique_id if device is not None else str(device_id)
        try:
            shared = snapshot.shared_circles(str(device_id), now)
            circles = sorted(shared) if circle_id is None else [circle_id]
            return [
                Audience(c, tuple(sorted(snapshot.alert_recipients(c, now))), owner, unique_id)
                for c in circles
                if c in shared
            ]
        except UnknownEntity:  # not in the snapshot yet: shared with no one yet
            return []

    return of
