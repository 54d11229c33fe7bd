"""The notify stage, before commit: the batch learns who its events may be told to (the
outbox rows are written by the commit, in the batch's transaction, ``store.outbox``), the
device watch's intervals and OwnTracks ``lwt`` hints, and the phones' battery-low events.

Battery low is decided from the reported level with hysteresis: at or below
``battery_low_pct`` once, then not again until the phone reported ``battery_rearm_pct`` or
more. The state is the stage's (the writer task's), persisted in ``device_watch.battery_low``
in the same transaction and loaded at start, so a restart does not repeat it.
"""

from __future__ import annotations

from ..config import NotifySettings
from ..notify.audience import audience_of
from ..store import writer
from .batch import Batch
from .identify import DeviceDirectory


class Addressing:
    def __init__(
        self, settings: NotifySettings, directory: DeviceDirectory, battery_low: set[int]
    ) -> None:
        self.settings = settings
        self.directory = directory
        self._battery_low = battery_low

    def apply(self, work: Batch) -> None:
        rows = work.rows
        rows.watch = (self.settings.tag_interval_s, self.settings.phone_interval_s)
        rows.offline = [d for envelope in work.envelopes for d in envelope.offline]
        rows.offline_grace_s = self.settings.lwt_grace_s
        if work.snapshot is not None:
            rows.audience_of = audience_of(work.snapshot, self.directory, work.now)
        low_at, rearm_at = self.settings.battery_low_pct, self.settings.battery_rearm_pct
        newest: dict[int, float] = {}
        for device_id, pos in sorted(work.accepted, key=lambda item: item[1].fix_time):
            level = pos.battery_pct
            if level is None:
                continue
            device = self.directory.by_id(device_id)
            if device is None or device.kind != "phone":
                continue  # tags report their own low-battery alarm
            low = device_id in self._battery_low
            if not low and level <= low_at:
                self._battery_low.add(device_id)
                rows.events.append(
                    writer.EventRow(
                        device_id,
                        None,
                        "battery_low",
                        pos.fix_time,
                        "",
                        {"battery_pct": level, "lat": pos.lat, "lon": pos.lon},
                    )
                )
                newest[device_id] = level
            elif low and level >= rearm_at:
                self._battery_low.discard(device_id)
                newest[device_id] = level
        rows.battery = [(d, d in self._battery_low) for d in newest]
