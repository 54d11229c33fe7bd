"""After commit: the held acknowledgements released in order, then alerts for the batch's new
events and live positions to the circles (published by ``gateway.alerts``, decoupled by its
bounded queue). Everything here comes from the batch it is handed.

With the notifications outbox (``outbox_kick`` given, as ``app.build`` does) the batch's
alerts were written as outbox rows in its transaction: this stage only wakes the delivery
worker, which sends each through ``send_alert`` -- the one way every member-facing alert
(places, airports, device alarms, battery, tracking stopped / back online) leaves the
gateway."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ..alerts import Alert, AlertPublisher, LivePosition
from .batch import Batch
from .identify import DeviceDirectory
from .intake import Intake

log = logging.getLogger(__name__)

#: a device's live position goes to its circles at most this often
LIVE_INTERVAL_S = 1.0


async def send_alert(alerts: AlertPublisher, alert: Alert) -> None:
    """Publish one member-facing alert and wait for the broker to have it (the outbox
    worker's MQTT channel). Raises ``gateway.alerts.AlertNotSent``."""
    await alerts.deliver(alert)


class Delivery:
    def __init__(
        self,
        intake: Intake,
        alerts: AlertPublisher,
        directory: DeviceDirectory,
        outbox_kick: Callable[[], None] | None = None,
    ) -> None:
        self.intake = intake
        self.alerts = alerts
        self.directory = directory
        self.outbox_kick = outbox_kick
        self._live_sent: dict[int, float] = {}

    def release(self, work: Batch) -> None:
        """The envelopes' ``on_commit`` (held replies, PUBACKs, HTTP answers), in order."""
        for envelope in work.envelopes:
            if envelope.on_commit is not None:
                try:
                    envelope.on_commit()
                except Exception:  # a closed socket must not stop the writer
                    log.exception("releasing an acknowledgement failed")
        self.intake.release(list(work.envelopes))

    def _identity(self, device_id: int) -> tuple[str, str]:
        device = self.directory.by_id(device_id)
        if device is None:
            return str(device_id), ""
        return device.unique_id, device.account_id

    def publish(self, work: Batch) -> None:
        """Alerts for the new (not resent) events and the live positions of ``work``."""
        snapshot = work.snapshot
        if snapshot is None:
            return
        now = datetime.now(UTC)
        if work.geofence is not None:
            self._publish_live(work, now)
        if work.result is None:
            return
        if self.outbox_kick is not None:
            if work.result.new_events:
                self.outbox_kick()
            return
        for event in work.result.new_events:
            if event.circle_id is None or event.kind.startswith("alarm:"):
                continue
            unique_id, account = self._identity(event.device_id)
            recipients = sorted(snapshot.alert_recipients(event.circle_id, now))
            self.alerts.publish(
                Alert(
                    circle_id=event.circle_id,
                    kind=event.kind,
                    member=account,
                    device=unique_id,
                    time=event.time,
                    subject=event.payload,
                    recipients=tuple(recipients),
                )
            )

    def _publish_live(self, work: Batch, now: datetime) -> None:
        assert work.geofence is not None
        assert work.snapshot is not None
        mono = time.monotonic()
        for device_id, pos in work.geofence.live.items():
            if mono - self._live_sent.get(device_id, 0.0) < LIVE_INTERVAL_S:
                continue
            circles = work.snapshot.shared_circles(str(device_id), now)
            if not circles:
                continue
            self._live_sent[device_id] = mono
            unique_id, account = self._identity(device_id)
            payload = {
                "type": "position",
                "member": account,
                "device": unique_id,
                "time": pos.fix_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lat": pos.lat,
                "lon": pos.lon,
                "accuracy_m": pos.accuracy_m,
                "speed_kmh": pos.speed_kmh,
                "course_deg": pos.course_deg,
                "battery_pct": pos.battery_pct,
            }
            for circle in circles:
                members = tuple(sorted(work.snapshot.alert_recipients(circle, now)))
                live = LivePosition(circle_id=circle, payload=payload, recipients=members)
                self.alerts.publish_live(live)
