"""Commands to devices: the one task that writes queued commands to connected devices,
records their answers and expires what could not be delivered.

Flow (the rows are in ``store/commands.py``, migration 009):

* ``queue`` (the API, the CLI: another process) inserts a command; its trigger NOTIFYs
  ``trackgw_commands`` and wakes this task. The command is checked first (``validate``): a
  name the protocol does not support or a bad argument is refused before it is stored.
* The task looks for due commands every ``commands.poll_s`` and whenever woken (a NOTIFY, a
  device attaching to ``listeners.connections``). A command whose device has a live
  connection in this process is encoded for that connection (``protocols.commands``: the
  GT06 serial, the watch's vendor code, Teltonika TCP or UDP), claimed (queued -> sent, with
  the bytes) and written. OwnTracks phones get theirs published to
  ``owntracks/<user>/<device>/cmd`` (QoS 1) by this task's own broker client.
* The router hands every message of an accepted device to ``offer``; one from a device this
  process awaits an answer from that ``protocols.commands.response`` recognises is recorded
  on the device's oldest sent command (sent -> answered).
* Queued commands past ``expires_at`` become ``expired``. A sent command stays ``sent`` when
  the device never answers (many commands have no answer: the position it sends is one).

Several processes (``SO_REUSEPORT``) share the table: only the process holding the device's
connection sends (the claim is an ``UPDATE ... WHERE state = 'queued'``), and the answer
arrives on that connection. An OwnTracks answer may reach another process's MQTT consumer;
that process records it if it sent the command, else the command stays ``sent``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import psycopg
from psycopg_pool import AsyncConnectionPool

from protocols import commands as codec
from protocols.base import Transport
from protocols.model import AttributeValue, Message

from . import metrics
from .broker.client_id import gateway_client
from .config import CommandSettings, MqttSettings
from .listeners.connections import Connections
from .pipeline.identify import DeviceDirectory
from .store import commands as store
from .store import notifications

log = logging.getLogger(__name__)

#: answers waiting to be recorded at most (a flood of replies cannot grow memory)
ANSWERS_MAX = 10_000
#: phones' commands waiting for the broker at most
PHONE_QUEUE_MAX = 10_000
#: how long after sending a command a device's answer is taken as the answer to it (an
#: answer days later is not); a command unanswered past this stays ``sent``
ANSWER_WINDOW_S = 3600.0
#: rounds between re-reading which devices await an answer (the window moves on)
AWAITING_REFRESH_ROUNDS = 60
#: transport of each protocol's commands when no connection says (for ``validate``)
_MQTT_PROTOCOLS = frozenset({"owntracks"})


def validate(protocol: str, unique_id: str, name: str, argument: str | None) -> None:
    """Raise ``codec.CommandRefused`` if ``name`` (with ``argument``) cannot be sent to this
    device: the same encoder, with the defaults of a fresh connection."""
    transport: Transport = "mqtt" if protocol in _MQTT_PROTOCOLS else "tcp"
    codec.encode(protocol, name, argument, codec.Target(unique_id, transport, datetime.now(UTC)))


def expiry(settings: CommandSettings, expires_in_s: int | None) -> datetime:
    """When a command queued now expires: ``expires_in_s`` (1 s .. ``max_expiry_s``) or the
    default; ``ValueError`` outside the bounds."""
    seconds = settings.expiry_s if expires_in_s is None else expires_in_s
    if not 1 <= seconds <= settings.max_expiry_s:
        raise ValueError(f"expiry must be 1..{settings.max_expiry_s} s, got {seconds}")
    return datetime.now(UTC) + timedelta(seconds=seconds)


class CommandDispatcher:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        url: str,
        settings: CommandSettings,
        mqtt: MqttSettings,
        connections: Connections,
        directory: DeviceDirectory,
    ) -> None:
        self._pool = pool
        self._url = url
        self.settings = settings
        self._mqtt = mqtt
        self.connections = connections
        self._directory = directory
        #: devices with a sent, unanswered command (loaded at start; kept by this task)
        self.awaiting: set[int] = set()
        self._answers: deque[tuple[int, dict[str, AttributeValue]]] = deque(maxlen=ANSWERS_MAX)
        self._phones: asyncio.Queue[tuple[int, str, bytes]] = asyncio.Queue(PHONE_QUEUE_MAX)
        self._phone_ready = asyncio.Event()
        self._wake = asyncio.Event()
        #: devices a NOTIFY named since the last round (a command was queued for them)
        self._notified: set[int] = set()
        self.listening = asyncio.Event()

    # -- called by the router, on the event loop, for every accepted device's message -------
    def offer(self, device_id: int, message: Message) -> None:
        if device_id not in self.awaiting:
            return  # the common case: one set lookup
        answer = codec.response(message)
        if answer is not None:
            self._answers.append((device_id, answer))
            self._wake.set()

    # -- the task ---------------------------------------------------------------------------
    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._listen())
            group.create_task(self._publish_phones())
            group.create_task(self._work())

    async def _listen(self) -> None:
        """LISTEN for new commands (another process queued them); survives lost connections
        (the poll finds what a lost NOTIFY would have said)."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"listen {store.CHANNEL}")
                    self.listening.set()
                    while True:
                        payloads = await notifications.burst(conn)
                        if payloads:
                            for payload in payloads:
                                if payload.isdigit() and len(self._notified) < ANSWERS_MAX:
                                    self._notified.add(int(payload))
                            self._wake.set()
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self.listening.clear()
                log.warning("command dispatcher lost the database: %s; retrying", exc)
                await asyncio.sleep(1.0)

    async def _work(self) -> None:
        async with self._pool.connection() as conn:
            self.awaiting = await store.awaiting(conn, ANSWER_WINDOW_S)
        changed = self.connections.changed
        rounds = 0
        while True:
            rounds += 1
            waits = [
                asyncio.ensure_future(self._wake.wait()),
                asyncio.ensure_future(changed.wait()),
            ]
            try:
                await asyncio.wait(
                    waits, timeout=self.settings.poll_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waits:
                    w.cancel()
            self._wake.clear()
            # first the devices just named or just connected (a long queue of commands to
            # offline devices cannot hide theirs), then every queued command
            woken = self.connections.take_arrivals() | self._notified
            self._notified = set()
            try:
                await self._round(sorted(woken), rounds % AWAITING_REFRESH_ROUNDS == 0)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("command dispatcher: the database failed: %s; retrying", exc)
                await asyncio.sleep(1.0)

    async def _round(self, woken: list[int], refresh: bool = False) -> None:
        async with self._pool.connection() as conn:
            answered = False
            while self._answers:
                device_id, answer = self._answers.popleft()
                command_id = await store.answer(conn, device_id, answer, ANSWER_WINDOW_S)
                await conn.commit()
                if command_id is not None:
                    answered = True
                    self._count(device_id, "answered")
                    log.info(
                        "command %d answered by device %d",
                        command_id,
                        device_id,
                        extra={"command": command_id, "device_id": device_id},
                    )
            if answered or refresh:
                self.awaiting = await store.awaiting(conn, ANSWER_WINDOW_S)
            for command_id, protocol in await store.expire(conn):
                metrics.commands_total.labels(protocol, "expired").inc()
                log.info("command %d expired", command_id, extra={"command": command_id})
            await conn.commit()
            if woken:
                for command in await store.due(conn, woken):
                    await self._deliver(conn, command)
            for command in await store.due(conn):
                await self._deliver(conn, command)
            await conn.commit()

    async def _deliver(self, conn: psycopg.AsyncConnection[Any], command: store.Command) -> None:
        protocol = command.protocol
        if protocol in _MQTT_PROTOCOLS:
            if not self._phone_ready.is_set() or self._phones.full():
                return  # the broker is away: it waits (or expires)
            payload = self._encode(command, "mqtt", None, 1)
            if payload is None or not await store.claim(conn, command.id, payload):
                return
            await conn.commit()
            self._phones.put_nowait(
                (command.device_id, codec.command_topic(command.unique_id), payload)
            )
            self._sent(command)
            return
        live = self.connections.get(command.device_id)
        if live is None:
            return  # not connected to this process: it waits
        payload = self._encode(command, live.transport, live.session, live.next_serial())
        if payload is None:
            await store.fail(conn, command.id, "cannot be encoded for this connection")
            await conn.commit()
            self._count(command.device_id, "failed")
            return
        claimed = await store.claim(conn, command.id, payload)
        await conn.commit()  # claimed before written: a crash now loses it, never repeats it
        if not claimed:
            return  # another process sent it, or it just expired
        if not live.write(payload):
            await store.unclaim(conn, command.id)  # closed meanwhile: it waits for the next
            await conn.commit()
            return
        self._sent(command)

    def _encode(
        self,
        command: store.Command,
        transport: Any,
        session: Mapping[str, object] | None,
        serial: int,
    ) -> bytes | None:
        target = codec.Target(command.unique_id, transport, datetime.now(UTC), serial, session)
        try:
            return codec.encode(command.protocol, command.name, command.argument, target)
        except codec.CommandRefused as exc:
            log.warning("command %d cannot be encoded: %s", command.id, exc)
            return None

    def _sent(self, command: store.Command) -> None:
        self.awaiting.add(command.device_id)
        metrics.commands_total.labels(command.protocol, "sent").inc()
        log.info(
            "command %d (%s) sent to device %d",
            command.id,
            command.name,
            command.device_id,
            extra={"command": command.id, "device_id": command.device_id},
        )

    def _count(self, device_id: int, state: str) -> None:
        device = self._directory.by_id(device_id)
        metrics.commands_total.labels(device.protocol if device else "?", state).inc()

    async def _publish_phones(self) -> None:
        """Phones' commands through this task's own broker client (the gateway's user)."""
        s = self._mqtt
        pending: tuple[int, str, bytes] | None = None
        while True:
            try:
                async with gateway_client(s, "commands") as client:
                    self._phone_ready.set()
                    metrics.mqtt_connected.labels("commands").set(1)
                    while True:
                        pending = pending or await self._phones.get()
                        await client.publish(pending[1], pending[2], qos=1)
                        pending = None
            except aiomqtt.MqttError as exc:
                self._phone_ready.clear()
                metrics.mqtt_connected.labels("commands").set(0)
                log.warning("command publisher lost the broker: %s; retrying", exc)
                await asyncio.sleep(1.0)
