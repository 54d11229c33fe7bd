"""From a session's messages to envelopes: identify, gate, hold acknowledging replies.

The rule (DESIGN.md, durable ACK): a reply with ``acks_data`` is sent only after the
transaction holding every data message before it has committed. Other replies (login,
heartbeat) go out at once. Data from a device that is unknown, deactivated or refused by
its plan is not stored and not acknowledged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from .intake import Envelope, Intake, IntakeClosed

__all__ = ["Gate", "IntakeClosed", "Outcome", "Router"]

log = logging.getLogger(__name__)

#: refusal log lines per protocol and reason at most (each device also once a minute)
REFUSAL_LINES_PER_MINUTE = 60

#: decides whether an identified device may send data now (plan limits, suspension):
#: returns None to accept, or a short reason to refuse
Gate = Callable[[Device], Awaitable[str | None]]

#: told of every message of an accepted device (by its database id) that may answer a
#: command (the command dispatcher: it cheaply ignores devices it awaits nothing from)
Answers = Callable[[int, Message], None]


@dataclass(slots=True)
class Outcome:
    """What the listener should do after routing one read's messages."""

    errors: int = 0
    close: str | None = None  #: a reason to close the connection
    refused: str | None = None  #: why the device's data was refused (not acknowledged)
    replies: list[bytes] = field(default_factory=list)  #: replies sent (or queued) at once
    data_items: int = 0
    #: the database id of the (last) device accepted in this read (the connection registry
    #: learns who is on a connection from it)
    device_id: int | None = None


class Router:
    def __init__(
        self,
        directory: DeviceDirectory,
        intake: Intake,
        gate: Gate | None = None,
        answers: Answers | None = None,
    ) -> None:
        self.directory = directory
        self.intake = intake
        self.gate = gate
        self.answers = answers
        self._log_limit = RateLimiter(60.0)
        self._refusal_lines = RateLimiter(60.0, max_keys=10_000)

    async def identify(self, key: str, protocol: str) -> tuple[Device | None, str | None]:
        device, refusal = await self.directory.resolve(key, protocol)
        reason: str | None = refusal
        if device is not None and reason is None and self.gate is not None:
            reason = await self.gate(device)
        if reason is not None:
            self._note_refused(key, protocol, reason)
        return device, reason

    def _note_refused(self, key: str, protocol: str, reason: str) -> None:
        metrics.devices_refused.labels(protocol, reason).inc()
        # once a minute per device, and a flood of made-up ids cannot flood the log either
        if self._log_limit.allow((key, reason)) and self._refusal_lines.allow(
            (protocol, reason, int(time.monotonic() * REFUSAL_LINES_PER_MINUTE / 60))
        ):
            log.warning(
                "refusing data from device %r: %s",
                key,
                reason,
                extra={"device_key": key, "protocol": protocol, "reason": reason},
            )

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
        raw: bytes = b"",
    ) -> Outcome:
        """Route messages in order. ``send`` writes bytes to the device (now or after commit).

        ``on_last_commit`` (MQTT PUBACK, HTTP answer) runs once everything routed here has
        committed — right away through the queue even when there was no data. ``raw`` is the
        read the messages were decoded from (kept with a row the database refuses).
        Raises ``IntakeClosed`` when the gateway is shutting down.
        """
        out = Outcome()
        envelope = Envelope(protocol=protocol)
        weighed = False  # the read's bytes are counted in the intake's bound once
        refused = False
        devices: dict[str, Device | None] = {}
        positions = frames = 0  # counted here, added to the metrics once per call

        async def device_for(key: str) -> Device | None:
            nonlocal refused
            device, reason = await self.identify(key, protocol)
            devices[key] = None if reason is not None else device
            if reason is not None:
                refused = True
                out.refused = reason
            elif device is not None:
                out.device_id = device.id
            return devices[key]

        answers = self.answers

        try:
            for item in messages:
                if isinstance(item, Position):
                    positions += 1
                    key = item.device_key
                    device = devices[key] if key in devices else await device_for(key)
                    if device is not None:
                        envelope.positions.append((device.id, item))
                        out.data_items += 1
                        if answers is not None:
                            answers(device.id, item)
                elif isinstance(item, DeviceEvent):
                    frames += 1
                    key = item.device_key
                    device = devices[key] if key in devices else await device_for(key)
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
                        envelope.add_raw(raw, weigh=not weighed)
                        weighed = True
                        await self.intake.put(envelope)
                        envelope = Envelope(protocol=protocol)
                    else:
                        send(item.data)
                    out.replies.append(item.data)
                elif isinstance(item, Rejected):
                    out.errors += 1
                    self.note_rejected(protocol, item, peer)
                    if item.fatal:
                        out.close = f"fatal {type(item.error).__name__}"
                elif isinstance(item, Login):
                    frames += 1
                    key = item.device_key
                    device = devices[key] if key in devices else await device_for(key)
                    if device is None:
                        out.close = f"device refused: {out.refused}"
                elif isinstance(item, DeviceInfo):
                    frames += 1
                    if answers is not None and (
                        item.kind == "command_reply" or "event" in item.attributes
                    ):
                        key = item.device_key
                        device = devices[key] if key in devices else await device_for(key)
                        if device is not None:
                            answers(device.id, item)
                elif isinstance(item, Heartbeat):
                    frames += 1
                    if out.device_id is None and answers is not None:
                        # a keep-alive says who is on the connection (a watch's LK, a TK103
                        # heartbeat) without refusing its reply: only a known device counts
                        known = self.directory.known(item.device_key)
                        if known is not None:
                            out.device_id = known.id
        finally:
            if positions:
                _counter(_POSITIONS_RECEIVED, metrics.positions_received, protocol).inc(positions)
            if frames:
                _counter(_FRAMES_RECEIVED, metrics.frames_received, protocol).inc(frames)
        if envelope.positions or envelope.events or on_last_commit is not None:
            envelope.on_commit = on_last_commit
            envelope.add_raw(raw, weigh=not weighed)
            await self.intake.put(envelope)
        return out

    async def route_reads(
        self,
        protocol: str,
        reads: Sequence[tuple[str, list[Message]]],
        on_last_commit: Callable[[], None],
        raws: Sequence[bytes] | None = None,
    ) -> int:
        """Route many small reads that get no reply but one acknowledgement each (MQTT
        messages: ``(peer, messages)`` per read) as one: each device is identified once per
        call, all their data goes into one envelope, and ``on_last_commit`` (every PUBACK)
        runs once that envelope has committed — also when nothing in it was data (a malformed
        message, an unknown device: dropped, counted, still acknowledged).

        Counting is per read, as ``route`` does it for one read: a refused device is counted
        once in each read it sent data in. Replies are dropped (MQTT has no way back but the
        acknowledgement). Returns the number of data items queued. ``raws`` (one per read)
        are the payloads, kept with a row the database refuses.
        """
        envelope = Envelope(protocol=protocol)
        positions_out = envelope.positions
        events_out = envelope.events
        known: dict[str, tuple[Device | None, str | None]] = {}
        positions = frames = data_items = 0
        try:
            for n, (peer, messages) in enumerate(reads):
                if raws is not None and n:
                    envelope.add_raw(raws[n - 1])
                counted: set[str] | None = None  # refused devices already counted in this read
                for item in messages:
                    if not isinstance(item, (Position, DeviceEvent, Login)):
                        if isinstance(item, Rejected):
                            self.note_rejected(protocol, item, peer)
                        elif isinstance(item, (Heartbeat, DeviceInfo)):
                            frames += 1
                            if isinstance(item, DeviceInfo) and item.kind == "lwt":
                                # the broker saw the phone's connection die: a hint for
                                # the device watch ("tracking stopped" sooner)
                                found, refusal = await self.identify(item.device_key, protocol)
                                if found is not None and refusal is None:
                                    envelope.offline.append(found.id)
                        continue  # a Reply: nowhere to send it
                    key = item.device_key
                    answer = known.get(key)
                    if answer is None:
                        answer = known[key] = await self.identify(key, protocol)
                        if answer[1] is not None:  # identify counted it for this read
                            counted = {key} if counted is None else counted | {key}
                    elif answer[1] is not None and (counted is None or key not in counted):
                        counted = {key} if counted is None else counted | {key}
                        self._note_refused(key, protocol, answer[1])
                    device = answer[0] if answer[1] is None else None
                    if isinstance(item, Position):
                        positions += 1
                        if device is not None:
                            positions_out.append((device.id, item))
                            data_items += 1
                            if self.answers is not None:
                                self.answers(device.id, item)
                    elif isinstance(item, DeviceEvent):
                        frames += 1
                        if device is not None:
                            events_out.append((device.id, item))
                            if item.position is not None:
                                positions_out.append((device.id, item.position))
                            data_items += 1
                    else:
                        frames += 1  # a Login: the device is identified, nothing to store
        finally:
            if positions:
                _counter(_POSITIONS_RECEIVED, metrics.positions_received, protocol).inc(positions)
            if frames:
                _counter(_FRAMES_RECEIVED, metrics.frames_received, protocol).inc(frames)
        if raws:
            envelope.add_raw(raws[len(reads) - 1])
        envelope.on_commit = on_last_commit
        await self.intake.put(envelope)
        return data_items


#: labelled children by protocol: ``labels()`` costs more than the increment itself
_POSITIONS_RECEIVED: dict[str, Any] = {}
_FRAMES_RECEIVED: dict[str, Any] = {}


def _counter(cache: dict[str, Any], counter: Any, protocol: str) -> Any:
    child = cache.get(protocol)
    if child is None:
        child = cache[protocol] = counter.labels(protocol)
    return child


def _sender(send: Callable[[bytes], None], data: bytes) -> Callable[[], None]:
    return lambda: send(data)
