"""After commit: the held acknowledgements released in order, then alerts for the batch's new
events and each device's newest fix to its circles. Everything here comes from the batch it
is handed.

The newest fixes go to the circles' live streams (``gateway.live.hub``, which throttles per
device without dropping the newest fix and feeds the MQTT live topics by the same rules).

With the notifications outbox (``outbox_kick`` given, as ``app.build`` does) the batch's
alerts were written as outbox rows in its transaction: this stage only wakes the delivery
worker, which sends each through ``send_alert`` -- the one way every member-facing alert
(places, airports, device alarms, battery, tracking stopped / back online) leaves the
gateway, to members' MQTT topics and to the circle's live stream."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from .. import metrics
from ..alerts import Alert, AlertPublisher
from ..live.hub import LiveHub
from .batch import Batch
from .identify import DeviceDirectory
from .intake import Intake

log = logging.getLogger(__name__)


async def send_alert(
    alerts: AlertPublisher, alert: Alert, live: LiveHub | None = None, key: str = ""
) -> None:
    """Publish one member-facing alert and wait for the broker to have it (the outbox
    worker's MQTT channel), then show it on the circle's live stream (once per ``key``,
    however many rounds its recipients take). Raises ``gateway.alerts.AlertNotSent``."""
    await alerts.deliver(alert)
    if live is not None and alert.circle_id:
        live.alert(alert.circle_id, alert.for_stream(), key=key)


class Delivery:
    def __init__(
        self,
        intake: Intake,
        alerts: AlertPublisher,
        directory: DeviceDirectory,
        live: LiveHub,
        outbox_kick: Callable[[], None] | None = None,
    ) -> None:
        self.intake = intake
        self.alerts = alerts
        self.directory = directory
        self.live = live
        self.outbox_kick = outbox_kick

    def release(self, work: Batch) -> None:
        """The envelopes' ``on_commit`` (held replies, PUBACKs, HTTP answers), in order; each
        envelope's arrival -> commit time into ``trackgw_receive_to_commit_seconds``."""
        done = time.monotonic()
        for envelope in work.envelopes:
            metrics.commit_latency.observe(done - envelope.received_mono)
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
            alert = Alert(
                circle_id=event.circle_id,
                kind=event.kind,
                member=account,
                device=unique_id,
                time=event.time,
                subject=event.payload,
                recipients=tuple(recipients),
            )
            self.alerts.publish(alert)
            self.live.alert(event.circle_id, alert.for_stream(event.device_id))

    def _publish_live(self, work: Batch, now: datetime) -> None:
        """Every device's newest fix of the batch to the hub (which throttles; an older fix
        than one already published is not live)."""
        assert work.geofence is not None
        assert work.snapshot is not None
        snapshot = work.snapshot
        for device_id, pos in work.geofence.live.items():
            circles = snapshot.shared_circles(str(device_id), now)
            if not circles:
                continue
            unique_id, account = self._identity(device_id)
            payload = {
                "type": "position",
                "device_id": device_id,
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
            readers = {c: tuple(sorted(snapshot.alert_recipients(c, now))) for c in circles}
            self.live.position(readers, unique_id, pos.fix_time, payload)
