"""From a session's messages to envelopes: identify, gate, hold acknowledging replies.

The rule (DESIGN.md, durable ACK): a reply with ``acks_data`` is sent only after the
transaction holding every data message before it has committed. Other replies (login,
heartbeat) go out at once. Data from a device that is unknown, deactivated or refused by
its plan is not stored and not acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from protocols.model import (
    DeviceEvent,
    DeviceInfo,
    Heartbeat,
    Login,
    Message,
    Position,
    Rejected,
    Reply,
)

from .. import metrics
from ..logs import RateLimiter
from .identify import Device, DeviceDirectory
from .intake import Envelope, Intake

log = logging.getLogger(__name__)

#: decides whether an identified device may send data now (plan limits, suspension):
#: returns None to accept, or a short reason to refuse
Gate = Callable[[Device], Awaitable[str | None]]


@dataclass(slots=True)
class Outcome:
    """What the listener should do after routing one read's messages."""

    errors: int = 0
    close: str | None = None  #: a reason to close the connection
    refused: str | None = None  #: why the device's data was refused (not acknowledged)
    replies: list[bytes] = field(default_factory=list)  #: replies sent (or queued) at once
    data_items: int = 0


class Router:
    def __init__(
        self, directory: DeviceDirectory, intake: Intake, gate: Gate | None = None
    ) -> None:
        self.directory = directory
        self.intake = intake
        self.gate = gate
        self._log_limit = RateLimiter(60.0)

    async def identify(self, key: str, protocol: str) -> tuple[Device | None, str | None]:
        device, refusal = await self.directory.resolve(key, protocol)
        reason: str | None = refusal
        if device is not None and reason is None and self.gate is not None:
            reason = await self.gate(device)
        if reason is not None:
            metrics.devices_refused.labels(protocol, reason).inc()
            if self._log_limit.allow((key, reason)):
                log.warning(
                    "refusing data from device %r: %s",
                    key,
                    reason,
                    extra={"device_key": key, "protocol": protocol, "reason": reason},
                )
        return device, reason

    def note_rejected(self, protocol: str, item: Rejected, peer: str = "") -> None:
        reason = getattr(item.error, "reason", type(item.error).__name__)
        metrics.frames_rejected.labels(protocol, reason).inc()
        if self._log_limit.allow((peer, protocol, reason)):
            log.warning(
                "rejected frame: %s",
                item.error,
                extra={"protocol": protocol, "peer": peer, "reason": reason},
            )

    async def route(
        self,
        protocol: str,
        messages: list[Message],
        send: Callable[[bytes], None],
        *,
        peer: str = "",
        on_last_commit: Callable[[], None] | None = None,
    ) -> Outcome:
        """Route messages in order. ``send`` writes bytes to the device (now or after commit).

        ``on_last_commit`` (MQTT PUBACK, HTTP answer) runs once everything routed here has
        committed — right away through the queue even when there was no data.
        """
        out = Outcome()
        envelope = Envelope()
        refused = False
        devices: dict[str, Device | None] = {}

        async def device_for(key: str) -> Device | None:
            nonlocal refused
            if key not in devices:
                device, reason = await self.identify(key, protocol)
                devices[key] = None if reason is not None else device
                if reason is not None:
                    refused = True
                    out.refused = reason
            return devices[key]

        for item in messages:
            if isinstance(item, Position):
                metrics.positions_received.labels(protocol).inc()
                device = await device_for(item.device_key)
                if device is not None:
                    envelope.positions.append((device.id, item))
                    out.data_items += 1
            elif isinstance(item, DeviceEvent):
                metrics.frames_received.labels(protocol).inc()
                device = await device_for(item.device_key)
                if device is not None:
                    envelope.events.append((device.id, item))
                    if item.position is not None:
                        envelope.positions.append((device.id, item.position))
                    out.data_items += 1
            elif isinstance(item, Reply):
                if refused:
                    continue  # nothing from a refused device is acknowledged or answered
                if item.acks_data:
                    data = item.data
                    envelope.on_commit = _sender(send, data)
                    await self.intake.put(envelope)
                    envelope = Envelope()
                else:
                    send(item.data)
                out.replies.append(item.data)
            elif isinstance(item, Rejected):
                out.errors += 1
                self.note_rejected(protocol, item, peer)
                if item.fatal:
                    out.close = f"fatal {type(item.error).__name__}"
            elif isinstance(item, Login):
                metrics.frames_received.labels(protocol).inc()
                if await device_for(item.device_key) is None:
                    out.close = f"device refused: {out.refused}"
            elif isinstance(item, (Heartbeat, DeviceInfo)):
                metrics.frames_received.labels(protocol).inc()
        if envelope.positions or envelope.events or on_last_commit is not None:
            envelope.on_commit = on_last_commit
            await self.intake.put(envelope)
        return out


def _sender(send: Callable[[bytes], None], data: bytes) -> Callable[[], None]:
    return lambda: send(data)
