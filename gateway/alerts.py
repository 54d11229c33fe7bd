"""Alerts to circle members over MQTT (aiomqtt), published after the events have committed.

Each alert goes to ``circles/<circle_id>/members/<account>/alerts`` (QoS 1) for each member
within the plan's member limit, and each live position (as the live hub throttles them,
gateway/live/hub.py) to ``.../members/<account>/live/<device id>`` (QoS 0, retained): the
topics the broker lets only that member read (gateway/broker/members.py), so a member outside
the plan receives nothing. The circle-wide ``circles/<circle_id>/alerts`` and
``/live/<device id>`` are still published for operators (a dashboard); no member may read
them (docs/mqtt.md). The schema is in docs/alerts.md.

Publishing is decoupled from the writer by a bounded queue: a slow or absent broker never
holds up ingestion. The events are already stored; an alert that cannot be queued is counted
and logged, and can be read back from the events table.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiomqtt

from . import metrics
from .broker.client_id import gateway_client
from .config import MqttSettings
from .live.hub import LiveEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    circle_id: str
    kind: str
    member: str  #: the account whose device it is
    device: str  #: the device's own id
    time: datetime
    subject: Mapping[str, Any]  #: {"place": {...}} or {"airport": {...}}, plus "position"
    recipients: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.kind,
            "circle": self.circle_id,
            "member": self.member,
            "device": self.device,
            "time": self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        out.update(self.subject)
        out["recipients"] = list(self.recipients)
        return out

    def for_stream(self, device_id: int | None = None) -> dict[str, Any]:
        """What a circle's live stream shows of it (no recipient list; the device's id when
        known)."""
        out = self.as_json()
        del out["recipients"]
        if device_id is not None:
            out["device_id"] = device_id
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class LivePosition:
    """A member's newest stored position, for the circle's live view (QoS 0: the next one
    replaces it)."""

    circle_id: str
    payload: Mapping[str, Any]
    recipients: tuple[str, ...] = ()  #: the circle's in-plan members


class AlertNotSent(Exception):
    """An alert handed to ``deliver`` was not published to the broker in time."""


@dataclass(slots=True)
class _Confirmed:
    """An alert whose sender waits until the broker has it (the outbox worker)."""

    alert: Alert
    done: asyncio.Future[None]


class AlertPublisher:
    def __init__(self, settings: MqttSettings, queue_max: int = 10_000) -> None:
        self.settings = settings
        self._queue: asyncio.Queue[Alert | LivePosition | _Confirmed] = asyncio.Queue(queue_max)
        self.dropped = 0

    def live_event(self, circle_id: str, event: LiveEvent) -> None:
        """The live hub's tap: each position it publishes (throttled by its rules, never the
        newest fix dropped) goes to the MQTT live topics too."""
        if event.kind == "position":
            live = LivePosition(
                circle_id=circle_id, payload=event.data, recipients=event.recipients
            )
            self.publish_live(live)

    async def deliver(self, alert: Alert, timeout_s: float = 10.0) -> None:
        """Publish ``alert`` and return once the broker has acknowledged it (QoS 1); raises
        ``AlertNotSent`` when the queue is full or the broker does not take it in time (an
        alert that timed out is then not published later)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Confirmed(alert, done))
        except asyncio.QueueFull:
            raise AlertNotSent("the alert queue is full") from None
        try:
            await asyncio.wait_for(done, timeout_s)
        except TimeoutError:
            raise AlertNotSent(f"the broker did not take the alert within {timeout_s} s") from None

    def publish_live(self, live: LivePosition) -> None:
        """Best effort: a live position is dropped when the queue is half full (the next one
        replaces it), so it never displaces an alert."""
        if self._queue.qsize() < self._queue.maxsize // 2:
            self._queue.put_nowait(live)

    def publish(self, alert: Alert) -> None:
        try:
            self._queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning(
                "alert queue full: %s for circle %s not published", alert.kind, alert.circle_id
            )

    async def run(self) -> None:
        s = self.settings
        pending: Alert | LivePosition | _Confirmed | None = None
        while True:
            try:
                async with gateway_client(s, "alerts") as client:
                    metrics.mqtt_connected.labels("alerts").set(1)
                    while True:
                        alert = pending or await self._queue.get()
                        pending = alert
                        if isinstance(alert, _Confirmed):
                            if not alert.done.done():  # its sender gave up: not sent late
                                await self._send(client, alert.alert)
                                if not alert.done.done():
                                    alert.done.set_result(None)
                        else:
                            await self._send(client, alert)
                        pending = None
            except aiomqtt.MqttError as exc:
                metrics.mqtt_connected.labels("alerts").set(0)
                log.warning("alert publisher lost the broker: %s; retrying", exc)
                await asyncio.sleep(1.0)

    async def _send(self, client: aiomqtt.Client, alert: Alert | LivePosition) -> None:
        if isinstance(alert, LivePosition):
            # retained, one topic per device: an app that subscribes later gets where each
            # device of the circle was last (``.../live/<device id>``)
            live = json.dumps(alert.payload, separators=(",", ":"))
            device = alert.payload.get("device_id", "")
            topic = self.settings.live_topic.format(circle_id=alert.circle_id)
            await client.publish(f"{topic}/{device}", live, qos=0, retain=True)
            for member in alert.recipients:
                mine = member_topic(alert.circle_id, member, "live")
                await client.publish(f"{mine}/{device}", live, qos=0, retain=True)
            return
        payload = json.dumps(alert.as_json(), separators=(",", ":"))
        topic = self.settings.alerts_topic.format(circle_id=alert.circle_id)
        await client.publish(topic, payload, qos=1)
        for member in alert.recipients:
            await client.publish(member_topic(alert.circle_id, member, "alerts"), payload, qos=1)
        metrics.alerts_published.labels(alert.kind).inc()


def member_topic(circle_id: str, account: str, kind: str) -> str:
    """``circles/<circle>/members/<account>/<kind>`` (kind: alerts or live): one member's."""
    return f"circles/{circle_id}/members/{account}/{kind}"
